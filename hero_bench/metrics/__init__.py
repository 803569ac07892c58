"""Metrics shared by every method: success, diversity, CLIP/BLIP alignment, ImageReward, curves.

Submodules import their heavy dependencies (transformers) lazily where they can, so `curves` and
`success` stay cheap to import for report building.
"""

from hero_bench.metrics.availability import MetricUnavailable
from hero_bench.metrics.diversity import grouped_diversity, in_batch_diversity
from hero_bench.metrics.success import SuccessRate, success_rate

__all__ = ["MetricUnavailable", "SuccessRate", "grouped_diversity", "in_batch_diversity", "success_rate"]
