"""Task success rate of a judged batch, with a Wilson interval.

The judge's good/bad verdicts are Bernoulli trials, so a 95% Wilson interval says how far a rate measured
on a few dozen images can be trusted; it is the same interval the run loop writes into results.csv.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sane at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class SuccessRate:
    """Successes out of n with a Wilson score interval (defaults to 95%)."""

    successes: int
    n: int
    ci_low: float
    ci_high: float

    @property
    def rate(self) -> float:
        """Fraction judged good; NaN for an empty batch (a rate of nothing is not 0)."""
        return self.successes / self.n if self.n else float("nan")


def success_rate(good: Sequence[bool], z: float = 1.96) -> SuccessRate:
    """Rate and interval of the judge's verdicts (`good[i]` is True when image i meets the task)."""
    successes = sum(bool(g) for g in good)
    lo, hi = wilson_interval(successes, len(good), z=z)
    return SuccessRate(successes, len(good), lo, hi)
