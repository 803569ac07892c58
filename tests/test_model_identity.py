"""A run folder remembers which weights it was made with: a new default model (or a retrained folder) never
silently reuses or continues results made on the old weights."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from safetensors.torch import load_file, save_file

from hero_bench.config import build_run_config
from hero_bench.errors import RunFolderError
from hero_bench.evaluation import DEFAULT_MODEL
from hero_bench.model_identity import model_fingerprint
from hero_bench.runs import CHECKPOINT, run_dir_for, run_many

ASSETS = DEFAULT_MODEL.parent
SMALL = dict(budget=4, batch=4, eval_n=4, steps=6, sample_batch_size=8)


def test_fingerprints_tell_the_shipped_models_apart_and_survive_a_move(tmp_path):
    prints = {m: model_fingerprint(ASSETS / m)["fingerprint"] for m in ("tiny-sd", "tiny-sd-v2b", "tiny-sd-v1")}
    assert len(set(prints.values())) == 3
    moved = shutil.copytree(DEFAULT_MODEL, tmp_path / "elsewhere", ignore=shutil.ignore_patterns(".*"))
    assert model_fingerprint(moved)["fingerprint"] == prints["tiny-sd"]
    assert model_fingerprint("some-org/some-hub-model")["fingerprint"] == "name:some-org/some-hub-model"


def test_a_run_made_on_other_weights_is_refused_not_reused(tmp_path):
    model = shutil.copytree(DEFAULT_MODEL, tmp_path / "model", ignore=shutil.ignore_patterns(".*"))
    cfg = build_run_config("toy-hand", "sd-pretrained", model=str(model), **SMALL)
    run_many([cfg], tmp_path / "runs", progress=False)
    folder = run_dir_for(tmp_path / "runs", cfg)
    stamp = (folder / "results.csv").stat().st_mtime_ns
    run_many([cfg], tmp_path / "runs", progress=False)  # same weights: reused
    assert (folder / "results.csv").stat().st_mtime_ns == stamp
    # retrain the folder in place (same path, same config): the finished run must not answer for it
    _retrain(model)
    with pytest.raises(RunFolderError, match="other settings or weights"):
        run_many([cfg], tmp_path / "runs", progress=False)
    assert (folder / "results.csv").stat().st_mtime_ns == stamp


def _retrain(model):
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 1e-3 if v.is_floating_point() else v for k, v in load_file(weights).items()}, weights)


def test_an_interrupted_run_is_not_continued_on_other_weights(tmp_path, crash_runs_at_epoch):
    model = shutil.copytree(DEFAULT_MODEL, tmp_path / "model", ignore=shutil.ignore_patterns(".*"))
    cfg = build_run_config(
        "toy-hand",
        "hero",
        model=str(model),
        ddpo={"k_steps": 2},
        hero={"embedding_epochs": 2},
        **{**SMALL, "budget": 8},
    )
    crash_runs_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run_many([cfg], tmp_path / "runs", progress=False)
    crash_runs_at_epoch(None)
    folder = run_dir_for(tmp_path / "runs", cfg)
    assert (folder / CHECKPOINT).exists()
    _retrain(model)
    r = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "run", "--resume", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "other weights" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (folder / CHECKPOINT).exists(), "the interrupted run is left as it was"
