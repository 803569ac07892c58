"""The GPU check: SD v1.5's architecture from the shipped configs, CLIP's tokenizer rebuilt offline, and the
whole check run at toy size on the CPU (the dry run), through the command line as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from hero_bench import gpucheck
from hero_bench.gpucheck import GpuCheckError, arch
from hero_bench.gpucheck.report import format_report
from hero_bench.gpucheck.spec import seeded_feedback
from hero_bench.timing import StageTimer

CLI = [sys.executable, "-m", "hero_bench.cli", "gpu-check"]


def test_sd15_configs_have_sd15s_parameter_counts():
    # Published sizes of runwayml/stable-diffusion-v1-5's UNet, VAE and CLIP ViT-L/14 text encoder.
    assert arch.parameter_counts("sd-v1-5") == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    cfg = arch.load_configs("sd-v1-5")
    assert cfg["unet"]["sample_size"] * 2 ** (len(cfg["vae"]["block_out_channels"]) - 1) == 512
    assert cfg["scheduler"]["set_alpha_to_one"] is False  # DDPO needs a density at the last step


def test_unknown_architecture_names_the_valid_ones():
    with pytest.raises(ValueError, match="sd-v1-5, tiny"):
        arch.load_configs("sd-v2")


def test_clip_tokenizer_matches_open_clips_and_sd15s_ids():
    import open_clip

    tok = arch.clip_tokenizer()
    assert len(tok) == 49_408 and tok.model_max_length == 77
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    reference = open_clip.get_tokenizer("ViT-L-14")
    for text in ["A black cat sitting inside a cardboard box, realistic!", "naïve café 123 😀", "don't"]:
        ours = tok(text).input_ids
        theirs = reference([text])[0].tolist()
        assert ours == theirs[: len(ours)] and theirs[len(ours)] == 0  # open_clip pads with 0 after the end token


def test_seeded_feedback_has_a_good_best_and_a_bad():
    fb = seeded_feedback(64, seed=3)
    assert sum(fb.good) == 16 and fb.good[fb.best]
    assert seeded_feedback(64, seed=3) == fb and seeded_feedback(64, seed=4) != fb
    tiny = seeded_feedback(2, seed=0)
    assert sum(tiny.good) == 1


def test_stage_timer_accumulates_and_nests():
    timer = StageTimer("cpu")
    for _ in range(2):
        with timer.stage("outer"), timer.stage("inner"):
            torch.ones(10).sum()
    assert timer.calls == {"inner": 2, "outer": 2}
    assert timer.seconds["outer"] >= timer.seconds["inner"] > 0
    assert timer.peak_bytes == {} and timer.peak_gib("outer") is None  # no CUDA counters on a CPU


def test_dry_run_through_the_cli(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [*CLI, "--size", "toy", "--dtype", "bf16", "--out", str(out)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert result["mode"] == "dry-run" and result["size"]["arch"] == "tiny"
    (run,) = result["runs"]
    assert run["dtype"] == "bf16"
    assert all("error" not in run[part] for part in ("sampler", "hero", "d3po")), run
    assert run["sampler"]["pipeline_s"] > 0 and run["sampler"]["ratio"] > 0
    hero = run["hero"]
    # every stage of the epoch ran, and the update really trained: embedding passes and a DDPO step
    assert {"sample", "decode", "embedding_fit", "ddpo_update", "evaluate", "checkpoint"} <= set(hero["seconds"])
    assert hero["embedding_passes"] >= 1 and hero["optimizer_steps"] >= 1
    assert hero["checkpoint_mb"] > 1  # the embedder and its Adam state dominate HERO's checkpoint
    d3po = run["d3po"]
    assert 1 <= d3po["pairs_trained"] <= result["size"]["d3po_max_pairs"] <= d3po["pairs_in_full_epoch"]
    assert d3po["full_train_epoch_s_estimate"] > 0
    assert "| bf16" in r.stdout and "One HERO epoch" in r.stdout
    assert format_report(result) in r.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": "toy", "dtypes": "fp8"}, "--dtype"),
        ({"size": "huge"}, "--size"),
        ({"size": "toy", "dtypes": ","}, "--dtype"),
    ],
)
def test_bad_options_are_refused_before_any_work(options, message):
    with pytest.raises(GpuCheckError, match=message):
        gpucheck.main(**options)


def test_the_names_checked_before_torch_loads_are_the_sizes_and_dtypes_the_check_has():
    from hero_bench.gpucheck.spec import DTYPES, SIZES

    assert tuple(SIZES) == gpucheck.SIZE_NAMES
    assert tuple(DTYPES) == gpucheck.DTYPE_NAMES


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: paper size and fp16 are allowed")
@pytest.mark.parametrize(
    ("options", "message"),
    [({"size": "paper"}, "needs a CUDA GPU"), ({"size": "toy", "dtypes": "fp16"}, "fp16 needs a CUDA GPU")],
)
def test_what_needs_cuda_is_refused_without_it(options, message):
    with pytest.raises(GpuCheckError, match=message):
        gpucheck.main(**options)
