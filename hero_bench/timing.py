"""Wall time (and, on CUDA, peak memory) per named stage of a piece of work.

Why one helper: CUDA kernels run asynchronously, so a stage's time is only right if the device is
synchronised at both ends, and its memory only if the peak counter is reset at its start. Getting that
right once here keeps every figure in `hero-bench bench`, the GPU check and the per-stage columns of
`results.csv` comparable. On a CPU the same calls simply read the clock.

The run loop records one epoch's stages (sampling, decoding, judging, update, evaluation, checkpoint, and
inside HERO's update the embedding fit, rewards and DDPO update) into the *epoch timer* of the current
thread (`stage_timed`), and `with_stage_times` moves them into the epoch's results row as `time_<stage>_s`.
Timing columns differ between identical runs; `timing_columns` names them so comparisons can drop them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import torch


def synchronize(device: torch.device | str | None) -> None:
    """Wait until every queued kernel on `device` has finished (a no-op off CUDA). "auto": the current CUDA
    device once CUDA is in use (the run loop's timer does not know which device the model is on)."""
    if device == "auto":
        if torch.cuda.is_initialized():
            torch.cuda.synchronize()
    elif device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StageTimer:
    """Accumulates seconds (and CUDA peak bytes) per stage name; stages may repeat and nest.

    A nested stage's time is also part of the enclosing stage's time. Peak memory of a stage is the most
    allocated at any moment during it, including what was already allocated when it began.
    """

    device: torch.device | str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _open: list[int] = field(default_factory=list, repr=False)  # running peak of each open stage

    @property
    def on_cuda(self) -> bool:
        """Whether peak memory is measured (an explicit CUDA device; "auto" only synchronises)."""
        return self.device not in (None, "auto") and torch.device(self.device).type == "cuda"

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block under `name` (added to earlier blocks of the same name)."""
        synchronize(self.device)
        if self.on_cuda:
            # the counter is reset per stage: first fold the peak so far into every enclosing stage
            self._fold_peak()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._open.append(int(torch.cuda.memory_allocated(self.device)))
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.on_cuda:
                self._fold_peak()
                peak = self._open.pop()
                self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), peak)

    def _fold_peak(self) -> None:
        now = int(torch.cuda.max_memory_allocated(self.device))
        self._open[:] = [max(p, now) for p in self._open]

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` wrapped so that every call is timed under `name` (to time a method of an object whose
        code should stay as it is, e.g. `obj.fit = timer.timed("fit", obj.fit)`)."""

        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)

        return wrapper

    def peak_gib(self, name: str) -> float | None:
        """Peak allocated GiB during `name`, or None off CUDA / for a stage never run."""
        return round(self.peak_bytes[name] / 2**30, 3) if name in self.peak_bytes else None

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        """{stage: seconds}, rounded."""
        return {k: round(v, digits) for k, v in self.seconds.items()}

    def take_columns(self) -> dict[str, float]:
        """{"time_<stage>_s": seconds} of every stage recorded so far, then start afresh. Kept to the
        microsecond: a stage that ran but returned at once (HERO's update on a batch with no good image) must
        still read as run (> 0), not as 0.000."""
        columns = {f"{TIME_PREFIX}{k}_s": round(v, 6) for k, v in self.seconds.items()}
        self.seconds.clear()
        self.peak_bytes.clear()
        self.calls.clear()
        return columns


TIME_PREFIX = "time_"
_EPOCH_TIMER: ContextVar[StageTimer | None] = ContextVar("hero_bench_epoch_timer", default=None)


def epoch_timer() -> StageTimer:
    """This thread's timer of the current epoch's stages (made on first use)."""
    timer = _EPOCH_TIMER.get()
    if timer is None:
        timer = StageTimer(device="auto")
        _EPOCH_TIMER.set(timer)
    return timer


def stage_timed(name: str, fn: Callable[..., Any], fresh: bool = False) -> Callable[..., Any]:
    """`fn`, timed under `name` in the epoch timer when called: `out = stage_timed("sampling", f)(x)`.

    `fresh` marks the first stage of an epoch: whatever the timer still holds is dropped first (the stages
    of a run that was interrupted in this thread before its results row was written)."""
    timer = epoch_timer()
    if fresh:
        timer.take_columns()
    return timer.timed(name, fn)


def with_stage_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the stages timed since the last call to the last row (the epoch just finished) and return the
    rows; the epoch timer starts afresh."""
    columns = epoch_timer().take_columns()
    if rows:
        rows[-1].update(columns)
    return rows


def timing_columns(columns: Iterable[str]) -> list[str]:
    """The columns of a results table that hold wall-clock times (they differ between identical runs)."""
    return [c for c in columns if c == "wall_time_s" or (c.startswith(TIME_PREFIX) and c.endswith("_s"))]
