"""The per-(task, method) summary `hero-bench run` prints: final success over seeds and feedback to target.

A method evaluated on its own noise distribution (HERO) gets a second row, "<method>, LoRA only (N(0,I)
noise)": the same runs evaluated on the standard noises (`hero_bench.metrics.lora_only`).
"""

from __future__ import annotations

import pandas as pd

from hero_bench.metrics import curves
from hero_bench.metrics.lora_only import with_lora_only_rows


def summarise(table: pd.DataFrame, target: float = curves.DEFAULT_TARGET) -> pd.DataFrame:
    """Per (task, method): final success mean +- std over seeds, feedback used, and the feedback (for methods
    that use it) or the epoch (for those that do not, e.g. ddpo-reward) at which the seed reaches `target`,
    averaged over the seeds that reach it."""
    table = with_lora_only_rows(table).sort_values("epoch")
    final = table.groupby(["task", "method", "seed"]).tail(1)
    reach = []
    for (task, method, seed), g in table.groupby(["task", "method", "seed"]):
        hit = g[g.success_rate >= target]
        reach.append(
            {
                "task": task,
                "method": method,
                "seed": seed,
                "feedback_to_target": float(hit.feedback_used.iloc[0]) if len(hit) else float("nan"),
                "epochs_to_target": float(hit.epoch.iloc[0]) if len(hit) else float("nan"),
            }
        )
    reach_df = pd.DataFrame(reach).groupby(["task", "method"])
    out = final.groupby(["task", "method"]).agg(
        seeds=("seed", "nunique"),
        final_success_mean=("success_rate", "mean"),
        final_success_std=("success_rate", "std"),
        feedback_used=("feedback_used", "max"),
        wall_time_s=("wall_time_s", "sum"),
    )
    out["feedback_to_target"] = reach_df.feedback_to_target.mean()
    out["epochs_to_target"] = reach_df.epochs_to_target.mean()
    out["seeds_reaching"] = reach_df.feedback_to_target.apply(lambda s: int(s.notna().sum()))
    uses = table.groupby(["task", "method"]).uses_feedback.max() if "uses_feedback" in table else True
    out["uses_feedback"] = uses
    out["wall_time_s"] = table.groupby(["task", "method"]).wall_time_s.sum()
    return out.reset_index()
