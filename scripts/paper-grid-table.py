"""Print the README's paper-grid table from a report's CSV tables, so that every figure in it has a command.

    python scripts/paper-grid-table.py docs/results/paper-grid/report

Per task: final success of sd-pretrained, d3po-style and HERO (seed means); HERO's paired differences to both
with their 95% bootstrap intervals; HERO's LoRA-only evaluation and its paired difference to pretrained;
d3po-style's own gain (final minus its epoch-0 success); and the feedback ratio of the paper's 4x claim, at
d3po-style's whole budget / at its first touch of its final success. Rows in the order of HERO's gain over
pretrained. Reads summary, paired_differences, own_gains, efficiency_at_budget and efficiency_at_final.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERO, D3PO, PRE = "hero", "d3po-style", "sd-pretrained"
LORA_ONLY = "hero, LoRA only (N(0,I) noise)"


def _signed(x: float) -> str:
    return f"{x:+.2f}"


def _interval(row: pd.Series) -> str:
    return f"{_signed(row['difference'])} [{_signed(row['ci_low'])}, {_signed(row['ci_high'])}]"


def _ratio(row: pd.Series | None) -> str:
    return "—" if row is None or pd.isna(row["ratio"]) else f"{row['ratio']:.1f}x"


def table(report: Path) -> str:
    """The markdown table (header, rule and one row per task)."""
    t = report / "tables"
    summary = pd.read_csv(t / "summary.csv").set_index(["task", "method"])["success_mean"]
    paired = pd.read_csv(t / "paired_differences.csv").set_index(["task", "a", "b"])
    gains = pd.read_csv(t / "own_gains.csv").set_index(["task", "method"])
    at_budget = pd.read_csv(t / "efficiency_at_budget.csv").set_index(["task", "method_a", "method_b"])
    at_final = pd.read_csv(t / "efficiency_at_final.csv").set_index(["task", "method_a", "method_b"])
    tasks = sorted(
        {task for task, a, b in paired.index if a == HERO and b == PRE},
        key=lambda task: -paired.loc[(task, HERO, PRE), "difference"],
    )
    head = ("task", "pretrained", "d3po-style", "HERO", "HERO - pretrained", "HERO - d3po-style",
            "HERO, LoRA only", "d3po-style's own gain", "ratio")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        key = (task, HERO, D3PO)
        budget = at_budget.loc[key] if key in at_budget.index else None
        final = at_final.loc[key] if key in at_final.index else None
        if budget is not None and pd.isna(budget["ratio"]) and isinstance(budget["undefined_because"], str):
            ratio = "no gain to match"
        else:
            ratio = f"{_ratio(budget)} / {_ratio(final)}"
        lora = (task, LORA_ONLY, PRE)
        lora_cell = (f"{summary[(task, LORA_ONLY)]:.2f} ({_signed(paired.loc[lora, 'difference'])})"
                     if lora in paired.index else "—")
        cells = [
            task,
            f"{summary[(task, PRE)]:.2f}",
            f"{summary[(task, D3PO)]:.2f}",
            f"{summary[(task, HERO)]:.2f}",
            _interval(paired.loc[(task, HERO, PRE)]),
            _interval(paired.loc[key]),
            lora_cell,
            _interval(gains.loc[(task, D3PO)].rename({"gain": "difference"})),
            ratio,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "tables").is_dir():
        sys.exit("usage: python scripts/paper-grid-table.py REPORT_DIR (a `hero-bench report` folder with tables/)")
    print(table(Path(sys.argv[1])))
