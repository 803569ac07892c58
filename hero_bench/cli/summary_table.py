"""The summary table a grid ends with: final success, feedback used and to target, and wall time, one row per
(task, method), fitted to the reader's width (80 columns in a pipe or CI log) without cutting a word where
dropping columns can make room; every figure is also in results.csv."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from rich.table import Table

from hero_bench.cli.common import console

if TYPE_CHECKING:
    import pandas as pd


Whole = Literal["words", "names", "none"]


def print_summary(table: pd.DataFrame, target: float, title: str) -> None:
    """The per-(task, method) summary table, fitted to the console's width."""
    console.print(summary_table(table, target, title, width=console.width), soft_wrap=False)


# Columns given up, in this order, when the table cannot fit the width with every word whole (results.csv has them).
DROPPABLE = ("wall time", "feedback used")


def summary_table(table: pd.DataFrame, target: float, title: str, width: int | None = None) -> Table:
    """Final success over seeds, feedback used and to target, and wall time, one row per (task, method).
    Within `width`: every word whole (headers and figures wrap at spaces) as long as dropping the `DROPPABLE`
    columns makes room; then task and method names whole, other words folded; beyond that the names fold too."""
    from hero_bench.summary import summarise

    summary = summarise(table, target)
    columns = ["task", "method", "seeds", "final success", "feedback used", f"feedback to {target:.2f}", "wall time"]
    rows = [dict(zip(columns, _summary_cells(r), strict=True)) for r in summary.itertuples()]
    natural = _table(title, columns, rows, whole="none")
    if width is None or _natural_width(natural) <= width:  # fits unwrapped: nothing to decide
        return natural
    dropped: list[str] = []
    for drop in (None, *DROPPABLE):
        if drop is not None:
            dropped.append(drop)
        t = _table(title, [c for c in columns if c not in dropped], rows, whole="words")
        if _fits(t, width):
            break
    else:
        t = _table(title, [c for c in columns if c not in dropped], rows, whole="names")
        if not _fits(t, width):
            t = _table(title, [c for c in columns if c not in dropped], rows, whole="none")
    if dropped:
        t.caption = f"not shown to fit {width} columns: {', '.join(dropped)} (see results.csv)"
    return t


def _summary_cells(r: Any) -> list[str]:
    if r.feedback_to_target != r.feedback_to_target:
        reach = "not reached"
    elif not r.uses_feedback:  # trains without feedback (ddpo-reward) or not at all: no feedback axis
        reach = f"no feedback (epoch {r.epochs_to_target:.0f})"
    else:
        reach = f"{r.feedback_to_target:.0f}"
    if r.seeds_reaching and r.seeds_reaching < r.seeds:
        reach += f" ({r.seeds_reaching}/{r.seeds} seeds)"
    mean = f"{r.final_success_mean:.3f}"
    if r.final_success_std == r.final_success_std:  # one seed has no spread to show (not "+- 0.000")
        mean += f" +- {r.final_success_std:.3f}"
    return [str(r.task), str(r.method), str(r.seeds), mean, f"{r.feedback_used:.0f}", reach, f"{r.wall_time_s:.0f} s"]


def _table(title: str, columns: list[str], rows: list[dict[str, str]], whole: Whole) -> Table:
    """`whole`: "names" gives the task and method columns the fixed width of their longest word, so that no
    name is cut (a long label wraps at its spaces) and rich shrinks only the other columns; "words" also keeps
    every other column at least as wide as its longest word, so that headers and figures wrap at spaces, never
    inside a word ("feedbac" / "k used"); "none" leaves every width to rich."""
    t = Table(title=title)
    for col in columns:
        cells = [col, *(r[col] for r in rows)]
        longest_word = max(len(w) for c in cells for w in c.split())  # "hero, LoRA only (N(0,I) noise)" wraps
        if whole != "none" and col in ("task", "method"):
            t.add_column(col, overflow="fold", width=longest_word)
        else:
            t.add_column(col, overflow="fold", min_width=longest_word if whole == "words" else None)
    for r in rows:
        t.add_row(*(r[c] for c in columns))
    return t


def _fits(table: Table, width: int) -> bool:
    """Whether the table can be drawn in `width` columns with no cell's words cut below rich's own minimum, and
    whether it is, drawn: rich's measure can promise a width its layout then misses by a column or two (and
    the console would cut the last column)."""
    import io

    from rich.console import Console

    if _measure(table).minimum > width:
        return False
    out = io.StringIO()
    table.width = width
    try:
        Console(file=out, width=10_000, color_system=None).print(table)
    finally:
        table.width = None
    return max(len(line) for line in out.getvalue().splitlines()) <= width


def _natural_width(table: Table) -> int:
    """The table's width with no cell wrapped."""
    return _measure(table).maximum


def _measure(table: Table) -> Any:
    """rich's measure of the table (not clamped to the console)."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update(max_width=10_000), table)
