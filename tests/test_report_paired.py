"""Paired differences in the report: same-seed pairing separates methods whose seed swings overlap."""

from __future__ import annotations

import json

import numpy as np
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


def test_three_seeds_that_a_t_test_does_not_separate_are_within_noise():
    """The baseline comparison's toy-mountain, HERO against pretrained over 3 seeds (differences 0.53, 0.44,
    0.16 on 32 images each): the bootstrap alone put the interval above zero, the paired t-interval over the
    seeds does not, and the report must not claim a win that a t-test over its seeds would not."""
    df = pd.DataFrame(_rows("hero", [1.0, 1.0, 0.66], n_eval=32)
                      + _rows("sd-pretrained", [0.47, 0.56, 0.50], n_eval=32))
    (row,) = paired_differences(df, pairs=[("hero", "sd-pretrained")]).to_dict("records")
    d = np.array([0.53, 0.44, 0.16])
    half = 4.302652729911275 * d.std(ddof=1) / np.sqrt(3)  # Student's t, 2 degrees of freedom
    assert row["t_widened"] and row["verdict"] == "within noise"
    assert np.isclose(row["ci_low"], d.mean() - half) and np.isclose(row["ci_high"], d.mean() + half)
    five = pd.DataFrame(_rows("hero", [b + 0.1 for b in [0.2, 0.5, 0.3, 0.6, 0.4]]) + _rows("sd-pretrained",
                        [0.2, 0.5, 0.3, 0.6, 0.4]))
    assert not paired_differences(five, pairs=[("hero", "sd-pretrained")])["t_widened"].iloc[0]  # no spread


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


def test_full_hero_is_paired_with_each_of_its_ablations_but_not_with_their_settings():
    lora = "hero-binary, LoRA only (N(0,I) noise)"
    df = pd.DataFrame(
        _rows("hero", [0.9, 0.8])
        + _rows("hero-binary", [0.7, 0.7])
        + _rows(lora, [0.3, 0.3])
        + _rows("hero-random-noise+all-steps", [0.5, 0.5])
        + _rows("sd-pretrained", [0.3, 0.3])
    )
    diffs = paired_differences(df).set_index(["a", "b"])
    assert ("hero", "hero-binary") in diffs.index
    assert ("hero", lora) not in diffs.index and ("hero", "hero-random-noise+all-steps") not in diffs.index
    assert abs(diffs.loc[("hero", "hero-binary"), "difference"] - 0.15) < 1e-9
    without_full_hero = paired_differences(df[df["label"] != "hero"])
    assert not without_full_hero["a"].eq("hero").any()


def _run_with_verdicts(root, label: str, seed: int, good: list[bool], folder: str = "eval", own_noise: bool = False):
    """A final-epoch row whose run folder holds its per-image verdicts, as the run loop writes them."""
    run = root / label / f"seed{seed}"
    (run / folder / "epoch_008").mkdir(parents=True)
    (run / folder / "epoch_008" / "verdicts.json").write_text(json.dumps({"good": good, "best": 0, "prompts": []}))
    p = sum(good) / len(good)
    return [
        {"task": "t", "label": label, "seed": seed, "epoch": e, "success_rate": p if e else 0.3, "n_eval": len(good),
         "run_dir": str(run), "own_eval_noise": own_noise}
        for e in (0, 8)
    ]  # fmt: skip


def test_shared_noises_pair_the_images_so_a_few_flips_are_seen(tmp_path):
    """A fine-tuned model that turns 6 of 64 bad images good (and no good one bad) on the noises that the
    pretrained model also drew: the per-image pairing sees it; treating the two samples as independent cannot."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        base = [bool(g) for g in rng.random(64) < 0.4]
        tuned = list(base)
        for i in [i for i, g in enumerate(base) if not g][:6]:
            tuned[i] = True
        rows += _run_with_verdicts(tmp_path, "sd-pretrained", seed, base)
        rows += _run_with_verdicts(tmp_path, "hero-binary", seed, tuned)
    df = pd.DataFrame(rows)
    (paired,) = paired_differences(df, pairs=[("hero-binary", "sd-pretrained")]).to_dict("records")
    assert paired["pairing"] == "images" and abs(paired["difference"] - 6 / 64) < 1e-9
    assert paired["ci_low"] > 0 and paired["verdict"] == "a above b"
    (apart,) = paired_differences(df.drop(columns="run_dir"), pairs=[("hero-binary", "sd-pretrained")]).to_dict(
        "records"
    )
    assert apart["pairing"] == "seeds" and apart["ci_low"] < 0 < apart["ci_high"]


def test_hero_on_its_own_noise_is_not_paired_image_by_image(tmp_path):
    """HERO's own evaluation draws its learned noise: image i is not the pretrained model's image i."""
    rows = _run_with_verdicts(tmp_path, "hero", 0, [True] * 40 + [False] * 24, own_noise=True)
    rows += _run_with_verdicts(tmp_path, "sd-pretrained", 0, [True] * 30 + [False] * 34)
    (row,) = paired_differences(pd.DataFrame(rows), pairs=[("hero", "sd-pretrained")]).to_dict("records")
    assert row["pairing"] == "seeds"


def test_runs_evaluated_on_other_noises_are_not_paired_image_by_image(tmp_path):
    """Image i of two runs is a pair only if both drew the same evaluation noises (eval_seed + seed, eval_n in
    config.json): a baseline run with another --eval-seed has as many images, but other ones."""
    rng = np.random.default_rng(1)
    base = [bool(g) for g in rng.random(64) < 0.4]
    tuned = [True if i < 6 else g for i, g in enumerate(base)]

    def pairing(eval_seeds: tuple[int, int]) -> str:
        root = tmp_path / f"seeds-{eval_seeds[0]}-{eval_seeds[1]}"
        rows = []
        for label, good, eval_seed in (("hero-binary", tuned, eval_seeds[0]), ("sd-pretrained", base, eval_seeds[1])):
            rows += _run_with_verdicts(root, label, 0, good)
            config = {"seed": 0, "eval_seed": eval_seed, "eval_n": 64}
            (root / label / "seed0" / "config.json").write_text(json.dumps(config))
        (row,) = paired_differences(pd.DataFrame(rows), pairs=[("hero-binary", "sd-pretrained")]).to_dict("records")
        return row["pairing"]

    assert pairing((10_000, 10_000)) == "images"
    assert pairing((10_000, 5)) == "seeds"
