"""Rewards of Eq. (4) and the ablation designs, the no-good fallback, and advantage transforms."""

from __future__ import annotations

import pytest
import torch

from hero_bench.hero.config import HeroConfig
from hero_bench.hero.representation import FeedbackEmbedder
from hero_bench.hero.rewards import compute_rewards, to_advantages

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def embedder() -> FeedbackEmbedder:
    return FeedbackEmbedder(HeroConfig(), (4, 8, 8), seed=0)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    good = torch.tensor([True, False, True, False, False, True])
    return z, good


def test_similarity_to_best_of_the_best_itself_is_one(embedder: FeedbackEmbedder) -> None:
    z, good = _batch()
    r = compute_rewards("best", embedder, z, good, best_index=2)
    assert r.shape == (6,) and r.dtype == torch.float32
    assert r[2].item() == pytest.approx(1.0, abs=1e-6)
    assert bool((r <= 1.0 + 1e-6).all() and (r >= -1.0 - 1e-6).all())


def test_best_reward_is_cosine_in_embedding_space(embedder: FeedbackEmbedder) -> None:
    z, good = _batch()
    e = embedder.embed(z)
    expected = torch.cosine_similarity(e, e[5][None], dim=1)
    torch.testing.assert_close(compute_rewards("best", embedder, z, good, 5), expected)


def test_positives_reward_is_cosine_to_mean_good_representation(embedder: FeedbackEmbedder) -> None:
    z, good = _batch()
    e = embedder.embed(z)
    expected = torch.cosine_similarity(e, e[good].mean(0)[None], dim=1)
    torch.testing.assert_close(compute_rewards("positives", embedder, z, good, 0), expected)


def test_binary_rewards_are_one_for_good_and_best() -> None:
    z, good = _batch()
    r = compute_rewards("binary", None, z, good, best_index=0)
    assert r.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def test_noembed_uses_raw_latents_and_survives_a_zero_latent() -> None:
    z = torch.zeros(3, 4, 8, 8)
    z[0] = 1.0
    z[1] = -1.0  # z[2] stays all zeros: the eps denominator must keep its reward finite
    good = torch.tensor([True, False, False])
    r = compute_rewards("noembed", None, z, good, best_index=0)
    assert r.tolist() == [1.0, -1.0, 0.0]


@pytest.mark.parametrize("design", ["best", "positives", "binary", "noembed"])
def test_batch_without_good_images_gets_zero_rewards(design: str, embedder: FeedbackEmbedder) -> None:
    z, _ = _batch()
    r = compute_rewards(design, embedder, z, torch.zeros(6, dtype=torch.bool), None)  # type: ignore[arg-type]
    assert torch.equal(r, torch.zeros(6))
    assert torch.equal(to_advantages(r, "official"), torch.zeros(6))


def test_embedding_designs_need_an_embedder() -> None:
    z, good = _batch()
    with pytest.raises(ValueError, match="FeedbackEmbedder"):
        compute_rewards("best", None, z, good, 0)


def test_unknown_design_is_rejected() -> None:
    z, good = _batch()
    with pytest.raises(ValueError, match="best, positives, binary, noembed"):
        compute_rewards("nearest", None, z, good, 0)  # type: ignore[arg-type]


def test_raw_cosine_transform_is_identity() -> None:
    r = torch.tensor([0.9, -0.2, 0.4])
    assert torch.equal(to_advantages(r, "raw-cosine"), r)


def test_the_default_transform_standardises_and_old_configs_keep_the_raw_cosine() -> None:
    assert HeroConfig().reward_transform == "standardised"
    r = torch.tensor([0.9, -0.2, 0.4, 0.1])
    a = to_advantages(r)
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6) and a.std(unbiased=False).item() == pytest.approx(1.0)
    # run folders written when the raw cosine was called 'cosine' still load, with their meaning
    assert HeroConfig(reward_transform="cosine").reward_transform == "raw-cosine"


def _policy_gradient(trainer, traj, advantages: torch.Tensor) -> torch.Tensor:
    """The DDPO-K gradient at the sampling weights (ratio 1, so PPO's clip does not act): of
    -mean over (sample, step) of A_sample * log p(z_{t-1} | z_t), over the LoRA weights, flattened."""
    n, steps = traj.log_probs.shape
    samples = torch.arange(n).repeat_interleave(steps)
    step_idx = torch.arange(steps).repeat(n)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss = -(advantages[samples] * trainer.transition_log_prob(traj, samples, step_idx)).mean()
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in trainer.params])
    trainer.optimizer.zero_grad(set_to_none=True)
    return grad


@pytest.mark.parametrize(("transform", "opposite"), [("standardised", True), ("raw-cosine", False)])
def test_only_centred_advantages_let_the_preference_decide_the_update(transform: str, opposite: bool) -> None:
    """Two batches with the same images and opposite preferences (cosines 0.8 +- 0.05, HERO's typical
    spread) must push the LoRA in opposite directions. With standardised advantages they do, exactly.
    With the raw cosine as the weight, the common 0.8 dominates: both gradients point almost the same way,
    whatever the oracle preferred (the score function has zero mean, so that common part is noise)."""
    from hero_bench.ddpo import DDPOConfig, DDPOTrainer
    from hero_bench.models import attach_lora
    from hero_bench.sampling import sample_with_trajectory
    from hero_bench.testing import tiny_sd_pipeline

    pipe = tiny_sd_pipeline()
    attach_lora(pipe)
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    traj = sample_with_trajectory(
        pipe, ["a cat"], noise, num_inference_steps=4, generator=torch.Generator().manual_seed(0)
    )
    trainer = DDPOTrainer(pipe, DDPOConfig(k_steps=4))
    spread = 0.05 * torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    g_a = _policy_gradient(trainer, traj, to_advantages(0.8 + spread, transform))
    g_b = _policy_gradient(trainer, traj, to_advantages(0.8 - spread, transform))
    cos = torch.nn.functional.cosine_similarity(g_a, g_b, dim=0).item()
    if opposite:
        assert cos == pytest.approx(-1.0, abs=1e-4)
    else:
        assert cos > 0.9, f"raw-cosine gradients of opposite preferences: cosine {cos:.3f}"


def test_official_transform_standardises_over_the_batch() -> None:
    r = torch.tensor([0.9, -0.2, 0.4, 0.1])
    a = to_advantages(r, "official")
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert a.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(a.argsort(), r.argsort())


def test_official_transform_clips_outliers() -> None:
    r = torch.zeros(100)
    r[0] = 1.0  # standardises to ~9.95
    a = to_advantages(r, "official", clip=5.0)
    assert a[0].item() == 5.0 and a.max().item() == 5.0
