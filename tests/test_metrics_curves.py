"""Feedback-to-success curves: bands over seeds, feedback to a target, AUC, efficiency ratio."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hero_bench.metrics.curves import (
    area_under_curve,
    efficiency_at_budget,
    efficiency_at_final,
    efficiency_ratio,
    expanded_alpha,
    feedback_to_target,
    final_success,
    success_curves,
)


def table(curves: dict[tuple[str, int], list[float]], step: int = 16, task: str = "t",
          learns: bool = True) -> pd.DataFrame:
    """Rows of the tidy results table from {(method, seed): success per epoch}."""
    rows = []
    for (method, seed), ys in curves.items():
        for epoch, y in enumerate(ys):
            rows.append({"task": task, "method": method, "seed": seed, "epoch": epoch,
                         "feedback_used": epoch * step if learns else 0, "success_rate": y})
    return pd.DataFrame(rows)


def test_success_curves_give_seed_mean_and_std_band():
    df = table({("hero", 0): [0.2, 0.6], ("hero", 1): [0.4, 1.0]})
    c = success_curves(df)
    assert c["feedback_used"].tolist() == [0, 16]
    assert c["mean"].tolist() == pytest.approx([0.3, 0.8])
    assert c["std"].iloc[1] == pytest.approx(pd.Series([0.6, 1.0]).std())
    assert c["high"].iloc[1] == 1.0  # clipped to a valid rate
    assert (c["n_seeds"] == 2).all()


def test_feedback_to_target_uses_the_seed_mean_and_reports_never():
    df = table({("hero", 0): [0.2, 0.5, 0.9], ("hero", 1): [0.2, 0.9, 0.9],
                ("d3po", 0): [0.2, 0.3, 0.4], ("d3po", 1): [0.2, 0.3, 0.5]})
    mean = feedback_to_target(df, 0.7).set_index("method")
    assert mean.loc["hero", "feedback_to_target"] == 16  # seed mean 0.7 at 16
    assert math.isnan(mean.loc["d3po", "feedback_to_target"]) and not mean.loc["d3po", "reached"]
    per_seed = feedback_to_target(df, 0.7, per_seed=True).set_index(["method", "seed"])
    assert per_seed.loc[("hero", 0), "feedback_to_target"] == 32
    assert per_seed.loc[("hero", 1), "feedback_to_target"] == 16


def test_method_without_feedback_reaches_at_zero_or_never():
    df = table({("sd-pretrained", 0): [0.8, 0.8]}, learns=False)
    assert feedback_to_target(df, 0.5)["feedback_to_target"].iloc[0] == 0
    assert not feedback_to_target(df, 0.9)["reached"].iloc[0]


def test_area_under_curve_is_mean_success_over_the_budget():
    df = table({("lin", 0): [0.0, 0.5, 1.0], ("flat", 0): [0.4, 0.4, 0.4]})
    auc = area_under_curve(df).set_index("method")
    assert auc.loc["lin", "auc"] == pytest.approx(0.5)
    assert auc.loc["flat", "auc"] == pytest.approx(0.4)
    # a longer budget holds the last value: 0.5 * (32/64) + 1.0 * (32/64)
    assert area_under_curve(df, budget=64).set_index("method").loc["lin", "auc"] == pytest.approx(0.75)
    still = table({("sd", 0): [0.3, 0.3]}, learns=False)
    assert area_under_curve(still, budget=64)["auc"].iloc[0] == pytest.approx(0.3)


def test_efficiency_ratio_and_its_bootstrap_interval():
    df = table({("hero", s): [0.2, 0.8, 0.9, 0.9, 0.9] for s in range(3)}
               | {("d3po", s): [0.2, 0.3, 0.5, 0.6, 0.8] for s in range(3)})
    r = efficiency_ratio(df, "hero", "d3po", 0.75, n_boot=200)
    assert (r.feedback_a, r.feedback_b, r.ratio) == (16, 64, 4.0)
    assert (r.ci_low, r.ci_high) == (4.0, 4.0)  # identical seeds: no spread
    assert "4.00x" in r.describe()


def test_efficiency_ratio_interval_reflects_seed_spread():
    df = table({("hero", 0): [0.2, 0.8, 0.9], ("hero", 1): [0.2, 0.5, 0.9], ("hero", 2): [0.2, 0.9, 0.9],
                ("d3po", 0): [0.2, 0.4, 0.8], ("d3po", 1): [0.2, 0.4, 0.6], ("d3po", 2): [0.2, 0.5, 0.9]})
    r = efficiency_ratio(df, "hero", "d3po", 0.75, n_boot=500, seed=1)
    assert r.ci_low <= r.ratio <= r.ci_high and r.ci_low < r.ci_high
    assert 0 < r.n_boot_valid <= 500


def test_efficiency_ratio_resamples_shared_seeds_jointly():
    """A seed that is hard for one method is hard for the other (same evaluation noises, same first model):
    here each seed alone gives d3po twice HERO's feedback, so the paired interval is 2x to 2x. Drawing each
    method's seeds on their own would pair HERO's easy seed with d3po's hard one (4x) and the reverse (1x)."""
    hard_easy = {("hero", 0): [0.2, 0.5, 0.8, 0.8, 0.8], ("hero", 1): [0.2, 0.8, 0.8, 0.8, 0.8],
                 ("d3po", 0): [0.2, 0.3, 0.5, 0.6, 0.8], ("d3po", 1): [0.2, 0.5, 0.8, 0.8, 0.8]}
    r = efficiency_ratio(table(hard_easy), "hero", "d3po", 0.75, n_boot=400)
    assert r.paired and (r.ratio, r.ci_low, r.ci_high) == (2.0, 2.0, 2.0)
    assert "(95% paired bootstrap CI 2.00-2.00" in r.describe()
    # d3po ran a third seed that HERO did not: the seed sets differ, so each method's are drawn on their own
    extra = efficiency_ratio(table(hard_easy | {("d3po", 2): [0.2, 0.5, 0.8, 0.8, 0.8]}), "hero", "d3po", 0.75,
                             n_boot=400)
    assert not extra.paired and extra.ci_low <= 1.0 and extra.ci_high >= 4.0
    assert "(95% bootstrap CI" in extra.describe()
    assert not efficiency_ratio(table({("hero", 0): [0.2, 0.8], ("d3po", 0): [0.2, 0.8]}), "hero", "d3po", 0.75,
                                n_boot=20).paired  # one seed: nothing to pair


