"""Intervals that stay honest with few seeds: the bootstrap's, widened to a t-interval over the seeds.

Why: the report's intervals resample seeds (and evaluation images) with replacement. With n seeds a seed-level
bootstrap spreads like sd * sqrt((n - 1) / n) / sqrt(n) with normal quantiles, where the t-interval a reviewer
expects uses sd / sqrt(n) and Student's quantile with n - 1 degrees of freedom: with 3 seeds the bootstrap's
half-width is about 0.82 * 1.96 / 4.30 = 37% of the t-interval's. So a three-seed grid could read "beats" where a
t-test over the seeds would not. Each interval is therefore the union of the bootstrap's and the t-interval over
the per-seed values (differences, for a paired interval): the bootstrap still carries evaluation-image noise (and
is all there is with one seed), the t-interval the seed-to-seed spread that few seeds cannot resample.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95


def t_interval(values: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float] | None:
    """95% Student-t interval of the mean of `values` (one per seed), clipped to `bounds`; None with fewer than
    two values (no spread to estimate)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return None
    half = float(stats.t.ppf(0.5 + LEVEL / 2, len(v) - 1)) * float(v.std(ddof=1)) / np.sqrt(len(v))
    return max(float(v.mean()) - half, bounds[0]), min(float(v.mean()) + half, bounds[1])


def union(low: float, high: float, other: tuple[float, float] | None) -> tuple[float, float, bool]:
    """The union of the interval (low, high) and `other` (none: unchanged), and whether `other` widened it."""
    if other is None:
        return low, high, False
    new_low, new_high = min(low, other[0]), max(high, other[1])
    return new_low, new_high, (new_low, new_high) != (low, high)


def widen(low: float, high: float, values: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float, bool]:
    """The union of the bootstrap interval (low, high) and the t-interval over the per-seed `values`, and
    whether the t-interval widened it."""
    return union(low, high, t_interval(values, bounds))


def welch_interval(a: np.ndarray, b: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float] | None:
    """95% Welch interval of mean(a) - mean(b) for independent per-seed values (Welch-Satterthwaite degrees of
    freedom), clipped to `bounds`; None unless both have two values or more."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return diff, diff
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, dof)) * float(np.sqrt(va + vb))
    return max(diff - half, bounds[0]), min(diff + half, bounds[1])
