"""Print the README's paper-grid table from a report's CSV tables, so that every figure in it has a command.

    python scripts/paper-grid-table.py docs/results/paper-grid/report            # the README's table
    python scripts/paper-grid-table.py docs/results/paper-grid/report --detail   # docs/results' (more intervals)
    python scripts/paper-grid-table.py docs/results/paper-grid/report --ablations   # HERO against its ablations
    python scripts/paper-grid-table.py docs/results/paper-grid-v3/runs --per-seed   # each run's final success

Per task: final success of sd-pretrained, d3po-style and HERO (seed means); HERO's paired differences to both
with their 95% bootstrap intervals; HERO's LoRA-only evaluation and its paired difference to pretrained;
d3po-style's own gain (final minus its epoch-0 success); and the feedback ratio of the paper's 4x claim, at
d3po-style's whole budget / at its first touch of its final success. `--detail` gives the LoRA-only difference
and the whole-budget ratio with their intervals. Rows in the order of HERO's gain over pretrained. Reads
summary, paired_differences, own_gains, efficiency_at_budget and efficiency_at_final.
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


def _ratio(row: pd.Series | None, ci: bool = False) -> str:
    if row is None or pd.isna(row["ratio"]):
        return "—"
    a_first, b_first = (bool(row.get(c, False)) for c in ("a_at_first_point", "b_at_first_point"))
    mark = {(True, False): "≥", (False, True): "≤"}.get((a_first, b_first), "")  # the grid caps it (docs/metrics.md)
    tail = " (unresolved)" if a_first and b_first else ""
    return f"{mark}{row['ratio']:.1f}x" + (f" [{row['ci_low']:.1f}, {row['ci_high']:.1f}]" if ci else "") + tail


def table(report: Path, detail: bool = False) -> str:
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
    head = ["task", "pretrained", "d3po-style", "HERO", "HERO - pretrained", "HERO - d3po-style",
            "HERO, LoRA only", "d3po-style's own gain", "ratio"]
    if detail:
        head[6:] = ["HERO, LoRA only - pretrained", "d3po-style's own gain", "ratio, whole budget [CI]", "first touch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        key = (task, HERO, D3PO)
        budget = at_budget.loc[key] if key in at_budget.index else None
        final = at_final.loc[key] if key in at_final.index else None
        if budget is not None and isinstance(budget["undefined_because"], str):
            ratios = ["no gain to match", ""]
        elif budget is not None and pd.isna(budget["feedback_a"]):
            ratios = ["not reached", ""]  # HERO's mean curve never gets to d3po-style's final success
        else:
            ratios = [_ratio(budget, ci=detail), _ratio(final)]
        if not detail:
            ratios = [" / ".join(r for r in ratios if r)]
        lora = (task, LORA_ONLY, PRE)
        if lora not in paired.index:
            lora_cell = "—"
        elif detail:
            lora_cell = _interval(paired.loc[lora])
        else:
            lora_cell = f"{summary[(task, LORA_ONLY)]:.2f} ({_signed(paired.loc[lora, 'difference'])})"
        cells = [
            task,
            f"{summary[(task, PRE)]:.2f}",
            f"{summary[(task, D3PO)]:.2f}",
            f"{summary[(task, HERO)]:.2f}",
            _interval(paired.loc[(task, HERO, PRE)]),
            _interval(paired.loc[key]),
            lora_cell,
            _interval(gains.loc[(task, D3PO)].rename({"gain": "difference"})),
            *ratios,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


ABLATIONS = ("hero-binary", "hero-noembed", "hero-positives", "hero-random-noise")


def ablation_table(report: Path) -> str:
    """Per task where HERO's ablations ran: each ablation's final success (seed mean) and full HERO minus it, with
    the report's paired 95% interval over the seeds both ran (the paper's Table 3 question)."""
    t = report / "tables"
    summary = pd.read_csv(t / "summary.csv").set_index(["task", "method"])
    paired = pd.read_csv(t / "paired_differences.csv").set_index(["task", "a", "b"])
    lines = ["| task | method | seeds | final success | HERO - method [95% CI] | verdict |", "|" + "---|" * 6]
    for task in sorted({task for task, a, b in paired.index if a == HERO and b in ABLATIONS}):
        for method in (PRE, HERO, *ABLATIONS):
            row = summary.loc[(task, method)]
            key = (task, HERO, method)
            diff = _interval(paired.loc[key]) if key in paired.index else ""
            verdict = paired.loc[key, "verdict"].replace("a above b", "HERO above") if key in paired.index else ""
            verdict = verdict.replace("a below b", "HERO below")
            lines.append(f"| {task} | {method} | {row['n_seeds']} | {row['success_mean']:.2f} | {diff} | {verdict} |")
    return "\n".join(lines)


def per_seed_table(runs: Path) -> str:
    """Final success of every finished run of the main three, per task and seed (from each run's results.csv):
    what the seed means hide, e.g. one seed carrying a task's difference."""
    finals: dict[tuple[str, str], dict[int, float]] = {}
    for done in sorted(runs.glob("*/*/seed*/done.json")):
        results = pd.read_csv(done.parent / "results.csv")
        last = results[results["epoch"] == results["epoch"].max()].iloc[0]
        finals.setdefault((str(last["task"]), str(last["method"])), {})[int(last["seed"])] = float(last["success_rate"])
    tasks = sorted({task for task, _ in finals})
    lines = [f"| task | {PRE} | {D3PO} | {HERO} |", "|" + "---|" * 4]
    for task in tasks:
        cells = [", ".join(f"{v:.2f}" for _, v in sorted(finals.get((task, m), {}).items())) for m in (PRE, D3PO, HERO)]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    flags = ("--detail", "--ablations", "--per-seed")
    args = [a for a in sys.argv[1:] if a not in flags]
    if len(args) == 1 and "--per-seed" in sys.argv and Path(args[0]).is_dir():
        print(per_seed_table(Path(args[0])))
        sys.exit(0)
    if len(args) != 1 or not (Path(args[0]) / "tables").is_dir():
        sys.exit(
            "usage: python scripts/paper-grid-table.py REPORT_DIR [--detail | --ablations] (a report folder), "
            "or RUNS_DIR --per-seed"
        )
    if "--ablations" in sys.argv:
        print(ablation_table(Path(args[0])))
    else:
        print(table(Path(args[0]), detail="--detail" in sys.argv))
