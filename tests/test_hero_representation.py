"""E_theta / g_theta shapes, the triplet loss of Eq. (3) and online fitting of FeedbackEmbedder."""

from __future__ import annotations

import pytest
import torch

from hero_bench.hero.config import EmbeddingTraining, HeroConfig
from hero_bench.hero.representation import (
    EmbeddingNet,
    FeedbackEmbedder,
    ProjectionHead,
    triplet_distance,
    triplet_loss,
)
from hero_bench.hero.rewards import compute_rewards

torch.set_num_threads(1)


@pytest.mark.parametrize("side", [8, 16, 64, 128])
def test_embedding_net_reaches_8x8x64_then_4096(side: int) -> None:
    net = EmbeddingNet((4, side, side))
    z = torch.randn(2, 4, side, side)
    assert net.convs(z).shape == (2, 64, 8, 8)
    assert net(z).shape == (2, 4096)


def test_official_arch_is_2048_and_non_negative() -> None:
    net = EmbeddingNet((4, 64, 64), arch="official")
    out = net(torch.randn(3, 4, 64, 64))
    assert out.shape == (3, 2048) and bool((out >= 0).all())


@pytest.mark.parametrize("shape", [(4, 12, 12), (4, 4, 4), (4, 8, 16), (8, 8)])
def test_bad_latent_shapes_are_rejected_clearly(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="power of two|channels, height, width"):
        EmbeddingNet(shape)


def test_projection_head_maps_4096_to_512() -> None:
    assert ProjectionHead()(torch.randn(5, 4096)).shape == (5, 512)


def test_triplet_loss_is_zero_when_goods_are_much_closer_to_best() -> None:
    anchor = torch.tensor([1.0, 0.0])
    goods = torch.tensor([[1.0, 0.05], [0.9, -0.1]])
    bads = torch.tensor([[-1.0, 0.0], [0.0, -1.0]])  # cosine distance 2 and 1
    assert triplet_loss(anchor, goods, bads, margin=0.5).item() == 0.0


def test_triplet_loss_penalises_goods_farther_than_bads() -> None:
    anchor = torch.tensor([1.0, 0.0])
    good = torch.tensor([[0.0, 1.0]])  # distance 1
    bad = torch.tensor([[2.0, 0.0]])  # distance 0
    assert triplet_loss(anchor, good, bad, margin=0.5).item() == pytest.approx(1.5)
    # 'official' distance is half the cosine distance: 0.5 - 0 + 0.5
    assert triplet_loss(anchor, good, bad, margin=0.5, distance="official").item() == pytest.approx(1.0)


def test_triplet_loss_averages_over_every_good_bad_pair() -> None:
    anchor = torch.tensor([1.0, 0.0])
    goods = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # distances 0, 1
    bads = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # distances 1, 2
    # pairs: (0,1)->0, (0,2)->0, (1,1)->0.5, (1,2)->0  => mean 0.125
    assert triplet_loss(anchor, goods, bads, margin=0.5).item() == pytest.approx(0.125)


def test_triplet_gradient_moves_goods_toward_best_and_bads_away() -> None:
    torch.manual_seed(0)
    anchor = torch.randn(16)
    goods = torch.randn(4, 16, requires_grad=True)
    bads = torch.randn(4, 16, requires_grad=True)
    before_g = torch.cosine_similarity(goods, anchor[None], dim=1).detach()
    before_b = torch.cosine_similarity(bads, anchor[None], dim=1).detach()
    triplet_loss(anchor, goods, bads, margin=10.0).backward()  # large margin: every pair is active
    assert goods.grad is not None and bads.grad is not None
    with torch.no_grad():
        g2, b2 = goods - 0.1 * goods.grad, bads - 0.1 * bads.grad
    assert bool((torch.cosine_similarity(g2, anchor[None], dim=1) > before_g).all())
    assert bool((torch.cosine_similarity(b2, anchor[None], dim=1) < before_b).all())


def test_triplet_distance_ranges() -> None:
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[-1.0, 0.0]])
    assert triplet_distance(a, b, "cosine").item() == pytest.approx(2.0)
    assert triplet_distance(a, b, "official").item() == pytest.approx(1.0)


