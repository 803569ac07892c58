"""Deliberate faults for `hero-bench regress --fault NAME`: does the regression check catch a broken learner?

A check that passes on broken code is worth nothing, so its power is measured by breaking HERO on purpose
(docs/regress.md) and, in CI, by one test per fault (tests/test_regress.py). Each fault is a context manager
that swaps one real piece of HERO for a broken one while the ordinary run loop runs; nothing else changes.

- `inverted-verdicts`: HERO reads the oracle's good/bad verdicts the wrong way round (a sign error at the
  source: both the DDPO reward and the noise mixture's anchors learn from bad images).
- `shuffled-rewards`: the similarity rewards are permuted within each batch before they become advantages,
  so they carry no information about which image is which; labels and the noise mixture stay intact.
- `skipped-update`: the DDPO-K update returns without touching the LoRA weights (the LoRA never changes).

The last two leave HERO's noise mixture, which does most of its work on small latents, untouched: only the
LoRA-only evaluation (HERO's model on N(0, I) noises) can see them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

FAULT_SEED = 1234
"""Seed of the shuffled-rewards permutations: a faulty run is as reproducible as a healthy one."""


@contextmanager
def _patched(owner: Any, name: str, make: Callable[[Callable], Callable]) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def inverted_verdicts() -> AbstractContextManager[None]:
    from hero_bench.hero.method import Hero

    def make(update: Callable) -> Callable:
        def broken(self, traj, images, fb):
            good = [not g for g in fb.good]
            best = next((i for i, g in enumerate(good) if g), None)
            return update(self, traj, images, dataclasses.replace(fb, good=good, best=best))

        return broken

    return _patched(Hero, "update", make)


def shuffled_rewards() -> AbstractContextManager[None]:
    import torch

    from hero_bench.hero import method

    generator = torch.Generator().manual_seed(FAULT_SEED)

    def make(compute: Callable) -> Callable:
        def broken(*args, **kwargs):
            rewards = compute(*args, **kwargs)
            return rewards[torch.randperm(len(rewards), generator=generator).to(rewards.device)]

        return broken

    return _patched(method, "compute_rewards", make)


def skipped_update() -> AbstractContextManager[None]:
    from hero_bench.ddpo import DDPOTrainer

    def make(update: Callable) -> Callable:
        def broken(self, traj, advantages):
            self.num_updates += 1
            return dict(self.lora_norms())

        return broken

    return _patched(DDPOTrainer, "update", make)


FAULTS: dict[str, tuple[Callable[[], AbstractContextManager[None]], str]] = {
    "inverted-verdicts": (inverted_verdicts, "HERO reads the oracle's verdicts inverted"),
    "shuffled-rewards": (shuffled_rewards, "similarity rewards permuted within the batch (no information)"),
    "skipped-update": (skipped_update, "the DDPO update never changes the LoRA"),
}


def inject(name: str) -> AbstractContextManager[None]:
    """The context in which fault `name` is active (an unknown name lists the valid ones)."""
    from hero_bench.errors import UnknownNameError

    if name not in FAULTS:
        raise UnknownNameError("fault", name, FAULTS)
    return FAULTS[name][0]()
