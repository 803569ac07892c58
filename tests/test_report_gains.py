"""A learner's own gain (final minus before feedback): what tells a reader whether an efficiency ratio against
that learner measures anything."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hero_bench.reports.gains import gain_phrase, own_gains


def _run(root, label: str, seed: int, verdicts: dict[int, list[bool]], uses_feedback: bool = True) -> list[dict]:
    """Rows of one run whose folder holds each epoch's per-image verdicts on the same evaluation noises."""
    run = root / label / f"seed{seed}"
    rows = []
    for epoch, good in verdicts.items():
        folder = run / "eval" / f"epoch_{epoch:03d}"
        folder.mkdir(parents=True)
        (folder / "verdicts.json").write_text(json.dumps({"good": good, "best": 0, "prompts": []}))
        rows.append({"task": "t", "label": label, "seed": seed, "epoch": epoch, "success_rate": sum(good) / len(good),
                     "n_eval": len(good), "run_dir": str(run), "own_eval_noise": False,
                     "uses_feedback": uses_feedback})
    return rows


def test_a_few_flips_on_the_same_noises_are_a_gain_and_luck_is_not(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(3):
        start = [bool(g) for g in rng.random(64) < 0.4]
        learned = list(start)
        for i in [i for i, g in enumerate(start) if not g][:6]:  # 6 of 64 bad images turn good, none turn bad
            learned[i] = True
        shuffled = list(rng.permutation(start))  # same success, different images: no learning, only churn
        rows += _run(tmp_path, "learner", seed, {0: start, 8: learned})
        rows += _run(tmp_path, "churner", seed, {0: start, 8: [bool(g) for g in shuffled]})
        rows += _run(tmp_path, "sd-pretrained", seed, {0: start}, uses_feedback=False)
    gains = own_gains(pd.DataFrame(rows)).set_index("method")
    assert set(gains.index) == {"learner", "churner"}  # a model that never trains has no gain to report
    learner, churner = gains.loc["learner"], gains.loc["churner"]
    assert learner["pairing"] == "images" and abs(learner["gain"] - 6 / 64) < 1e-9
    assert learner["ci_low"] > 0 and learner["verdict"] == "gains"
    assert churner["gain"] == 0 and churner["ci_low"] < 0 < churner["ci_high"] and churner["verdict"] == "within noise"
    phrase = gain_phrase(gains.reset_index(), "t", "learner")
    assert phrase.startswith("learner's own gain +0.09 [") and phrase.endswith("over 3 seed(s), gains")
    assert gain_phrase(gains.reset_index(), "t", "absent") == ""
