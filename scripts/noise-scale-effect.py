"""Success of the pretrained model when its initial noise is N(0, s^2 I) instead of N(0, I).

    python scripts/noise-scale-effect.py --scales 1.0,1.3 --n 192 [--tasks toy-narcissus,toy-hand]

Why: HERO's paper preset draws each batch's noises as N(z, eps0^2 I) around earlier noises (Eq. 5 as written,
`noise_mixing: gaussian`), so a noise descended from k earlier batches has variance about 1 + k * eps0^2: its
norm grows over the epochs (1.27-1.36 sqrt(d) after 8 epochs, against 1.0 for N(0, I)). This measures what the
larger norm alone does to each task's success, with no feedback and no fine-tuning: the same seeded N(0, I)
noises scaled, the same per-step noise, 95% Wilson intervals. docs/results/README.md has the figures.
"""

from __future__ import annotations

import argparse
import json

from hero_bench.cli.common import pipeline, settings
from hero_bench.evaluation import evaluate, seeded_noise
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks.loader import load_task

TASKS = "toy-mountain,toy-blue-circle,toy-narcissus,toy-black-cat,toy-safety,toy-hand"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument("--scales", default="1.0,1.3")
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pipe, judge = pipeline(None), SimulatedOracle()
    noise = seeded_noise(pipe, args.n, args.seed)
    for name in args.tasks.split(","):
        task = load_task(name)
        sampling, row = settings(task, None, 5.0, 1.0), {}
        for scale in (float(s) for s in args.scales.split(",")):
            result = evaluate(pipe, task, judge, args.n, args.seed + 1, sampling, noise * scale).summary()
            row[f"{scale:g}"] = [round(result["success_rate"], 3), *(round(x, 3) for x in result["ci95"])]
        print(json.dumps({"task": name, "n": args.n, **row}), flush=True)


if __name__ == "__main__":
    main()
