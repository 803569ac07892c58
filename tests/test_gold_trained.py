"""The judge against a person on *fine-tuned* models' images (`assets/gold-trained`).

The other gold sets hold the pretrained model's images. A policy trained on the judge's own feedback can drift
to what the judge wrongly passes, and then its success rate, and no other method's, is inflated. These tests
keep the judge's agreement on trained models' images at its measured level and its success rate within a few
images of the person's for every method in the set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hero_bench.oracles.gold import TRAINED_GOLD_DIR, gold_scores, judge_gold, load_labels, success_gaps
from hero_bench.oracles.simulated import SimulatedOracle

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"

MEASURED_TRAINED = {
    "toy-black-cat": 0.992,
    "toy-blue-circle": 0.992,
    "toy-hand": 0.984,
    "toy-narcissus": 0.953,
    "toy-safety": 0.992,
}
"""Agreement on all images of each task (docs/toyworld.md, "The judge on fine-tuned models' images"), measured
before any parser change was made on this set."""


@pytest.fixture(scope="module")
def judged():
    return judge_gold(SimulatedOracle(seed=0), TRAINED_GOLD_DIR)


def test_every_image_names_the_run_it_came_from():
    labels = load_labels(TRAINED_GOLD_DIR)
    assert {"method", "source"} <= set(labels.columns)
    assert labels["source"].notna().all() and labels["method"].notna().all()
    assert (labels.groupby(["task", "method"]).size() >= 64).all()
    for task, rows in labels.groupby("task"):
        assert all((TRAINED_GOLD_DIR / str(task) / f).exists() for f in rows["file"])


def test_judge_agreement_on_trained_images_keeps_its_measured_level(judged):
    scores = {s.task: s.agreement for s in gold_scores(judged) if s.split == "all"}
    assert set(MEASURED_TRAINED) <= set(scores)
    low = {t: round(scores[t], 3) for t, level in MEASURED_TRAINED.items() if scores[t] < level - 0.05}
    assert not low, f"agreement on fine-tuned images fell more than 0.05 below its measured level: {low}"


def test_the_judge_flatters_no_method(judged):
    """On each method's images the judged success rate stays within 0.05 of the person's (three images of 64):
    a parser change that passes what a fine-tuned model learned to draw wrongly fails here."""
    gaps = success_gaps(judged)
    assert gaps
    far = {(g.task, g.method): round(g.gap, 3) for g in gaps if abs(g.gap) > 0.05}
    assert not far, f"judged success rate differs from the person's by more than 0.05: {far}"


def test_images_from_an_archived_run_get_the_verdicts_that_run_recorded(judged):
    """Images whose source is a path are epoch-8 evaluation images of a run archived in docs/results (black-cat's
    and blue-circle's, safety's d3po-style); the judge gives each the verdict stored in that run's verdicts.json,
    so they are the images that were scored."""
    archived = judged[judged["source"].str.fullmatch(r"[^ ]+/eval/epoch_\d{3}/\d{4}\.png")]
    assert len(archived) >= 320
    for source, verdict in zip(archived["source"], archived["judged"], strict=True):
        folder, image = (RESULTS / source).parent, (RESULTS / source).stem
        stored = json.loads((folder / "verdicts.json").read_text())["good"][int(image)]
        assert stored == verdict, source


def test_success_gaps_count_each_direction_of_disagreement():
    judged = pd.DataFrame(
        {
            "task": ["t"] * 5 + ["u"],
            "method": ["a", "a", "a", "b", "b", "a"],
            "good": [True, False, False, True, True, False],
            "judged": [True, True, True, False, True, False],
        }
    )
    gaps = {(g.task, g.method): g for g in success_gaps(judged)}
    a, b = gaps[("t", "a")], gaps[("t", "b")]
    assert (a.n, a.judge_only, a.person_only) == (3, 2, 0) and a.gap == pytest.approx(2 / 3)
    assert (b.n, b.judge_only, b.person_only) == (2, 0, 1) and b.gap == pytest.approx(-1 / 2)
    assert gaps[("u", "a")].gap == 0
    assert success_gaps(judged.drop(columns="method")) == []


def test_calibrate_prints_each_methods_success_rate_by_person_and_judge():
    cmd = [sys.executable, "-m", "hero_bench.cli", "calibrate", "--oracle", "simulated"]
    cmd += ["--gold", str(TRAINED_GOLD_DIR)]
    r = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["by_method"]
    assert {(row["task"], row["method"]) for row in rows} >= {("toy-hand", "hero"), ("toy-black-cat", "hero")}
    assert all(row["gap"] == pytest.approx(row["judge"] - row["person"]) for row in rows)
    text = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}).stdout
    assert "Success rate by the person and by the judge" in text and "diff: judge - person" in text
