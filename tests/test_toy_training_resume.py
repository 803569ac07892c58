"""`hero-bench toy train` is resumable: a stage stopped mid-way and re-issued ends with the same weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hero_bench.errors import HeroBenchError
from hero_bench.toyworld import train
from hero_bench.toyworld.dataset import sample_examples
from hero_bench.toyworld.train_checkpoint import StageCheckpoint
from hero_bench.toyworld.train_vae import make_vae, train_vae


class Stop(Exception):
    pass


def _cfg():
    return dataclasses.replace(train.quick_config(seed=5), vae_steps=6, checkpoint_every=2, vae_eval_every=1)


def _train(cfg, out, stop_at=None):
    torch.manual_seed(0)
    images = np.stack([e.image for e in sample_examples(0, 32)])

    def monitor(step, _vae):
        if step == stop_at:
            raise Stop

    ckpt = StageCheckpoint(out, "vae", cfg.checkpoint_every, dataclasses.asdict(cfg))
    return train_vae(make_vae(cfg), images, cfg, np.random.default_rng(1), ckpt, monitor)


def test_a_stopped_vae_stage_resumes_to_the_same_weights(tmp_path):
    cfg = _cfg()
    straight = _train(cfg, tmp_path / "a").state_dict()
    with pytest.raises(Stop):
        _train(cfg, tmp_path / "b", stop_at=5)  # checkpoints after steps 2 and 4, dies in step 5
    assert (tmp_path / "b" / ".train_checkpoints" / "vae.pt").exists()
    resumed = _train(cfg, tmp_path / "b").state_dict()
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed[name]), name


def test_a_checkpoint_from_other_settings_is_refused(tmp_path):
    cfg = _cfg()
    with pytest.raises(Stop):
        _train(cfg, tmp_path, stop_at=3)
    with pytest.raises(HeroBenchError, match="other training settings"):
        _train(dataclasses.replace(cfg, vae_lr=5e-4), tmp_path)