def test_efficiency_ratio_interval_is_expanded_for_few_seeds():
    """A bootstrap over n seeds is narrower than a t-interval over them; a first-reach ratio has no t-interval, so
    its percentiles move out (Hesterberg's expanded percentile: 0.1% and 99.9% with 5 seeds). Five HERO seeds
    that switch at epochs 1 to 5, d3po at 8: the plain 2.5%-97.5% percentiles give 1.6x-4.0x; expanded, the
    interval reaches 8.0x, the draw of HERO's fastest seed alone, which five seeds cannot rule out."""
    assert expanded_alpha(0.95, 1) == pytest.approx(0.025)  # one seed: nothing to widen
    assert expanded_alpha(0.95, 5) == pytest.approx(0.000954, abs=1e-6)
    tails = [expanded_alpha(0.95, n) for n in range(2, 60)]
    assert tails == sorted(tails) and tails[-1] < 0.025 and tails[0] < 1e-60

    def switch(k: int) -> list[float]:
        return [0.2] * k + [0.9] * (9 - k)

    df = table({("hero", s): switch(s + 1) for s in range(5)} | {("d3po", s): switch(8) for s in range(5)})
    r = efficiency_ratio(df, "hero", "d3po", 0.75, n_boot=2000)
    assert (r.ratio, r.ci_low, r.ci_high, r.n_seeds) == (2.0, 1.6, 8.0, 5)
    assert "(95% paired bootstrap CI 1.60-8.00, expanded for 5 seeds," in r.describe()


def test_efficiency_ratio_is_undefined_when_a_method_never_reaches():
    df = table({("hero", 0): [0.2, 0.9], ("d3po", 0): [0.2, 0.3]})
    r = efficiency_ratio(df, "hero", "d3po", 0.75, n_boot=50)
    assert math.isnan(r.ratio) and r.n_boot_valid == 0
    assert "d3po never reaches" in r.describe()
    both = efficiency_ratio(table({("hero", 0): [0.2, 0.3], ("d3po", 0): [0.2, 0.3]}), "hero", "d3po", 0.75, n_boot=20)
    assert "(hero and d3po never reach 75%)" in both.describe()


def test_efficiency_ratio_needs_a_task_when_there_are_several():
    df = pd.concat([table({("hero", 0): [0.2, 0.9], ("d3po", 0): [0.2, 0.9]}, task=t) for t in ("a", "b")])
    with pytest.raises(ValueError, match="several tasks"):
        efficiency_ratio(df, "hero", "d3po", 0.5)
    with pytest.raises(ValueError, match="no rows for method 'ddpo'"):
        efficiency_ratio(df, "hero", "ddpo", 0.5, task="a")
    assert efficiency_ratio(df, "hero", "d3po", 0.5, task="a", n_boot=20).ratio == 1.0


