"""What tests read back from a run folder to compare two runs of the same settings (one interrupted, one on
another executor or node) and to wait for a run's progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hero_bench.timing import timing_columns


def comparable(folder: Path) -> tuple[pd.DataFrame, str]:
    """What must not depend on where, how or in how many pieces a run ran: its table without the wall-time
    columns, and its feedback log."""
    table = pd.read_csv(folder / "results.csv")
    return table.drop(columns=timing_columns(table.columns)), (folder / "feedback.jsonl").read_text()


def rows_written(results: Path) -> int:
    """Rows of a results.csv a running run is rewriting: 0 before its first (atomic) write."""
    try:
        return len(pd.read_csv(results))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
