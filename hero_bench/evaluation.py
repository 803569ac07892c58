# mypy: disable-error-code="attr-defined"
# (diffusers pipelines register their components at runtime, invisible to mypy)
"""Generate images for a task from fixed, seeded noises and score them with a judge.

Every success rate in hero-bench goes through `evaluate`, so that `hero-bench eval`, the run loop's
per-epoch evaluation and the reports all measure the same thing: the judge's verdict on images made
from the same evaluation noises, with the task's evaluation prompts spread evenly over them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from hero_bench.metrics.success import wilson_interval  # noqa: F401 - re-exported (defined there without torch)
from hero_bench.model_source import DEFAULT_MODEL  # noqa: F401 - re-exported (defined there without torch)
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.sampling import decode_latents, encode_prompts, sample_with_trajectory
from hero_bench.tasks.base import Task, spread_prompts  # spread_prompts is also re-exported from here


@dataclass(frozen=True)
class SamplingSettings:
    """How images are drawn: the paper's DDIM eta 1.0 and CFG 5.0; steps default per task."""

    num_inference_steps: int = 20
    eta: float = 1.0
    guidance_scale: float = 5.0
    batch_size: int = 32


def latent_shape(pipe: StableDiffusionPipeline) -> tuple[int, int, int]:
    """(C, H, W) of the UNet's latents at the pipeline's native resolution."""
    size = pipe.unet.config.sample_size
    return (pipe.unet.config.in_channels, size, size)


def seeded_noise(pipe: StableDiffusionPipeline, n: int, seed: int) -> torch.Tensor:
    """`n` standard-normal initial latents, identical for a given seed on every machine (CPU generator)."""
    gen = torch.Generator("cpu").manual_seed(seed)
    return torch.randn((n, *latent_shape(pipe)), generator=gen)


def generate_images(
    pipe: StableDiffusionPipeline,
    prompts: Sequence[str],
    noise: torch.Tensor,
    settings: SamplingSettings,
    seed: int = 0,
    prompt_cache: dict | None = None,
) -> list[Image.Image]:
    """Images for `prompts` (one per noise) with the project's own DDIM sampler. Pass the same
    `prompt_cache` across calls (e.g. every epoch of a run) to encode each prompt only once."""
    embeds = encode_prompts(pipe, list(prompts), settings.guidance_scale, cache=prompt_cache)
    gen = torch.Generator("cpu").manual_seed(seed)
    traj = sample_with_trajectory(
        pipe,
        embeds,
        noise,
        num_inference_steps=settings.num_inference_steps,
        eta=settings.eta,
        guidance_scale=settings.guidance_scale,
        generator=gen,
        batch_size=settings.batch_size,
    )
    return decode_latents(pipe, traj.final_latents)


@dataclass
class Evaluation:
    """A judged batch of evaluation images."""

    task: str
    prompts: list[str]
    images: list[Image.Image]
    feedback: Feedback
    seed: int
    settings: SamplingSettings = field(default_factory=SamplingSettings)

    @property
    def n(self) -> int:
        return len(self.images)

    @property
    def successes(self) -> int:
        return sum(self.feedback.good)

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    def save(self, folder: Path) -> None:
        """The images as numbered PNGs and the verdicts and prompts in verdicts.json (what reports read)."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(self.images):
            img.save(folder / f"{i:04d}.png")
        verdicts = {"good": self.feedback.good, "best": self.feedback.best, "prompts": self.prompts}
        (folder / "verdicts.json").write_text(json.dumps(verdicts))

    def summary(self) -> dict[str, object]:
        lo, hi = wilson_interval(self.successes, self.n)
        return {
            "task": self.task,
            "n": self.n,
            "seed": self.seed,
            "success_rate": round(self.success_rate, 4),
            "ci95": [round(lo, 4), round(hi, 4)],
            "steps": self.settings.num_inference_steps,
            "eta": self.settings.eta,
            "guidance_scale": self.settings.guidance_scale,
        }


def evaluate(
    pipe: StableDiffusionPipeline,
    task: Task,
    judge: Oracle,
    n: int,
    seed: int = 0,
    settings: SamplingSettings | None = None,
    noise: torch.Tensor | None = None,
    prompts: Sequence[str] | None = None,
    prompt_cache: dict | None = None,
) -> Evaluation:
    """Success of `pipe` on `task` over `n` images from seeded noise (or the given noise), by `judge`.

    `prompts` default to the task's evaluation prompts spread over the images; methods that rewrite prompts
    (enhanced prompts, DreamBooth's identifier) pass their own and sample from them, but the judge is told the
    task's evaluation prompt each image stands for: what the person asked for, the same text for every method
    (a VLM judge would otherwise read "a sks cat" for one method and "a cat" for another)."""
    settings = settings or SamplingSettings(num_inference_steps=task.default_steps)
    noise = seeded_noise(pipe, n, seed) if noise is None else noise
    asked = spread_prompts(task.eval_prompts, noise.shape[0])
    prompts = asked if prompts is None else list(prompts)
    if len(prompts) != noise.shape[0]:
        raise ValueError(f"got {len(prompts)} evaluation prompts for {noise.shape[0]} noises")
    images = generate_images(pipe, prompts, noise, settings, seed=seed, prompt_cache=prompt_cache)
    return Evaluation(task.name, prompts, images, judge.judge(images, task, asked), seed, settings)
