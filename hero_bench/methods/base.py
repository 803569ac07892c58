"""The interface every method implements so that one run loop can drive them all.

A method decides where each epoch's initial noises come from (`initial_noise`), which prompts are used
(`training_prompts`), and what it learns from a judged batch (`update`). The run loop owns sampling,
judging, budget accounting, evaluation, logging and checkpoints — none of that is repeated per method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from hero_bench.config import RunConfig
from hero_bench.evaluation import SamplingSettings, latent_shape
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory
from hero_bench.tasks.base import Task, spread_prompts


@dataclass
class RunContext:
    """What a method may use: the pipeline it trains, the task, the sampling settings and the config."""

    pipe: StableDiffusionPipeline
    task: Task
    config: RunConfig
    settings: SamplingSettings
    folder: Path | None = None
    """The run folder, for methods that keep files beside the run (e.g. sd-enhanced's prompt cache)."""

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return latent_shape(self.pipe)


class Method(ABC):
    """A feedback-driven (or feedback-free) way of improving a text-to-image model on a task."""

    name: ClassVar[str] = "method"
    uses_feedback: ClassVar[bool] = True
    """False for methods that never ask the oracle (pretrained, enhanced prompts, reward-model DDPO)."""
    trains: ClassVar[bool] = True
    """False for methods with nothing to learn: the run loop evaluates them once."""

    def setup(self, ctx: RunContext) -> None:
        """Called once before the first epoch (attach LoRA, build networks, seed generators)."""
        self.ctx = ctx

    def num_epochs(self) -> int:
        """Training epochs the loop runs (default budget // batch; ddpo-reward trains 50 in the paper)."""
        return self.ctx.config.epochs

    def wants_feedback(self) -> bool:
        """Whether the training oracle judges the next batch (charged to the budget)."""
        return self.uses_feedback

    def training_prompts(self, n: int) -> list[str]:
        """Prompts of the next training batch (default: the task's training prompt)."""
        return [self.ctx.task.prompt] * n

    def eval_prompts(self, n: int) -> list[str]:
        """Prompts of the evaluation images (default: the task's evaluation prompts, cycled)."""
        return spread_prompts(self.ctx.task.eval_prompts, n)

    def initial_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """z_T of the next training batch (default: N(0, I) from the run's generator)."""
        return torch.randn((n, *self.ctx.latent_shape), generator=generator)

    def eval_noise(self, n: int, seed: int) -> torch.Tensor:
        """z_T of the evaluation images: fixed seeded N(0, I) unless the method has its own distribution."""
        return torch.randn((n, *self.ctx.latent_shape), generator=torch.Generator().manual_seed(seed))

    def has_own_eval_noise(self) -> bool:
        """Whether `eval_noise` is a distribution of the method's own (HERO's learned one), not N(0, I): the
        run loop then also evaluates it on the standard noises (results.csv `success_rate_std_noise`)."""
        return False

    @abstractmethod
    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        """Learn from one judged batch; return scalar statistics for the log."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (weights, optimiser and RNG states)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless by default
        """Restore what `state_dict` returned."""

    def save_artifacts(self, folder: Path) -> None:  # noqa: B027 - nothing to save by default
        """Write what a user needs to sample from the trained method later (LoRA, noise distribution)."""
