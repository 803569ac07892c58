"""Feedback-to-success curves and the feedback-efficiency numbers derived from them.

Input is the tidy results table of the run loop (one row per method, task, seed, epoch with
`feedback_used` and `success_rate`). HERO's claim is about feedback efficiency, so the summaries here
answer: how fast does success rise with feedback (curve, area under it), how much feedback does a
method need to reach a target success rate, and how many times less does one method need than another
(with a bootstrap interval over seeds, the only source of replication).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

KEYS = ["task", "method"]
# One default success target for `run`, `report` and `summarise`, so their "feedback to target" columns agree.
DEFAULT_TARGET = 0.5


def _check(df: pd.DataFrame) -> None:
    need = {"task", "method", "seed", "feedback_used", "success_rate"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"results table lacks columns {sorted(missing)}; it has {sorted(df.columns)}")


def at_feedback(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, method, seed, feedback_used): the last epoch's. That is the model after all the
    training a given amount of feedback paid for. DreamBooth trains on for epochs after its last label,
    and feedback-free methods never leave 0. Averaging those epochs instead would blend half-trained
    models into one point and count every epoch as a seed."""
    if "epoch" not in df.columns:
        return df
    return df.sort_values("epoch").groupby([*KEYS, "seed", "feedback_used"], as_index=False).tail(1)


