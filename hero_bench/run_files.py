"""The names of the files in a run folder (`<out>/<task>/<method>/seed<k>/`), in a module without heavy imports so
that readers of run folders (the report, the executors) need not load torch to know them."""

import errno
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"  # live state, removed once DONE marks the run finished
RESULTS = "results.csv"
FEEDBACK_LOG = "feedback.jsonl"
CONFIG = "config.json"
TASK = "task.json"
DONE = "done.json"
MODEL = "model.json"  # which weights the run loaded (hero_bench.model_identity)
LOCK = ".lock"  # held by the process that works on the run (run_lock)
STD_NOISE_EVAL = "eval_std_noise"  # evaluation images from N(0, I) noises of a method with its own (HERO)


def atomic_write(path: Path, write: Callable[[Path], Any], shared: bool = False) -> None:
    """`write` to a temporary file beside `path`, then rename it over `path` (never a half-written file).

    `shared`: several processes may write `path` at once (the grid's table under an --out that grids split by
    hand share), so each writes its own temporary file; with one name, one process renamed the file another
    was still writing and the other's rename failed. A run's own files keep one name: one process holds a
    run (run_lock), and a stopped write's leftover is then overwritten by the next, not left to pile up."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp" if shared else f"{path.name}.tmp")
    try:
        write(tmp)
    except BaseException as e:  # Ctrl-C or a full disk in the middle: no half file left beside the real one
        full = isinstance(e, Exception) and not _is_disk_full(e) and _no_room_left(path.parent)
        tmp.unlink(missing_ok=True)
        if full:  # torch's writer says "enforce fail ... unexpected pos": name the cause instead
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from e
        raise
    os.replace(tmp, path)


def _is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def _no_room_left(folder: Path, below: int = 16 << 20) -> bool:
    """Whether the filesystem holding `folder` has (almost) no space left for this user."""
    try:
        return shutil.disk_usage(folder).free < below
    except OSError:
        return False


def atomic_write_text(path: Path, text: str) -> None:
    """`text` into `path`, whole or not at all (for the small JSON records that a later command reads back)."""
    atomic_write(path, lambda p: p.write_text(text))


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold `folder`/.lock while this process works on the run. Why: the same command issued twice (a grid
    started again while the first still runs, a resume of a run that is not dead) had two processes append
    the same labels and rename each other's checkpoint files. The kernel drops the lock when its process
    ends, however it ends (SIGKILL included), so a killed run never leaves a stale lock behind."""
    import fcntl

    with open(Path(folder) / LOCK, "a+") as f:
        _take(f, folder)
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} on {socket.gethostname()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_not_busy(folder: Path) -> None:
    """Refuse, before anything loads, a run that another process holds (`run_lock` is still the guard).
    Why: a command issued twice was refused only once torch and the model had loaded, and the human oracle's
    labelling page may already have started by then. The probe holds the lock for microseconds; `_take`
    retries for a second, so a run starting at that instant is not refused because of it."""
    import fcntl

    lock = Path(folder) / LOCK
    if not lock.is_file():
        return
    with open(lock, "a+") as f:  # writable: on NFS, flock is a POSIX lock, which needs it
        _take(f, folder)
        fcntl.flock(f, fcntl.LOCK_UN)


def _take(f: Any, folder: Path, retry_s: float = 1.0) -> None:
    """Take the exclusive lock on the open lock file `f`, retrying for `retry_s` (a probe may hold it for an
    instant); a holder that keeps it is a `RunBusyError` naming the process it wrote into the file."""
    import fcntl
    import time

    from hero_bench.errors import RunBusyError

    deadline = time.monotonic() + retry_s
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunBusyError(
                    f"{folder} is being run by {holder}; wait for it to finish (or stop it), then issue the command "
                    "again"
                ) from None
            time.sleep(0.05)
