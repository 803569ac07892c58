"""The embedded tiny Stable Diffusion: training script alive, shipped folder loads like SD v1.5, CLI works."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from hero_bench.evaluation import DEFAULT_MODEL
from hero_bench.toyworld import train

CLI = [sys.executable, "-m", "hero_bench.cli"]


def test_training_script_runs_every_stage_and_saves_a_loadable_pipeline(tmp_path):
    out = train.train_all(train.quick_config(seed=3), tmp_path / "sd")
    pipe = StableDiffusionPipeline.from_pretrained(out)
    assert len(pipe.tokenizer) > 50, "tokenizer collapsed to special tokens (transformers 5 pitfall)"
    assert pipe.vae_scale_factor == 8 and pipe.unet.config.sample_size == 8
    image = pipe("a yellow square", num_inference_steps=2, output_type="np").images
    assert image.shape == (1, 64, 64, 3)
    assert (out / "toy_clip" / "config.json").exists()
    recorded = json.loads((out / "hero_bench_train.json").read_text())["train_config"]
    assert (recorded["seed"], recorded["device"]) == (3, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (scripts/gpu-check.sh runs it where one is)")
def test_toy_training_on_a_gpu_saves_a_pipeline_and_a_gpu_checkpoint_resumes_on_the_cpu(tmp_path, monkeypatch):
    """`hero-bench toy train --device cuda`: every stage on the GPU, and a UNet stage stopped there goes on on the
    CPU (what a lent GPU that is taken back leaves behind)."""
    cfg = dataclasses.replace(train.quick_config(seed=3), device="cuda", unet_steps=4, checkpoint_every=2)
    out = train.train_all(cfg, tmp_path / "sd")
    pipe = StableDiffusionPipeline.from_pretrained(out)
    assert pipe.unet.device.type == "cpu"  # saved from the GPU, loads anywhere
    assert pipe("a yellow square", num_inference_steps=2, output_type="np").images.shape == (1, 64, 64, 3)
    ckpt = out / ".train_checkpoints" / "unet.pt"
    with monkeypatch.context() as m:  # keep the stage's last checkpoint, as if it had been stopped right after it
        m.setattr(train.StageCheckpoint, "clear", lambda self: None)
        train.train_all(dataclasses.replace(cfg, unet_steps=6), tmp_path / "sd", stages=("unet",))
    assert ckpt.exists()
    resumed = train.train_all(dataclasses.replace(cfg, unet_steps=8, device="cpu"), tmp_path / "sd", stages=("unet",))
    assert StableDiffusionPipeline.from_pretrained(resumed).unet.device.type == "cpu"


def test_toy_training_refuses_a_device_this_machine_does_not_have(tmp_path):
    cases = [("tpu", "give auto, cpu, cuda or cuda:N")]
    if not torch.cuda.is_available():
        cases.append(("cuda", "torch sees no CUDA device here"))
    for device, message in cases:
        r = subprocess.run([*CLI, "toy", "train", "--quick", "--device", device, "--out", str(tmp_path / "sd")],
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 2 and message in r.stderr, (device, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "sd").exists(), r.stderr


def test_an_unknown_stage_is_refused_before_any_folder_is_made(tmp_path):
    r = subprocess.run([*CLI, "toy", "train", "--stages", "text,vea", "--out", str(tmp_path / "sd")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "unknown stage 'vea'" in r.stderr and "did you mean 'vae'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "sd").exists()
    r = subprocess.run([*CLI, "toy", "train", "--stages", ",", "--out", str(tmp_path / "sd")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "names no stage" in r.stderr and not (tmp_path / "sd").exists(), r.stderr


def test_shipped_model_loads_offline_with_the_standard_call():
    pipe = StableDiffusionPipeline.from_pretrained(DEFAULT_MODEL)
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"
    ids = pipe.tokenizer("one blue circle in a box").input_ids
    assert pipe.tokenizer.unk_token_id not in ids[1:-1], "toy words must be whole tokens"
    gen = torch.Generator().manual_seed(0)
    image = pipe("a view of mountains", num_inference_steps=10, generator=gen, output_type="np").images[0]
    assert image.shape == (64, 64, 3) and image.std() > 0.05, "the model draws something, not a flat image"


def test_cli_generate_writes_images_sheet_and_verdicts(tmp_path):
    r = subprocess.run(
        [*CLI, "generate", "--task", "toy-mountain", "--n", "4", "--seed", "1", "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["task"] == "toy-mountain" and summary["n"] == 4 and 0 <= summary["success_rate"] <= 1
    verdicts = json.loads((tmp_path / "verdicts.json").read_text())
    assert len(verdicts["images"]) == 4 and (tmp_path / "contact_sheet.png").exists()
    assert (tmp_path / "verdicts.csv").read_text().count("\n") == 5


def test_cli_eval_json_is_reproducible():
    cmd = [*CLI, "eval", "--task", "toy-hand", "--n", "6", "--seed", "2", "--json"]
    a = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    b = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert a == b and a["n"] == 6


def test_cli_unknown_task_exits_2_listing_valid_names():
    r = subprocess.run([*CLI, "eval", "--task", "toy-hnad"], capture_output=True, text=True)
    assert r.returncode == 2 and "toy-hand" in r.stderr and "valid tasks" in r.stderr


def test_pretrained_images_are_judged_with_the_parser():
    from hero_bench.evaluation import evaluate
    from hero_bench.models import load_pipeline
    from hero_bench.oracles.simulated import SimulatedOracle
    from hero_bench.tasks.loader import load_task

    pipe = load_pipeline(DEFAULT_MODEL)
    ev = evaluate(pipe, load_task("toy-mountain"), SimulatedOracle(seed=0), n=8, seed=0)
    assert len(ev.feedback.good) == 8
    assert all(np.asarray(img).shape == (64, 64, 3) for img in ev.images)
