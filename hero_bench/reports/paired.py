"""Paired differences between two methods' final success, per task: the comparison a reviewer asks for.

Why paired: two methods run with the same seed share the seed's evaluation noises (N(0, I) draws) and its
oracle seed, so the seed-to-seed swing that both see cancels in their difference. Each bootstrap draw resamples
the seeds both methods ran (the same seeds for both, which is what makes it paired), then each drawn seed's
evaluation images as a binomial draw around its success rate (independent for the two methods, so the interval
is conservative: the per-image pairing of shared noises would narrow it further).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hero_bench.reports import tables
from hero_bench.reports.content import Section, Table

BASELINES = ("sd-pretrained", "d3po-style")


def default_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """Every HERO label (HERO, its variants and settings, each also as "LoRA only" on the baselines' N(0, I)
    noises) against the pretrained model and the online-DPO baseline, where they ran."""
    heroes = sorted(str(label) for label in set(labels) if str(label).startswith("hero"))
    return [(a, b) for a in heroes for b in BASELINES if b in set(labels)]


def _draws(p: np.ndarray, n: np.ndarray | None, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if n is None:
        return p[picks].mean(axis=1)
    return (rng.binomial(n[picks], p[picks]) / n[picks]).mean(axis=1)


def paired_differences(
    df: pd.DataFrame, pairs: Sequence[tuple[str, str]] | None = None, n_boot: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """Per task and pair (a, b) that both ran: mean over shared seeds of a's final success minus b's, with a
    95% paired bootstrap interval. `df` is a results table with a `label` column (the report's)."""
    fin = tables.final_rows(df)
    pairs = default_pairs(fin["label"].astype(str).tolist()) if pairs is None else pairs
    rng = np.random.default_rng(seed)
    rows = []
    for task, part in fin.groupby("task", sort=True):
        by_label = {str(k): g.set_index("seed") for k, g in part.groupby("label")}
        for a, b in pairs:
            if a not in by_label or b not in by_label:
                continue
            seeds = sorted(set(by_label[a].index) & set(by_label[b].index))
            if not seeds:
                continue
            ra, rb = by_label[a].loc[seeds], by_label[b].loc[seeds]
            pa, pb = ra["success_rate"].to_numpy(float), rb["success_rate"].to_numpy(float)
            na = ra["n_eval"].to_numpy(int) if "n_eval" in ra and ra["n_eval"].notna().all() else None
            nb = rb["n_eval"].to_numpy(int) if "n_eval" in rb and rb["n_eval"].notna().all() else None
            picks = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
            diffs = _draws(pa, na, picks, rng) - _draws(pb, nb, picks, rng)
            low, high = np.quantile(diffs, [0.025, 0.975])
            rows.append(
                {
                    "task": str(task),
                    "a": a,
                    "b": b,
                    "n_seeds": len(seeds),
                    "a_mean": float(pa.mean()),
                    "b_mean": float(pb.mean()),
                    "difference": float(pa.mean() - pb.mean()),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "verdict": "a above b" if low > 0 else "a below b" if high < 0 else "within noise",
                }
            )
    return pd.DataFrame(rows)


def paired_section(df: pd.DataFrame, out: Path, n_boot: int = 4000, seed: int = 0) -> Section | None:
    """The report's section of paired differences, its CSV written under `out`/tables (None when no default
    pair ran on a shared seed)."""
    diffs = paired_differences(df, n_boot=n_boot, seed=seed)
    if diffs.empty:
        return None
    diffs.to_csv(out / "tables" / "paired_differences.csv", index=False)
    shown = diffs.assign(
        **{
            "a - b [95% CI]": [
                f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                for d, lo, hi in diffs[["difference", "ci_low", "ci_high"]].itertuples(index=False)
            ]
        }
    )[["task", "a", "b", "n_seeds", "a - b [95% CI]", "verdict"]]
    sec = Section("paired", "Paired differences (same seeds)")
    sec.tables.append(
        Table(
            "paired-table",
            shown.set_index("task"),
            "Final success of a minus b over the seeds both ran; 95% paired bootstrap over seeds and evaluation "
            "images. The baselines and HERO's LoRA-only rows use the same N(0, I) evaluation noises; HERO's own rows "
            "its learned noise. With one seed the interval holds only evaluation-image noise, not seed-to-seed "
            "spread. 'within noise': the interval spans 0.",
            "tables/paired_differences.csv",
        )
    )
    return sec
