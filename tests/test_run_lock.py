"""One process per run folder: the same command issued twice (a grid started again while the first still
runs, a resume of a run that is not dead) is refused in one line instead of two processes appending the same
labels and renaming each other's checkpoints; a killed run leaves no stale lock."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hero_bench.errors import RunFolderError
from hero_bench.run_files import run_lock
from tests.fresh_cli import cli_in_fresh_interpreter

CLI = [sys.executable, "-m", "hero_bench.cli"]
HOLD = """
import sys, time
from hero_bench.run_files import run_lock
from tests.fresh_cli import cli_in_fresh_interpreter
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_folder_is_refused_and_free_again_after(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(RunFolderError, match=f"^{tmp_path} is being run by process {os.getpid()} on "):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released on leaving
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderError, match=f"process {holder.pid} on"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path):  # the kernel dropped the killed process's lock
        pass


def test_the_same_run_issued_twice_is_refused_and_the_first_is_unharmed(tmp_path):
    out = tmp_path / "runs"
    flags = ["run", "--task", "toy-hand", "--method", "hero", "--budget", "24", "--batch", "8", "--eval-n", "8",
             "--steps", "6", "--k-steps", "2", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([*CLI, *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    folder = out / "toy-hand" / "hero" / "seed0"
    deadline = time.time() + 300
    while not (folder / "config.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run([*CLI, *flags], env=env, capture_output=True, text=True, timeout=300)
    assert first.poll() is None, "the first run ended before the second started; make it longer"
    assert second.returncode == 2, second.stderr[-2000:]
    assert "Loading pipeline" not in second.stderr  # refused before the model loads
    message = second.stderr.strip().splitlines()[-1]
    assert message.startswith(f"error: {folder} is being run by process {first.pid} on ")
    assert "Traceback" not in second.stderr
    assert "issue the command again" in message
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    labels = [json.loads(line) for line in (folder / "feedback.jsonl").read_text().splitlines()]
    counts = collections.Counter((label["epoch"], label["index"]) for label in labels)
    assert len(labels) == 24 and max(counts.values()) == 1  # every label once
    assert (folder / "done.json").exists() and not (folder / "checkpoint.pt").exists()
    assert not Path(str(folder / "checkpoint.pt") + ".tmp").exists()


def test_a_lock_held_for_an_instant_does_not_refuse_a_run(tmp_path):
    """`check_not_busy` probes the lock: a run that starts while a probe holds it waits the instant out."""
    import fcntl
    import threading

    (tmp_path / ".lock").touch()
    with open(tmp_path / ".lock", "a+") as probe:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        threading.Timer(0.3, fcntl.flock, (probe, fcntl.LOCK_UN)).start()
        with run_lock(tmp_path):
            assert f"process {os.getpid()}" in (tmp_path / ".lock").read_text()


def test_a_busy_run_and_its_resume_are_refused_before_torch_loads(tmp_path):
    """The command issued again while its run is going: one line, exit 2, without importing torch or loading
    the model (and so before the human oracle's labelling page could start); the lock file is left as it was."""
    from hero_bench.config import build_run_config

    out = tmp_path / "runs"
    folder = out / "toy-hand" / "hero" / "seed0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(build_run_config("toy-hand", "hero").model_dump_json())
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        fresh = ["run", "--task", "toy-hand", "--method", "hero", "--out", str(out)]
        cases = [fresh, ["run", "--resume", str(out)]]
        for argv, (exit_code, err, heavy) in zip(cases, cli_in_fresh_interpreter(cases), strict=True):
            assert exit_code == 2 and heavy == [], (argv, exit_code, err, heavy)
            message = " ".join(err.split())
            assert message.startswith(f"error: {folder} is being run by process {holder.pid} on "), (argv, err)
        assert (folder / ".lock").read_text().startswith(f"process {holder.pid} on ")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_grid_worker_reports_a_busy_run_without_writing_into_its_folder(tmp_path):
    """What a Ray worker does when another process holds the run: a failed run in the grid's report, and no
    error.log of its own left in a folder that belongs to the other process."""
    from hero_bench.config import build_run_config
    from hero_bench.executors.work import ERROR_LOG, execute_one

    cfg = build_run_config("toy-hand", "hero", budget=8, batch=8, eval_n=4, steps=4, ddpo={"k_steps": 2})
    with run_lock(tmp_path):
        outcome = execute_one(cfg.model_dump(mode="json"), str(tmp_path), resume=False, threads=1)
    assert not outcome.ok and f"is being run by process {os.getpid()}" in outcome.error
    assert not (tmp_path / ERROR_LOG).exists()


WRITE_TABLE = """
import sys
from pathlib import Path
from hero_bench.run_folders import write_results_table
for _ in range(200):
    write_results_table(Path(sys.argv[1]))
"""


def test_grids_sharing_an_out_folder_write_its_table_without_colliding(tmp_path):
    """Grids split by hand (`--seed-start`, a task per process) share --out and each rewrites <out>/results.csv at
    its end; with one temporary name, one process renamed the file the other was writing (FileNotFoundError)."""
    run = tmp_path / "toy-hand" / "hero" / "seed0"
    run.mkdir(parents=True)
    (run / "results.csv").write_text("task,method,seed,epoch,feedback_used,success_rate\ntoy-hand,hero,0,0,0,0.5\n")
    writers = [subprocess.Popen([sys.executable, "-c", WRITE_TABLE, str(tmp_path)], stderr=subprocess.PIPE, text=True)
               for _ in range(2)]  # fmt: skip
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "toy-hand"]
    assert (tmp_path / "results.csv").read_text().splitlines()[1].startswith("toy-hand,hero,0,0,0,0.5")
