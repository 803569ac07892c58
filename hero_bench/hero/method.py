"""HERO (Algorithm 1): triplet-embedding rewards -> DDPO-K on LoRA -> feedback-guided initial noises.

Per judged batch: fit E_theta/g_theta with the best-anchored triplet loss (Eq. 3), score every image by
cosine similarity to the best in E_theta's space (Eq. 4), turn that into DDPO advantages, update the
LoRA weights on the last K denoising steps (Eq. 8), and re-centre the noise mixture on the batch's good
and best initial noises (Eq. 5). Ablations are the same class with other `HeroConfig` fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from hero_bench.hero.noise import HeroNoiseSampler
from hero_bench.hero.representation import FeedbackEmbedder
from hero_bench.hero.rewards import compute_rewards, to_advantages
from hero_bench.methods.base import RunContext
from hero_bench.methods.lora import LoraDDPOMethod
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory
from hero_bench.timing import stage_timed

NOISE_FILE = "noise.safetensors"


class Hero(LoraDDPOMethod):
    """The full HERO trainer; its ablations differ only in `config.hero` fields."""

    name = "hero"

    def setup(self, ctx: RunContext) -> None:
        super().setup(ctx)
        self.hero = ctx.config.hero
        self.noise = HeroNoiseSampler(ctx.latent_shape, self.hero, seed=ctx.config.seed)
        needs_embedder = self.hero.reward_design in ("best", "positives")
        # On the pipeline's device: on a GPU the triplet fit would otherwise run on the CPU (issue 15's GPU check).
        device = ctx.pipe.unet.device  # type: ignore[attr-defined]  # diffusers registers components at runtime
        self.embedder = (
            FeedbackEmbedder(self.hero, ctx.latent_shape, seed=ctx.config.seed, device=device)
            if needs_embedder
            else None
        )

    def initial_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.noise.sample(n)

    def eval_noise(self, n: int, seed: int) -> torch.Tensor:
        """Evaluation draws from the current pi_HERO (the paper generates with it after training), with a
        fixed seed so that epochs differ only by what was learned."""
        if self.hero.noise == "random" or not self.noise.has_mixture:
            return super().eval_noise(n, seed)
        frozen = HeroNoiseSampler(self.ctx.latent_shape, self.hero, seed=seed)
        frozen.best, frozen.others = self.noise.best, self.noise.others
        return frozen.sample(n)

    def has_own_eval_noise(self) -> bool:
        return self.hero.noise != "random"

    def features(self, traj: Trajectory) -> torch.Tensor:
        """Latents the representation sees: clean z_0 (paper) or x_1, the input of the last step (code)."""
        return traj.final_latents if self.hero.feature_source == "z0" else traj.latents[:, -2]

    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        good = torch.tensor(feedback.good, dtype=torch.bool)
        feats = self.features(traj)
        fit = stage_timed("embedding_fit", self.embedder.fit) if self.embedder is not None else None
        losses = fit(feats, good, feedback.best) if fit is not None else []
        rewards = stage_timed("reward", compute_rewards)(
            self.hero.reward_design, self.embedder, feats, good, feedback.best
        )
        advantages = to_advantages(rewards, self.hero.reward_transform, self.hero.advantage_clip)
        stats: dict[str, float] = {}
        if feedback.n_good > 0:  # no good image: zero rewards carry no signal (and the mixture stays)
            stats = stage_timed("ddpo_update", self.trainer.update)(traj, advantages)
        self.noise.update(traj.initial_latents, good, feedback.best)
        stats.update(
            {
                "reward_mean": float(rewards.mean()),
                "reward_good_mean": float(rewards[good].mean()) if good.any() else 0.0,
                "reward_bad_mean": float(rewards[~good].mean()) if (~good).any() else 0.0,
                "triplet_loss_first": losses[0] if losses else float("nan"),
                "triplet_loss_last": losses[-1] if losses else float("nan"),
                "embedding_passes": float(len(losses)),
            }
        )
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "noise": self.noise.state_dict(),
            "embedder": self.embedder.state_dict() if self.embedder is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.noise.load_state_dict(state["noise"])
        if self.embedder is not None:
            self.embedder.load_state_dict(state["embedder"])

    def save_artifacts(self, folder: Path) -> None:
        super().save_artifacts(folder)
        self.noise.save(folder / NOISE_FILE)
