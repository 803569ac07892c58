"""Training diagnostics of the LoRA-training methods: does the fine-tuning learn at all?

A success curve that stays flat does not say why. The DDPO-K update logs, per epoch (results.csv `stat_`
columns): the share of clipped transitions and the approximate KL of the PPO step, the spread of the
advantages it was given, and the LoRA weights' norm and distance from their initial values. d3po-style
logs its ratio clip's clipfrac, the same LoRA norms (runs before Dec 2026 lack the norms) and its KL to the
reference on the preferred and the dispreferred images' states (runs before Dec 4, 2026 lack it). This section
plots them against feedback and names the symptoms of a learner that cannot learn:
- the LoRA never moved (no update was applied);
- most transitions clipped (a trust region too tight for the latent: `ddpo.clip_scaling`);
- advantages far from centred (a common weight such as a raw cosine adds only gradient noise:
  `hero.reward_transform`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hero_bench.metrics.lora_only import LORA_ONLY
from hero_bench.reports import plots
from hero_bench.reports.content import Figure, Section, Table

DIAGNOSTICS = {
    "stat_clipfrac": "clipfrac",
    "stat_approx_kl": "approx_kl",
    "stat_adv_std": "advantage std",
    "stat_lora_norm": "LoRA weight norm",
    "stat_lora_delta_norm": "LoRA change since init",
    "stat_kl_preferred": "KL to reference, preferred",
    "stat_kl_dispreferred": "KL to reference, dispreferred",
}
CLIPPED = 0.5
"""Mean clipfrac above which most transitions contribute no gradient."""
OFF_CENTRE = 2.0
"""|advantage mean| / advantage std above which the advantages are mostly a common weight."""
LOPSIDED = 5.0
"""d3po-style: KL to the reference on the dispreferred images' states over that on the preferred ones above which
its logged accuracy mostly reads where the policy moved (docs/baselines.md, "Reading its statistics")."""


def diagnostics_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per task and method: clipfrac and approx_kl averaged over epochs and seeds, advantage mean and std,
    and the final LoRA norm and change (seed means). Empty when no run logged DDPO statistics."""
    rows = df[~df["label"].astype(str).str.endswith(LORA_ONLY)]
    cols = [c for c in (*DIAGNOSTICS, "stat_adv_mean") if c in rows]
    if "stat_clipfrac" not in cols:
        return pd.DataFrame()
    rows = rows[rows["stat_clipfrac"].notna()]
    if rows.empty:
        return pd.DataFrame()
    final = rows.loc[rows.groupby(["task", "label", "seed"])["epoch"].idxmax()]
    g, fin = rows.groupby(["task", "label"]), final.groupby(["task", "label"])
    out = pd.DataFrame({"seeds": g["seed"].nunique()})
    for col in cols:
        source = fin if col in ("stat_lora_norm", "stat_lora_delta_norm") else g
        out[col.removeprefix("stat_")] = source[col].mean()
    return out.reset_index().rename(columns={"label": "method"})


def symptoms(table: pd.DataFrame) -> list[str]:
    """One line per (task, method) whose diagnostics show a learner that cannot learn."""
    lines = []
    for r in table.to_dict("records"):
        who = f"{r['method']} on {r['task']}"
        if r.get("lora_delta_norm") == 0:
            lines.append(f"{who}: the LoRA weights never changed — no DDPO update was applied.")
        if r.get("clipfrac", 0) > CLIPPED:
            lines.append(
                f"{who}: {r['clipfrac']:.0%} of transitions clipped on average — the PPO trust region "
                "leaves most of them without gradient (see ddpo.clip_scaling)."
            )
        mean, std = r.get("adv_mean"), r.get("adv_std")
        if mean is not None and std is not None and abs(mean) > OFF_CENTRE * std:
            lines.append(
                f"{who}: advantages {mean:.3f} ± {std:.3f} are mostly a common weight, which adds only "
                "noise to the policy gradient (see hero.reward_transform)."
            )
        kl_w, kl_l = r.get("kl_preferred"), r.get("kl_dispreferred")
        if kl_w is not None and kl_l is not None and kl_l > LOPSIDED * max(kl_w, 1e-12) and kl_l > 0:
            lines.append(
                f"{who}: the policy moved {kl_l / max(kl_w, 1e-12):.0f}x further from the reference on the "
                "dispreferred images' states than on the preferred ones (KL to reference), so its logged "
                "stat_accuracy says where it moved, not what it prefers (docs/baselines.md)."
            )
    return lines


def diagnostics_section(df: pd.DataFrame, out: Path, colours: dict) -> Section | None:
    """The report section, or None when no run logged DDPO statistics."""
    table = diagnostics_table(df)
    if table.empty:
        return None
    table.to_csv(out / "tables" / "training_diagnostics.csv", index=False)
    rows = df[~df["label"].astype(str).str.endswith(LORA_ONLY) & df["stat_clipfrac"].notna()]
    present = [c for c in DIAGNOSTICS if c in rows and rows[c].notna().any()]
    data = rows.assign(method=rows["label"]).rename(columns={c: DIAGNOSTICS[c] for c in present})
    figs = plots.metrics_over_feedback_plot(
        data, [DIAGNOSTICS[c] for c in present], out / "plots" / "training_diagnostics", colours
    )
    sec = Section("diagnostics", "Does the fine-tuning learn? (DDPO diagnostics)")
    sec.paragraphs.append(
        "Per DDPO update (one per epoch): the share of transitions the PPO clip cut off, the "
        "approximate KL of the step, the spread of the advantages, and the LoRA weights' norm "
        "and distance from their initial values; for d3po-style, its ratio clip's clipfrac and the policy's KL "
        "to the reference on the preferred and dispreferred images' states. Flat LoRA weights or a clipfrac "
        "near 1 mean the model did not learn, whatever the success curve shows."
    )
    sec.figures.append(
        Figure("diagnostics", figs[0], "DDPO statistics against feedback used (seed mean, ±1 std).", figs[1])
    )
    sec.tables.append(
        Table(
            "diagnostics-table",
            table.round(6),
            "clipfrac, approx_kl, advantages and KL to reference averaged over epochs; LoRA norms at the final "
            "epoch (seed means)",
            "tables/training_diagnostics.csv",
            index=False,
        )
    )
    sec.bullets.extend(symptoms(table) or ["No symptom of a learner that cannot learn."])
    return sec
