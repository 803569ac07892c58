"""What the GPU check measures: the sizes (paper and toy), the run settings and the stand-in labels.

The run settings are `hero-bench run`'s own (`build_run_config` with the paper's defaults); only the size
fields differ, and the whole batch goes through the UNet at once, as in diffusers' `pipe(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hero_bench.config import RunConfig, build_run_config
from hero_bench.evaluation import SamplingSettings
from hero_bench.oracles.base import Feedback

TASK = "black-cat"  # the paper's task; only its prompts are used
GIB = 2**30
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CheckSize:
    """How big the measured epochs are."""

    arch: str
    images: int  # per training epoch, judged (the paper: 64)
    steps: int  # DDIM steps (the paper: 50)
    k_steps: int  # DDPO-K's K (the paper: 5)
    eval_images: int  # evaluation images per epoch (0: no evaluation stage)
    embedding_epochs: int | None  # passes of the triplet fit; None = HeroConfig's default
    d3po_max_pairs: int | None  # pairs d3po-style trains on (None = all); the rest is extrapolated
    repeats: int  # timed calls of the pipeline and of the sampler each


PAPER = CheckSize("sd-v1-5", 64, 50, 5, 64, None, 8, 2)
TOY = CheckSize("tiny", 8, 4, 2, 4, 2, 2, 1)
SIZES = {"paper": PAPER, "toy": TOY}


def seeded_feedback(n: int, seed: int, good_fraction: float = 0.25) -> Feedback:
    """Labels standing in for an oracle: round(n * good_fraction) good images (at least one good and one
    bad), the first of them in a seeded order is the best."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_good = min(n - 1, max(1, round(n * good_fraction)))
    good = [False] * n
    for i in order[:n_good]:
        good[i] = True
    return Feedback(good=good, best=order[0])


def run_config(method: str, size: CheckSize, max_transitions: int | None, seed: int = 0) -> RunConfig:
    """The paper's defaults at `size`; the whole batch goes through the UNet at once, as in `pipe(...)`."""
    hero = {} if size.embedding_epochs is None else {"embedding_epochs": size.embedding_epochs}
    options: dict[str, Any] = {}
    if method == "d3po-style":
        options = {"max_transitions_per_pass": max_transitions, "max_pairs": size.d3po_max_pairs}
    return build_run_config(
        task=TASK,
        method=method,
        hero=hero,
        ddpo={"k_steps": size.k_steps, "max_transitions_per_pass": max_transitions},
        batch=size.images,
        budget=size.images,
        steps=size.steps,
        eval_n=max(1, size.eval_images),
        sample_batch_size=size.images,
        method_options=options,
        seed=seed,
    )


def settings_of(cfg: RunConfig) -> SamplingSettings:
    assert cfg.steps is not None
    return SamplingSettings(cfg.steps, cfg.eta, cfg.guidance_scale, cfg.sample_batch_size)
