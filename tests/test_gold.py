"""The simulated judge agrees with a person's labels of *generated* toy images (the shipped gold set).

The parser is exact on renders; this is the evidence that it is right where every success rate is measured,
on images the tiny Stable Diffusion generated. A parser change that breaks it fails here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.gold import (
    FIRST_GOLD_DIR,
    GOLD_DIR,
    PREVIOUS_GOLD_DIR,
    RaterAgreement,
    gold_scores,
    judge_gold,
    load_labels,
    rater_agreement,
)
from hero_bench.oracles.simulated import SimulatedOracle

TOY_TASKS = {"toy-hand", "toy-blue-circle", "toy-black-cat", "toy-narcissus", "toy-mountain", "toy-safety"}


@pytest.fixture(scope="module")
def judged():
    return judge_gold(SimulatedOracle(seed=0), GOLD_DIR)


@pytest.fixture(scope="module")
def judged_previous():
    return judge_gold(SimulatedOracle(seed=0), PREVIOUS_GOLD_DIR)


@pytest.fixture(scope="module")
def judged_first():
    return judge_gold(SimulatedOracle(seed=0), FIRST_GOLD_DIR)


@pytest.mark.parametrize(
    "folder", [GOLD_DIR, PREVIOUS_GOLD_DIR, FIRST_GOLD_DIR], ids=["default-model", "previous-default", "first"]
)
def test_each_gold_set_covers_every_toy_task_and_two_other_prompts(folder):
    labels = load_labels(folder)
    counts = labels.groupby("task").size()
    assert TOY_TASKS <= set(counts.index) and len(set(counts.index) - TOY_TASKS) >= 2
    assert (counts >= 64).all(), counts.to_dict()
    for task, rows in labels.groupby("task"):
        assert all((folder / str(task) / f).exists() for f in rows["file"])
        assert set(rows["split"]) == {"dev", "heldout"}


MEASURED = {
    "toy-hand": 0.969,
    "toy-blue-circle": 0.984,
    "toy-black-cat": 0.984,
    "toy-narcissus": 0.953,
    "toy-mountain": 1.0,
    "toy-safety": 1.0,
    "two-red-squares": 0.984,
    "green-circle-in-box": 0.969,
}
"""The judge's agreement on all images of each task of the default model's gold set (docs/toyworld.md; 128 for
toy-black-cat, 64 for the others), measured before any parser change was made on it."""
MEASURED_PREVIOUS = {
    "toy-hand": 0.938,
    "toy-blue-circle": 0.828,
    "toy-black-cat": 0.984,
    "toy-narcissus": 0.984,
    "toy-mountain": 1.0,
    "toy-safety": 0.984,
    "two-red-squares": 0.906,
    "green-circle-in-box": 0.875,
}
"""The same on the previous default's gold set (its 6,000-step UNet), where the parser was last tuned."""
MEASURED_FIRST = {
    "toy-hand": 0.922,
    "toy-blue-circle": 0.906,
    "toy-black-cat": 0.953,
    "toy-narcissus": 0.953,
    "toy-mountain": 1.0,
    "toy-safety": 0.969,
    "two-red-squares": 0.938,
    "green-circle-in-box": 0.828,
}
"""The same on the first gold set (v2's first UNet). A parser change that costs any task of any set more than
three images (0.05) fails here."""


@pytest.mark.parametrize("which", ["default-model", "previous-default", "first"])
def test_judge_agreement_does_not_fall_below_its_measured_level(which, judged, judged_previous, judged_first):
    table, measured = {
        "default-model": (judged, MEASURED),
        "previous-default": (judged_previous, MEASURED_PREVIOUS),
        "first": (judged_first, MEASURED_FIRST),
    }[which]
    scores = {s.task: s.agreement for s in gold_scores(table) if s.split == "all"}
    assert set(measured) <= set(scores)
    low = {t: round(scores[t], 3) for t, level in measured.items() if scores[t] < level - 0.05}
    assert not low, f"gold agreement fell more than 0.05 below its measured level: {low}"


@pytest.mark.parametrize("split", ["heldout", "all"])
def test_judge_agreement_and_recall_of_good_on_every_task(judged, split):
    low = {}
    for s in gold_scores(judged):
        if s.split != split:
            continue
        recall_ok = math.isnan(s.recall) or s.recall >= 0.90
        if s.agreement < 0.95 or not recall_ok:
            low[s.task] = (round(s.agreement, 3), round(s.recall, 3), s.n)
    assert not low, f"gold agreement < 0.95 or recall < 0.90 ({split}): {low}"


def test_calibrate_gold_prints_scores_as_json():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hero_bench.cli",
            "calibrate",
            "--oracle",
            "simulated",
            "--gold",
            str(FIRST_GOLD_DIR),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    tasks = {row["task"] for row in out["scores"]}
    assert TOY_TASKS <= tasks
    assert {row["task"] for row in out["labellers"]} >= {"toy-hand", "all"}


def test_a_folder_without_labels_is_a_one_line_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "calibrate", "--oracle", "simulated", "--gold", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "labels.csv" in r.stderr and "Traceback" not in r.stderr


def test_two_labellers_agree_well_enough_to_hold_a_judge_to_the_goal():
    """The 0.95 goal is meaningful only if people agree at least that often: a second labeller re-labelled
    held-out images blind (no first labels, no verdicts) and agrees on >= 0.95 of them overall."""
    agreement = {r.task: r for r in rater_agreement(load_labels(FIRST_GOLD_DIR))}
    assert agreement["all"].n >= 192 and agreement["all"].agreement >= 0.95
    assert all(r.n == 32 for t, r in agreement.items() if t != "all")


def test_cohens_kappa_discounts_the_agreement_the_base_rates_give():
    # po = 3/4; chance = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
    r = RaterAgreement.of("t", [True, True, False, False], [True, False, False, False])
    assert r.agree == 3 and r.kappa == pytest.approx(0.5)
    assert RaterAgreement.of("t", [True, False], [False, True]).kappa == pytest.approx(-1.0)


def test_a_second_label_that_is_not_good_or_bad_is_a_one_line_error(tmp_path):
    (tmp_path / "labels.csv").write_text("task,file,good,split,second\ntoy-hand,0000.png,1,dev,maybe\n")
    with pytest.raises(HeroBenchError, match="second holds 'maybe'"):
        load_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("task,file,good,split,second\ntoy-hand,0000.png,1,dev,\n")
    assert rater_agreement(load_labels(tmp_path)) == []


def test_the_longer_trained_unet_probe_keeps_its_measured_agreement():
    """The 64 labelled images of the default model's first probe (docs/toyworld.md): 31/32 and 30/32 when measured."""
    probe = FIRST_GOLD_DIR.parent / "gold-v3-probe"
    scores = {s.task: s.agreement for s in gold_scores(judge_gold(SimulatedOracle(seed=0), probe)) if s.split == "all"}
    assert scores["green-circle-in-box"] >= 0.969 - 0.05 and scores["toy-blue-circle"] >= 0.938 - 0.05, scores
