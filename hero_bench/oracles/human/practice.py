"""Practice labelling on toy-world renders: the real page and store, no model, instant batches.

Why: a person should learn the page (and check their labels against the exact rule) before spending a
real run's budget; it is also the smallest complete "run" that exercises the human oracle end to end,
resume included (`hero-bench label`, and `python -m hero_bench.oracles.human.practice` in tests).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hero_bench.oracles.calibrate import toy_calibration_images
from hero_bench.oracles.human.oracle import DEFAULT_PORT, DEFAULT_STORE, HumanOracle
from hero_bench.oracles.human.serve import LOOPBACK
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks.loader import load_task


def run_practice(
    task: str = "toy-blue-circle",
    batches: int = 3,
    batch_size: int = 8,
    seed: int = 0,
    store: str | Path = DEFAULT_STORE,
    run_id: str | None = None,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    log: str | Path | None = None,
    announce: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Ask for `batches` batches of toy renders; returns (and appends to `log`) one record per batch.

    Each record has the person's labels, whether they came from the store (a resumed session), and
    their agreement with the exact simulated oracle. Batches are seeded, so rerunning with the same
    arguments and store resumes at the first unlabelled batch.
    """
    t = load_task(task)
    exact = SimulatedOracle(hidden_preference="task")
    oracle = HumanOracle(run_id=run_id or f"practice-{t.name}-seed{seed}", store=store, host=host, port=port,
                         budget=batches * batch_size, seed=seed, announce=announce)
    records = []
    try:
        for i in range(batches):
            images = toy_calibration_images(t, batch_size, seed=seed * 1000 + i, good_rate=0.4)
            fb = oracle.judge(images, t)
            truth = exact.judge(images, t).good
            agree = sum(a == b for a, b in zip(fb.good, truth, strict=True)) / len(truth)
            record = {"batch": i + 1, "epoch": i, "from_store": oracle.last_from_store, "good": fb.good,
                      "best": fb.best, "truth": truth, "agreement": agree}
            records.append(record)
            if log is not None:
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\n")
            oracle.report_progress(i + 1, oracle.feedback_used, batches * batch_size, sum(truth) / len(truth))
            source = "from the store" if oracle.last_from_store else "labelled"
            best = "-" if fb.best is None else f"#{fb.best + 1}"
            announce(f"batch {i + 1}/{batches} {source}: {sum(fb.good)} good, best {best}, "
                     f"agreement with the exact rule {agree:.0%}")
    finally:
        oracle.close()
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="toy-blue-circle")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=str(DEFAULT_STORE))
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log", default=None)
    a = parser.parse_args(argv)
    run_practice(a.task, a.batches, a.batch_size, a.seed, a.store, a.run_id, a.host, a.port, a.log,
                 announce=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
