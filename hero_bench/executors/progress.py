"""What a grid shows while it runs: one line per finished run and an overall bar (running, done, failed).

Lines go to stdout (they are the record); the bar goes to stderr, redrawn in place, and only to a terminal, so
that a log file keeps just the lines.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm.auto import tqdm

from hero_bench.executors.work import RunOutcome


class GridProgress:
    """The grid's bar and its per-run lines; `finished` for each run's outcome, `running` as it changes."""

    def __init__(self, total: int, out: TextIO | None = None, bar: bool = True) -> None:
        self.total = total
        self.out = out or sys.stdout
        self.done = 0
        self.failed = 0
        self.active = 0
        self.outcomes: list[RunOutcome] = []
        self._bar = tqdm(
            total=total, desc="grid", unit="run", file=sys.stderr, disable=not (bar and sys.stderr.isatty())
        )
        self._refresh()

    def running(self, n: int) -> None:
        """How many runs are executing now (started and not finished)."""
        if n != self.active:
            self.active = n
            self._refresh()

    def finished(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.ok:
            self.done += 1
        else:
            self.failed += 1
        self._bar.write(outcome.line(), file=self.out)
        self._bar.update(1)
        self._refresh()

    def note(self, text: str) -> None:
        """A message that belongs between the run lines (e.g. what Ctrl-C did)."""
        self._bar.write(text, file=self.out)

    def close(self) -> None:
        self._bar.close()

    def _refresh(self) -> None:
        self._bar.set_postfix_str(f"running {self.active}, done {self.done}, failed {self.failed}", refresh=True)

    @property
    def failures(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]
