"""Checkpoint files: written atomically, and from live state where a `state_dict()` need not be a copy.

Why: a method's `state_dict()` is a snapshot (later training must not change it), so the big ones deep-copy:
HERO's embedding network with its two Adam moments is ~320 MB on the toy model, copied every epoch only to be
written to disk and dropped. The run loop's checkpoint serialises the state at once, before any training
step, so there it asks for live references (`live_state()`) and skips the copy; the file is the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import torch

from hero_bench.run_files import atomic_write  # noqa: F401 - re-exported (defined there without torch)

T = TypeVar("T")
_LIVE: ContextVar[bool] = ContextVar("hero_bench_live_state", default=False)


@contextmanager
def live_state() -> Iterator[None]:
    """Within this block `snapshot(x)` returns x itself: use only where the state is consumed (saved)
    before anything trains again."""
    token = _LIVE.set(True)
    try:
        yield
    finally:
        _LIVE.reset(token)


def snapshot(state: T) -> T:
    """A deep copy of `state`, or `state` itself inside `live_state()`."""
    return state if _LIVE.get() else copy.deepcopy(state)


def save_live(state: Callable[[], dict[str, Any]], path: Path) -> None:
    """`torch.save(state(), path)` with live references: the state is built and written in one go."""
    with live_state():
        torch.save(state(), path)
