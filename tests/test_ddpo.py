"""DDPO-K update: trains LoRA only, moves log-probs the way advantages say, validates its settings."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from hero_bench.ddpo import DDPOConfig, DDPOTrainer, select_steps
from hero_bench.models import attach_lora, lora_parameters
from hero_bench.sampling import sample_with_trajectory
from hero_bench.testing import tiny_sd_pipeline

STEPS = 6


def _setup(noise, **cfg):
    pipe = tiny_sd_pipeline()
    attach_lora(pipe)
    traj = sample_with_trajectory(
        pipe, ["a blue rose"], noise, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0)
    )
    trainer = DDPOTrainer(pipe, DDPOConfig(**{"k_steps": 3, **cfg}))
    return pipe, traj, trainer


def test_defaults_are_the_papers():
    cfg = DDPOConfig()
    assert (cfg.learning_rate, cfg.batch_size, cfg.grad_accum_steps, cfg.clip_range, cfg.k_steps) == (
        3e-4,
        2,
        4,
        1e-4,
        5,
    )
    assert cfg.adam_betas == (0.9, 0.999) and cfg.weight_decay == 1e-4 and cfg.timestep_selection == "last"
    # the paper's clip holds at SD v1.5's latent size and widens on smaller latents (docs/paper-vs-code.md)
    assert cfg.clip_scaling == "sqrt-dims" and cfg.effective_clip(4 * 64 * 64) == 1e-4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"clip_range": -1.0}, "clip_range"),
        ({"k_steps": 0}, "k_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"timestep_selection": "first"}, "timestep_selection"),
        ({"adam_betas": (0.9, 1.5)}, "adam_betas"),
        ({"clip": 0.1}, "clip"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        DDPOConfig(**kwargs)


def test_k_larger_than_steps_is_a_clear_error(tiny_noise):
    pipe, traj, _ = _setup(tiny_noise[:2])
    trainer = DDPOTrainer(pipe, DDPOConfig(k_steps=STEPS + 1))
    with pytest.raises(ValueError, match="k_steps=7 exceeds .* 6 denoising steps"):
        trainer.update(traj, torch.ones(2))


def test_step_selection():
    last = select_steps(3, 10, DDPOConfig(k_steps=4))
    assert last.tolist() == [[6, 7, 8, 9]] * 3
    rnd = select_steps(50, 10, DDPOConfig(k_steps=4, timestep_selection="random"), torch.Generator().manual_seed(0))
    assert rnd.shape == (50, 4) and int(rnd.min()) >= 0 and int(rnd.max()) <= 9
    assert all(len(set(row.tolist())) == 4 for row in rnd)
    assert len({tuple(row.tolist()) for row in rnd}) > 1, "each sample draws its own steps"


def test_trainer_requires_lora():
    with pytest.raises(ValueError, match="attach_lora"):
        DDPOTrainer(tiny_sd_pipeline())


def test_first_minibatch_ratio_is_one(tiny_noise):
    # batch_size == number of samples: the only minibatch is scored before the optimiser step
    _, traj, trainer = _setup(tiny_noise[:2], batch_size=2)
    metrics = trainer.update(traj, torch.tensor([1.0, -1.0]))
    assert metrics["ratio"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["clipfrac"] == 0.0
    assert metrics["approx_kl"] < 1e-10
    assert metrics["optimizer_steps"] == 1


def test_update_changes_only_lora(tiny_noise):
    pipe, traj, trainer = _setup(tiny_noise[:4])
    base = {n: p.clone() for n, p in pipe.unet.named_parameters() if "lora_" not in n}
    lora = [p.clone() for p in lora_parameters(pipe)]
    text = [p.clone() for p in pipe.text_encoder.parameters()]
    trainer.update(traj, torch.tensor([1.0, -1.0, 0.5, -0.5]))
    for n, p in pipe.unet.named_parameters():
        if n in base:
            assert torch.equal(p, base[n]), n
    assert any(not torch.equal(a, b) for a, b in zip(lora, lora_parameters(pipe), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(text, pipe.text_encoder.parameters(), strict=True))


def _logp_at(trainer, traj, sample: int, steps: torch.Tensor) -> float:
    with torch.no_grad():
        return trainer.transition_log_prob(traj, torch.full_like(steps, sample), steps).sum().item()


@pytest.mark.parametrize(("selection", "k"), [("last", 3), ("random", STEPS)])
def test_positive_advantage_raises_its_log_prob(tiny_noise, selection, k):
    """The trained transitions of the rewarded sample get likelier, the penalised one's less likely."""
    _, traj, trainer = _setup(
        tiny_noise[:2],
        clip_range=0.2,
        learning_rate=1e-3,
        batch_size=2,
        timestep_selection=selection,
        k_steps=k,
    )
    trained = torch.arange(STEPS - k, STEPS)
    up0, down0 = _logp_at(trainer, traj, 0, trained), _logp_at(trainer, traj, 1, trained)
    for _ in range(3):
        trainer.update(traj, torch.tensor([1.0, -1.0]))
    assert _logp_at(trainer, traj, 0, trained) > up0
    assert _logp_at(trainer, traj, 1, trained) < down0


