"""The epoch timer behind results.csv's `time_<stage>_s` columns: what it records, when it starts afresh,
and that each thread (one run at a time) has its own."""

from __future__ import annotations

import threading
import time

from hero_bench.timing import epoch_timer, stage_timed, timing_columns, with_stage_times


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def test_stages_go_into_the_last_row_once():
    epoch_timer().take_columns()
    assert stage_timed("sampling", _sleep)(0.02) == "done"  # the wrapped function's result passes through
    stage_timed("update", _sleep)(0.01)
    stage_timed("update", _sleep)(0.01)  # a stage called twice adds up
    rows = [{"epoch": 0}, {"epoch": 1}]
    assert with_stage_times(rows) is rows
    assert rows[0] == {"epoch": 0}
    assert set(rows[1]) == {"epoch", "time_sampling_s", "time_update_s"}
    assert rows[1]["time_sampling_s"] >= 0.02 and rows[1]["time_update_s"] >= 0.02
    with_stage_times(rows)  # nothing was timed since: the row keeps its figures
    assert rows[1]["time_sampling_s"] >= 0.02


def test_a_fresh_stage_drops_what_an_interrupted_epoch_left():
    epoch_timer().take_columns()
    stage_timed("evaluation", _sleep)(0.0)  # e.g. a run killed before its results row was written
    stage_timed("sampling", _sleep, fresh=True)(0.0)
    rows = [{}]
    with_stage_times(rows)
    assert set(rows[0]) == {"time_sampling_s"}


def test_each_thread_has_its_own_timer():
    epoch_timer().take_columns()
    stage_timed("sampling", _sleep)(0.0)
    seen: list[dict] = []
    worker = threading.Thread(target=lambda: seen.append(epoch_timer().take_columns()))
    worker.start()
    worker.join()
    assert seen == [{}]
    assert set(epoch_timer().take_columns()) == {"time_sampling_s"}


def test_timing_columns_names_every_clock_column():
    columns = ["epoch", "success_rate", "wall_time_s", "time_sampling_s", "time_update_s", "stat_loss", "timeout"]
    assert timing_columns(columns) == ["wall_time_s", "time_sampling_s", "time_update_s"]
