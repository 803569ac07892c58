"""`hero-bench gpu-check`: HERO and d3po-style epochs on an SD v1.5-shaped pipeline, timed per stage.

arch.py builds the pipeline from configs shipped in the package (random weights, no hub); spec.py holds the
sizes and run settings; floor.py times the sampling floor and fits the pass size to a memory limit;
measure.py runs the epochs with the project's own sampler, methods and trainers; report.py prints the
tables. On a machine without CUDA the same code runs at toy size as a dry run (what the test suite runs).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hero_bench.errors import HeroBenchError


class GpuCheckError(HeroBenchError):
    """A gpu-check option that cannot work here (the CLI prints it in one line and exits with 2)."""


# The names the options take, here rather than beside the sizes and torch dtypes in spec.py, so that a typo is
# refused before torch loads (spec.py's SIZES and DTYPES have exactly these keys; a test checks that).
SIZE_NAMES = ("paper", "toy")
DTYPE_NAMES = ("fp32", "bf16", "fp16")


def check_names(size: str, dtypes: str | None) -> list[str] | None:
    """Refuse an unknown --size or --dtype name; returns the chosen dtype names (None: the device's default)."""
    if size != "auto" and size not in SIZE_NAMES:
        raise GpuCheckError(f"--size must be auto, {' or '.join(SIZE_NAMES)}; got {size!r}")
    if dtypes is None:
        return None
    chosen = [d.strip() for d in dtypes.split(",") if d.strip()]
    if not chosen or any(d not in DTYPE_NAMES for d in chosen):
        raise GpuCheckError(f"--dtype takes a comma-separated list of {', '.join(DTYPE_NAMES)}; got {dtypes!r}")
    return chosen


def main(
    size: str = "auto",
    dtypes: str | None = None,
    out: Path | None = None,
    max_transitions: int | None = None,
    memory_limit_gib: float = 24.0,
    repeats: int | None = None,
    d3po_pairs: int | None = None,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Resolve the options, run the check, write `out` (JSON) and return the figures.

    size 'auto' is 'paper' (SD v1.5 shape, 64 images, 50 steps, K=5) on CUDA and 'toy' elsewhere; dtypes
    default to bf16 and fp16 on CUDA, fp32 and bf16 on a CPU (which has no fast fp16 kernels)."""
    import torch

    from hero_bench.gpucheck.measure import run_check
    from hero_bench.gpucheck.spec import SIZES

    named = check_names(size, dtypes)
    cuda = torch.cuda.is_available()
    if size == "auto":
        size = "paper" if cuda else "toy"
    if size == "paper" and not cuda:
        raise GpuCheckError(
            "--size paper needs a CUDA GPU (an SD v1.5-sized model is far too slow on a CPU); "
            "use --size toy for the dry run"
        )
    chosen = named or (["bf16", "fp16"] if cuda else ["fp32", "bf16"])
    if "fp16" in chosen and not cuda:
        raise GpuCheckError("fp16 needs a CUDA GPU (CPU kernels are missing for it); use fp32 or bf16 here")
    changes: dict[str, Any] = {}
    if repeats is not None:
        changes["repeats"] = repeats
    if d3po_pairs is not None:
        changes["d3po_max_pairs"] = d3po_pairs
    if not evaluate:
        changes["eval_images"] = 0
    spec = dataclasses.replace(SIZES[size], **changes)
    result = run_check(spec, chosen, "cuda" if cuda else "cpu", max_transitions, memory_limit_gib)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result
