"""Feedback-guided initial noise (Eq. 5): statistics, mixture proportions, determinism and resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hero_bench.hero.config import HeroConfig
from hero_bench.hero.noise import HeroNoiseSampler

SHAPE = (4, 8, 8)
D = 4 * 8 * 8


def _feedback(n_good: int = 4, n: int = 10) -> tuple[torch.Tensor, torch.Tensor, int]:
    noises = torch.randn(n, *SHAPE, generator=torch.Generator().manual_seed(7))
    good = torch.zeros(n, dtype=torch.bool)
    good[:n_good] = True
    return noises, good, 1  # image 1 is the best


def _nearest(samples: torch.Tensor, centres: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Index of the closest (scaled) centre for every sample; centres are ~sqrt(2D) apart."""
    return torch.cdist(samples.flatten(1), scale * centres.flatten(1)).argmin(dim=1)


def test_first_epoch_is_standard_normal() -> None:
    x = HeroNoiseSampler(SHAPE, HeroConfig(), seed=0).sample(500)
    assert x.shape == (500, *SHAPE) and x.dtype == torch.float32
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1.0) < 0.02


def test_iid_mixture_centres_variance_and_best_share() -> None:
    noises, good, best = _feedback(n_good=4)
    s = HeroNoiseSampler(SHAPE, HeroConfig(best_ratio=0.5, noise_variance=0.1), seed=0)
    s.update(noises, good, best)
    x = s.sample(4000)
    idx = _nearest(x, noises)
    assert bool(good[idx].all()), "every sample lies near a good noise"
    residual = x - noises[idx]
    assert residual.var().item() == pytest.approx(0.1, rel=0.03)
    # The best is one of the 4 goods as well: P(best) = beta + (1 - beta) / 4
    assert (idx == best).float().mean().item() == pytest.approx(0.5 + 0.5 / 4, abs=0.025)
    for other in (0, 2, 3):
        assert (idx == other).float().mean().item() == pytest.approx(0.5 / 4, abs=0.02)


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_iid_extreme_betas(beta: float) -> None:
    noises, good, best = _feedback(n_good=4)
    s = HeroNoiseSampler(SHAPE, HeroConfig(best_ratio=beta), seed=0)
    s.update(noises, good, best)
    share = (_nearest(s.sample(2000), noises) == best).float().mean().item()
    assert share == pytest.approx(1.0 if beta == 1.0 else 0.25, abs=0.03)


def test_exact_assignment_draws_ceil_beta_n_from_best_and_slerp_like_mixing() -> None:
    noises, good, best = _feedback(n_good=4)
    cfg = HeroConfig(noise_assignment="exact", noise_mixing="slerp-like", noise_variance=0.01, best_ratio=0.3)
    s = HeroNoiseSampler(SHAPE, cfg, seed=0)
    s.update(noises, good, best)
    x = s.sample(64)
    idx = _nearest(x, noises, scale=math.sqrt(1 - 0.01))
    assert int((idx == best).sum()) == math.ceil(0.3 * 64)
    assert bool(good[idx].all())
    assert idx[:20].tolist() != [best] * 20, "the best's share is shuffled into the batch"
    residual = x - math.sqrt(1 - 0.01) * noises[idx]
    assert residual.var().item() == pytest.approx(0.01, rel=0.05)


def test_exact_assignment_with_only_the_best_good() -> None:
    noises, good, best = _feedback(n_good=0)
    good[best] = True
    s = HeroNoiseSampler(SHAPE, HeroConfig(noise_assignment="exact"), seed=0)
    s.update(noises, good, best)
    assert bool((_nearest(s.sample(10), noises) == best).all())


def test_batch_without_good_images_keeps_previous_mixture() -> None:
    noises, good, best = _feedback()
    s = HeroNoiseSampler(SHAPE, HeroConfig(), seed=0)
    s.update(noises, torch.zeros(10, dtype=torch.bool), None)
    assert not s.has_mixture  # first epoch and nothing good: still N(0, I)
    s.update(noises, good, best)
    s.update(torch.randn(10, *SHAPE), torch.zeros(10, dtype=torch.bool), None)
    assert s.best is not None and torch.equal(s.best, noises[best])


def test_random_mode_ignores_feedback() -> None:
    noises, good, best = _feedback()
    s = HeroNoiseSampler(SHAPE, HeroConfig(noise="random"), seed=0)
    s.update(noises, good, best)
    x = s.sample(500)
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1.0) < 0.02


def test_update_rejects_a_best_that_is_not_good() -> None:
    noises, good, _ = _feedback()
    with pytest.raises(ValueError, match="best_index"):
        HeroNoiseSampler(SHAPE, HeroConfig()).update(noises, good, 8)
    with pytest.raises(ValueError, match="shape"):
        HeroNoiseSampler(SHAPE, HeroConfig()).update(torch.randn(10, 4, 16, 16), good, 1)


def test_same_seed_same_noises_different_seed_different() -> None:
    noises, good, best = _feedback()
    runs = []
    for seed in (3, 3, 4):
        s = HeroNoiseSampler(SHAPE, HeroConfig(), seed=seed)
        first = s.sample(8)
        s.update(noises, good, best)
        runs.append(torch.cat([first, s.sample(8)]))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_state_dict_resumes_exactly() -> None:
    noises, good, best = _feedback()
    a = HeroNoiseSampler(SHAPE, HeroConfig(), seed=0)
    a.sample(5)
    a.update(noises, good, best)
    state = a.state_dict()
    expected = a.sample(16)
    b = HeroNoiseSampler(SHAPE, HeroConfig(), seed=99)
    b.load_state_dict(state)
    assert torch.equal(b.sample(16), expected)


def test_saved_mixture_can_be_loaded_to_generate_later(tmp_path: Path) -> None:
    noises, good, best = _feedback()
    cfg = HeroConfig(best_ratio=0.8, noise_variance=0.05, noise_assignment="exact")
    s = HeroNoiseSampler(SHAPE, cfg, seed=0)
    s.update(noises, good, best)
    path = tmp_path / "mixture.safetensors"
    s.save(path)
    loaded = HeroNoiseSampler.load(path, seed=1)
    assert loaded.shape == SHAPE
    assert (loaded.config.best_ratio, loaded.config.noise_variance) == (0.8, 0.05)
    assert loaded.config.noise_assignment == "exact"
    assert loaded.best is not None and torch.equal(loaded.best, noises[best])
    fresh = HeroNoiseSampler(SHAPE, cfg, seed=1)
    fresh.update(noises, good, best)
    assert torch.equal(loaded.sample(8), fresh.sample(8))


def test_saving_before_any_good_image_loads_as_standard_normal(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    HeroNoiseSampler(SHAPE, HeroConfig()).save(path)
    assert not HeroNoiseSampler.load(path).has_mixture
