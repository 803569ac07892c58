"""Durable label storage for the human oracle (SQLite).

Why SQLite with one transaction per batch: a person's labels are the most expensive data in a run. A
batch is acknowledged to the page only after its transaction commits (synchronous=FULL), so every label
the person saw accepted survives a crash, and a batch is never half-stored. A batch is identified by
run id + epoch + a hash of its images, so a restarted run that regenerates the same batch gets the
stored labels back instead of asking again. The per-run URL token is stored too, so the page's URL
stays valid across restarts.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, token TEXT NOT NULL, task TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, batch_hash TEXT NOT NULL, n INTEGER NOT NULL,
    good TEXT NOT NULL, best INTEGER, labelled_at REAL NOT NULL,
    PRIMARY KEY (run_id, epoch, batch_hash));
CREATE TABLE IF NOT EXISTS progress (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, feedback_used INTEGER NOT NULL, budget INTEGER,
    success_rate REAL, at REAL NOT NULL, PRIMARY KEY (run_id, epoch));
"""


class AlreadyLabelled(Exception):
    """A batch that already has stored labels was submitted again (a replayed post)."""

    def __init__(self, stored: StoredLabels) -> None:
        self.stored = stored
        super().__init__(f"batch (epoch {stored.epoch}) was already labelled")


@dataclass(frozen=True)
class StoredLabels:
    """One labelled batch as stored."""

    run_id: str
    epoch: int
    batch_hash: str
    good: list[bool]
    best: int | None
    labelled_at: float


class LabelStore:
    """Labels, tokens and progress of human-labelled runs in one SQLite file (safe across threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection per operation: no connection is shared between threads."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    # -- runs ------------------------------------------------------------------------------------------
    def token_for(self, run_id: str, task: str | None = None) -> str:
        """The run's URL token, created on first use and kept across restarts."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT token FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                token = secrets.token_urlsafe(18)
                conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", (run_id, token, task, time.time()))
                conn.execute("COMMIT")
                return token
            conn.execute("COMMIT")
            return str(row[0])

    # -- batches ---------------------------------------------------------------------------------------
    def lookup(self, run_id: str, epoch: int, batch_hash: str) -> StoredLabels | None:
        """The stored labels of this exact batch, or None if it was never labelled."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT good, best, labelled_at FROM batches WHERE run_id = ? AND epoch = ? AND batch_hash = ?",
                (run_id, epoch, batch_hash),
            ).fetchone()
        if row is None:
            return None
        return StoredLabels(run_id, epoch, batch_hash, [bool(g) for g in json.loads(row[0])], row[1], row[2])

    def save(self, run_id: str, epoch: int, batch_hash: str, good: list[bool], best: int | None) -> StoredLabels:
        """Store a whole batch in one transaction; `AlreadyLabelled` if it was stored before (nothing changes)."""
        now = time.time()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, epoch, batch_hash, len(good), json.dumps([bool(g) for g in good]), best, now),
                )
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                stored = self.lookup(run_id, epoch, batch_hash)
                assert stored is not None
                raise AlreadyLabelled(stored) from None
            conn.execute("COMMIT")
        return StoredLabels(run_id, epoch, batch_hash, [bool(g) for g in good], best, now)

    def batches(self, run_id: str) -> list[StoredLabels]:
        """Every labelled batch of a run, in epoch order."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT epoch, batch_hash, good, best, labelled_at FROM batches WHERE run_id = ? "
                "ORDER BY epoch, labelled_at",
                (run_id,),
            ).fetchall()
        return [StoredLabels(run_id, e, h, [bool(x) for x in json.loads(g)], b, t) for e, h, g, b, t in rows]

    # -- progress --------------------------------------------------------------------------------------
    def record_progress(
        self, run_id: str, epoch: int, feedback_used: int, budget: int | None, success_rate: float | None
    ) -> None:
        """One point of the success chart (replacing an earlier point of the same epoch)."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, epoch, feedback_used, budget, success_rate, time.time()),
            )

    def progress(self, run_id: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT epoch, feedback_used, budget, success_rate FROM progress WHERE run_id = ? ORDER BY epoch",
                (run_id,),
            ).fetchall()
        return [{"epoch": e, "feedback_used": f, "budget": b, "success_rate": s} for e, f, b, s in rows]
