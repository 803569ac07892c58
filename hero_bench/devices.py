"""Where a run's pipeline lives and in which precision: `--device` and `--dtype`.

Why its own module: the choice is made in three places (the command, before any run starts; each Ray worker,
which may see other GPUs than the machine that issued the command; the run itself), and must come out the same.
The rule: `auto` puts a real Stable Diffusion (`--model`) on CUDA when torch sees a GPU and keeps the embedded
toy model on the CPU, so toy figures are the same on every machine (CI's reference curves are CPU ones).
The choice is pure (`choose_device`) so that it is tested without a GPU; `run_device` asks torch.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hero_bench.errors import HeroBenchError

if TYPE_CHECKING:
    import torch

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_FORMS = "auto, cpu, cuda or cuda:N"
DTYPE_NAMES = ("fp32", "bf16", "fp16")  # the pipeline's weights; LoRA weights stay fp32 (models.attach_lora)


class DeviceError(HeroBenchError):
    """A device this machine does not have, or a precision it cannot run."""


def check_device_form(device: str) -> None:
    if not DEVICE_PATTERN.fullmatch(device):
        raise DeviceError(f"--device {device!r}: give {DEVICE_FORMS}")


def choose_device(requested: str, real_model: bool, cuda_devices: int) -> str:
    """The torch device for `requested` (see DEVICE_FORMS) when torch sees `cuda_devices` GPUs."""
    check_device_form(requested)
    if requested == "auto":
        return "cuda" if real_model and cuda_devices > 0 else "cpu"
    if requested == "cpu":
        return "cpu"
    index = int(requested.partition(":")[2] or 0)
    if cuda_devices == 0:
        raise DeviceError(
            f"--device {requested}: torch sees no CUDA device here (torch.cuda.is_available() is False; is "
            "CUDA_VISIBLE_DEVICES empty, or torch a CPU build?); use --device cpu, or auto"
        )
    if index >= cuda_devices:
        raise DeviceError(f"--device {requested}: torch sees {cuda_devices} CUDA device(s), cuda:0 to "
                          f"cuda:{cuda_devices - 1}")  # fmt: skip
    return requested


def check_precision(dtype: str, device: str) -> None:
    """fp16 is for GPUs: diffusers refuses to run an fp16 pipeline on the CPU (bf16 runs there, slowly)."""
    if dtype not in DTYPE_NAMES:
        raise DeviceError(f"--dtype {dtype!r}: give one of {', '.join(DTYPE_NAMES)}")
    if dtype == "fp16" and device == "cpu":
        raise DeviceError("--dtype fp16 on the CPU: diffusers cannot run fp16 pipelines there; use fp32 or bf16 "
                          "on the CPU, fp16 with --device cuda")  # fmt: skip


def check_device_names(device: str, dtype: str) -> None:
    """The names alone, before torch loads: a device form or precision that does not exist, fp16 on --device cpu."""
    check_device_form(device)
    check_precision(dtype, "cpu" if device == "cpu" else "cuda")  # auto and cuda: decided where torch looks


def run_device(requested: str, real_model: bool, dtype: str = "fp32") -> str:
    """`choose_device` with the GPUs torch sees in this process (a Ray worker sees those Ray gave it)."""
    import torch

    device = choose_device(requested, real_model, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    check_precision(dtype, device)
    return device


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