def test_efficiency_at_final_uses_the_comparators_own_end_of_budget_success():
    """The paper's 4x: HERO reaches D3PO's final success with a quarter of D3PO's feedback."""
    df = table({("hero", s): [0.2, 0.5, 0.7, 0.7, 0.8] for s in range(2)}
               | {("d3po", 0): [0.2, 0.3, 0.4, 0.5, 0.6], ("d3po", 1): [0.2, 0.3, 0.4, 0.5, 0.4]})
    assert final_success(df, "d3po", "t") == pytest.approx(0.5)
    r = efficiency_at_final(df, "hero", "d3po", "t", n_boot=200)
    assert (r.target, r.feedback_a, r.feedback_b, r.ratio) == (pytest.approx(0.5), 16, 48, 3.0)
    flat = table({("hero", 0): [0.6, 0.7], ("d3po", 0): [0.2, 0.5]})
    no_need = efficiency_at_final(flat, "hero", "d3po", "t", n_boot=20).describe()
    assert "hero needs no feedback to reach 50%; compared with d3po" in no_need
    stuck = table({("hero", 0): [0.2, 0.1, 0.3], ("d3po", 0): [0.2, 0.3, 0.2]})  # d3po ends where it began
    r = efficiency_at_final(stuck, "hero", "d3po", "t", n_boot=20)
    assert math.isnan(r.ratio) and "d3po ends no higher than it starts, 20%: no gain to match" in r.describe()


def test_the_budget_reading_counts_the_comparators_whole_budget_not_its_first_touch():
    """The paper's arithmetic (D3PO 33.3% after 5K feedback, HERO 34.2% after 1,152: "over 4x"): B's whole
    budget over what A needs. B's flat, noisy curve touches its final level at its first point, so the
    first-touch ratio is 1x although A gets there with a quarter of B's budget."""
    df = table({("hero", s): [0.30, 0.36, 0.60, 0.70, 0.70] for s in range(3)}
               | {("d3po", s): [0.30, 0.40, 0.35, 0.38, 0.40] for s in range(3)})
    first = efficiency_at_final(df, "hero", "d3po", "t", n_boot=200)
    assert (first.feedback_a, first.feedback_b, first.ratio) == (32, 16, 0.5)
    r = efficiency_at_budget(df, "hero", "d3po", "t", n_boot=200)
    assert (r.target, r.feedback_a, r.feedback_b, r.ratio) == (pytest.approx(0.4), 32, 64, 2.0)
    assert (r.ci_low, r.ci_high, r.n_boot_valid) == (2.0, 2.0, 200)  # identical seeds: no spread
    noisy = table({("hero", 0): [0.3, 0.5, 0.5, 0.5, 0.5], ("hero", 1): [0.3, 0.3, 0.3, 0.5, 0.5]}
                  | {("d3po", s): [0.3, 0.3, 0.3, 0.3, 0.4] for s in range(2)})
    r = efficiency_at_budget(noisy, "hero", "d3po", "t", n_boot=400)
    assert r.ratio == 4.0 and (r.ci_low, r.ci_high) == (1.3333333333333333, 4.0)  # seed 1 alone needs 48
    stuck = table({("hero", 0): [0.2, 0.5], ("d3po", 0): [0.2, 0.2]})
    r = efficiency_at_budget(stuck, "hero", "d3po", "t", n_boot=20)
    assert math.isnan(r.ratio) and r.feedback_b == 16 and "no gain to match" in r.undefined_because


def test_the_level_b_ends_at_is_redrawn_with_the_seeds():
    """Where B's seeds end far apart, the level HERO must reach is uncertain too: each draw takes B's final
    seed mean over its own seeds. With the level held at its point value, HERO's identical seeds would give
    2x [2x, 2x]."""
    hero = {("hero", s): [0.2, 0.4, 0.6, 0.8, 0.8] for s in range(2)}
    spread = table(hero | {("d3po", 0): [0.2, 0.2, 0.3, 0.3, 0.4], ("d3po", 1): [0.2, 0.3, 0.5, 0.7, 0.8]})
    budget = efficiency_at_budget(spread, "hero", "d3po", "t", n_boot=400)
    # d3po ends at 0.6 (HERO there after 32); seed 0 twice: 0.4 (HERO after 16), seed 1 twice: 0.8 (after 48)
    assert budget.ratio == 2.0 and (budget.ci_low, budget.ci_high) == (pytest.approx(64 / 48), 4.0)
    assert budget.paired and budget.n_boot_valid == 400
    first = efficiency_at_final(spread, "hero", "d3po", "t", n_boot=400)  # d3po first touches its level at 64
    assert first.ratio == 2.0 and (first.ci_low, first.ci_high) == (pytest.approx(64 / 48), 4.0)


