"""Similarity-based rewards (HERO Section 4.2.2, Eq. 4) and the ablation designs of Section 5.3.1.

Why cosine similarity to the best: after triplet training, distance to the best's representation orders
images *within* the good and bad groups, giving DDPO a graded signal from binary labels.

Fallback: a batch with no good image has no best and no positives, so every design returns zeros.
Equal rewards carry no preference: the standardising transforms make them zero advantages, and with the
'raw-cosine' transform a zero weight gives DDPO no gradient, so such a batch does not move SD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from hero_bench.hero.config import RewardDesign, RewardTransform

if TYPE_CHECKING:
    from hero_bench.hero.representation import FeedbackEmbedder

_ADV_STD_EPS = 1e-8


def cosine_to(x: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """Eq. (4): (x . ref) / max(||x|| ||ref||, eps) for every row of x against one reference vector."""
    ref = ref.reshape(-1).to(x.dtype)
    denom = torch.clamp(x.norm(dim=1) * ref.norm(), min=eps)
    return (x @ ref) / denom


def compute_rewards(
    design: RewardDesign,
    embedder: FeedbackEmbedder | None,
    latents: Tensor,
    good_mask: Tensor,
    best_index: int | None,
    eps: float = 1e-8,
) -> Tensor:
    """One reward per latent ([B], float32, on the latents' device).

    'best': cos(E(z0), E(z0_best)) (Eq. 4, the paper's design); 'positives': cos(E(z0), mean of the good
    E(z0), best included); 'binary': 1.0 for good (and best), else 0.0; 'noembed': the 'positives'
    design on the raw flattened latents (needs no embedder).
    """
    n = latents.shape[0]
    mask = torch.as_tensor(good_mask, dtype=torch.bool).flatten().to(latents.device)
    if mask.numel() != n:
        raise ValueError(f"good_mask has {mask.numel()} entries but the batch has {n} latents")
    if design == "binary":
        return mask.to(torch.float32)
    if design not in ("best", "positives", "noembed"):
        raise ValueError(f"reward design must be one of best, positives, binary, noembed; got {design!r}")
    if not bool(mask.any()):
        return torch.zeros(n, dtype=torch.float32, device=latents.device)

    if design == "noembed":
        feats = latents.detach().flatten(1).to(torch.float32)
    else:
        if embedder is None:
            raise ValueError(
                f"reward design {design!r} needs a FeedbackEmbedder (only 'binary'/'noembed' do not)"
            )
        feats = embedder.embed(latents).to(latents.device)

    if design == "best":
        if best_index is None:
            raise ValueError("reward design 'best' needs best_index when some images are good")
        if not bool(mask[best_index]):
            raise ValueError(f"best_index {best_index} is not marked good; the best must be a good image")
        ref = feats[best_index]
    else:
        ref = feats[mask].mean(dim=0)
    return cosine_to(feats, ref, eps).to(torch.float32)


def to_advantages(rewards: Tensor, transform: RewardTransform = "standardised", clip: float = 5.0) -> Tensor:
    """Turn rewards into DDPO advantages, clipped to [-clip, clip].

    'standardised' (default): (r - batch mean) / (batch population std + 1e-8), DDPO's advantage.
    'raw-cosine' (Eq. 8 read literally): the reward itself is the weight (cosines lie in [-1, 1], so the
    clip never bites). Why not the default: the score function has zero mean, so a weight common to every
    image (a cosine of ~0.8) adds only noise to the policy gradient; only the spread around the mean
    carries the preference (tests/test_hero_rewards.py shows the update direction).
    'official' (released code): (r + 1) / 2, then standardised as above. The affine (r + 1) / 2 step
    cancels in the standardisation except through that 1e-8.
    """
    if clip <= 0:
        raise ValueError(f"advantage clip must be > 0, got {clip}")
    r = rewards.to(torch.float32)
    if transform == "raw-cosine":
        adv = r.clone()
    elif transform in ("standardised", "official"):
        r = (r + 1.0) / 2.0 if transform == "official" else r
        adv = (r - r.mean()) / (r.std(unbiased=False) + _ADV_STD_EPS)
    else:
        raise ValueError(f"reward transform must be 'standardised', 'raw-cosine' or 'official', got {transform!r}")
    return adv.clamp(-clip, clip)
