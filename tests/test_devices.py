"""`--device` and `--dtype`: which device a run's pipeline lands on, what is refused before any run starts, and
that a run in another precision really runs in it. This machine has no GPU, so the CUDA side is checked through
the pure choice (`choose_device` takes the GPU count torch would report) and through the refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hero_bench.config import build_run_config
from hero_bench.devices import DeviceError, check_precision, choose_device
from hero_bench.errors import HeroBenchError
from hero_bench.executors.ray_grid import RayOptions, _gpus_per_run, _placed_on_reserved_devices
from hero_bench.models import lora_parameters
from hero_bench.run_folders import run_dir_for
from hero_bench.run_identity import finished_result
from hero_bench.runs import Run
from tests.fresh_cli import ENV

CLI = [sys.executable, "-m", "hero_bench.cli"]
TINY = dict(budget=8, batch=4, eval_n=4, steps=6)
GPU_NODE, CPU_NODE = {"Resources": {"CPU": 8, "GPU": 2}}, {"Resources": {"CPU": 2}}


@pytest.mark.parametrize(
    ("requested", "real_model", "gpus", "expected"),
    [
        ("auto", False, 2, "cpu"),  # the toy model stays on the CPU: the same figures on every machine
        ("auto", True, 2, "cuda"),
        ("auto", True, 0, "cpu"),
        ("cpu", True, 2, "cpu"),
        ("cuda", False, 1, "cuda"),
        ("cuda:1", True, 2, "cuda:1"),
    ],
)
def test_the_device_a_run_gets(requested, real_model, gpus, expected):
    assert choose_device(requested, real_model, gpus) == expected


@pytest.mark.parametrize(
    ("requested", "gpus", "message"),
    [("cuda", 0, "torch sees no CUDA device"), ("cuda:2", 2, "cuda:0 to cuda:1"), ("gpu", 1, "give auto, cpu")],
)
def test_a_device_torch_does_not_see_is_refused(requested, gpus, message):
    with pytest.raises(DeviceError, match=message):
        choose_device(requested, True, gpus)


def test_fp16_is_refused_on_the_cpu_only():
    with pytest.raises(DeviceError, match="fp16 on the CPU"):
        check_precision("fp16", "cpu")
    check_precision("fp16", "cuda:0")
    check_precision("bf16", "cpu")


def test_ray_reserves_a_gpu_for_the_runs_that_use_one():
    """A real SD at --device auto gets a GPU where the cluster has one; the toy model, --device cpu and a
    cluster without GPUs get none; --device cuda always asks for one; --run-gpus decides when given."""
    toy, real = (
        build_run_config("toy-hand", "sd-pretrained", **TINY),
        build_run_config("toy-hand", "sd-pretrained", model="/models/sd-v1-5", **TINY),
    )
    on = RayOptions(None, 1.0, None)

    def gpus(cfg, nodes, options=on):
        return _gpus_per_run([(cfg, Path("x"))], options, nodes)

    assert gpus(toy, [GPU_NODE]) == 0
    assert gpus(real, [CPU_NODE, GPU_NODE]) == 1
    assert gpus(real, [CPU_NODE]) == 0
    assert gpus(real.model_copy(update={"device": "cpu"}), [GPU_NODE]) == 0
    assert gpus(toy.model_copy(update={"device": "cuda"}), [CPU_NODE]) == 1
    assert gpus(real, [GPU_NODE], RayOptions(None, 1.0, 0.5)) == 0.5


def test_a_run_that_reserves_no_gpu_runs_on_the_cpu():
    """Without a reserved GPU a worker must not pick up a card Ray did not give it: auto becomes cpu, and an
    explicit cuda is refused in one line."""
    real = build_run_config("toy-hand", "sd-pretrained", model="/models/sd-v1-5", **TINY)
    [(placed, _)] = _placed_on_reserved_devices([(real, Path("x"))], gpus=0)
    assert placed.device == "cpu"
    [(kept, _)] = _placed_on_reserved_devices([(real, Path("x"))], gpus=1)
    assert kept.device == "auto"
    with pytest.raises(HeroBenchError, match="--device cuda with --run-gpus 0"):
        _placed_on_reserved_devices([(real.model_copy(update={"device": "cuda"}), Path("x"))], gpus=0)


def test_what_this_machine_cannot_run_is_refused_before_any_run(tmp_path):
    """One line, exit 2, nothing written under --out: CUDA on a machine without one (also on Ray, before Ray
    starts), fp16 on the CPU, a device or precision with no such name (flag or config file)."""
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("device: tpu\n")
    base = [*CLI, "run", "--task", "toy-hand", "--method", "sd-pretrained", "--budget", "8", "--batch", "4",
            "--eval-n", "4", "--steps", "6", "--out", str(tmp_path / "out")]  # fmt: skip
    cases = {
        "--device cuda: torch sees no CUDA device here": ["--device", "cuda"],
        "--device cuda:1: torch sees no CUDA device here": ["--device", "cuda:1", "--executor", "ray"],
        "--dtype fp16 on the CPU": ["--dtype", "fp16"],
        "field 'device': give auto, cpu, cuda or cuda:N (got 'gpu')": ["--device", "gpu"],
        "field 'dtype': Input should be 'fp32', 'bf16' or 'fp16'": ["--dtype", "fp8"],
        "field 'device': give auto, cpu, cuda or cuda:N (got 'tpu')": ["--config", str(bad_config)],
    }
    for message, extra in cases.items():
        r = subprocess.run([*base, *extra], env=ENV, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, (extra, r.stderr)
        assert message in " ".join(r.stderr.split()), (extra, r.stderr)  # the console wraps long lines
        assert not (tmp_path / "out").exists(), extra


def test_a_bf16_run_trains_in_bf16_and_keeps_its_device_out_of_its_identity(tmp_path):
    """--dtype bf16 loads the pipeline in bf16 with the LoRA in fp32, and the run trains to its end. The finished
    run is reused when the same run is asked for on another device, not when it is asked for in fp32."""
    cfg = build_run_config("toy-mountain", "hero", ddpo={"k_steps": 2}, dtype="bf16", device="cpu", **TINY)
    folder = run_dir_for(tmp_path, cfg)
    run = Run(cfg, folder, progress=False)
    assert run.pipe.unet.dtype == torch.bfloat16 and run.pipe.vae.dtype == torch.bfloat16
    assert {p.dtype for p in lora_parameters(run.pipe)} == {torch.float32}
    table = run.execute()
    assert list(table.epoch) == [0, 1, 2] and table.stat_lora_delta_norm.iloc[-1] > 0
    assert finished_result(folder, cfg.model_copy(update={"device": "auto"})) is not None
    assert finished_result(folder, cfg.model_copy(update={"dtype": "fp32"})) is None


def test_generate_and_eval_refuse_a_device_they_cannot_have(tmp_path):
    """The image commands take the same --device and --dtype as a run, and refuse the same way."""
    cases = {
        "--device cuda: torch sees no CUDA device here": ["generate", "--task", "toy-hand", "--n", "2", "--out",
                                                          str(tmp_path / "gen"), "--device", "cuda"],
        "--dtype fp16 on the CPU": ["eval", "--task", "toy-hand", "--n", "2", "--device", "cpu", "--dtype", "fp16"],
    }  # fmt: skip
    for message, args in cases.items():
        r = subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, (args, r.stderr)
        assert message in " ".join(r.stderr.split()), (args, r.stderr)
    assert not (tmp_path / "gen").exists()


def test_a_run_resumes_on_the_device_it_is_given(tmp_path):
    """A run whose config asks for a GPU this machine lacks (started on a GPU machine, here its config.json says
    so) is refused by `--resume` in one line, and continues on the CPU with `--resume DIR --device cpu`."""
    from hero_bench.runs import run_many

    cfg = build_run_config("toy-hand", "sd-pretrained", **TINY)
    run_many([cfg], tmp_path, progress=False)
    config = run_dir_for(tmp_path, cfg) / "config.json"
    config.write_text(config.read_text().replace('"device": "auto"', '"device": "cuda:0"'))
    refused = subprocess.run([*CLI, "run", "--resume", str(tmp_path)], env=ENV, capture_output=True, text=True)
    assert refused.returncode == 2 and "--device cuda:0: torch sees no CUDA device" in refused.stderr, refused.stderr
    moved = subprocess.run([*CLI, "run", "--resume", str(tmp_path), "--device", "cpu"], env=ENV, capture_output=True,
                           text=True)  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert "toy-hand" in moved.stdout


@pytest.mark.parametrize(
    "started_on",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU"))],
)
def test_an_interrupted_run_resumes_on_the_cpu(tmp_path, monkeypatch, started_on):
    """Stopped after its first epoch's checkpoint, then `--resume --device cpu`: it ends with every label once.
    Started on a GPU, its checkpoint holds CUDA tensors and the CPU must still load it (scripts/gpu-check.sh runs
    this file where a GPU is lent; here the CPU case checks the same path)."""
    import json

    from hero_bench.runs import resume_all

    cfg = build_run_config("toy-mountain", "hero", ddpo={"k_steps": 2}, device=started_on, **TINY)
    folder, original = run_dir_for(tmp_path, cfg), Run._checkpoint

    def stop_after_epoch_1(self):
        original(self)
        if self.epoch == 1:
            self.writer.wait()
            raise KeyboardInterrupt

    monkeypatch.setattr(Run, "_checkpoint", stop_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        Run(cfg, folder, progress=False).execute()
    monkeypatch.setattr(Run, "_checkpoint", original)
    table = resume_all(tmp_path, progress=False, device="cpu")
    assert list(table.epoch) == [0, 1, 2]
    labels = [json.loads(line) for line in (folder / "feedback.jsonl").read_text().splitlines()]
    assert sorted((x["epoch"], x["index"]) for x in labels) == [(e, i) for e in (1, 2) for i in range(4)]
