"""Paired differences in the report: same-seed pairing separates methods whose seed swings overlap."""

from __future__ import annotations

import pandas as pd

from hero_bench.reports.paired import paired_differences


def _rows(label: str, finals: list[float], n_eval: int = 256) -> list[dict]:
    return [
        {"task": "t", "label": label, "seed": s, "epoch": e, "success_rate": p if e else 0.2, "n_eval": n_eval}
        for s, p in enumerate(finals)
        for e in (0, 8)
    ]


def test_a_constant_gain_under_large_seed_swings_is_above_zero_when_paired():
    base = [0.2, 0.5, 0.3, 0.6, 0.4]
    df = pd.DataFrame(_rows("hero", [b + 0.1 for b in base]) + _rows("sd-pretrained", base))
    (row,) = paired_differences(df, pairs=[("hero", "sd-pretrained")]).to_dict("records")
    assert row["n_seeds"] == 5 and abs(row["difference"] - 0.1) < 1e-9
    assert 0 < row["ci_low"] < 0.1 < row["ci_high"] and row["verdict"] == "a above b"


def test_no_difference_is_within_noise_and_only_shared_seeds_count():
    df = pd.DataFrame(_rows("hero", [0.3, 0.4, 0.5]) + _rows("d3po-style", [0.3, 0.4, 0.5, 0.9]))
    (row,) = paired_differences(df, pairs=[("hero", "d3po-style"), ("hero", "absent")]).to_dict("records")
    assert row["n_seeds"] == 3 and row["difference"] == 0.0
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "within noise"


def test_by_default_every_hero_label_is_paired_with_the_baselines_that_ran():
    lora = "hero, LoRA only (N(0,I) noise)"
    df = pd.DataFrame(
        _rows("hero", [0.5])
        + _rows(lora, [0.3])
        + _rows("hero timestep_selection=all", [0.6])
        + _rows("sd-pretrained", [0.3])
        + _rows("dreambooth", [0.4])
    )
    pairs = set(zip(*paired_differences(df)[["a", "b"]].to_dict("list").values(), strict=True))
    assert pairs == {
        ("hero", "sd-pretrained"),
        (lora, "sd-pretrained"),
        ("hero timestep_selection=all", "sd-pretrained"),
    }
