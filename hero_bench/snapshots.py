"""Checkpoint files: written atomically, and from live state where a `state_dict()` need not be a copy.

Why: a method's `state_dict()` is a snapshot (later training must not change it), so the big ones deep-copy:
HERO's embedding network with its two Adam moments is ~320 MB on the toy model, copied every epoch only to be
written to disk and dropped. The run loop's checkpoint asks for live references instead (`live_snapshot`:
the containers copied, the tensors shared) and writes them on a thread (`BackgroundWriter`) while the next
epoch samples, which changes no tensor of the state; it waits for the file before anything trains again.
Writing ~320 MB took 0.4-1.1 s an epoch in a run (0.2 s in a loop that rewrites the same bytes), and the
sampling beside it hides part of that: 2-3 s of the 7 a paper-size toy run spent writing (docs/speed.md). The
file is the same.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


def live_snapshot(state: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`state()` built from live references, its dicts, lists and tuples copied and its tensors shared: what
    the caller goes on to change in place (the rows of results, a list of centres) is not in it, and the
    tensors only change when training does (optimiser steps), after the caller has waited for the write."""
    with live_state():
        built = state()
    memo: dict[int, Any] = {}
    _share_tensors(built, memo)
    return copy.deepcopy(built, memo)


def _share_tensors(obj: Any, memo: dict[int, Any]) -> None:
    """Map every tensor inside `obj`'s containers to itself in a deepcopy memo (so deepcopy keeps it)."""
    if isinstance(obj, torch.Tensor):
        memo[id(obj)] = obj
    elif isinstance(obj, dict):
        for value in obj.values():
            _share_tensors(value, memo)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _share_tensors(value, memo)


class BackgroundWriter:
    """Runs one write at a time on a thread; `wait` joins it and raises what it raised.

    Why a thread: the write is mostly the kernel's work on a fresh file and torch's serialiser, which let go
    of the interpreter, so the next epoch's sampling goes on beside it. Whoever submits must not change what
    the write reads until `wait` has returned."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, write: Callable[[], None]) -> None:
        """Start `write` once the previous one has finished."""
        self.wait()

        def target() -> None:
            try:
                write()
            except BaseException as e:  # re-raised by `wait`, in the caller's thread
                self._error = e

        self._thread = threading.Thread(target=target, name="hero-bench-checkpoint")
        self._thread.start()

    def wait(self, raise_error: bool = True) -> None:
        """Block until the write in flight (if any) is done; raise its error, once (unless told not to, when
        another error is already on its way out)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise error
