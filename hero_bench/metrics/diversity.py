"""In-batch diversity (von Rütte et al. 2023, used in HERO's Appendix F).

D = 1 - mean over pairs i < j of cos(e_i, e_j), for CLIP image embeddings e of one generated batch. A
fine-tuned model that collapses onto one image scores near 0; unrelated images score near 1. It is
computed from embeddings so that any image encoder can supply them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch


def in_batch_diversity(embeddings: torch.Tensor | np.ndarray) -> float:
    """1 - mean pairwise cosine similarity of the rows of `embeddings` (N x d, N >= 2)."""
    e = torch.as_tensor(np.asarray(embeddings) if isinstance(embeddings, np.ndarray) else embeddings)
    e = e.detach().double()
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError(f"in-batch diversity needs at least two embeddings (N x d), got shape {tuple(e.shape)}")
    norms = e.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("in-batch diversity is undefined for an all-zero embedding")
    unit = e / norms
    sim = unit @ unit.T
    n = e.shape[0]
    mean_pair = (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return float(1.0 - mean_pair)


def grouped_diversity(embeddings: torch.Tensor | np.ndarray, groups: Sequence[str]) -> float:
    """Mean in-batch diversity over groups (e.g. images sharing a prompt) that have at least two members.

    Evaluation batches spread several prompts over their images; pooling them would count the difference
    between prompts as diversity, so the batch is split by prompt first.
    """
    e = torch.as_tensor(np.asarray(embeddings) if isinstance(embeddings, np.ndarray) else embeddings)
    if len(groups) != e.shape[0]:
        raise ValueError(f"{len(groups)} group labels for {e.shape[0]} embeddings")
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    values = [in_batch_diversity(e[idx]) for idx in members.values() if len(idx) >= 2]
    if not values:
        raise ValueError("no group has two images: diversity is undefined")
    return float(np.mean(values))
