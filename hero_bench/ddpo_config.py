"""DDPO-K's hyper-parameters (the update itself is in `hero_bench.ddpo`).

Kept apart from the trainer so that reading or validating a run's settings (the CLI, a Ray grid's driver,
`RunConfig`) does not import torch and diffusers.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StepSelection = Literal["last", "random", "spread", "all"]
ClipScaling = Literal["none", "sqrt-dims"]


def betas_in_range(field: str, betas: tuple[float, float]) -> tuple[float, float]:
    """Adam's (beta1, beta2) as given, or a ValueError naming `field`: each must lie in [0, 1)."""
    if not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{field} must both lie in [0, 1), got {betas}")
    return betas


class DDPOConfig(BaseModel):
    """DDPO-K hyper-parameters; defaults are the paper's SD fine-tuning settings (Table 7)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(default=3e-4, gt=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    batch_size: int = Field(default=2, ge=1, description="samples per minibatch (per backward pass)")
    grad_accum_steps: int = Field(default=4, ge=1, description="minibatches per optimiser step")
    clip_range: float = Field(default=1e-4, gt=0, description="PPO ratio clipping epsilon")
    clip_scaling: ClipScaling = Field(
        default="sqrt-dims",
        description="'none': clip_range as given; 'sqrt-dims': clip_range * sqrt(clip_reference_dims / D) for "
        "a latent of D dimensions, the same trust region as at SD v1.5's size (needs logprob_reduction='mean')",
    )
    clip_reference_dims: int = Field(default=16_384, ge=1, description="D at which clip_range holds (4x64x64)")
    k_steps: int = Field(default=5, ge=1, description="denoising steps per sample used in the loss")
    timestep_selection: StepSelection = Field(
        default="last",
        description="'last': the last K steps (paper); 'random': K random steps per sample (released code); "
        "'spread': K steps evenly spread over the trajectory; 'all': every step (k_steps is ignored)",
    )
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    inner_epochs: int = Field(default=1, ge=1, description="passes over each trajectory batch")
    adv_clip_max: float = Field(default=5.0, gt=0, description="advantages are clamped to +-this")
    logprob_reduction: Literal["mean", "sum"] = "mean"
    max_transitions_per_pass: int | None = Field(
        default=None,
        ge=1,
        description="transitions re-scored per UNet forward/backward; None = a whole optimiser step's "
        "(batch_size x grad_accum_steps x k_steps) in one pass. The gradient is the same either way; "
        "lower it to bound memory on large UNets (e.g. 10 for SD v1.5 on a 24 GB GPU)",
    )
    seed: int = 0

    @field_validator("adam_betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        return betas_in_range("adam_betas", v)

    @model_validator(mode="after")
    def _scaling_needs_mean(self) -> DDPOConfig:
        if self.clip_scaling == "sqrt-dims" and self.logprob_reduction != "mean":
            raise ValueError("clip_scaling='sqrt-dims' scales a clip on mean log-probs; use logprob_reduction='mean'")
        return self

    def steps_per_sample(self, num_steps: int) -> int:
        """How many of a trajectory's `num_steps` denoising steps each sample trains on."""
        return num_steps if self.timestep_selection == "all" else self.k_steps

    def effective_clip(self, latent_dims: int) -> float:
        """The PPO clip used on a latent of `latent_dims` dimensions."""
        if self.clip_scaling == "sqrt-dims":
            return self.clip_range * math.sqrt(self.clip_reference_dims / latent_dims)
        return self.clip_range
