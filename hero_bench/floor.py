# mypy: disable-error-code="attr-defined, operator"
# (diffusers pipelines register their components at runtime, invisible to mypy)
"""A full run's time as a multiple of its *sampling floor* (issue 15): `hero-bench bench`'s main line.

Why a floor: a feedback-efficiency grid is affordable only if a run costs little more than generating the
images it must generate anyway. The floor is diffusers' own `pipe(...)` call (no LoRA, default PIL output)
producing as many images as the run sampled (training batches plus every evaluation image, N(0, I)
evaluations included), with the run's steps, CFG, eta and UNet batch (`sample_batch_size`). Run and floor
are timed in one process with the same torch threads; half the floor is timed before the run and half
after, so a change of machine load during the run hits both alike. Wall seconds and this process's CPU
seconds are both reported: on a shared machine the CPU ratio is the steadier of the two.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from hero_bench.config import BENCH_PRESETS, build_run_config
from hero_bench.evaluation import DEFAULT_MODEL, latent_shape
from hero_bench.models import load_pipeline
from hero_bench.runs import RESULTS, Run
from hero_bench.tasks.loader import load_task


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def sampled_images(folder: Path, train_images: int) -> int:
    """Images the run generated: its training batches plus every evaluation image it saved."""
    return train_images + sum(1 for _ in Path(folder).glob("eval*/epoch_*/*.png"))


def time_pipeline_calls(
    pipe: Any, prompt: str, sizes: list[int], steps: int, cfg: float, eta: float
) -> tuple[float, float]:
    """Wall and CPU seconds of one plain `pipe(...)` call per entry of `sizes` (images per call)."""
    wall, cpu = _clock()
    for i, n in enumerate(sizes):
        pipe(
            [prompt] * n,
            num_inference_steps=steps,
            guidance_scale=cfg,
            eta=eta,
            generator=torch.Generator().manual_seed(i),
        )
    w, c = _clock()
    return w - wall, c - cpu


def floor_ratio(
    preset: str = "paper",
    task: str = "toy-black-cat",
    budget: int = 512,
    batch: int = 64,
    eval_n: int = 64,
    steps: int | None = None,
    model: str | None = None,
    seed: int = 0,
    out: Path | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Run `preset` (a BENCH_PRESETS name) once and time the plain pipeline on the same number of images.

    `fields` are further RunConfig fields (e.g. `hero={...}` or `sample_batch_size`). Returns the figures,
    the per-stage totals of the run's `time_<stage>_s` columns and `ratio_wall` / `ratio_cpu`."""
    if preset not in BENCH_PRESETS:
        raise ValueError(f"unknown bench preset {preset!r}; choose from {', '.join(BENCH_PRESETS)}")
    method, hero_preset = BENCH_PRESETS[preset]
    cfg = build_run_config(
        task,
        method,
        hero_preset,
        budget=budget,
        batch=batch,
        eval_n=eval_n,
        steps=steps,
        model=model,
        seed=seed,
        **fields,
    )
    task_def = load_task(task)
    n_steps = cfg.steps or task_def.default_steps
    pipe = load_pipeline(cfg.model or DEFAULT_MODEL, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    # warm both paths once (first-call allocations are not part of either)
    time_pipeline_calls(pipe, task_def.prompt, [2], 2, cfg.guidance_scale, cfg.eta)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out) if out is not None else Path(tmp) / "run"
        run = Run(cfg, folder, progress=False)
        # the plan: the same images in the run's UNet batches, half before the run and half after
        train = cfg.epochs * cfg.batch
        std_noise = method == "hero" and cfg.eval_std_noise
        sizes = _batches(expected_images(cfg.epochs, cfg.batch, cfg.eval_n, std_noise), cfg.sample_batch_size)
        half = len(sizes) // 2
        before = time_pipeline_calls(pipe, task_def.prompt, sizes[:half], n_steps, cfg.guidance_scale, cfg.eta)
        w0, c0 = _clock()
        run.execute()
        w1, c1 = _clock()
        images = sampled_images(folder, train)
        sizes = _batches(images, cfg.sample_batch_size)  # what the run actually sampled
        after = time_pipeline_calls(pipe, task_def.prompt, sizes[half:], n_steps, cfg.guidance_scale, cfg.eta)
        table = pd.read_csv(folder / RESULTS)
    floor_wall, floor_cpu = before[0] + after[0], before[1] + after[1]
    stages = {c[len("time_") : -2]: round(float(table[c].sum()), 2) for c in table.columns if c.startswith("time_")}
    # seconds kept to the millisecond: a tiny run's floor is under a second, and 0.1 s rounding would make the
    # printed times disagree with the printed ratio by more than 10%
    return {
        "preset": preset,
        "method": method,
        "task": task,
        "model": str(cfg.model or DEFAULT_MODEL),
        "latent_shape": list(latent_shape(pipe)),
        "budget": budget,
        "batch": batch,
        "eval_n": eval_n,
        "steps": n_steps,
        "unet_batch": cfg.sample_batch_size,
        "threads": torch.get_num_threads(),
        "images": images,
        "run_wall_s": round(w1 - w0, 3),
        "run_cpu_s": round(c1 - c0, 3),
        "floor_wall_s": round(floor_wall, 3),
        "floor_cpu_s": round(floor_cpu, 3),
        "ratio_wall": round((w1 - w0) / floor_wall, 2),
        "ratio_cpu": round((c1 - c0) / floor_cpu, 2),
        "stages_s": stages,
        "final_success_rate": float(table.success_rate.iloc[-1]),
    }


def _batches(images: int, unet_batch: int) -> list[int]:
    """Call sizes covering `images` in batches of `unet_batch` (the last one smaller)."""
    full, rest = divmod(images, unet_batch)
    return [unet_batch] * full + ([rest] if rest else []) if images else []


def format_line(r: dict[str, Any]) -> str:
    """One human-readable line per preset (the JSON keeps every figure)."""
    stages = r["stages_s"]
    inner = {"embedding_fit", "reward", "ddpo_update"} & set(stages)  # HERO's parts of `update`
    top = sorted(((v, k) for k, v in stages.items() if not (inner and k == "update")), reverse=True)[:4]
    parts = ", ".join(f"{k} {v:.0f}s" for v, k in top)
    return (
        f"{r['preset']:<14} run {r['run_wall_s']:.0f}s = {r['ratio_wall']:.2f}x the floor "
        f"({r['floor_wall_s']:.0f}s for {r['images']} images; CPU {r['ratio_cpu']:.2f}x)  [{parts}]"
    )


def expected_images(epochs: int, batch: int, eval_n: int, std_noise_eval: bool) -> int:
    """Images a run samples: its training batches and one evaluation per epoch (epoch 0 included); HERO adds
    an N(0, I) evaluation per trained epoch (at epoch 0 its noise is N(0, I), evaluated once)."""
    return epochs * batch + eval_n * (1 + epochs * (2 if std_noise_eval else 1))
