# mypy: disable-error-code="attr-defined, operator"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""The sampling floor (diffusers' own `pipe(...)` against our trajectory sampler) and the memory probe that
picks `max_transitions_per_pass` under a GPU memory limit."""

from __future__ import annotations

import gc
from typing import Any

import torch
from diffusers import StableDiffusionPipeline

from hero_bench.gpucheck.spec import GIB, TASK, CheckSize, run_config, settings_of
from hero_bench.models import lora_parameters
from hero_bench.sampling import Trajectory, encode_prompts, sample_with_trajectory
from hero_bench.tasks.loader import load_task
from hero_bench.timing import StageTimer

HEADROOM = 0.9  # the chosen pass size aims at 90% of the memory limit (allocator slack)


# ------------------------------------------------------------------------------------ sampling floor


def sampler_vs_pipeline(pipe: StableDiffusionPipeline, size: CheckSize, seed: int = 0) -> dict[str, Any]:
    """Mean seconds of diffusers' `pipe(...)` and of `sample_with_trajectory` on the same noises, prompts,
    steps, CFG, eta and batch (prompts encoded inside the timing on both sides, calls interleaved), after
    one 2-step warm-up call of each at the same shapes."""
    cfg = run_config("hero", size, None, seed)
    settings = settings_of(cfg)
    prompts = [load_task(TASK).prompt] * size.images
    noise = torch.randn(
        (size.images, pipe.unet.config.in_channels, *(2 * [pipe.unet.config.sample_size])),
        generator=torch.Generator().manual_seed(seed),
    )
    timer = StageTimer(pipe._execution_device)

    def theirs(steps: int) -> None:
        pipe(
            prompts,
            latents=noise.to(pipe._execution_device, pipe.unet.dtype),
            num_inference_steps=steps,
            guidance_scale=settings.guidance_scale,
            eta=settings.eta,
            output_type="latent",
            generator=torch.Generator().manual_seed(seed),
        )

    def ours(steps: int) -> None:
        sample_with_trajectory(
            pipe,
            encode_prompts(pipe, prompts, settings.guidance_scale),
            noise,
            steps,
            eta=settings.eta,
            guidance_scale=settings.guidance_scale,
            generator=torch.Generator().manual_seed(seed),
            batch_size=settings.batch_size,
        )

    with timer.stage("warmup"):
        theirs(2)
        ours(2)
    for _ in range(size.repeats):
        with timer.stage("pipeline"):
            theirs(size.steps)
        with timer.stage("sampler"):
            ours(size.steps)
    pipeline_s = timer.seconds["pipeline"] / size.repeats
    sampler_s = timer.seconds["sampler"] / size.repeats
    return {
        "images": size.images,
        "steps": size.steps,
        "repeats": size.repeats,
        "pipeline_s": round(pipeline_s, 4),
        "sampler_s": round(sampler_s, 4),
        "ratio": round(sampler_s / pipeline_s, 3),
        "pipeline_peak_gib": timer.peak_gib("pipeline"),
        "sampler_peak_gib": timer.peak_gib("sampler"),
    }


# -------------------------------------------------------------------------------------- memory probe


def fit_transitions_per_pass(
    pipe: StableDiffusionPipeline, traj: Trajectory, score: Any, limit_gib: float, most: int
) -> dict[str, Any]:
    """The largest `max_transitions_per_pass` whose update pass should stay under `limit_gib` on CUDA.

    Measures the peak of one forward + backward pass of `score(traj, samples, steps)` (the method's own
    transition log-prob) over 1 and 2 transitions, extrapolates linearly and keeps HEADROOM of the
    limit. Gradients are cleared afterwards; no optimiser step is taken, so nothing is learned."""
    timer = StageTimer(pipe._execution_device)
    peaks = []
    for n in (1, 2):
        gc.collect()
        torch.cuda.empty_cache()
        with timer.stage(f"pass{n}"):
            samples = torch.arange(n) % len(traj)
            steps = torch.full((n,), traj.log_probs.shape[1] - 1)
            score(traj, samples, steps).sum().backward()
        for p in lora_parameters(pipe):
            p.grad = None
        peaks.append(timer.peak_bytes[f"pass{n}"])
    per_transition = max(1, peaks[1] - peaks[0])
    base = peaks[0] - per_transition
    fits = int((limit_gib * GIB * HEADROOM - base) // per_transition)
    return {
        "max_transitions_per_pass": max(1, min(most, fits)),
        "base_gib": round(base / GIB, 3),
        "per_transition_gib": round(per_transition / GIB, 3),
        "probe_s": round(sum(timer.seconds.values()), 3),
    }
