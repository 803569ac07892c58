"""Feedback-aligned representation learning (HERO Section 4.2.1, Appendix D).

Why: a person labels only good / bad / best. A small network E_theta trained with a triplet loss
anchored at the best image turns those labels into a space where "closer to the best" is meaningful, so
that the cosine to the best (rewards.py) becomes a graded reward instead of a binary one.

Decisions (see docs/paper-vs-code.md):
- Eq. (3) as printed, max(S(a, good) - S(a, bad) + alpha, 0) with S a *similarity*, would push goods away
  from the best. The text's intent (good closer to best than bad by a margin) is the distance form
  max(d(a, good) - d(a, bad) + alpha, 0) with d = 1 - cos, which is what `triplet_loss` computes.
- The best belongs to X+ in the paper, so by default it is also a positive (its own term only pushes
  bads away); `triplet_include_best=False` follows the released code and drops it.
- The network and its Adam state persist across feedback batches ("online"); each `fit` trains on the
  current batch only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hero_bench.hero.config import EmbeddingArch, HeroConfig, TripletDistance
from hero_bench.snapshots import snapshot

_FEATURE_SIZE = 8  # E_theta's convolutions always end at 8x8 (Appendix D: "8 x 8 x 64")
_COS_EPS = 1e-8


def _downsamplings(latent_shape: Sequence[int]) -> int:
    """How many halvings take a square power-of-two latent down to 8x8; clear error otherwise."""
    if len(latent_shape) != 3:
        raise ValueError(f"latent_shape must be (channels, height, width), got {tuple(latent_shape)}")
    _, h, w = latent_shape
    if h != w or h < _FEATURE_SIZE or h & (h - 1):
        raise ValueError(
            f"EmbeddingNet needs square latents whose side is a power of two >= {_FEATURE_SIZE} "
            f"(8 for the toy model, 64 for SD v1.5), got {h}x{w}"
        )
    return int(math.log2(h // _FEATURE_SIZE))


class EmbeddingNet(nn.Module):
    """E_theta: three 3x3 convs with ReLU to 8x8 features, then one fully connected layer.

    'paper': channels C -> 16 -> 32 -> 64, the first convs use stride 2 until 8x8 is reached (64x64 SD
    latents: all three), larger latents are average-pooled after that; FC 4096 -> 4096, no output ReLU.
    'official': channels C -> 2C -> 4C -> 8C with stride 1 and 2x2 max-pooling in place of the strides;
    FC to 2048 followed by ReLU (so all representations are non-negative).
    """

    def __init__(self, latent_shape: Sequence[int], arch: EmbeddingArch = "paper") -> None:
        super().__init__()
        n_down = _downsamplings(latent_shape)
        c = int(latent_shape[0])
        layers: list[nn.Module] = []
        if arch == "paper":
            widths = [c, 16, 32, 64]
            for i in range(3):
                stride = 2 if i < n_down else 1
                layers += [nn.Conv2d(widths[i], widths[i + 1], 3, stride=stride, padding=1), nn.ReLU()]
            self.out_dim = 4096
            self.output_relu = False
        elif arch == "official":
            widths = [c, 2 * c, 4 * c, 8 * c]
            for i in range(3):
                layers += [nn.Conv2d(widths[i], widths[i + 1], 3, padding=1), nn.ReLU()]
                if i < n_down:
                    layers.append(nn.MaxPool2d(2))
            self.out_dim = 2048
            self.output_relu = True
        else:
            raise ValueError(f"embedding_arch must be 'paper' or 'official', got {arch!r}")
        if n_down > 3:  # more halvings than convs: pool the rest so the FC still sees 8x8
            layers.append(nn.AdaptiveAvgPool2d(_FEATURE_SIZE))
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1] * _FEATURE_SIZE * _FEATURE_SIZE, self.out_dim)
        self.latent_shape = tuple(int(s) for s in latent_shape)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(self.convs(z).flatten(1))
        return F.relu(h) if self.output_relu else h


class ProjectionHead(nn.Module):
    """g_theta: in_dim -> 2048 -> 1024 -> 512, ReLU between layers (none on the output).

    No final ReLU: the triplet loss is measured on this output with cosine distances, and a non-negative
    output could never be more than 90 degrees from the anchor.
    """

    def __init__(self, in_dim: int = 4096, dims: Sequence[int] = (2048, 1024, 512)) -> None:
        super().__init__()
        sizes = [in_dim, *dims]
        layers: list[nn.Module] = []
        for i in range(len(dims)):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(dims) - 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def triplet_distance(x: Tensor, y: Tensor, distance: TripletDistance = "cosine") -> Tensor:
    """Row-wise distance: 'cosine' = 1 - cos in [0, 2]; 'official' = 1 - (cos + 1) / 2 in [0, 1]."""
    cos = F.cosine_similarity(x, y, dim=-1, eps=_COS_EPS)
    if distance == "cosine":
        return 1.0 - cos
    if distance == "official":
        return 1.0 - (cos + 1.0) / 2.0
    raise ValueError(f"triplet distance must be 'cosine' or 'official', got {distance!r}")


def triplet_loss(
    anchor: Tensor,
    positives: Tensor,
    negatives: Tensor,
    margin: float = 0.5,
    distance: TripletDistance = "cosine",
) -> Tensor:
    """Eq. (3) over every (positive, negative) pair: mean of max(d(a, p) - d(a, n) + margin, 0).

    anchor: [D] or [1, D] (the best's projection); positives: [P, D]; negatives: [N, D]. Zero once
    every positive is closer to the anchor than every negative by at least `margin`.
    """
    if positives.shape[0] == 0 or negatives.shape[0] == 0:
        raise ValueError("triplet_loss needs at least one positive and one negative")
    a = anchor.reshape(1, -1)
    d_pos = triplet_distance(a, positives, distance)  # [P]
    d_neg = triplet_distance(a, negatives, distance)  # [N]
    return F.relu(d_pos[:, None] - d_neg[None, :] + margin).mean()


def _check_feedback(good_mask: Tensor, best_index: int | None, n: int) -> Tensor:
    """Validate a feedback batch; returns the mask as a bool tensor. The best must be a good image."""
    mask = torch.as_tensor(good_mask, dtype=torch.bool).flatten().cpu()
    if mask.numel() != n:
        raise ValueError(f"good_mask has {mask.numel()} entries but the batch has {n} latents")
    if best_index is None:
        if bool(mask.any()):
            raise ValueError("best_index is None although some images are good; the best is chosen among them")
    else:
        if not 0 <= best_index < n:
            raise ValueError(f"best_index {best_index} is outside the batch of {n}")
        if not bool(mask[best_index]):
            raise ValueError(f"best_index {best_index} is not marked good; the best must be a good image")
    return mask


class FeedbackEmbedder:
    """E_theta and g_theta with their Adam optimiser, trained online from successive feedback batches.

    `fit` trains on one batch; `embed` gives E_theta's representation used for rewards. If a batch has
    no bad image, or no positive (no good image; or only the best when `triplet_include_best=False`),
    there is no triplet and `fit` returns [] without touching the network; rewards stay defined
    (see rewards.compute_rewards).
    """

    def __init__(
        self,
        config: HeroConfig,
        latent_shape: Sequence[int],
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = config
        self.device = torch.device(device)
        # Seed the initial weights without disturbing the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = EmbeddingNet(latent_shape, config.embedding_arch)
            self.head = ProjectionHead(self.embedding.out_dim)
        self.embedding.to(self.device)
        self.head.to(self.device)
        self.optimizer = torch.optim.Adam(
            self.parameters(),
            lr=config.embedding_lr,
            betas=config.embedding_betas,
            weight_decay=config.embedding_weight_decay,
            # ~30M parameters: the fused kernel makes the Adam step ~5x faster on CPU.
            fused=self.device.type in ("cpu", "cuda"),
        )
        self.generator = torch.Generator().manual_seed(seed)  # triplet sampling / pair shuffling

    def parameters(self) -> list[nn.Parameter]:
        return [*self.embedding.parameters(), *self.head.parameters()]

    def _triplet_indices(self, pos: Tensor, neg: Tensor, n_images: int) -> Tensor:
        """[M, 2] (positive, negative) index pairs for one pass over the batch, in shuffled order."""
        if self.config.embedding_training == "online":
            pairs = torch.cartesian_prod(pos, neg)
            return pairs[torch.randperm(len(pairs), generator=self.generator)]
        # 'official': one random triplet per image, good and bad drawn with replacement.
        p = pos[torch.randint(len(pos), (n_images,), generator=self.generator)]
        q = neg[torch.randint(len(neg), (n_images,), generator=self.generator)]
        return torch.stack([p, q], dim=1)

    def fit(self, latents: Tensor, good_mask: Tensor, best_index: int | None, epochs: int | None = None) -> list[float]:
        """Train on one feedback batch for `epochs` passes (default: config.embedding_epochs).

        Returns the mean triplet loss of every pass run (fewer than `epochs` if an 'online' pass reached
        zero loss and `embedding_stop_at_zero_loss` is set), or [] when the batch has no usable triplet.
        """
        n = latents.shape[0]
        mask = _check_feedback(good_mask, best_index, n)
        epochs = self.config.embedding_epochs if epochs is None else epochs
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        positive = mask.clone()
        if best_index is not None and not self.config.triplet_include_best:
            positive[best_index] = False
        pos = positive.nonzero().flatten()
        neg = (~mask).nonzero().flatten()
        if best_index is None or len(pos) == 0 or len(neg) == 0:
            return []

        z = latents.detach().to(self.device, torch.float32)
        self.embedding.train()
        self.head.train()
        bs = self.config.embedding_batch_size
        lazy = self.config.embedding_stop_at_zero_loss
        online_stop = lazy and self.config.embedding_training == "online"
        losses: list[float] = []
        for _ in range(epochs):
            triplets = self._triplet_indices(pos, neg, n)
            epoch_losses = []
            for start in range(0, len(triplets), bs):
                chunk = triplets[start : start + bs].to(self.device)
                # Embed each image once and index the triplets, instead of one forward per triplet.
                proj = self.head(self.embedding(z))
                anchor = proj[best_index : best_index + 1]
                d_pos = triplet_distance(anchor, proj[chunk[:, 0]], self.config.triplet_distance)
                d_neg = triplet_distance(anchor, proj[chunk[:, 1]], self.config.triplet_distance)
                loss = F.relu(d_pos - d_neg + self.config.triplet_margin).mean()
                epoch_losses.append(loss.item())
                if lazy and epoch_losses[-1] == 0.0:
                    continue  # no active triplet: a step would only drift on Adam's momentum
                self._gradients(loss, epoch_losses[-1])
                self.optimizer.step()
            losses.append(sum(epoch_losses) / len(epoch_losses))
            if online_stop and losses[-1] == 0.0:
                break
        self.embedding.eval()
        self.head.eval()
        return losses

    def _gradients(self, loss: Tensor, value: float) -> None:
        """The loss's gradients in `.grad`. At zero loss every hinge is inactive and backward would give
        exact zeros (a signed zero leaves Adam's moments and step unchanged), so they are set without
        running it. Why: the released code keeps stepping after its 500 passes reach zero loss (Adam's
        momentum still moves the weights), most passes do (70-90% on toy batches), and backward is half
        of a pass's time; results stay identical (tests/test_hero_representation.py). `value` is the loss
        already read, so the device is not synchronised twice."""
        if value != 0.0:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            return
        for p in self.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            else:
                p.grad.zero_()

    @torch.no_grad()
    def embed(self, latents: Tensor) -> Tensor:
        """E_theta(latents): the [B, out_dim] representation rewards are computed in (no gradient)."""
        self.embedding.eval()
        return self.embedding(latents.to(self.device, torch.float32))

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy: later training does not change it) for checkpoint and exact resume; live
        references inside `snapshots.live_state()` (the run loop's checkpoint, saved at once)."""
        return snapshot(
            {
                "embedding": self.embedding.state_dict(),
                "head": self.head.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.embedding.load_state_dict(state["embedding"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
