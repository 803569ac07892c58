"""Verdicts on disk, keyed by what determines them (image pixels, task, prompt, judge model, instructions).

Remote judges cost money and time, and runs crash: every verdict is committed to SQLite the moment it
arrives, so re-running a crashed run (which regenerates the same images from the same seeds) never pays
for the same verdict twice.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
import threading
import time
from pathlib import Path

from PIL import Image

from hero_bench.oracles.vlm_verdict import PROMPT_VERSION, Verdict
from hero_bench.tasks.base import Task

DEFAULT_CACHE = Path("~/.cache/hero-bench/vlm_verdicts.sqlite")


def image_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_data_url(image: Image.Image) -> str:
    """The image as a `data:image/png;base64,...` URL, the form chat-completions APIs accept inline."""
    return "data:image/png;base64," + base64.b64encode(image_png(image)).decode("ascii")


def image_hash(image: Image.Image) -> str:
    """sha256 of the RGB pixels and size: the same picture gives the same key whatever its file format."""
    rgb = image.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def cache_key(image: Image.Image, task: Task, prompt: str, judge_id: str) -> str:
    """Image hash + task (name, success condition) + prompt + judge model + instruction version."""
    parts = [f"v{PROMPT_VERSION}", judge_id, task.name, task.success_condition, prompt, image_hash(image)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class VerdictCache:
    """Verdicts on disk (SQLite, one commit per verdict) so that a crashed run never pays twice."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, judge TEXT, task TEXT, good INTEGER,"
                " score REAL, reason TEXT, raw TEXT, created REAL)"
            )

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            row = self._conn.execute("SELECT good, score, reason FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else Verdict(good=bool(row[0]), score=float(row[1]), reason=row[2] or "")

    def put(self, key: str, verdict: Verdict, judge: str, task: str, raw: str) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, judge, task, int(verdict.good), verdict.score, verdict.reason, raw, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
