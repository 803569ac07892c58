"""How much of a verdict the initial noise decides: each z_T sampled several times with fresh per-step noise.

    python scripts/noise-heritability.py --noises 64 --repeats 4 [--tasks toy-hand,toy-mountain] [--model M]

HERO's feedback-guided noise draws the next batch's z_T close to the good images' z_T. With DDIM at eta 1 every
step adds fresh noise too, so the same z_T can give a good image once and a bad one the next time. Where a
verdict is mostly set by z_T (a colour, a layout), re-using the good noises lifts the success rate; where it is
set late (a small notch), it cannot. Per task this prints the success rate p, the chance that a second draw from
a z_T is good when a first draw from it was (`p_again`, over every ordered pair of draws of one z_T), and the
share of the verdicts' variance that lies between z_T's (the intraclass correlation: 0 = z_T decides nothing,
1 = z_T decides everything), each with a 95% bootstrap interval over the z_T's. docs/results/README.md has the
figures.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from hero_bench.cli.common import pipeline, settings
from hero_bench.evaluation import evaluate, seeded_noise
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks.loader import load_task

TASKS = "toy-mountain,toy-blue-circle,toy-narcissus,toy-black-cat,toy-safety,toy-hand"


def measure(good: np.ndarray) -> dict[str, float]:
    """`good` [noises, repeats] of 0/1 verdicts -> p, p_again and the intraclass correlation."""
    n, r = good.shape
    p = float(good.mean())
    hits = good.sum(1)
    pairs_good_good = float((hits * (hits - 1)).sum())  # ordered pairs of distinct draws, both good
    pairs_first_good = float((hits * (r - 1)).sum())
    p_again = pairs_good_good / pairs_first_good if pairs_first_good else float("nan")
    # one-way ANOVA estimate of the intraclass correlation for binary data with equal group sizes
    between = r * float(((good.mean(1) - p) ** 2).sum()) / (n - 1)
    within = float(((good - good.mean(1, keepdims=True)) ** 2).sum()) / (n * (r - 1))
    icc = (between - within) / (between + (r - 1) * within) if between + (r - 1) * within else float("nan")
    return {"p": p, "p_again": p_again, "lift": p_again - p, "icc": icc}


def with_intervals(good: np.ndarray, rounds: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """Each statistic of `measure` and its 95% interval, resampling the z_T's (rows) with replacement."""
    rng = np.random.default_rng(seed)
    point = measure(good)
    draws = [measure(good[rng.integers(0, len(good), len(good))]) for _ in range(rounds)]
    bounds = {key: np.nanpercentile([d[key] for d in draws], [2.5, 97.5]) for key in point}
    return {key: [round(point[key], 3), *(round(float(q), 3) for q in bounds[key])] for key in point}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument("--noises", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="seed of the z_T; repeat k uses per-step seed 1000 * (k + 1)")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    pipe = pipeline(args.model)
    judge = SimulatedOracle()
    rows = {}
    for name in args.tasks.split(","):
        task = load_task(name)
        sampling = settings(task, None, 5.0, 1.0)
        noise = seeded_noise(pipe, args.noises, args.seed)
        good = np.zeros((args.noises, args.repeats))
        for k in range(args.repeats):
            good[:, k] = evaluate(pipe, task, judge, args.noises, 1000 * (k + 1), sampling, noise).feedback.good
        rows[name] = with_intervals(good)
        print(name, json.dumps(rows[name]), flush=True)
    print(json.dumps({"noises": args.noises, "repeats": args.repeats, "seed": args.seed, "tasks": rows}))


if __name__ == "__main__":
    main()
