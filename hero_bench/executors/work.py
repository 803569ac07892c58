"""What a worker does with one run: run (or reuse, or resume) it and describe the outcome in a small record.

Kept free of Ray so that it reads as plain code; `ray_grid.py` turns `execute_one` into a Ray task. Nothing heavy
is imported at the top, so that a worker that only probes the folder or counts runs never loads torch. A run that
raises is caught here, so that the grid goes on: its traceback goes to `error.log` in its folder and the
one-line error back to the driver. A worker that dies (SIGKILL, out of memory) cannot report; Ray retries its
task, and the retry resumes from the run's last checkpoint through `run_one`.
"""

from __future__ import annotations

import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ERROR_LOG = "error.log"


@dataclass(frozen=True)
class RunOutcome:
    """One finished run as the driver reports it."""

    task: str
    method: str
    seed: int
    folder: str
    seconds: float
    final_success: float | None = None
    how: str = "ran"  # ran | resumed | reused (+ ", made by other code: ..." when so: `run_environment.other_code`)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """The one line printed when the run ends: task, method, seed, final success, time (or the error)."""
        head = f"{self.task} {self.method} seed{self.seed}"
        if not self.ok:
            return f"failed {head} in {self.folder}: {self.error}"
        how = "" if self.how == "ran" else f" ({self.how})"
        return f"done   {head}: final success {self.final_success:.3f}, {self.seconds:.1f} s{how}"


def run_label(cfg_data: dict[str, Any]) -> tuple[str, str, int]:
    """(task, method label, seed) of a serialised RunConfig, as folders and tables name them."""
    task = str(cfg_data["task"])
    if task.endswith((".yaml", ".yml")):
        task = Path(task).stem
    method = f"{cfg_data['method']}+{cfg_data['variant']}" if cfg_data.get("variant") else str(cfg_data["method"])
    return task, method, int(cfg_data["seed"])


def one_line(error: BaseException) -> str:
    """`Type: message` on one line (messages of hero-bench's own errors already say what to do)."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"


def execute_one(cfg_data: dict[str, Any], folder: str, resume: bool, threads: int, tracker: Any = None) -> RunOutcome:
    """Run one serialised RunConfig in `folder` with `threads` torch threads; never raises for a run's own
    error. `tracker`, when given, is told that the run started (the driver's count of running runs)."""
    import torch

    from hero_bench.config import RunConfig
    from hero_bench.errors import RunBusyError
    from hero_bench.run_environment import other_code
    from hero_bench.runs import run_one

    task, method, seed = run_label(cfg_data)
    if tracker is not None:
        tracker.mark_started.remote(folder)
    torch.set_num_threads(max(1, threads))
    t0 = time.time()
    notes: list[str] = []
    log = Path(folder) / ERROR_LOG
    made_by = other_code(Path(folder))  # read before the run: a resumed run appends this code's record
    try:
        table = run_one(RunConfig(**cfg_data), Path(folder), resume=resume, progress=False, note=notes.append)
    except RunBusyError as e:  # another process's run: its folder is not ours to write in
        return RunOutcome(task, method, seed, folder, time.time() - t0, error=one_line(e))
    except Exception as e:  # the run's own failure: report it, let the other runs go on
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            where = f" (traceback in {log})"
        except OSError:
            where = ""
        return RunOutcome(task, method, seed, folder, time.time() - t0, error=one_line(e) + where)
    log.unlink(missing_ok=True)  # an earlier attempt's failure is history once the run has finished
    how = "reused" if any(n.startswith("reusing") for n in notes) else "resumed" if resume or notes else "ran"
    if how in ("reused", "resumed"):
        how += made_by
    final = float(table.sort_values("epoch").success_rate.iloc[-1])
    return RunOutcome(task, method, seed, folder, time.time() - t0, final_success=final, how=how)


def probe_folder(root: str, name: str) -> tuple[str, str | None]:
    """On one node: write a marker file `name` under the runs' root; (host name, error or None). The driver
    then checks that it sees the file, i.e. that the root is shared."""
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / name).write_text(socket.gethostname())
    except OSError as e:
        return socket.gethostname(), one_line(e)
    return socket.gethostname(), None


class RunTracker:
    """Made a tiny Ray actor by the driver: workers tell it when a run starts, so that the bar can count the
    running ones (Ray reports when a task ends, not when a queued one begins)."""

    def __init__(self) -> None:
        self.started: set[str] = set()

    def mark_started(self, folder: str) -> None:
        self.started.add(folder)

    def snapshot(self) -> set[str]:
        return set(self.started)
