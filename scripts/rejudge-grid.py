"""Re-judge a grid's final evaluation images with today's parser: how much a judge change moves its results.

Why: a grid's success rates are the verdicts of the parser that ran with it. When the parser changes later, this
says, per task and method, how many final-epoch verdicts flip and what the final success becomes, from the
evaluation PNGs in the run folders (not the archive, which keeps verdicts only). The runs' training feedback
stays the old judge's, so this measures the judge, not a rerun.

    python scripts/rejudge-grid.py runs/paper-grid [--tasks toy-safety,toy-narcissus]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks.loader import load_task


def final_eval(run: Path) -> Path | None:
    """The run's last evaluation folder holding both PNGs and verdicts.json."""
    folders = sorted(p for p in (run / "eval").glob("epoch_*") if (p / "verdicts.json").is_file())
    return folders[-1] if folders and (folders[-1] / "0000.png").is_file() else None


def rejudge(grid: Path, tasks: set[str] | None) -> pd.DataFrame:
    oracle = SimulatedOracle(seed=0)
    rows = []
    for done in sorted(grid.glob("*/*/seed*/done.json")):
        run = done.parent
        task_name, method = run.parent.parent.name, run.parent.name
        if tasks and task_name not in tasks:
            continue
        folder = final_eval(run)
        if folder is None:
            continue
        old = np.asarray(json.loads((folder / "verdicts.json").read_text())["good"], dtype=bool)
        files = sorted(folder.glob("[0-9]*.png"))
        images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        task = load_task(task_name)
        new = np.asarray(oracle.judge(images, task, [task.eval_prompts[0]] * len(images)).good, dtype=bool)
        rows.append(
            {"task": task_name, "method": method, "seed": run.name, "n": len(old), "old": old.mean(),
             "new": new.mean(), "to_good": int((new & ~old).sum()), "to_bad": int((old & ~new).sum())}
        )  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grid", type=Path)
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    args = ap.parse_args()
    table = rejudge(args.grid, {t for t in args.tasks.split(",") if t} or None)
    if table.empty:
        raise SystemExit(f"no finished run with evaluation PNGs under {args.grid}")
    summary = table.groupby(["task", "method"]).agg(
        seeds=("seed", "count"), old=("old", "mean"), new=("new", "mean"), to_good=("to_good", "sum"),
        to_bad=("to_bad", "sum"), images=("n", "sum"),
    )  # fmt: skip
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
