"""A full disk: a HERO checkpoint is about 335 MB an epoch on the toy model, so a long grid can fill one. The
command stops with one line naming the device and what to do (it ended in torch's "enforce fail ... unexpected
pos" traceback), the last checkpoint is untouched and no partial file is left beside it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from hero_bench import run_files
from hero_bench.run_files import atomic_write
from tests.fresh_cli import exit_code_of_main_with

CLI = [sys.executable, "-m", "hero_bench.cli"]
Usage = namedtuple("Usage", "total used free")


def _fails_midway(p: Path) -> None:
    p.write_bytes(b"half")
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 112401984 vs 112401876")


def test_a_writer_failing_on_a_full_disk_is_named_as_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"last")
    monkeypatch.setattr(run_files.shutil, "disk_usage", lambda _: Usage(1 << 30, 1 << 30, 0))
    with pytest.raises(OSError) as raised:
        atomic_write(path, _fails_midway)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_bytes() == b"last" and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_writer_failing_with_room_left_keeps_its_own_error(tmp_path):
    with pytest.raises(RuntimeError, match="enforce fail"):
        atomic_write(tmp_path / "checkpoint.pt", _fails_midway)
    assert list(tmp_path.iterdir()) == []


def test_no_space_is_one_line_with_exit_code_2(monkeypatch, capsys):
    def full() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/toy-hand/hero/seed0/checkpoint.pt")

    assert exit_code_of_main_with(full, monkeypatch) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: no space left on the device holding /runs/toy-hand/hero/seed0/checkpoint.pt")
    assert "issue the same command again" in err


@pytest.fixture
def small_disk(tmp_path):
    """A 200 MB tmpfs: room for the small epoch-0 checkpoint, not for a toy HERO one with its embedder (335 MB)."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests mount a tmpfs")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_run_that_fills_the_disk_stops_in_one_line_and_keeps_its_checkpoint(small_disk):
    flags = ["run", "--task", "toy-hand", "--method", "hero", "--budget", "8", "--batch", "8", "--eval-n", "4",
             "--steps", "6", "--k-steps", "2", "--out", str(small_disk / "runs")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*CLI, *flags], env=env, capture_output=True, text=True, timeout=600)
    folder = small_disk / "runs" / "toy-hand" / "hero" / "seed0"
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    message = r.stderr.strip().splitlines()[-1]
    assert message.startswith(f"error: no space left on the device holding {folder / 'checkpoint.pt'}"), message
    assert (folder / "checkpoint.pt").stat().st_size > 0  # epoch 0's, whole
    assert not list(folder.glob("*.tmp")) and not (folder / "done.json").exists()
