"""HERO is evaluated twice per epoch: with its learned noise (as the paper) and, its LoRA alone, on the same
N(0, I) evaluation noises the baselines use (results.csv `success_rate_std_noise`)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from hero_bench.config import build_run_config
from hero_bench.runs import STD_NOISE_EVAL, Run, run_dir_for
from hero_bench.summary import summarise

SMALL = dict(budget=8, batch=4, eval_n=4, steps=6, sample_batch_size=8)


def _run(tmp_path, method: str = "hero", **kw) -> tuple[pd.DataFrame, object]:
    cfg = build_run_config("toy-mountain", method, ddpo={"k_steps": 2}, hero={"embedding_epochs": 3}, **{**SMALL, **kw})
    folder = run_dir_for(tmp_path, cfg)
    return Run(cfg, folder, progress=False).execute(), folder


def _verdict_rate(folder) -> float:
    good = json.loads((folder / "verdicts.json").read_text())["good"]
    return sum(good) / len(good)


@pytest.fixture(scope="module")
def hero_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("hero"))


def test_hero_is_also_judged_on_the_standard_noises(hero_run, tmp_path):
    table, folder = hero_run
    assert table.own_eval_noise.all()
    separate = sorted(p.name for p in (folder / STD_NOISE_EVAL).glob("epoch_*"))
    assert separate, "the mixture formed after epoch 1 on toy-mountain: HERO's noise left N(0, I)"
    for epoch, row in table.set_index("epoch").iterrows():
        name = f"epoch_{epoch:03d}"
        own = folder / STD_NOISE_EVAL / name
        # where HERO still draws N(0, I) (no good image yet, and epoch 0) there is one batch, judged once
        expected = _verdict_rate(own) if name in separate else row.success_rate
        assert row.success_rate_std_noise == pytest.approx(expected)
    # at epoch 0 nothing is learned: the same images as SD-pretrained's (same seed, same evaluation noises)
    pre, _ = _run(tmp_path, "sd-pretrained")
    assert table.success_rate_std_noise.iloc[0] == pre.success_rate.iloc[0]
    assert not pre.own_eval_noise.any() and (pre.success_rate_std_noise == pre.success_rate).all()


def test_the_standard_noise_evaluation_is_the_trained_lora_alone(hero_run):
    """The last epoch's N(0, I) images are those of the final LoRA on seeded N(0, I) noise."""
    import torch

    from hero_bench.evaluation import DEFAULT_MODEL, SamplingSettings, evaluate, seeded_noise
    from hero_bench.models import load_lora, load_pipeline
    from hero_bench.oracles import ORACLES
    from hero_bench.tasks.loader import load_task

    table, folder = hero_run
    cfg = json.loads((folder / "config.json").read_text())
    pipe = load_pipeline(DEFAULT_MODEL, dtype=torch.float32)
    load_lora(pipe, folder / "final" / "lora")
    seed = cfg["eval_seed"] + cfg["seed"]
    task = load_task("toy-mountain")
    settings = SamplingSettings(num_inference_steps=6, batch_size=8)
    ev = evaluate(pipe, task, ORACLES.create("simulated", seed=1), 4, seed, settings, seeded_noise(pipe, 4, seed))
    last = folder / STD_NOISE_EVAL / f"epoch_{int(table.epoch.max()):03d}"
    assert ev.feedback.good == json.loads((last / "verdicts.json").read_text())["good"]


def test_the_summary_lists_hero_and_its_lora_alone(hero_run):
    table, _ = hero_run
    s = summarise(table).set_index("method")
    lora = "hero, LoRA only (N(0,I) noise)"
    assert s.loc["hero", "final_success_mean"] == table.success_rate.iloc[-1]
    assert s.loc[lora, "final_success_mean"] == table.success_rate_std_noise.iloc[-1]


def test_the_second_evaluation_can_be_switched_off(tmp_path):
    table, folder = _run(tmp_path, eval_std_noise=False)
    assert not (folder / STD_NOISE_EVAL).exists()
    # no column value where it would have needed sampling; epoch 0 shares its batch
    assert table.success_rate_std_noise.iloc[0] == table.success_rate.iloc[0]
    assert any(math.isnan(v) for v in table.success_rate_std_noise.iloc[1:])
