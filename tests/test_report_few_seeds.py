"""Intervals with few seeds: the bootstrap's, widened to the t-interval over the seeds where that is wider."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hero_bench.reports.answer import standings
from hero_bench.reports.few_seeds import t_interval, widen


def test_the_t_interval_uses_students_quantile_and_stays_within_bounds():
    low, high = t_interval(np.array([0.1, 0.2, 0.3]), (-1.0, 1.0))
    assert (low, high) == pytest.approx((0.2 - 4.302653 * 0.1 / 3**0.5, 0.2 + 4.302653 * 0.1 / 3**0.5))
    assert t_interval(np.array([0.1, 0.9]), (0.0, 1.0)) == (0.0, 1.0)  # 12.7 standard errors: clipped
    assert t_interval(np.array([0.4]), (0.0, 1.0)) is None  # one seed: no spread to estimate


def test_widen_keeps_the_wider_side_of_each():
    assert widen(0.1, 0.3, np.array([0.1, 0.2, 0.3]), (-1.0, 1.0))[2] is True
    low, high, widened = widen(-0.9, 0.95, np.array([0.1, 0.2, 0.3]), (-1.0, 1.0))
    assert (low, high, widened) == (-0.9, 0.95, False)
    assert widen(0.2, 0.4, np.array([0.3]), (0.0, 1.0)) == (0.2, 0.4, False)


def test_a_two_seed_mean_is_not_pinned_down_by_many_images():
    """Two seeds at 0.2 and 0.8 with 1,024 images each: the bootstrap sees only the two values (about
    [0.2, 0.8]); where the next seed lands is as open as the t-interval says."""
    rows = [{"task": "t", "label": "hero", "method": "hero", "seed": s, "epoch": 3, "success_rate": p,
             "n_eval": 1024} for s, p in enumerate([0.2, 0.8])]
    (s,) = standings(pd.DataFrame(rows))["t"]
    assert (s.low, s.high) == (0.0, 1.0)


def test_the_answer_says_when_two_seeds_cannot_separate_anything():
    from hero_bench.reports.answer import answer_section

    def ranked(n_seeds: int) -> dict:
        rows = [{"task": "t", "label": m, "method": m, "seed": s, "epoch": 3, "success_rate": p + 0.05 * s,
                 "n_eval": 64} for m, p in (("hero", 0.8), ("sd-pretrained", 0.3)) for s in range(n_seeds)]
        return standings(pd.DataFrame(rows))

    two = answer_section(ranked(2), [], [], 0.5)
    assert any(b.startswith("Two seeds: the t-interval") for b in two.bullets)
    assert "widened to the t-interval over seeds" in two.tables[0].caption
    assert not any(b.startswith("Two seeds") for b in answer_section(ranked(3), [], [], 0.5).bullets)


def test_an_unpaired_difference_is_as_wide_as_a_welch_test_over_the_seeds():
    """Three seeds against five, so no paired interval: the sentence's interval covers Welch's."""
    from scipy import stats

    from hero_bench.reports.answer import compare

    rows = [{"task": "t", "label": m, "method": m, "seed": s, "epoch": 3, "success_rate": p, "n_eval": 1024}
            for m, ps in (("hero", [0.9, 0.6, 0.75]), ("sd-pretrained", [0.4, 0.5, 0.45, 0.42, 0.48]))
            for s, p in enumerate(ps)]
    by_name = {s.method: s for s in standings(pd.DataFrame(rows))["t"]}
    a, b = np.array([0.9, 0.6, 0.75]), np.array([0.4, 0.5, 0.45, 0.42, 0.48])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 5
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 4)
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    text = compare(by_name["hero"], by_name["sd-pretrained"])
    low = a.mean() - b.mean() - half
    assert f"95% CI {low:+.2f} to" in text and "3 vs 5 seeds" in text, text