def test_advantages_must_match_batch(tiny_noise):
    _, traj, trainer = _setup(tiny_noise[:2])
    with pytest.raises(ValueError, match=r"advantages must have shape \[2\]"):
        trainer.update(traj, torch.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        trainer.update(traj, torch.tensor([1.0, float("nan")]))


def test_deterministic_trajectory_is_rejected(tiny_noise):
    pipe, _, trainer = _setup(tiny_noise[:2])
    traj = sample_with_trajectory(pipe, ["x"], tiny_noise[:2], num_inference_steps=STEPS, eta=0.0)
    with pytest.raises(ValueError, match="eta=0"):
        trainer.update(traj, torch.ones(2))


def test_zero_variance_last_step_is_a_clear_error(tiny_noise):
    from diffusers import DDIMScheduler

    pipe, _, trainer = _setup(tiny_noise[:2])
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, set_alpha_to_one=True, steps_offset=0)
    traj = sample_with_trajectory(pipe, ["x"], tiny_noise[:2], num_inference_steps=STEPS)
    with pytest.raises(ValueError, match="set_alpha_to_one"):
        trainer.update(traj, torch.ones(2))


def test_state_dict_resume_is_exact(tiny_noise):
    pipe_a, traj, trainer_a = _setup(tiny_noise[:4], timestep_selection="random", batch_size=1, grad_accum_steps=2)
    adv = torch.tensor([1.0, -1.0, 0.3, 0.0])
    trainer_a.update(traj, adv)
    state = trainer_a.state_dict()

    pipe_b = tiny_sd_pipeline()
    attach_lora(pipe_b, init_seed=99)
    trainer_b = DDPOTrainer(pipe_b, DDPOConfig())
    trainer_b.load_state_dict(state)
    assert trainer_b.config == trainer_a.config

    ma, mb = trainer_a.update(traj, adv), trainer_b.update(traj, adv)
    assert ma == mb
    for a, b in zip(lora_parameters(pipe_a), lora_parameters(pipe_b), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("n", "batch", "accum", "epochs", "expected"), [(4, 1, 2, 1, 2), (4, 2, 4, 2, 2), (3, 2, 1, 1, 2)]
)
def test_gradient_accumulation_sets_optimizer_steps(tiny_noise, n, batch, accum, epochs, expected):
    _, traj, trainer = _setup(tiny_noise[:n], batch_size=batch, grad_accum_steps=accum, inner_epochs=epochs, k_steps=1)
    assert trainer.update(traj, torch.ones(n))["optimizer_steps"] == expected


