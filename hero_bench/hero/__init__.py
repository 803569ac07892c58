"""HERO's own components (Hiranaka et al., ICLR 2025), independent of the diffusion pipeline.

config: hyper-parameters and presets; representation: E_theta, g_theta, triplet loss, FeedbackEmbedder;
rewards: similarity-based rewards and advantages; noise: feedback-guided initial noise sampler.

The names below are imported on first use (PEP 562): `hero_bench.hero.config` is read by every run's settings,
also where nothing is trained (the CLI, a Ray grid's driver), and must not pull in torch.
"""

from __future__ import annotations

from hero_bench.registry import lazy_attributes

_WHERE = {
    "PRESETS": "config",
    "HeroConfig": "config",
    "preset": "config",
    "HeroNoiseSampler": "noise",
    "EmbeddingNet": "representation",
    "FeedbackEmbedder": "representation",
    "ProjectionHead": "representation",
    "triplet_distance": "representation",
    "triplet_loss": "representation",
    "compute_rewards": "rewards",
    "cosine_to": "rewards",
    "to_advantages": "rewards",
}

__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
