"""Shared by the browser tests: Debian's Chromium driven by Playwright (its own browser download is never
used), and the folder where screenshots are kept as artifacts."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def artifacts_dir() -> Path:
    """/tmp/hero-bench-artifacts (or $HERO_BENCH_ARTIFACTS), created on demand."""
    folder = Path(os.environ.get("HERO_BENCH_ARTIFACTS", Path(tempfile.gettempdir()) / "hero-bench-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder

