"""The regression check's guard on HERO's DDPO update: did the LoRA weights move as far as in the reference?

Why beside the success curves: on small latents HERO's noise mixture does most of its work, and at CI size
its LoRA alone barely changes the verdicts (docs/regress.md), so a DDPO update that silently does nothing
leaves every success curve within seed noise. The distance the LoRA weights moved from their initial values
(`stat_lora_delta_norm`, logged by the DDPO trainer every epoch) does not: it is checked like the curves,
against the reference, with a tolerance from the measured seed-to-seed spread.
"""

from __future__ import annotations

import math

import pandas as pd

LORA_CHANGE = "lora_delta_norm"
"""Curve-table column: the LoRA weights' L2 distance from their initial values after each epoch."""
FLOOR_FRACTION = 0.01
"""A zero seed spread still gets a tolerance of 1% of the mean (float rounding on another CPU)."""


def lora_change_column(table: pd.DataFrame, pseudo: pd.Series) -> pd.Series:
    """The runs' `stat_lora_delta_norm` (NaN for methods without a LoRA and for the LoRA-only pseudo-rows, whose
    model is the same run's)."""
    values = pd.to_numeric(table.get(f"stat_{LORA_CHANGE}", pd.Series(float("nan"), index=table.index)))
    return values.where(~pseudo)


def final_change(curves: pd.DataFrame) -> pd.DataFrame:
    """Per task, method and seed: the LoRA change after the last epoch (methods that log one only)."""
    if LORA_CHANGE not in curves:
        return pd.DataFrame(columns=["task", "method", "seed", LORA_CHANGE])
    last = curves.sort_values(["task", "method", "seed", "epoch"]).groupby(["task", "method", "seed"]).tail(1)
    return last.loc[last[LORA_CHANGE].notna(), ["task", "method", "seed", LORA_CHANGE]]


def tolerance(values: list[float], scale: float) -> float:
    """max(scale * seed std, FLOOR_FRACTION * mean): the same rule as the AUC's (scale = k * sqrt(2 / n))."""
    mean = sum(values) / len(values)
    std = pd.Series(values).std(ddof=1) if len(values) > 1 else 0.0
    return round(max(scale * float(std), FLOOR_FRACTION * abs(mean)), 4)


def compare_change(current: pd.DataFrame, reference: pd.DataFrame, tolerances: dict) -> list[tuple]:
    """(task, method, reference, current, tolerance, ok, note) per method whose reference logs a LoRA change:
    it fails when the seed-mean change falls short of the reference by more than its tolerance."""
    ref = final_change(reference).groupby(["task", "method"])[LORA_CHANGE].mean()
    cur = final_change(current).groupby(["task", "method"])[LORA_CHANGE].mean()
    out = []
    for (task, method), r in ref.items():
        tol = tolerances.get(f"{task}/{method}", {}).get("lora_change_tolerance")
        if tol is None:
            continue
        c = float(cur.get((task, method), math.nan))
        short = r - c if not math.isnan(c) else math.inf
        note = "the LoRA never changed: no DDPO update was applied" if c == 0 else ""
        note = note or (f"moved {short:.3f} less" if short > tol else "")
        out.append((task, method, float(r), c, float(tol), short <= tol, note))
    return out
