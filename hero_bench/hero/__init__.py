"""HERO's own components (Hiranaka et al., ICLR 2025), independent of the diffusion pipeline.

config: hyper-parameters and presets; representation: E_theta, g_theta, triplet loss, FeedbackEmbedder;
rewards: similarity-based rewards and advantages; noise: feedback-guided initial noise sampler.
"""

from hero_bench.hero.config import PRESETS, HeroConfig, preset
from hero_bench.hero.noise import HeroNoiseSampler
from hero_bench.hero.representation import (
    EmbeddingNet,
    FeedbackEmbedder,
    ProjectionHead,
    triplet_distance,
    triplet_loss,
)
from hero_bench.hero.rewards import compute_rewards, cosine_to, to_advantages

__all__ = [
    "PRESETS",
    "EmbeddingNet",
    "FeedbackEmbedder",
    "HeroConfig",
    "HeroNoiseSampler",
    "ProjectionHead",
    "compute_rewards",
    "cosine_to",
    "preset",
    "to_advantages",
    "triplet_distance",
    "triplet_loss",
]
