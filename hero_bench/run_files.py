"""The names of the files in a run folder (`<out>/<task>/<method>/seed<k>/`), in a module without heavy imports so
that readers of run folders (the report, the executors) need not load torch to know them."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"  # live state, removed once DONE marks the run finished
RESULTS = "results.csv"
FEEDBACK_LOG = "feedback.jsonl"
CONFIG = "config.json"
TASK = "task.json"
DONE = "done.json"
MODEL = "model.json"  # which weights the run loaded (hero_bench.model_identity)
STD_NOISE_EVAL = "eval_std_noise"  # evaluation images from N(0, I) noises of a method with its own (HERO)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """`write` to a temporary file beside `path`, then rename it over `path` (never a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
