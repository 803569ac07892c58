"""`ddpo-reward` (the paper's "DDPO + PickScore"): DDPO-K driven by a pretrained reward model, no feedback.

Same sampler, LoRA and DDPO-K update as HERO (settings from `RunConfig.ddpo`); only the reward differs:
a pretrained scorer rates each image against the prompt it was sampled from, and the advantages are the
batch's standardised rewards, (r - mean) / std. The training oracle is never asked, so the run's
feedback stays 0; the loop's free judge only monitors. The paper trains it for 50 epochs (vs HERO's 8);
`method_options.epochs` sets that, defaulting to the run's budget // batch.
"""

from __future__ import annotations

import torch
from PIL import Image

from hero_bench.baselines.options import DDPORewardOptions, parse_options
from hero_bench.baselines.rewards import ClipRewardScorer, RewardScorer, default_reward_model
from hero_bench.methods.base import RunContext
from hero_bench.methods.lora import LoraDDPOMethod
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory


def standardise(rewards: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-batch standardised rewards (DDPO's advantages without per-prompt statistics)."""
    return (rewards - rewards.mean()) / (rewards.std(unbiased=False) + eps)


class DDPOReward(LoraDDPOMethod):
    """DDPO with a reward model in place of feedback; trains, but asks no oracle."""

    name = "ddpo-reward"
    uses_feedback = False
    trains = True

    def setup(self, ctx: RunContext) -> None:
        self.options = parse_options(DDPORewardOptions, ctx.config.method_options, self.name)
        super().setup(ctx)
        model, processor = default_reward_model(ctx.task.is_toy)
        if self.options.reward_model is not None:
            model, processor = self.options.reward_model, self.options.reward_processor
        device = self.options.device or ctx.pipe.unet.device  # type: ignore[attr-defined]  # diffusers' runtime components
        self.scorer: RewardScorer = ClipRewardScorer(model, processor, device=device)

    def num_epochs(self) -> int:
        """How many epochs the loop should run: the option, else the run's budget // batch."""
        return self.options.epochs or self.ctx.config.epochs

    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        """`feedback` is the free judge's monitoring verdict and is not used for learning."""
        rewards = self.scorer.score(images, traj.prompts).float()
        stats: dict[str, float] = {}
        if rewards.std(unbiased=False) > 0:  # identical rewards carry no signal
            stats = self.trainer.update(traj, standardise(rewards))
        stats.update(reward_mean=float(rewards.mean()), reward_std=float(rewards.std(unbiased=False)))
        return stats
