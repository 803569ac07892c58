"""Each learner's own gain: its final success minus its success before any feedback, paired by seed.

Why: the paper's 4x compares the feedback HERO needs to reach D3PO's final success with D3PO's budget. When the
comparator itself gains nothing beyond noise, its "final success" is its starting level plus luck, and reaching
it says little about feedback efficiency. The report therefore states, next to every efficiency ratio, whether
the comparator's own gain is distinguishable from zero. The start is the epoch-0 evaluation of the same run (the
pretrained model on the same seed's evaluation noises), so start and end are paired image by image wherever both
were judged on the same noises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hero_bench.reports import tables
from hero_bench.reports.paired import paired_interval

COLUMNS = ["task", "method", "n_seeds", "start", "final", "gain", "ci_low", "ci_high", "verdict", "pairing",
           "t_widened"]


def _first_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The first epoch of every (task, method label, seed): the model before any feedback."""
    idx = df.groupby(["task", "label", "seed"])["epoch"].idxmin()
    return df.loc[idx].reset_index(drop=True)


def own_gains(df: pd.DataFrame, n_boot: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Per task and learner (a method that uses feedback and has trained epochs): mean over seeds of final minus
    first-epoch success, with a 95% paired interval (`paired.paired_interval`: bootstrap, widened by a t-interval
    over the seeds where that is wider). `df` is the report's
    results table (with `label`)."""
    learners = df[df["uses_feedback"].astype(str).str.lower().isin(("true", "1", "1.0"))] \
        if "uses_feedback" in df.columns else df
    learners = learners[learners.groupby(["task", "label", "seed"])["epoch"].transform("max") > 0]
    if learners.empty:
        return pd.DataFrame(columns=COLUMNS)
    fin, first = tables.final_rows(learners), _first_rows(learners)
    rng = np.random.default_rng(seed)
    rows = []
    for (task, label), end in fin.groupby(["task", "label"], sort=True):
        end = end.set_index("seed").sort_index()
        start = first[(first["task"] == task) & (first["label"] == label)].set_index("seed").loc[end.index]
        low, high, pairing, widened = paired_interval(end, start, rng, n_boot)
        s, f = float(start["success_rate"].mean()), float(end["success_rate"].mean())
        rows.append({"task": str(task), "method": str(label), "n_seeds": len(end), "start": s, "final": f,
                     "gain": f - s, "ci_low": low, "ci_high": high,
                     "verdict": "gains" if low > 0 else "loses" if high < 0 else "within noise",
                     "pairing": pairing, "t_widened": widened})
    return pd.DataFrame(rows, columns=COLUMNS)


def gain_phrase(gains: pd.DataFrame, task: str, method: str) -> str:
    """The efficiency bullets' phrase, e.g. d3po-style's own gain +0.02 [-0.03, +0.07] over 3 seed(s), within
    noise ('' when the method has no gain row)."""
    row = gains[(gains["task"] == task) & (gains["method"] == method)]
    if row.empty:
        return ""
    r = row.iloc[0]
    return (f"{method}'s own gain {r['gain']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] over "
            f"{int(r['n_seeds'])} seed(s), {r['verdict']}")
