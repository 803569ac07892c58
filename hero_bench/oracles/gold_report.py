"""`hero-bench calibrate --gold DIR`: print (or emit as JSON) an oracle's agreement with a gold set, per task."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from hero_bench.oracles.gold import (
    SECOND,
    SuccessGap,
    gold_scores,
    judge_gold,
    rater_agreement,
    scores_frame,
    success_gaps,
)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def _ci(ci: tuple[float, float]) -> str:
    return "-" if math.isnan(ci[0]) else f"{ci[0]:.2f}-{ci[1]:.2f}".replace("0.", ".").replace("1.00", "1")


def print_gold_report(
    console: Console, oracle: str, folder: Path, seed: int, json_out: bool, options: dict[str, Any]
) -> None:
    """Judge every gold image with `oracle` and report agreement, precision and recall per task and split."""
    from hero_bench.oracles import ORACLES

    judged = judge_gold(ORACLES.create(oracle, seed=seed, **options), folder)
    scores = scores_frame(gold_scores(judged))
    raters = pd.DataFrame([asdict(r) for r in rater_agreement(judged)])
    gaps = success_gaps(judged)
    if json_out:
        by_method = pd.DataFrame([{**asdict(g), "gap": g.gap} for g in gaps])
        records = {"scores": scores, "labellers": raters, "by_method": by_method}
        out = {k: json.loads(v.to_json(orient="records")) if len(v) else [] for k, v in records.items()}
        print(json.dumps({"oracle": oracle, "gold": str(folder), **out}))
        return
    table = Table(
        title=f"'{oracle}' against the gold labels in {folder} (95% Wilson intervals)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("task", "half", "n", "good", "agree", "95% CI", "prec", "recall", "95% CI"):
        table.add_column(col, justify="left" if col in ("task", "half") else "right", no_wrap=True)
    previous = None
    for r in scores.itertuples():
        table.add_row(
            "" if r.task == previous else r.task,
            "held" if r.split == "heldout" else r.split,
            str(r.n),
            f"{r.gold_good}/{r.judged_good}",
            _pct(r.agreement),
            _ci(r.agreement_ci),
            _pct(r.precision),
            _pct(r.recall),
            _ci(r.recall_ci),
        )
        previous = r.task
    table.caption = "good: labelled good / judged good; held: the held-out half (dev: where the parser was tuned)"
    console.print(table)
    wrong = judged[judged["good"] != judged["judged"]]
    if len(wrong):
        console.print(
            "disagreements (task/file: gold -> judged): "
            + ", ".join(
                f"{t}/{f}: {'good' if g else 'bad'} -> {'good' if j else 'bad'}"
                for t, f, g, j in wrong[["task", "file", "good", "judged"]].itertuples(index=False)
            ),
            soft_wrap=True,
        )
    if len(raters):
        console.print(_labellers_table(judged, raters))
    if gaps:
        console.print(_gaps_table(gaps))


def _gaps_table(gaps: list[SuccessGap]) -> Table:
    """Each model's success rate as the person and as the judge see it: does the judge flatter one method?"""
    table = Table(
        title="Success rate by the person and by the judge, per method (labels.csv's method column)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("task", "method", "n", "person", "judge", "diff", "j only", "p only"):
        table.add_column(col, justify="left" if col in ("task", "method") else "right", no_wrap=True)
    previous = None
    for g in gaps:
        table.add_row("" if g.task == previous else g.task, g.method, str(g.n), f"{g.person:.3f}", f"{g.judge:.3f}",
                      f"{g.gap:+.3f}", str(g.judge_only), str(g.person_only))  # fmt: skip
        previous = g.task
    table.caption = (
        "person, judge: the success rate each gives; diff: judge - person; j only: images the judge passes and the "
        "person fails; p only: the other way round"
    )
    return table


def _labellers_table(judged: pd.DataFrame, raters: pd.DataFrame) -> Table:
    """The two labellers' agreement beside the judge's agreement with each of them, on the same images."""
    table = Table(
        title="Two labellers, independently, on the images with a second label (95% Wilson intervals)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("task", "n", "agree", "95% CI", "kappa", "judge=1st", "judge=2nd"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    both = judged[judged[SECOND].notna()]
    for r in raters.itertuples():
        rows = both if r.task == "all" else both[both["task"] == r.task]
        judge = rows["judged"].astype(bool)
        table.add_row(
            r.task,
            str(r.n),
            _pct(r.agreement),
            _ci(r.agreement_ci),
            _pct(r.kappa),
            _pct(float((judge == rows["good"]).mean())),
            _pct(float((judge == rows[SECOND].astype(bool)).mean())),
        )
    table.caption = (
        "agree: the labellers' agreement; kappa: Cohen's (beyond chance); judge=1st / judge=2nd: the judge's "
        "agreement with labels.csv's good column / its second column"
    )
    return table
