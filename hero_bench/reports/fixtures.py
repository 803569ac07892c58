"""Synthetic run folders in the exact format `hero-bench run` writes, for tests and for trying reports.

Curves follow a chosen success probability per epoch; each epoch's evaluation images are drawn (a
coloured disc on a plain background, brighter for successes) with judge verdicts sampled from that
probability, and results.csv is computed from those verdicts, so every number in a report built from
these folders can be traced to its images exactly as for a real run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from hero_bench.metrics.success import wilson_interval

RESULT_HEADER = ["method", "task", "seed", "epoch", "feedback_used", "success_rate", "success_ci_low",
                 "success_ci_high", "n_eval", "oracle", "judge", "wall_time_s", "train_good_fraction",
                 "uses_feedback"]
PROMPTS = ["a blue circle", "a blue circle on grey"]


def _image(rng: np.random.Generator, good: bool, size: int = 64) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(90, 140, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    r = int(rng.integers(10, 22))
    cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
    colour = (40, 60, 230) if good else tuple(int(v) for v in rng.integers(150, 256, 3))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return img


def write_run(
    root: Path,
    task: str,
    method: str,
    seed: int,
    success: Callable[[int], float],
    *,
    uses_feedback: bool = True,
    epochs: int = 4,
    batch: int = 16,
    n_eval: int = 16,
    best_ratio: float = 0.5,
    oracle: str = "simulated",
    judge: str = "simulated",
    std_noise: Callable[[int], float] | None = None,
    stats: Callable[[int], dict[str, float]] | None = None,
) -> Path:
    """One `<task>/<method>/seed<k>/` folder; success(epoch) is the probability that an eval image is good.
    `std_noise(epoch)`, for a method with its own noise (HERO), the same on N(0, I) noises (from epoch 1;
    epoch 0 shares the batch); `stats(epoch)`, training statistics logged from epoch 1 (stat_ columns)."""
    run = root / task / method / f"seed{seed}"
    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, sum(map(ord, task + method)), int(best_ratio * 1000)])
    command = (f"hero-bench run --task {task} --method {method} --seed {seed} --budget {epochs * batch} "
               f"--batch {batch} --oracle {oracle} --judge {judge} --out {root}")
    config = {"task": task, "method": method, "seed": seed, "budget": epochs * batch, "batch": batch,
              "oracle": oracle, "judge": judge, "model": None, "command": command,
              "hero": {"best_ratio": best_ratio, "triplet_margin": 0.5}}
    (run / "config.json").write_text(json.dumps(config, indent=2))
    rows, feedback_log = [], []
    for epoch in range(epochs + 1):
        p = float(np.clip(success(epoch), 0, 1))
        good = (rng.random(n_eval) < p).tolist()
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n_eval)]
        folder = run / "eval" / f"epoch_{epoch:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, g in enumerate(good):
            _image(rng, g).save(folder / f"{i:04d}.png")
        best = good.index(True) if any(good) else None
        (folder / "verdicts.json").write_text(json.dumps({"good": good, "best": best, "prompts": prompts}))
        fb = epoch * batch if uses_feedback else 0
        lo, hi = wilson_interval(sum(good), n_eval)
        extra: dict[str, object] = {}
        if std_noise is not None:
            std_good = good
            if epoch:
                std_good = (rng.random(n_eval) < float(np.clip(std_noise(epoch), 0, 1))).tolist()
                std_folder = run / "eval_std_noise" / f"epoch_{epoch:03d}"
                std_folder.mkdir(parents=True, exist_ok=True)
                for i, g in enumerate(std_good):
                    _image(rng, g).save(std_folder / f"{i:04d}.png")
                (std_folder / "verdicts.json").write_text(json.dumps({"good": std_good, "prompts": prompts}))
            extra = {"own_eval_noise": True, "success_rate_std_noise": sum(std_good) / n_eval}
        if stats is not None and epoch:
            extra.update({f"stat_{k}": v for k, v in stats(epoch).items()})
        rows.append({"method": method, "task": task, "seed": seed, "epoch": epoch, "feedback_used": fb,
                     "success_rate": sum(good) / n_eval, "success_ci_low": lo, "success_ci_high": hi,
                     "n_eval": n_eval, "oracle": oracle, "judge": judge, "wall_time_s": 1.0 + epoch,
                     "train_good_fraction": p if uses_feedback and epoch else None, "uses_feedback": uses_feedback,
                     **extra})
        if uses_feedback and epoch:
            feedback_log.append({"epoch": epoch, "good": good[:batch], "best": best})
    columns = RESULT_HEADER + [c for c in pd.DataFrame(rows).columns if c not in RESULT_HEADER]
    pd.DataFrame(rows, columns=columns).to_csv(run / "results.csv", index=False)
    (run / "feedback.jsonl").write_text("".join(json.dumps(r) + "\n" for r in feedback_log))
    (run / "grids").mkdir(exist_ok=True)
    return run


def demo_runs(
    root: Path,
    seeds: Sequence[int] = (0, 1, 2),
    tasks: Sequence[str] = ("toy-blue-circle",),
    ablation: bool = True,
    epochs: int = 4,
) -> Path:
    """A run root with hero (fast), d3po (slow), sd-pretrained (no feedback) and, optionally, hero-binary."""
    root = Path(root)
    methods: dict[str, tuple[Callable[[int], float], bool]] = {
        "hero": (lambda e: 0.3 + 0.6 * (1 - 0.45**e), True),
        "d3po": (lambda e: 0.3 + 0.08 * e, True),
        "sd-pretrained": (lambda e: 0.3, False),
    }
    if ablation:
        methods["hero-binary"] = (lambda e: 0.3 + 0.45 * (1 - 0.6**e), True)
    for task in tasks:
        for method, (curve, learns) in methods.items():
            for seed in seeds:
                write_run(root, task, method, seed, curve, uses_feedback=learns, epochs=epochs)
    results = pd.concat([pd.read_csv(p) for p in sorted(root.rglob("seed*/results.csv"))], ignore_index=True)
    results.to_csv(root / "results.csv", index=False)
    return root


def beta_sweep_runs(root: Path, ratios: Sequence[float] = (0.0, 1.0), seeds: Sequence[int] = (0, 1),
                    task: str = "toy-blue-circle", epochs: int = 4) -> list[Path]:
    """One run root per best ratio (hero only), as a sweep over `--best-ratio` would produce."""
    def curve(beta: float) -> Callable[[int], float]:
        return lambda e: 0.3 + (0.4 + 0.3 * beta) * (1 - 0.5**e)

    out = []
    for beta in ratios:
        sub = Path(root) / f"beta{beta:g}"
        for seed in seeds:
            write_run(sub, task, "hero", seed, curve(beta), epochs=epochs, best_ratio=beta)
        out.append(sub)
    return out
