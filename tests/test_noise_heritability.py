"""The statistics of scripts/noise-heritability.py, which docs/results/README.md quotes to explain on which
tasks HERO's feedback-guided noise can help: how far a verdict is set by the initial noise z_T."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def measure(load_script):
    return load_script("noise-heritability.py").measure


def test_a_verdict_set_by_the_noise_repeats_and_is_all_between_noises(measure):
    good = np.array([[1, 1, 1, 1]] * 3 + [[0, 0, 0, 0]] * 5, dtype=float)
    m = measure(good)
    assert m["p"] == pytest.approx(3 / 8)
    assert m["p_again"] == pytest.approx(1.0)
    assert m["icc"] == pytest.approx(1.0)


def test_a_verdict_independent_of_the_noise_repeats_at_the_base_rate(measure):
    rng = np.random.default_rng(0)
    good = (rng.random((4000, 4)) < 0.3).astype(float)
    m = measure(good)
    assert m["p_again"] == pytest.approx(m["p"], abs=0.02)
    assert m["icc"] == pytest.approx(0.0, abs=0.03)


def test_p_again_counts_ordered_pairs_of_distinct_draws(measure):
    """Two noises: one good on 2 of 3 draws, one on 1 of 3. Pairs (first good, second any other draw): 2x2 + 1x2
    = 6, of which both good: 2x1 + 0 = 2. The ANOVA intraclass correlation by hand: mean squares between 1/6
    and within 1/3, (1/6 - 1/3) / (1/6 + 2 x 1/3) = -0.2 (below zero: the noises differ less than chance)."""
    m = measure(np.array([[1, 1, 0], [1, 0, 0]], dtype=float))
    assert m["p_again"] == pytest.approx(2 / 6)
    assert m["p"] == pytest.approx(3 / 6)
    assert m["icc"] == pytest.approx(-0.2)


def test_the_intervals_hold_the_point_and_narrow_with_more_noises(load_script):
    script = load_script("noise-heritability.py")
    rng = np.random.default_rng(1)
    noise_rate = rng.random(400)[:, None]  # each z_T has its own chance of a good image
    good = (rng.random((400, 4)) < noise_rate).astype(float)
    wide, narrow = script.with_intervals(good[:50], rounds=300), script.with_intervals(good, rounds=300)
    for stats in (wide, narrow):
        for point, low, high in stats.values():
            assert low <= point <= high
    assert narrow["icc"][2] - narrow["icc"][1] < wide["icc"][2] - wide["icc"][1]
