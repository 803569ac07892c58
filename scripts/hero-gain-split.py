"""Which part of a finished HERO run carries its gain: its learned noise, its LoRA, or both.

    python scripts/hero-gain-split.py runs/hand-grid-v4/toy-hand/hero/seed0 [more run folders] --n 256 --seed 1

For each run: the success rate of the pretrained model and of the run's LoRA, each on N(0, I) initial noise and on
the run's learned noise mixture (`final/`), on the same n noises of each kind and the same per-step noise, judged
by the simulated oracle with 95% Wilson intervals. The report's "LoRA only" row is the LoRA on N(0, I); the
pretrained model on the learned noise is the row this adds: the noise's gain without any fine-tuning. Also printed:
how many noises the mixture is centred on, their mean norm over sqrt(d) (N(0, I): about 1) and their mean pairwise
cosine (independent noises: about 0), i.e. how far the noise has drifted and how much it has collapsed.
docs/results/README.md has the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hero_bench.cli.common import pipeline
from hero_bench.evaluation import SamplingSettings, evaluate, seeded_noise
from hero_bench.hero.method import NOISE_FILE
from hero_bench.hero.noise import HeroNoiseSampler
from hero_bench.models import load_lora
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.run_files import CONFIG
from hero_bench.run_folders import read_run_config
from hero_bench.tasks.loader import load_task


def centre_stats(sampler: HeroNoiseSampler) -> dict[str, float]:
    """Count, norm over sqrt(d) and mean pairwise cosine of the mixture's centres (the best and the other goods)."""
    flat = torch.cat([sampler.best[None], sampler.others]).flatten(1)
    cos = torch.nn.functional.cosine_similarity(flat[:, None], flat[None], dim=-1)
    pairs = cos[~torch.eye(len(flat), dtype=torch.bool)]
    return {
        "centres": len(flat),
        "centre_norm_over_sqrt_d": round(float(flat.norm(dim=1).mean() / flat.shape[1] ** 0.5), 3),
        "centre_mean_cosine": round(float(pairs.mean()), 3) if len(pairs) else float("nan"),
    }


def split(run: Path, n: int, seed: int) -> dict[str, object]:
    cfg = read_run_config(run / CONFIG)
    task = load_task(cfg.task)
    pipe = pipeline(cfg.model)
    sampling = SamplingSettings(
        num_inference_steps=cfg.steps or task.default_steps, eta=cfg.eta, guidance_scale=cfg.guidance_scale
    )
    sampler = HeroNoiseSampler.load(run / "final" / NOISE_FILE, seed=seed)
    noises = {"N(0,I)": seeded_noise(pipe, n, seed), "learned": sampler.sample(n)}
    judge = SimulatedOracle()
    rates: dict[str, object] = dict(centre_stats(sampler))
    for model in ("pretrained", "lora"):
        if model == "lora":
            load_lora(pipe, run / "final" / "lora")
        for kind, noise in noises.items():
            result = evaluate(pipe, task, judge, n, seed, sampling, noise).summary()
            rates[f"{model}, {kind}"] = [round(result["success_rate"], 3), *(round(x, 3) for x in result["ci95"])]
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1, help="seed of both noise sets and of the per-step noise")
    args = ap.parse_args()
    for run in args.runs:
        rates = split(run, args.n, args.seed)
        print(json.dumps({"run": str(run), "n": args.n, "seed": args.seed, **rates}), flush=True)


if __name__ == "__main__":
    main()
