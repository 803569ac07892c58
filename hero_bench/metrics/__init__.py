"""Metrics shared by every method: success, diversity, CLIP/BLIP alignment, ImageReward, curves.

The names below are imported on first use (PEP 562), so that `curves` (pandas only) loads without torch:
the summary table of a Ray grid's driver, which never samples, imports it.
"""

from __future__ import annotations

from hero_bench.registry import lazy_attributes

_WHERE = {
    "MetricUnavailable": "availability",
    "SuccessRate": "success",
    "success_rate": "success",
    "grouped_diversity": "diversity",
    "in_batch_diversity": "diversity",
}

__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