def test_a_draw_in_which_b_gains_nothing_gives_no_ratio():
    """As for the point estimate: a draw of only B's flat seed has no gain to match (HERO needs 16 to reach
    its 0.2, but B spent nothing to be there), so it is dropped and counted, not read as a 4x."""
    df = table({("hero", s): [0.1, 0.4, 0.6, 0.8, 0.8] for s in range(2)}
               | {("d3po", 0): [0.2, 0.2, 0.2, 0.2, 0.2], ("d3po", 1): [0.2, 0.3, 0.5, 0.7, 0.8]})
    r = efficiency_at_budget(df, "hero", "d3po", "t", n_boot=400)
    assert r.ratio == 2.0 and r.ci_high == 2.0 and 250 < r.n_boot_valid < 350  # about 1 draw in 4 dropped
    assert efficiency_at_final(df, "hero", "d3po", "t", n_boot=400).ci_low > 0


def test_a_ratio_capped_by_the_evaluation_grid_says_which_way():
    """HERO reaching the target at its first evaluation after feedback (16) may have needed 4 or 8: 4x is then
    a floor. B touching it at its first evaluation makes the ratio a ceiling, and both doing so leave any ratio
    possible."""
    early, late = [0.2, 0.8, 0.8, 0.8, 0.8], [0.2, 0.3, 0.5, 0.6, 0.8]
    floor = efficiency_ratio(table({("hero", 0): early, ("d3po", 0): late}), "hero", "d3po", 0.75, n_boot=20)
    assert floor.ratio == 4.0 and floor.bound == "at least"
    assert floor.describe().startswith("t: d3po needs at least 4.00x the feedback of hero")
    assert "hero reached 75% at its first evaluation after feedback" in floor.describe()
    mid = [0.2, 0.3, 0.8, 0.8, 0.8]
    ceiling = efficiency_ratio(table({("hero", 0): mid, ("d3po", 0): early}), "hero", "d3po", 0.75, n_boot=20)
    assert ceiling.ratio == 0.5 and ceiling.bound == "at most" and "needs at most 0.50x" in ceiling.describe()
    both = efficiency_ratio(table({("hero", 0): early, ("d3po", 0): early}), "hero", "d3po", 0.75, n_boot=20)
    assert both.bound == "unresolved" and "hero and d3po reached 75% at their first" in both.describe()
    exact = efficiency_ratio(table({("hero", 0): mid, ("d3po", 0): late}), "hero", "d3po", 0.75, n_boot=20)
    assert exact.ratio == 2.0 and exact.bound == "" and "needs 2.00x" in exact.describe()
    # the whole-budget reading: B's budget is no reach, so only HERO's side can cap it
    budget = efficiency_at_budget(table({("hero", 0): early, ("d3po", 0): late}), "hero", "d3po", "t", n_boot=20)
    assert budget.ratio == 4.0 and budget.bound == "at least"
    touched = table({("hero", 0): mid, ("d3po", 0): [0.2, 0.5, 0.4, 0.45, 0.5]})  # d3po at its final 0.5 by 16
    assert efficiency_at_final(touched, "hero", "d3po", "t", n_boot=20).bound == "at most"
    assert efficiency_at_budget(touched, "hero", "d3po", "t", n_boot=20).bound == ""


def test_a_method_that_trains_on_after_its_last_label_is_judged_by_its_final_model():
    """DreamBooth spends 16 feedback, then trains three more epochs: its point at 16 is the last of them,
    and the curve counts seeds, not epochs."""
    rows = [{"task": "t", "method": "dreambooth", "seed": s, "epoch": e, "feedback_used": min(e, 1) * 16,
             "success_rate": y} for s in (0, 1) for e, y in enumerate([0.1, 0.3, 0.5, 0.9])]
    df = pd.DataFrame(rows)
    c = success_curves(df)
    assert c["feedback_used"].tolist() == [0, 16] and c["mean"].tolist() == pytest.approx([0.1, 0.9])
    assert (c["n_seeds"] == 2).all()
    assert feedback_to_target(df, 0.8)["feedback_to_target"].iloc[0] == 16
    assert final_success(df, "dreambooth", "t") == pytest.approx(0.9)
