"""Feedback-guided initial noises (HERO Section 4.3, Eq. 5).

Why: the initial noises z_T of images a person liked still carry some of what made them good, so the
next batch starts near them: a Gaussian mixture centred on the best noise (weight beta) and on every
good noise (weight (1 - beta) / |good|), each with a small variance eps0^2. The first batch, and every
batch in 'random' mode, is plain N(0, I).

Decisions (see docs/paper-vs-code.md):
- The mixture is rebuilt from the latest batch that had a good image; a batch with none keeps it.
- 'iid' assignment samples Eq. (5) as written: each noise draws its component independently, and the
  best is also one of the goods (it is in X+), so it is chosen with probability beta + (1-beta)/|good|.
- 'exact' assignment is the released code's: exactly ceil(beta * n) noises around the best, the rest
  uniformly over the *other* goods (over all goods when beta = 0; around the best if it is the only
  good). Unlike the released code, the batch is then shuffled so that the best's share is not always
  the first rows.
- All randomness comes from one seeded torch.Generator whose state is part of `state_dict`, so a
  resumed run draws the very same noises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from hero_bench.hero.config import HeroConfig

_MIXTURE_FIELDS = ("best_ratio", "noise_variance", "noise_mixing", "noise_assignment")
_FORMAT = "hero-noise-mixture/1"


class HeroNoiseSampler:
    """Draws initial noises z_T of one latent `shape` (C, H, W) as float32 tensors on the CPU."""

    def __init__(self, shape: Sequence[int], config: HeroConfig | None = None, seed: int = 0) -> None:
        if len(shape) != 3 or any(int(s) <= 0 for s in shape):
            raise ValueError(f"shape must be the latent shape (channels, height, width), got {tuple(shape)}")
        self.shape = tuple(int(s) for s in shape)
        self.config = config or HeroConfig()
        self.generator = torch.Generator().manual_seed(seed)
        self.best: Tensor | None = None  # z_T of the best image, [C, H, W]
        self.others: Tensor | None = None  # z_T of the other good images, [G, C, H, W] (G may be 0)

    @property
    def has_mixture(self) -> bool:
        """False until a batch with a good image has been seen: sampling is then N(0, I)."""
        return self.best is not None

    def update(self, initial_noises: Tensor, good_mask: Tensor, best_index: int | None) -> None:
        """Centre the mixture on this batch's good and best noises; keep the old one if none is good."""
        z = initial_noises.detach().to("cpu", torch.float32)
        if tuple(z.shape[1:]) != self.shape:
            raise ValueError(
                f"initial_noises have shape {tuple(z.shape)}, expected [B, {', '.join(map(str, self.shape))}]"
            )
        mask = torch.as_tensor(good_mask, dtype=torch.bool).flatten().cpu()
        if mask.numel() != z.shape[0]:
            raise ValueError(f"good_mask has {mask.numel()} entries but there are {z.shape[0]} noises")
        if not bool(mask.any()):
            return
        if best_index is None or not 0 <= best_index < len(mask) or not bool(mask[best_index]):
            raise ValueError(f"best_index must point at a good image of this batch, got {best_index}")
        others = mask.clone()
        others[best_index] = False
        self.best = z[best_index].clone()
        self.others = z[others].clone()

    def _centres(self, n: int) -> Tensor:
        """One mixture centre per requested noise, [n, C, H, W]."""
        assert self.best is not None and self.others is not None
        goods = torch.cat([self.best[None], self.others])  # index 0 is the best
        beta = self.config.best_ratio
        g = self.generator
        if self.config.noise_assignment == "iid":
            from_best = torch.rand(n, generator=g) < beta
            any_good = torch.randint(len(goods), (n,), generator=g)
            idx = torch.where(from_best, torch.zeros_like(any_good), any_good)
        else:  # 'exact'
            n_best = min(n, math.ceil(n * beta - 1e-9))
            if beta == 0 or len(self.others) == 0:
                rest = torch.randint(len(goods), (n - n_best,), generator=g)  # any good, best included
            else:
                rest = torch.randint(len(self.others), (n - n_best,), generator=g) + 1  # skip the best
            idx = torch.cat([torch.zeros(n_best, dtype=torch.long), rest])
            idx = idx[torch.randperm(n, generator=g)]
        return goods[idx]

    def sample(self, n: int) -> Tensor:
        """n initial noises, [n, C, H, W]."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        eps = torch.randn((n, *self.shape), generator=self.generator)
        if self.config.noise == "random" or not self.has_mixture:
            return eps
        centres = self._centres(n)
        v = self.config.noise_variance
        if self.config.noise_mixing == "gaussian":
            return centres + math.sqrt(v) * eps
        return math.sqrt(1.0 - v) * centres + math.sqrt(v) * eps

    def state_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "best": None if self.best is None else self.best.clone(),
            "others": None if self.others is None else self.others.clone(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if tuple(state["shape"]) != self.shape:
            raise ValueError(
                f"state is for noises of shape {tuple(state['shape'])}, this sampler has {self.shape}"
            )
        self.best = None if state["best"] is None else state["best"].clone()
        self.others = None if state["others"] is None else state["others"].clone()
        self.generator.set_state(state["generator"])

    def save(self, path: str | Path) -> None:
        """Write the final mixture (centres and its noise settings) so images can be generated later."""
        tensors = (
            {} if self.best is None or self.others is None else {"best": self.best, "others": self.others}
        )
        meta = {"format": _FORMAT, "shape": ",".join(map(str, self.shape))}
        meta.update({k: str(getattr(self.config, k)) for k in _MIXTURE_FIELDS})
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path, seed: int = 0, **overrides: Any) -> HeroNoiseSampler:
        """A sampler drawing from a saved mixture, with its saved settings (fields in `overrides` win)."""
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path} is not a HERO noise mixture file (format {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        shape = [int(s) for s in meta["shape"].split(",")]
        saved: dict[str, Any] = {
            "best_ratio": float(meta["best_ratio"]),
            "noise_variance": float(meta["noise_variance"]),
            "noise_mixing": meta["noise_mixing"],
            "noise_assignment": meta["noise_assignment"],
        }
        sampler = cls(shape, HeroConfig(**{**saved, **overrides}), seed)
        if "best" in tensors:
            sampler.best = tensors["best"]
            sampler.others = tensors["others"]
        return sampler
