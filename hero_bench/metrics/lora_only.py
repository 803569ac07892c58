"""HERO's two mechanisms measured apart: its fine-tuned model on the standard N(0, I) evaluation noises.

HERO evaluates with its learned noise distribution, as the paper does, so its success mixes two things: the
feedback-guided noise and the DDPO-trained LoRA. On small latents the noise alone can explain most of a gain.
The run loop therefore also evaluates every method with a noise distribution of its own on the standard
N(0, I) evaluation noises that the baselines use (results.csv: `own_eval_noise`, `success_rate_std_noise`).
This module turns that column into rows of a pseudo-method, "<method>, LoRA only (N(0,I) noise)", so that
every table and curve built from results (summary, report, regression check) shows both without special code.
"""

from __future__ import annotations

import pandas as pd

LORA_ONLY = ", LoRA only (N(0,I) noise)"
STD_NOISE = "success_rate_std_noise"
OWN_NOISE = "own_eval_noise"


def lora_only_label(label: str) -> str:
    """'hero' -> 'hero, LoRA only (N(0,I) noise)'."""
    return f"{label}{LORA_ONLY}"


def _truthy(col: pd.Series) -> pd.Series:
    return col.astype(str).str.lower().isin(["true", "1", "1.0", "yes"])


def lora_only_rows(df: pd.DataFrame, label_columns: tuple[str, ...] = ("method",)) -> pd.DataFrame:
    """For runs whose method has its own evaluation noise and that were also evaluated on N(0, I): their rows
    relabelled as the LoRA-only pseudo-method, with `success_rate` taken from `success_rate_std_noise`.
    Empty (same columns) when there are none; a run evaluated on N(0, I) only has nothing to split."""
    if OWN_NOISE not in df.columns or STD_NOISE not in df.columns:
        return df.iloc[0:0]
    own = _truthy(df[OWN_NOISE]) & pd.to_numeric(df[STD_NOISE], errors="coerce").notna()
    rows = df[own].copy()
    rows["success_rate"] = pd.to_numeric(rows[STD_NOISE])
    for col in ("success_ci_low", "success_ci_high"):  # they bounded the other evaluation
        if col in rows:
            rows[col] = float("nan")
    for col in label_columns:
        if col in rows:
            rows[col] = rows[col].astype(str).map(lora_only_label)
    rows[OWN_NOISE] = False
    return rows


def with_lora_only_rows(df: pd.DataFrame, label_columns: tuple[str, ...] = ("method",)) -> pd.DataFrame:
    """`df` followed by its `lora_only_rows`."""
    extra = lora_only_rows(df, label_columns)
    return pd.concat([df, extra], ignore_index=True) if len(extra) else df
