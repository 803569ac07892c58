"""What every command shares: the consoles, the one-line error, option definitions and small parsers.

Options used by more than one command are defined once here, so that `--seed` or `--model` reads the same
in every `--help`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

    from hero_bench.evaluation import SamplingSettings
    from hero_bench.tasks.base import Task

# `run` and `report` share one success target so their "feedback to target" columns agree by default
# (kept here rather than imported from hero_bench.metrics, which pulls in torch).
DEFAULT_TARGET = 0.5

# Rich's own width rule: the terminal's width when any standard stream is one, else $COLUMNS, else 80 columns
# (a pipe or a CI log), so that tables fold to the width a reader has instead of a fixed wide layout.
console = Console(soft_wrap=True)  # messages keep their lines (paths, commands); tables still fit
err_console = Console(stderr=True, soft_wrap=True)

ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Diffusers SD folder or hub id (default: the embedded toy model).")
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the initial noises (and of the oracle's noise).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object instead of tables.")]
StepsOpt = Annotated[
    int | None, typer.Option("--steps", min=1, help="DDIM steps (default: the task's, 20 on the toy world).")
]
DeviceOpt = Annotated[  # None: the config file's, else auto
    str | None,
    typer.Option("--device", help="auto (a --model on CUDA if torch sees a GPU; toy model: CPU), cpu, cuda, cuda:N."),
]
DtypeOpt = Annotated[  # None: the config file's, else fp32
    str | None, typer.Option("--dtype", help="Pipeline weights: fp32, bf16 or fp16 (CUDA only); LoRA stays fp32.")
]
CfgOpt = Annotated[float, typer.Option("--cfg", min=1.0, help="Classifier-free guidance weight (paper: 5.0).")]
EtaOpt = Annotated[float, typer.Option("--eta", min=0.0, max=1.0, help="DDIM eta (paper: 1.0).")]
TaskOpt = Annotated[str, typer.Option("--task", help="Task name or path to a task YAML file.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the PNGs and contact sheet.")]


def fail(message: str) -> NoReturn:
    """Print a user-facing error and exit with status 2 (bad input), without a traceback."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    sys.exit(2)


def check_out_folder(path: Path, flag: str = "--out") -> None:
    """An output folder that is a file, lies under one, or cannot be written in is refused before any work
    (it was an OSError traceback once the first image or run folder was written)."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies under {existing}, which is a file"
        fail(f"{flag} {path} {where}; give a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{flag} {path}: cannot write in {existing} (permission denied)")
    try:  # os.access says yes to root everywhere, also where nothing can be created (/proc, some mounts)
        fd, probe = tempfile.mkstemp(prefix=".hero-bench-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        fail(f"{flag} {path}: cannot write in {existing} ({e.strerror or e})")


def check_model(model: str | None) -> None:
    """Refuse a --model that names no pipeline before torch is imported (ModelLoadError: one line, exit 2)."""
    from hero_bench.model_source import DEFAULT_MODEL, local_model_folder

    local_model_folder(model or DEFAULT_MODEL)


def pipeline(model: str | None, device: str = "auto", dtype: str = "fp32") -> StableDiffusionPipeline:
    """The model to sample from (default: the embedded toy SD) on `device` (auto: CUDA for a real SD when torch
    sees a GPU, else the CPU threads this machine has: hero_bench.devices)."""
    import torch

    from hero_bench.devices import run_device, torch_dtype
    from hero_bench.model_source import DEFAULT_MODEL
    from hero_bench.models import load_pipeline

    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    where = run_device(device, real_model=model is not None, dtype=dtype)
    return load_pipeline(model or DEFAULT_MODEL, device=where, dtype=torch_dtype(dtype))


def settings(task: Task, steps: int | None, cfg: float, eta: float) -> SamplingSettings:
    """Sampling settings from the command's flags, with the task's own step count by default."""
    from hero_bench.evaluation import SamplingSettings

    return SamplingSettings(num_inference_steps=steps or task.default_steps, eta=eta, guidance_scale=cfg)


def split(text: str) -> list[str]:
    """A comma-separated flag value as a list, blanks and repeats dropped (`--method hero,hero` is one method:
    the repeat would only be reported as a reused run)."""
    return list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


def key_value(item: str, flag: str, form: str) -> tuple[str, Any]:
    """One KEY=VALUE flag value, the value read as YAML (numbers, booleans, lists); bad form: exit 2."""
    import yaml

    from hero_bench.errors import yaml_problem

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        fail(f"{flag} expects {form}, got {item!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        fail(f"{flag} {item!r}: the value is read as YAML, and it is {yaml_problem(e)}")


def oracle_options(flag: str, items: list[str] | None, **given: Any) -> dict[str, Any]:
    """An oracle's options from its KEY=VALUE flags (`flag`) and named flags such as model=--oracle-model (None:
    not given); a KEY=VALUE of the same name wins."""
    options = {k: v for k, v in given.items() if v is not None}
    for item in items or []:
        key, value = key_value(item, flag, "KEY=VALUE")
        options[key] = value
    return options
