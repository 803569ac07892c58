"""The report's first section: methods ranked by final success with intervals, and one sentence per task
that says who wins, by how much and how sure ("within noise" when the difference's interval spans 0)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from hero_bench.reports.answer import compare, sentence, standings


def finals(rates: dict[str, list[float]], task: str = "toy-mountain", n_eval: int = 64) -> pd.DataFrame:
    """Final-epoch rows (one per seed) as results tables hold them; an earlier epoch that must be ignored."""
    rows = []
    for label, per_seed in rates.items():
        for seed, rate in enumerate(per_seed):
            base = {"task": task, "label": label, "method": label, "seed": seed, "n_eval": n_eval}
            rows += [{**base, "epoch": 0, "success_rate": 0.0}, {**base, "epoch": 3, "success_rate": rate}]
    return pd.DataFrame(rows)


def test_methods_are_ranked_by_final_success_with_intervals_around_the_mean():
    ranked = standings(finals({"sd-pretrained": [0.3, 0.32, 0.28], "hero": [0.8, 0.85, 0.75], "d3po": [0.5] * 3}))
    (rows,) = ranked.values()
    assert [s.method for s in rows] == ["hero", "d3po", "sd-pretrained"]
    for s in rows:
        assert s.low < s.mean < s.high and s.n_seeds == 3
    assert rows[0].mean == pytest.approx(0.8) and rows[0].cell().startswith("hero 0.80\u00a0[")


def test_the_interval_counts_the_evaluation_images_as_well_as_the_seeds():
    """Seeds that agree exactly still leave the uncertainty of a finite evaluation batch."""
    few = standings(finals({"hero": [0.5, 0.5, 0.5]}, n_eval=16))["toy-mountain"][0]
    many = standings(finals({"hero": [0.5, 0.5, 0.5]}, n_eval=1024))["toy-mountain"][0]
    assert few.high - few.low > 0.15 and many.high - many.low < 0.06


def test_a_clear_gap_is_a_win_with_its_interval_and_an_overlap_is_within_noise():
    ranked = {s.method: s for s in standings(finals({"hero": [0.8, 0.82, 0.78], "d3po-style": [0.55, 0.6, 0.5],
                                                     "hero-binary": [0.75, 0.85, 0.8]}))["toy-mountain"]}  # fmt: skip
    win = compare(ranked["hero"], ranked["d3po-style"])
    m = re.fullmatch(r"hero beats d3po-style by \+0\.25 \(95% CI \+([\d.]+) to \+([\d.]+)\)", win)
    assert m and 0 < float(m[1]) < 0.25 < float(m[2]), win
    tie = compare(ranked["hero"], ranked["hero-binary"])
    assert tie.startswith("hero and hero-binary are within noise (+0.00, 95% CI -"), tie


def test_means_over_different_numbers_of_seeds_say_so():
    ranked = {s.method: s for s in standings(finals({"hero": [0.5, 0.4, 0.45], "hero+lr": [0.9]}))["toy-mountain"]}
    assert compare(ranked["hero+lr"], ranked["hero"]).endswith("; 1 vs 3 seeds)")
    assert "seeds" not in compare(ranked["hero"], ranked["hero"])


def test_the_sentence_is_about_hero_against_the_best_other_and_the_pretrained_model():
    ranked = standings(finals({"dreambooth": [0.95, 0.93, 0.97], "hero": [0.6, 0.62, 0.58],
                               "sd-pretrained": [0.3, 0.32, 0.28]}))["toy-mountain"]  # fmt: skip
    text = sentence("toy-mountain", ranked)
    assert text.startswith("**toy-mountain**: dreambooth beats hero by +0.35 (95% CI +")
    assert "; hero beats sd-pretrained by +0.30 (95% CI +" in text and text.endswith(").")
    alone = sentence("toy-hand", standings(finals({"hero": [0.4]}, task="toy-hand"))["toy-hand"])
    assert alone == "**toy-hand**: only hero was run (0.40)."


def test_heros_lora_only_row_is_ranked_but_is_not_its_rival():
    from hero_bench.metrics.lora_only import lora_only_label

    ranked = standings(finals({"hero": [0.9, 0.88, 0.92], lora_only_label("hero"): [0.5, 0.52, 0.48],
                               "d3po-style": [0.4, 0.42, 0.38]}))["toy-mountain"]  # fmt: skip
    assert [s.method for s in ranked] == ["hero", lora_only_label("hero"), "d3po-style"]
    assert sentence("toy-mountain", ranked).startswith("**toy-mountain**: hero beats d3po-style by +0.50 (95% CI +")


def test_the_ratio_cell_names_each_rival_at_its_final_success_and_at_the_target():
    from hero_bench.metrics.curves import EfficiencyRatio
    from hero_bench.metrics.lora_only import lora_only_label
    from hero_bench.reports.answer import _ratio_cell

    nan = float("nan")

    def ratio(b: str, target: float, ratio: float, why: str = "") -> EfficiencyRatio:
        return EfficiencyRatio("t", "hero", b, target, 32.0, 32.0 * ratio, ratio, ratio / 2, ratio * 2, 100, 90, why)

    at_final = [ratio("d3po-style", 0.6, 4.0), ratio("dreambooth", 0.3, nan, "no gain to match"),
                ratio(lora_only_label("hero"), 0.5, 1.0)]  # fmt: skip
    to_target = [ratio("d3po-style", 0.5, 2.0), ratio("dreambooth", 0.5, nan)]
    cell = _ratio_cell("t", at_final, to_target).replace("\u00a0", " ")
    assert cell.splitlines() == ["d3po-style: 4.0x [2.0, 8.0] · 2.0x [1.0, 4.0]",
                                 "dreambooth: none (no gain) · none (not reached)"]  # fmt: skip
    at_budget = [ratio("d3po-style", 0.6, 8.0), ratio("dreambooth", 0.3, nan, "no gain to match")]
    cell = _ratio_cell("t", at_final, to_target, at_budget).replace("\u00a0", " ")
    assert cell.splitlines() == ["d3po-style: 8.0x [4.0, 16.0] · 4.0x [2.0, 8.0]",
                                 "dreambooth: none (no gain) · none (no gain)"]  # fmt: skip


def test_the_sentence_uses_the_paired_interval_where_the_pair_was_paired():
    """A constant gain under large seed swings: independent draws call it noise, the paired interval (same seeds)
    does not, and the first screen must say what the paired table beside it says."""
    from hero_bench.reports.answer import paired_lookup
    from hero_bench.reports.paired import paired_differences

    base = [0.2, 0.5, 0.3, 0.6, 0.4]
    df = finals({"hero": [b + 0.1 for b in base], "sd-pretrained": base}, n_eval=1024)
    ranked = standings(df)["toy-mountain"]
    unpaired = sentence("toy-mountain", ranked)
    assert "within noise" in unpaired, unpaired
    paired = sentence("toy-mountain", ranked, paired_lookup(paired_differences(df)))
    assert re.search(r"hero beats sd-pretrained by \+0\.10 \(paired 95% CI \+0\.\d\d to \+0\.\d\d\)", paired), paired


def test_a_ratio_capped_by_the_evaluation_grid_is_marked_on_the_first_screen():
    """Paper-size grids evaluate every 64 feedback: HERO there at 64 against B's 512 reads 8x, but HERO may have
    needed 16. The cell and the caption must say it is a floor."""
    from dataclasses import replace

    from hero_bench.metrics.curves import EfficiencyRatio
    from hero_bench.reports.answer import _ratio_cell, answer_section, budget_phrase

    exact = EfficiencyRatio("toy-mountain", "hero", "d3po-style", 0.6, 64.0, 512.0, 8.0, 4.0, 8.0, 100, 90)
    floor = replace(exact, a_at_first_point=True)
    cells = [_ratio_cell("toy-mountain", [r], [], [r]).replace("\u00a0", " ") for r in (exact, floor)]
    assert cells == ["d3po-style: 8.0x [4.0, 8.0] · 8.0x [4.0, 8.0]", "d3po-style: ≥8.0x [4.0, 8.0] · ≥8.0x [4.0, 8.0]"]
    assert budget_phrase(floor).startswith("at least 8.0x [4.0, 8.0] (hero reaches 60% after 64, its first")
    ranked = standings(finals({"hero": [0.8] * 3, "d3po-style": [0.6] * 3}))
    (plain,) = answer_section(ranked, [exact], [], 0.5, at_budget=[exact]).tables
    (marked,) = answer_section(ranked, [floor], [], 0.5, at_budget=[floor]).tables
    assert "≥" not in plain.caption and "≥: HERO reached that success at its first evaluation" in marked.caption
    both = replace(floor, b_at_first_point=True)
    assert _ratio_cell("toy-mountain", [both], [], [exact]).endswith("(unresolved)")


def test_a_report_without_hero_does_not_caption_heros_feedback_ratios():
    """A DreamBooth-against-pretrained report has no HERO ratios, so its caption must not promise them."""
    from hero_bench.metrics.curves import EfficiencyRatio
    from hero_bench.reports.answer import answer_section

    ranked = standings(finals({"dreambooth": [0.7, 0.75, 0.72], "sd-pretrained": [0.5] * 3}))
    (table,) = answer_section(ranked, [], [], 0.5).tables
    assert "HERO" not in table.caption and not any("HERO" in c for c in table.frame.columns)
    ratio = EfficiencyRatio("toy-mountain", "hero", "d3po-style", 0.6, 32.0, 64.0, 2.0, 1.0, 4.0, 100, 90, "")
    (table,) = answer_section(standings(finals({"hero": [0.8] * 3})), [ratio], [], 0.5).tables
    assert "how many times less feedback HERO needs" in table.caption


def test_hero_against_any_best_other_method_gets_a_paired_interval():
    """The paired table paired HERO only with sd-pretrained and d3po-style, so a sentence naming DreamBooth (the
    best other method) fell back to independent draws: "beats" where the paired interval says "within noise" or
    the other way round. Every HERO-against-X the answer states is now paired; the default pairs keep the
    intervals they had (the added pairs draw from their own stream)."""
    from hero_bench.reports.answer import paired_lookup, sentence_pairs
    from hero_bench.reports.paired import paired_differences, report_differences

    base = [0.2, 0.5, 0.3, 0.6, 0.4]
    rates = {"hero": [b + 0.1 for b in base], "dreambooth": base, "sd-pretrained": [b - 0.15 for b in base],
             "ddpo-reward": [b - 0.05 for b in base]}
    df = pd.concat([finals(rates, n_eval=1024), finals(rates, task="toy-safety", n_eval=1024)], ignore_index=True)
    ranked = standings(df)
    diffs = report_differences(df, sentence_pairs(ranked))
    assert {("hero", "dreambooth"), ("hero", "ddpo-reward")} <= set(zip(diffs["a"], diffs["b"], strict=True))
    text = sentence("toy-mountain", ranked["toy-mountain"], paired_lookup(diffs))
    assert re.search(r"hero beats dreambooth by \+0\.10 \(paired 95% CI \+0\.\d\d to \+0\.\d\d\)", text), text
    only_default = {k: v for k, v in rates.items() if k in ("hero", "sd-pretrained")}
    alone = paired_differences(pd.concat([finals(only_default, n_eval=1024),
                                          finals(only_default, task="toy-safety", n_eval=1024)], ignore_index=True))
    shared = diffs[diffs["b"] == "sd-pretrained"].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, alone)


def test_a_paired_interval_over_fewer_seeds_than_the_means_is_not_used():
    """A one-seed setting beside a five-seed method: the paired interval covers seed 0 alone, the clause's
    difference all five seeds of one of them; the sentence keeps the unpaired interval and says 1 vs 5 seeds."""
    from hero_bench.reports.answer import paired_lookup

    df = pd.concat([finals({"hero": [0.9, 0.5, 0.5, 0.5, 0.5]}), finals({"hero+lr": [0.9]})], ignore_index=True)
    ranked = standings(df)["toy-mountain"]
    paired = paired_lookup(pd.DataFrame([{"task": "toy-mountain", "a": "hero", "b": "hero+lr", "n_seeds": 1,
                                          "ci_low": -0.01, "ci_high": 0.01}]))  # fmt: skip
    text = sentence("toy-mountain", ranked, paired)
    assert "paired" not in text and "1 vs 5 seeds" in text, text
