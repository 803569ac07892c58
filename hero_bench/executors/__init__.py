"""Executors map a grid of runs (task x method x variant x seed) onto workers.

`local` runs them one after another in this process (`hero_bench.runs.run_many`); `ray` makes each run one
Ray task with declared resources (`ray_grid.py`), on this machine's cores or on a cluster. Both go through
`hero_bench.runs.run_one`, so a run folder is written, reused and resumed the same way wherever it ran.
"""

from __future__ import annotations

EXECUTORS = ("local", "ray")
