"""The thread that writes a run's checkpoint beside the next epoch (snapshots.BackgroundWriter): one write at a
time, in order, and a failed write (a full disk) stops the run at the next wait instead of being lost."""

from __future__ import annotations

import errno
import threading

import pytest

from hero_bench.snapshots import BackgroundWriter


def test_writes_run_one_at_a_time_in_the_order_submitted():
    writer, order, release = BackgroundWriter(), [], threading.Event()
    writer.submit(lambda: (release.wait(5), order.append("first")))
    second = threading.Thread(target=writer.submit, args=(lambda: order.append("second"),))
    second.start()
    second.join(0.2)
    assert second.is_alive() and order == []  # the second write waits for the first to finish
    release.set()
    second.join(5)
    writer.wait()
    assert order == ["first", "second"]


def test_a_failed_write_is_raised_by_the_next_wait_once():
    writer = BackgroundWriter()

    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer.submit(full_disk)
    with pytest.raises(OSError, match="No space left"):
        writer.wait()
    writer.wait()  # raised once, then cleared
    writer.submit(full_disk)
    with pytest.raises(OSError):
        writer.submit(lambda: None)  # the next write does not start over a failed one unseen


def test_a_wait_on_the_way_out_of_another_error_drops_the_write_error():
    writer = BackgroundWriter()
    writer.submit(lambda: 1 / 0)
    writer.wait(raise_error=False)
    writer.wait()  # nothing left to raise