def _toy_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Good means "channel 0 raised". The bads are near-copies of the best with channel 0 lowered, the
    other goods are unrelated patterns: before training, bads look *closer* to the best than goods."""
    g = torch.Generator().manual_seed(3)
    f = torch.zeros(4, 8, 8)
    f[0] = 1.0
    best = torch.randn(4, 8, 8, generator=g) + f
    goods = torch.randn(4, 4, 8, 8, generator=g) + f
    bads = best - 2 * f + 0.3 * torch.randn(7, 4, 8, 8, generator=g)
    good = torch.zeros(12, dtype=torch.bool)
    good[:5] = True
    return torch.cat([best[None], goods, bads]), good


def _auc(r: torch.Tensor, good: torch.Tensor) -> float:
    return (r[good][:, None] > r[~good][None, :]).float().mean().item()


@pytest.mark.parametrize("training", ["online", "official"])
def test_a_few_fit_steps_rank_good_above_bad(training: EmbeddingTraining) -> None:
    z, good = _toy_batch()
    cfg = HeroConfig(embedding_lr=3e-4, embedding_training=training, embedding_stop_at_zero_loss=False)
    emb = FeedbackEmbedder(cfg, (4, 8, 8), seed=0)
    before = _auc(compute_rewards("best", emb, z, good, 0), good)
    losses = emb.fit(z, good, best_index=0, epochs=4)
    after = compute_rewards("best", emb, z, good, 0)
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert before < 0.5
    assert after[good].min() > after[~good].max()


def test_online_fit_stops_once_every_pair_meets_the_margin() -> None:
    z, good = _toy_batch()
    emb = FeedbackEmbedder(HeroConfig(embedding_lr=1e-3), (4, 8, 8), seed=0)
    losses = emb.fit(z, good, best_index=0, epochs=200)
    assert 0 < len(losses) < 200 and losses[-1] == 0.0
    w = emb.embedding.fc.weight.clone()
    assert emb.fit(z, good, best_index=0, epochs=200) == [0.0]  # nothing left to learn: one pass
    assert torch.equal(emb.embedding.fc.weight, w)


def test_fit_skips_batches_without_triplets_and_leaves_network_alone() -> None:
    z, _ = _toy_batch()
    emb = FeedbackEmbedder(HeroConfig(), (4, 8, 8))
    w = emb.embedding.fc.weight.clone()
    all_bad = torch.zeros(len(z), dtype=torch.bool)
    all_good = torch.ones(len(z), dtype=torch.bool)
    assert emb.fit(z, all_bad, None, epochs=3) == []
    assert emb.fit(z, all_good, 2, epochs=3) == []
    only_best = torch.zeros(len(z), dtype=torch.bool)
    only_best[4] = True
    code = FeedbackEmbedder(HeroConfig(triplet_include_best=False), (4, 8, 8))
    assert code.fit(z, only_best, 4, epochs=3) == []
    assert torch.equal(emb.embedding.fc.weight, w)
    # with the paper's default the best is its own positive, so there is still something to learn
    assert len(emb.fit(z, only_best, 4, epochs=1)) == 1


def test_fit_rejects_a_best_that_is_not_good() -> None:
    z, good = _toy_batch()
    emb = FeedbackEmbedder(HeroConfig(), (4, 8, 8))
    with pytest.raises(ValueError, match="not marked good"):
        emb.fit(z, good, best_index=11, epochs=1)
    with pytest.raises(ValueError, match="best_index is None"):
        emb.fit(z, good, best_index=None, epochs=1)


def test_state_dict_round_trip_resumes_training_exactly() -> None:
    z, good = _toy_batch()
    cfg = HeroConfig(embedding_lr=1e-4, embedding_training="official")
    a = FeedbackEmbedder(cfg, (4, 8, 8), seed=1)
    a.fit(z, good, 0, epochs=2)
    b = FeedbackEmbedder(cfg, (4, 8, 8), seed=2)
    b.load_state_dict(a.state_dict())
    assert a.fit(z, good, 0, epochs=2) == b.fit(z, good, 0, epochs=2)
    assert torch.equal(a.embed(z), b.embed(z))


def test_same_seed_same_initial_network() -> None:
    z, _ = _toy_batch()
    a = FeedbackEmbedder(HeroConfig(), (4, 8, 8), seed=5)
    b = FeedbackEmbedder(HeroConfig(), (4, 8, 8), seed=5)
    assert torch.equal(a.embed(z), b.embed(z))


class _AlwaysBackward(FeedbackEmbedder):
    """The fit before the zero-loss shortcut: backward on every pass, whatever the loss."""

    def _gradients(self, loss: torch.Tensor, value: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()


def test_passes_at_zero_loss_skip_backward_and_give_identical_weights() -> None:
    # The released code's setting: every pass steps Adam, also once the loss is zero (momentum drift).
    z, good = _toy_batch()
    cfg = HeroConfig.from_preset("official-code", embedding_lr=1e-3)
    fast, slow = FeedbackEmbedder(cfg, (4, 8, 8), seed=0), _AlwaysBackward(cfg, (4, 8, 8), seed=0)
    losses = fast.fit(z, good, best_index=0, epochs=60)
    assert losses == slow.fit(z, good, best_index=0, epochs=60)
    assert losses.count(0.0) >= 10 and losses[0] > 0  # both kinds of pass happened
    for a, b in zip(fast.parameters(), slow.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(fast.optimizer.state.values(), slow.optimizer.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq"))