@pytest.mark.parametrize("selection", ["last", "random"])
def test_one_pass_per_optimiser_step_gives_the_minibatch_gradient(tiny_noise, selection):
    """Fusing a step's minibatches into one UNet pass is a speed-up only: same LoRA weights as scoring one
    transition per pass (what minibatch-by-minibatch accumulation computes), uneven last minibatch included."""
    adv = torch.tensor([1.0, -0.4, 0.3])  # minibatches of 2 and 1 in one optimiser step
    kwargs = dict(batch_size=2, grad_accum_steps=2, timestep_selection=selection, clip_range=0.2, learning_rate=1e-3)
    pipe_a, traj, fused = _setup(tiny_noise[:3], **kwargs)
    pipe_b, _, split = _setup(tiny_noise[:3], max_transitions_per_pass=1, **kwargs)
    for _ in range(2):
        ma, mb = fused.update(traj, adv), split.update(traj, adv)
    assert ma["optimizer_steps"] == mb["optimizer_steps"] == 2
    # Adam hides a scaled gradient; the pre-clipping gradient norm does not
    assert ma["grad_norm"] == pytest.approx(mb["grad_norm"], rel=1e-4)
    moved = False
    for a, b, p0 in zip(lora_parameters(pipe_a), lora_parameters(pipe_b), _fresh_lora(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-5)  # float order; an Adam step is ~1e-3
        moved |= not torch.equal(a, p0)
    assert moved


def _fresh_lora() -> list[torch.Tensor]:
    pipe = tiny_sd_pipeline()
    attach_lora(pipe)
    return [p.detach().clone() for p in lora_parameters(pipe)]


def test_spread_and_all_step_selections():
    spread = select_steps(2, 20, DDPOConfig(k_steps=5, timestep_selection="spread"))
    assert spread.tolist() == [[2, 6, 10, 14, 18]] * 2  # the middle of each fifth of the trajectory
    assert select_steps(1, 10, DDPOConfig(k_steps=4, timestep_selection="spread")).tolist() == [[1, 3, 6, 8]]
    # 'all' trains every step whatever k_steps says; k_steps larger than the trajectory is no error then
    assert select_steps(3, 6, DDPOConfig(k_steps=50, timestep_selection="all")).tolist() == [list(range(6))] * 3
    assert DDPOConfig(timestep_selection="all").steps_per_sample(20) == 20


@pytest.mark.parametrize(("selection", "trained"), [("spread", [1, 3, 5]), ("all", list(range(STEPS)))])
def test_spread_and_all_train_the_steps_they_name(tiny_noise, selection, trained):
    """A positive advantage raises the log-probability of exactly the selected transitions' sample."""
    _, traj, trainer = _setup(
        tiny_noise[:2], clip_range=0.2, learning_rate=1e-3, batch_size=2, timestep_selection=selection, k_steps=3
    )
    steps = torch.tensor(trained)
    up0, down0 = _logp_at(trainer, traj, 0, steps), _logp_at(trainer, traj, 1, steps)
    for _ in range(3):
        metrics = trainer.update(traj, torch.tensor([1.0, -1.0]))
    assert _logp_at(trainer, traj, 0, steps) > up0 and _logp_at(trainer, traj, 1, steps) < down0
    assert metrics["optimizer_steps"] == 3


def test_clip_scaled_to_the_latent_size():
    cfg = DDPOConfig(clip_range=1e-4, clip_scaling="sqrt-dims")
    assert cfg.effective_clip(4 * 64 * 64) == pytest.approx(1e-4)  # SD v1.5: the paper's clip as is
    assert cfg.effective_clip(4 * 8 * 8) == pytest.approx(8e-4)  # the toy latent: sqrt(16384 / 256) = 8x wider
    assert DDPOConfig(clip_range=1e-4, clip_scaling="none").effective_clip(256) == 1e-4  # the literal clip
    with pytest.raises(ValidationError, match="logprob_reduction"):
        DDPOConfig(clip_scaling="sqrt-dims", logprob_reduction="sum")


def test_update_reports_clip_advantages_and_lora_movement(tiny_noise):
    pipe, traj, trainer = _setup(tiny_noise[:4], clip_scaling="sqrt-dims", clip_range=1e-4)
    assert trainer.lora_norms()["lora_delta_norm"] == 0.0
    start = [p.detach().clone() for p in lora_parameters(pipe)]
    m = trainer.update(traj, torch.tensor([2.0, 0.0, 0.0, -2.0]))
    assert m["clip_range"] == pytest.approx(8e-4)  # the tiny pipeline's latent is 4x8x8
    assert m["adv_mean"] == 0.0 and m["adv_std"] == pytest.approx(2**0.5)
    moved = torch.cat([(a - b).flatten() for a, b in zip(lora_parameters(pipe), start, strict=True)]).norm()
    assert m["lora_delta_norm"] == pytest.approx(moved.item(), rel=1e-5) and moved > 0
    assert m["lora_norm"] == pytest.approx(torch.cat([p.flatten() for p in lora_parameters(pipe)]).norm().item())
