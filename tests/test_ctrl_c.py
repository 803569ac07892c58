"""Ctrl-C: a stopped command exits 130 with one line saying what is kept (it exited 0, as if it had finished, so
a script or a scheduler took an interrupted grid for a complete one) and leaves no half-written file beside the
checkpoint that the same command continues from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hero_bench.run_files import atomic_write
from tests.fresh_cli import exit_code_of_main_with

CLI = [sys.executable, "-m", "hero_bench.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _ctrl_c_as_in_a_terminal() -> None:
    """A suite started in the background (`nohup ... &`) hands its children SIGINT ignored; a terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_a_local_grid_exits_130_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "runs"
    flags = ["run", "--task", "toy-hand", "--method", "hero", "--budget", "16", "--batch", "8", "--eval-n", "4",
             "--steps", "6", "--k-steps", "2", "--out", str(out)]  # fmt: skip
    folder = out / "toy-hand" / "hero" / "seed0"
    proc = subprocess.Popen(
        [*CLI, *flags], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    deadline = time.time() + 300
    log = folder / "feedback.jsonl"
    while not (log.exists() and log.read_text().strip()) and time.time() < deadline:  # inside epoch 1
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted; make it longer"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"interrupted: finished runs under {out} are kept")
    assert not (folder / "done.json").exists()
    assert not [p.name for p in folder.glob("*.tmp")]
    assert (folder / "checkpoint.pt").exists()  # what the same command continues from (test_runs.py -k sigkill)


def test_ctrl_c_in_any_command_exits_130(monkeypatch, capsys):
    """typer hands back (does not raise) Ctrl-C's exit code outside its standalone mode; `main` must pass it on."""
    def interrupted() -> None:
        raise KeyboardInterrupt

    assert exit_code_of_main_with(interrupted, monkeypatch) == 130
    assert capsys.readouterr().err.strip().endswith("interrupted")


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old")

    def write_then_stop(p):
        p.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, write_then_stop)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_sigterm_in_a_local_grid_exits_143_with_the_same_line(tmp_path, capsys):
    """What a scheduler sends before SIGKILL stops the run the way Ctrl-C does (it ended it without a word and
    could leave a half-written checkpoint.pt.tmp); the previous SIGTERM handler is back afterwards."""
    from hero_bench.cli.run import _interrupted_runs_kept

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        with _interrupted_runs_kept(tmp_path):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at the next bytecode
    assert stop.value.code == 143
    assert " ".join(capsys.readouterr().err.split()).startswith(f"terminated (SIGTERM): finished runs under {tmp_path}")
    assert signal.getsignal(signal.SIGTERM) is before