def _seed_mean(df: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean success at each feedback_used, sorted (seeds averaged where they share a point)."""
    return (df.groupby("feedback_used", as_index=False)["success_rate"].mean()
            .sort_values("feedback_used", ignore_index=True))


def success_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Per task, method and feedback_used: mean and std of success over seeds, n_seeds, band = mean +- std."""
    _check(df)
    df = at_feedback(df)
    g = df.groupby([*KEYS, "feedback_used"])["success_rate"]
    out = g.agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["low"] = (out["mean"] - out["std"]).clip(lower=0.0)
    out["high"] = (out["mean"] + out["std"]).clip(upper=1.0)
    return out.sort_values([*KEYS, "feedback_used"], ignore_index=True)


def _first_reach(curve: pd.DataFrame, target: float) -> float:
    hit = curve.loc[curve["success_rate"] >= target, "feedback_used"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def feedback_to_target(df: pd.DataFrame, target: float, per_seed: bool = False) -> pd.DataFrame:
    """First feedback_used at which success reaches `target` (NaN and reached=False if it never does).

    By default on the seed-mean curve of each task and method; with per_seed, on each seed's own curve.
    A method that uses no feedback has only feedback_used 0: it either starts at the target (0) or never
    reaches it.
    """
    _check(df)
    df = at_feedback(df)
    keys = [*KEYS, "seed"] if per_seed else KEYS
    rows = []
    for key, part in df.groupby(keys):
        curve = part.sort_values("feedback_used") if per_seed else _seed_mean(part)
        fb = _first_reach(curve, target)
        rows.append({**dict(zip(keys, key, strict=True)), "target": target, "feedback_to_target": fb,
                     "reached": not np.isnan(fb)})
    return pd.DataFrame(rows, columns=[*keys, "target", "feedback_to_target", "reached"])


def _auc(curve: pd.DataFrame, budget: float) -> float:
    """Trapezoid area of success over [0, budget], divided by budget; the last value is held to the budget."""
    x = curve["feedback_used"].to_numpy(float)
    y = curve["success_rate"].to_numpy(float)
    if budget <= 0 or len(x) == 0:
        return float(y.mean()) if len(y) else float("nan")
    keep = x <= budget
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return float("nan")
    if x[0] > 0:  # nothing measured before the first point: hold the first value back to 0
        x, y = np.r_[0.0, x], np.r_[y[0], y]
    if x[-1] < budget:
        x, y = np.r_[x, budget], np.r_[y, y[-1]]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / budget)


def area_under_curve(df: pd.DataFrame, budget: float | None = None) -> pd.DataFrame:
    """Normalised area under success vs feedback (the mean success over the feedback budget, in [0, 1]).

    `budget` defaults to the largest feedback_used of the task. Returns per task and method the AUC of the
    seed-mean curve and the mean and std of the per-seed AUCs. A method that uses no feedback is a flat
    line at its success rate.
    """
    _check(df)
    df = at_feedback(df)
    rows = []
    for task, tdf in df.groupby("task"):
        b = float(budget if budget is not None else tdf["feedback_used"].max())
        for method, mdf in tdf.groupby("method"):
            per_seed = [_auc(s.sort_values("feedback_used"), b) for _, s in mdf.groupby("seed")]
            rows.append({"task": task, "method": method, "budget": b, "auc": _auc(_seed_mean(mdf), b),
                         "auc_seed_mean": float(np.mean(per_seed)),
                         "auc_seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0,
                         "n_seeds": len(per_seed)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EfficiencyRatio:
    """How many times more feedback method B needs than method A to reach `target` (B / A)."""

    task: str
    method_a: str
    method_b: str
    target: float
    feedback_a: float
    feedback_b: float
    ratio: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_boot_valid: int
    """Bootstrap draws in which both methods reached the target (others carry no ratio)."""
    undefined_because: str = ""
    """Why there is no ratio, when the reason is not that a method misses the target."""
    paired: bool = False
    """The draws resampled seeds jointly (both methods ran the same seeds); else each method's on its own."""

    def describe(self) -> str:
        if self.undefined_because:
            return f"{self.task}: ratio undefined ({self.undefined_because})"
        if np.isnan(self.ratio):
            pairs = ((self.method_a, self.feedback_a), (self.method_b, self.feedback_b))
            missing = [m for m, f in pairs if np.isnan(f)]
            if len(missing) == 2:
                why = f"{missing[0]} and {missing[1]} never reach {self.target:.0%}"
            elif missing:
                why = f"{missing[0]} never reaches {self.target:.0%}"
            else:  # A starts at the target: B / 0 feedback is no ratio (several comparators share this reason)
                why = f"{self.method_a} needs no feedback to reach {self.target:.0%}; compared with {self.method_b}"
            return f"{self.task}: ratio undefined ({why})"
        kind = "paired bootstrap" if self.paired else "bootstrap"
        return (f"{self.task}: {self.method_b} needs {self.ratio:.2f}x the feedback of {self.method_a} to reach "
                f"{self.target:.0%} (95% {kind} CI {self.ci_low:.2f}-{self.ci_high:.2f}, "
                f"{self.n_boot_valid}/{self.n_boot} draws reached)")


def final_success(df: pd.DataFrame, method: str, task: str) -> float:
    """Seed-mean success of `method` on `task` at its largest feedback count, after its last epoch."""
    part = at_feedback(df[(df["task"] == task) & (df["method"] == method)])
    if part.empty:
        raise ValueError(f"no rows for method {method!r} on task {task!r}")
    return float(_seed_mean(part)["success_rate"].iloc[-1])


def efficiency_at_final(
    df: pd.DataFrame, method_a: str, method_b: str, task: str, n_boot: int = 2000, seed: int = 0
) -> EfficiencyRatio:
    """The paper's headline comparison: how many times less feedback A needs than B to reach the success B
    ends its budget at (HERO vs D3PO: 4x). It is `efficiency_ratio` at B's own final seed-mean success.
    When B ends no higher than it started there is no gain to match, and no ratio."""
    r = efficiency_ratio(df, method_a, method_b, final_success(df, method_b, task), task=task, n_boot=n_boot,
                         seed=seed)
    if r.feedback_b == 0:
        why = f"{method_b} ends no higher than it starts, {r.target:.0%}: no gain to match"
        nan = float("nan")
        return replace(r, ratio=nan, ci_low=nan, ci_high=nan, n_boot_valid=0, undefined_because=why)
    return r


def _ratio(fa: float, fb: float) -> float:
    if np.isnan(fa) or np.isnan(fb) or fa <= 0:
        return float("nan")
    return fb / fa


def efficiency_ratio(
    df: pd.DataFrame,
    method_a: str,
    method_b: str,
    target: float,
    task: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> EfficiencyRatio:
    """Feedback-to-target of B divided by that of A, with a percentile bootstrap interval over seeds.

    Each bootstrap draw resamples seeds with replacement, rebuilds both seed-mean curves and recomputes the
    ratio; draws where either method misses the target are dropped and counted. When both methods ran the
    same seeds (two or more) a draw takes the same seeds for both (`paired`): a seed fixes the evaluation
    noises and the first model both start from, so what the seed decides for both cancels in the ratio as in
    the paired differences of the report. Otherwise each method's seeds are drawn on their own. The ratio is
    NaN when a method never reaches the target or A needs no feedback.
    """
    _check(df)
    df = at_feedback(df)
    tasks = sorted(df["task"].unique()) if task is None else [task]
    if len(tasks) != 1:
        raise ValueError(f"the table has several tasks {tasks}: pass task=")
    tdf = df[df["task"] == tasks[0]]
    rng = np.random.default_rng(seed)
    grid_a, grid_b = (_seed_grid(tdf, m) for m in (method_a, method_b))
    paired = len(grid_a.index) > 1 and grid_a.index.equals(grid_b.index)  # pivot_table sorts the seeds
    picks_a = _picks(rng, len(grid_a.index), n_boot)
    picks_b = picks_a if paired else _picks(rng, len(grid_b.index), n_boot)
    fa, fb = (_first_reach(_seed_mean(tdf[tdf["method"] == m]), target) for m in (method_a, method_b))
    boot_a, boot_b = _reach_draws(grid_a, picks_a, target), _reach_draws(grid_b, picks_b, target)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(boot_a > 0, boot_b / boot_a, np.nan)
    draws = ratios[~np.isnan(ratios)]
    alpha = (1 - level) / 2
    lo, hi = (np.quantile(draws, [alpha, 1 - alpha]) if len(draws) else (np.nan, np.nan))
    return EfficiencyRatio(tasks[0], method_a, method_b, target, fa, fb, _ratio(fa, fb), float(lo), float(hi),
                           n_boot, int(len(draws)), paired=paired)


def _seed_grid(tdf: pd.DataFrame, method: str) -> pd.DataFrame:
    """`method`'s success as seeds (sorted) x feedback points, NaN where a seed has no such point."""
    part = tdf[tdf["method"] == method]
    if part.empty:
        known = sorted(tdf["method"].unique())
        raise ValueError(f"no rows for method {method!r} on task {tdf['task'].iloc[0]!r}; methods: {known}")
    return part.pivot_table(index="seed", columns="feedback_used", values="success_rate", aggfunc="mean")


def _picks(rng: np.random.Generator, n_seeds: int, n_boot: int) -> np.ndarray:
    """Row numbers of `n_boot` draws of `n_seeds` seeds with replacement."""
    return rng.integers(0, n_seeds, size=(n_boot, n_seeds))


def _reach_draws(grid: pd.DataFrame, picks: np.ndarray, target: float) -> np.ndarray:
    """Feedback at which the seed-mean curve of each draw's seeds (`picks`: rows of `grid`) first reaches
    `target`; NaN where a draw never reaches it."""
    x, y = grid.columns.to_numpy(float), grid.to_numpy(float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a point no drawn seed has
        means = np.nanmean(y[picks], axis=1)  # n_boot x points
    hit = means >= target
    return np.where(hit.any(axis=1), x[hit.argmax(axis=1)], np.nan)


def efficiency_at_budget(
    df: pd.DataFrame, method_a: str, method_b: str, task: str, n_boot: int = 2000, seed: int = 0,
    level: float = 0.95,
) -> EfficiencyRatio:
    """The paper's own reading of its 4x (Section 5.1: D3PO's 33.3% after its 5K feedback against HERO's
    34.2% after 1,152): B's whole budget over the feedback A needs to reach the success B ends at.

    Looser than `efficiency_at_final`, which counts only the feedback B needed to first touch that level: on
    a flat, noisy B curve that touch comes early by chance, so both are reported. The interval resamples
    A's seeds (B's target and budget stay at their point values). No gain by B: no ratio, as there."""
    r = efficiency_at_final(df, method_a, method_b, task, n_boot=n_boot, seed=seed)
    tdf = at_feedback(df[df["task"] == task])
    budget = float(tdf.loc[tdf["method"] == method_b, "feedback_used"].max())
    if r.undefined_because:
        return replace(r, feedback_b=budget, paired=False)
    rng = np.random.default_rng(seed)
    grid_a = _seed_grid(tdf, method_a)
    fa = _first_reach(_seed_mean(tdf[tdf["method"] == method_a]), r.target)
    boot_a = _reach_draws(grid_a, _picks(rng, len(grid_a.index), n_boot), r.target)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = np.where(boot_a > 0, budget / boot_a, np.nan)
    draws = draws[~np.isnan(draws)]
    alpha = (1 - level) / 2
    lo, hi = (np.quantile(draws, [alpha, 1 - alpha]) if len(draws) else (np.nan, np.nan))
    return replace(r, feedback_a=fa, feedback_b=budget, ratio=_ratio(fa, budget), ci_low=float(lo),
                   ci_high=float(hi), n_boot_valid=int(len(draws)), paired=False)
