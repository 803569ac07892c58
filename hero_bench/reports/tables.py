"""The report's tables, as pandas frames: a long form for CSV and a wide, formatted form for reading.

Success is reported as in the paper's Table 2: mean and standard deviation over seeds of the success rate
measured on the final epoch's evaluation images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pm(mean: float, std: float, n: int, digits: int = 3, of: int | None = None) -> str:
    """'0.812 ± 0.041' (sample std over seeds); a single seed has no spread to show. `of`: the seeds the method
    ran, said when the value covers fewer ('0.812 ± 0.041 (3 of 5 seeds)')."""
    if np.isnan(mean):
        return "n/a"
    part = f" ({n} of {of} seeds)" if of is not None and 0 < n < of else ""
    if n < 2 or np.isnan(std):
        return f"{mean:.{digits}f}" + (part or " (1 seed)")
    return f"{mean:.{digits}f} ± {std:.{digits}f}{part}"


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every (task, method label, seed)."""
    idx = df.groupby(["task", "label", "seed"])["epoch"].idxmax()
    return df.loc[idx].reset_index(drop=True)


def summary_long(df: pd.DataFrame) -> pd.DataFrame:
    """task, method, final success mean/std over seeds, seeds, feedback used by the final epoch."""
    fin = final_rows(df)
    g = fin.groupby(["task", "label"])
    out = g.agg(success_mean=("success_rate", "mean"), success_std=("success_rate", "std"),
                n_seeds=("seed", "nunique"), feedback_used=("feedback_used", "max"),
                n_eval=("n_eval", "max") if "n_eval" in fin.columns else ("seed", "size")).reset_index()
    out["seeds"] = g["seed"].apply(lambda s: ",".join(map(str, sorted(s.unique())))).to_numpy()
    return out.rename(columns={"label": "method"})


def wide(long: pd.DataFrame, value: str = "success") -> pd.DataFrame:
    """Methods as rows, tasks as columns, 'mean ± std' cells (the layout of the paper's Tables 2 and 3)."""
    cells = long.assign(cell=[pm(m, s, n) for m, s, n in zip(long[f"{value}_mean"], long[f"{value}_std"],
                                                                long["n_seeds"], strict=True)])
    table = cells.pivot(index="method", columns="task", values="cell").fillna("—")
    order = long.groupby("method")[f"{value}_mean"].mean().sort_values(ascending=False).index
    return table.loc[order]


def is_ablation(method: str) -> bool:
    """HERO and its ablations (hero-binary, hero-noembed, ...) form the ablation table."""
    return method == "hero" or method.startswith(("hero-", "hero ", "hero,"))  # "hero, LoRA only (...)" too


def ablation_long(summary: pd.DataFrame) -> pd.DataFrame | None:
    """The summary restricted to HERO variants, or None when no hero-* ablation was run."""
    part = summary[summary["method"].map(is_ablation)]
    if not any(m.startswith("hero-") for m in part["method"]):
        return None
    return part.reset_index(drop=True)


def metrics_long(rows: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean and std over seeds of each secondary metric per task and method (rows: one per run)."""
    out = []
    for (task, method), part in rows.groupby(["task", "method"]):
        rec = {"task": task, "method": method, "n_seeds": int(part["seed"].nunique())}
        for m in metrics:
            vals = part[m].dropna() if m in part else pd.Series(dtype=float)
            rec[f"{m}_mean"] = float(vals.mean()) if len(vals) else np.nan
            rec[f"{m}_std"] = float(vals.std()) if len(vals) > 1 else np.nan
            rec[f"{m}_n"] = len(vals)  # runs whose images were scored; fewer than n_seeds where some kept none
        out.append(rec)
    return pd.DataFrame(out)
