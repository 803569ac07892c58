# mypy: disable-error-code="attr-defined, operator"
# (diffusers pipelines register their components at runtime, invisible to mypy)
"""Reproducible speed and memory figures: `hero-bench bench` prints what the README records.

Measurements: the trajectory sampler's time over diffusers' own `pipe(...)` call for the same model,
batch, steps, CFG and eta (interleaved medians, so machine load hits both alike); a full run per preset as a
multiple of its sampling floor, in this process (hero_bench/floor.py, issue 15); and (`full_run`, used by
benchmarks/) a full toy HERO run in a child process, whose wall time and peak RSS are read from the OS.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hero_bench.evaluation import DEFAULT_MODEL, seeded_noise
from hero_bench.models import load_pipeline
from hero_bench.sampling import encode_prompts, sample_with_trajectory


def sampler_ratio(
    model: str | Path = DEFAULT_MODEL, batch: int = 8, steps: int = 20, cfg: float = 5.0, repeats: int = 5
) -> dict[str, float]:
    """Median seconds of `pipe(...)` and of `sample_with_trajectory` (prompt embeddings encoded per call on
    both sides), and their ratio."""
    pipe = load_pipeline(model, dtype=torch.float32)
    noise = seeded_noise(pipe, batch, 0)
    prompts = ["one blue circle in a box"] * batch
    theirs, ours = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        pipe(
            prompts,
            latents=noise.clone(),
            num_inference_steps=steps,
            guidance_scale=cfg,
            eta=1.0,
            output_type="latent",
            generator=torch.Generator().manual_seed(0),
        )
        theirs.append(time.perf_counter() - t)
        t = time.perf_counter()
        sample_with_trajectory(
            pipe,
            encode_prompts(pipe, prompts, cfg),
            noise,
            steps,
            eta=1.0,
            guidance_scale=cfg,
            generator=torch.Generator().manual_seed(0),
        )
        ours.append(time.perf_counter() - t)
    a, b = statistics.median(theirs), statistics.median(ours)
    return {
        "pipeline_s": round(a, 4),
        "sampler_s": round(b, 4),
        "ratio": round(b / a, 3),
        "batch": batch,
        "steps": steps,
    }


def full_run(
    task: str = "toy-black-cat", budget: int = 512, batch: int = 64, steps: int = 20, k_steps: int = 5
) -> dict[str, object]:
    """Wall time and peak RSS of one `hero-bench run --method hero` in a fresh child process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "hero_bench.cli",
            "run",
            "--task",
            task,
            "--method",
            "hero",
            "--budget",
            str(budget),
            "--batch",
            str(batch),
            "--steps",
            str(steps),
            "--k-steps",
            str(k_steps),
            "--out",
            tmp,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "task": task,
        "budget": budget,
        "batch": batch,
        "steps": steps,
        "k_steps": k_steps,
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(max(peak_kib, before) / 2**20, 3),
    }


def machine() -> dict[str, object]:
    """Where the figures were measured."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def main(full: bool = True, presets: str | list[str] = "paper", **kw) -> dict[str, object]:
    """Print the sampler/pipeline ratio and, with `full`, each preset's full run as a multiple of its sampling
    floor (hero_bench/floor.py; `presets` comma-separated: paper, official-code, d3po-style)."""
    from hero_bench.floor import floor_ratio, format_line

    out: dict[str, object] = {"machine": machine(), "sampler": sampler_ratio()}
    if full:
        names = presets.split(",") if isinstance(presets, str) else list(presets)
        runs = [floor_ratio(name.strip(), **kw) for name in names]
        out["floor"] = runs
        for r in runs:
            print(format_line(r), file=sys.stderr)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":  # python -m hero_bench.bench paper,official-code (the same as hero-bench bench --preset)
    main(presets=sys.argv[1] if len(sys.argv) > 1 else "paper")
