"""d3po-style: preference pairs, the per-step DPO loss and the direction its gradient moves the policy."""

from __future__ import annotations

import math

import pytest
import torch

from hero_bench.baselines.d3po import (
    D3PO,
    D3POOptions,
    D3POTrainer,
    d3po_loss,
    preference_pairs,
    transition_log_probs,
)
from hero_bench.config import build_run_config
from hero_bench.errors import ConfigError
from hero_bench.evaluation import SamplingSettings
from hero_bench.methods import METHODS
from hero_bench.methods.base import RunContext
from hero_bench.models import attach_lora, lora_disabled
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import sample_with_trajectory
from hero_bench.tasks.loader import load_task
from hero_bench.testing import tiny_sd_pipeline

STEPS = 3


def _loss(win: float, lose: float, beta: float = 0.1, clip: float = 0.1) -> torch.Tensor:
    """Loss of a pair whose policy log-ratios (policy minus reference) are `win` and `lose`."""
    zero = torch.zeros(())
    return d3po_loss(torch.tensor(win), zero, torch.tensor(lose), zero, beta, clip)


def test_loss_is_log2_at_the_reference_and_falls_when_the_winner_gains():
    assert _loss(0.0, 0.0).item() == pytest.approx(math.log(2))
    assert _loss(0.05, -0.05).item() < math.log(2), "policy favouring the preferred image lowers the loss"
    assert _loss(-0.05, 0.05).item() > math.log(2), "favouring the dispreferred image raises it"


def test_loss_gradient_raises_the_winner_and_lowers_the_loser():
    logp_w = torch.tensor([0.0], requires_grad=True)
    logp_l = torch.tensor([0.0], requires_grad=True)
    d3po_loss(logp_w, torch.zeros(1), logp_l, torch.zeros(1), 0.1, 0.1).sum().backward()
    assert logp_w.grad.item() < 0 < logp_l.grad.item()  # descent: log p(w) up, log p(l) down
    assert logp_w.grad.item() == pytest.approx(-0.05)  # -beta * sigmoid(0)


def test_clipped_ratio_stops_the_gradient():
    logp_w = torch.tensor([0.5], requires_grad=True)  # log-ratio 0.5 > log(1.1): outside the clip range
    d3po_loss(logp_w, torch.zeros(1), torch.zeros(1), torch.zeros(1), 0.1, 0.1).sum().backward()
    assert logp_w.grad.item() == 0.0


def test_pairs_good_vs_bad_within_groups_and_best_vs_rest():
    fb = Feedback(good=[True, False, False, True, True, True], best=0)
    assert sorted(preference_pairs(fb, group_size=3)) == [(0, 1), (0, 2)]  # second group: all good, no best
    fb2 = Feedback(good=[True, False, True, True, True, True], best=4)
    assert sorted(preference_pairs(fb2, group_size=3)) == [(0, 1), (2, 1), (4, 3), (4, 5)]
    assert preference_pairs(Feedback(good=[False] * 4, best=None), group_size=4) == []
    assert preference_pairs(fb2, group_size=3, use_best=False) == [(0, 1), (2, 1)]
    prompts = ["a", "b", "a", "a", "a", "a"]
    assert (0, 1) not in preference_pairs(fb2, group_size=3, prompts=prompts)


def _pair_trajectory(pipe):
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)).repeat(2, 1, 1, 1)
    return sample_with_trajectory(pipe, ["a cat"] * 2, noise, num_inference_steps=STEPS, eta=1.0,
                                  guidance_scale=5.0, generator=torch.Generator().manual_seed(4))


def _log_ratios(pipe, traj) -> torch.Tensor:
    """[STEPS, 2]: log p/p_ref of both samples' stored transitions, by the trainer's arithmetic."""
    samples, steps = torch.tensor([0, 1] * STEPS), torch.arange(STEPS).repeat_interleave(2)
    with torch.no_grad():
        new = transition_log_probs(pipe, traj, samples, steps)
        with lora_disabled(pipe):
            ref = transition_log_probs(pipe, traj, samples, steps)
    return (new - ref).reshape(STEPS, 2)


def _log_ratio_margin(pipe, traj) -> float:
    """sum over steps of [log p/p_ref](sample 0) - [log p/p_ref](sample 1)."""
    diff = _log_ratios(pipe, traj)
    return float((diff[:, 0] - diff[:, 1]).sum())


@pytest.mark.parametrize("preferred", [0, 1])
def test_one_update_moves_the_policy_towards_the_preferred_trajectory(fresh_tiny_pipe, preferred):
    pipe = fresh_tiny_pipe
    attach_lora(pipe, rank=2, init_seed=0)
    traj = _pair_trajectory(pipe)
    assert _log_ratio_margin(pipe, traj) == pytest.approx(0.0, abs=1e-7), "an untrained adapter is the reference"
    trainer = D3POTrainer(pipe, D3POOptions(learning_rate=1e-3), seed=0)
    good = [preferred == 0, preferred == 1]
    pairs = preference_pairs(Feedback(good=good, best=preferred), group_size=2)
    idle = trainer.update(traj, [])  # no pair: nothing trained, and the LoRA's norms say so
    assert idle["pairs"] == 0 and idle["lora_delta_norm"] == 0 and idle["lora_norm"] > 0
    stats = trainer.update(traj, pairs)
    assert stats["pairs"] == 1 and stats["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert stats["kl_preferred"] == pytest.approx(0, abs=1e-6), "the untrained adapter is the reference"
    assert stats["kl_dispreferred"] == pytest.approx(0, abs=1e-6)
    assert stats["lora_delta_norm"] > 0  # the report's diagnostics read how far the LoRA moved
    margin = _log_ratio_margin(pipe, traj)
    assert (margin > 0) if preferred == 0 else (margin < 0), margin


def test_the_log_ratio_diagnostic_splits_the_trainers_log_ratio(fresh_tiny_pipe, load_script):
    """docs/baselines.md reads stat_accuracy through scripts/d3po-logratio-terms.py: its drift and alignment
    terms must add up to the log-ratio the trainer computes, and the drift must be the non-negative part."""
    terms = load_script("d3po-logratio-terms.py")
    pipe = fresh_tiny_pipe
    attach_lora(pipe, rank=2, init_seed=0)
    traj = _pair_trajectory(pipe)
    trainer = D3POTrainer(pipe, D3POOptions(learning_rate=1e-3), seed=0)
    trainer.update(traj, preference_pairs(Feedback(good=[True, False], best=0), group_size=2))
    images = torch.tensor([0, 1])
    drift, align = terms.log_ratio_terms(pipe, traj, images)
    assert torch.allclose(drift + align, _log_ratios(pipe, traj).T, rtol=1e-3, atol=1e-6)
    assert (drift >= 0).all() and drift.abs().sum() > 0 and align.abs().sum() > 0


def test_kl_to_the_reference_is_the_mean_log_ratio_of_the_policys_own_samples(fresh_tiny_pipe):
    """kl_preferred / kl_dispreferred, read from the sampler's log-probs, equal the log-ratio that the
    trainer's own arithmetic gives on those transitions, per side of the pairs."""
    pipe = fresh_tiny_pipe
    attach_lora(pipe, rank=2, init_seed=0)
    trainer = D3POTrainer(pipe, D3POOptions(learning_rate=1e-2), seed=0)
    trainer.update(_pair_trajectory(pipe), [(0, 1)])
    traj = _pair_trajectory(pipe)  # sampled by the trained policy
    per_image = _log_ratios(pipe, traj).mean(dim=0)
    assert per_image.abs().min() > 1e-5, "the trained policy differs from the reference on both images"
    stats = trainer.update(traj, [(1, 0)])
    assert stats["kl_preferred"] == pytest.approx(float(per_image[1]), rel=1e-3, abs=1e-7)
    assert stats["kl_dispreferred"] == pytest.approx(float(per_image[0]), rel=1e-3, abs=1e-7)


def _ctx(pipe, **options):
    cfg = build_run_config("toy-hand", "d3po-style", method_options=options, budget=8, batch=4, steps=STEPS,
                           ddpo={"k_steps": 2})
    return RunContext(pipe, load_task("toy-hand"), cfg, SamplingSettings(num_inference_steps=STEPS))


def test_method_groups_share_initial_noise_and_resumes_exactly(fresh_tiny_pipe):
    method = METHODS.create("d3po-style")
    assert isinstance(method, D3PO) and method.uses_feedback and method.trains
    method.setup(_ctx(fresh_tiny_pipe, group_size=2, learning_rate=1e-3))
    z = method.initial_noise(5, torch.Generator().manual_seed(0))
    assert torch.equal(z[0], z[1]) and torch.equal(z[2], z[3]) and not torch.equal(z[1], z[2])
    traj = _pair_trajectory(fresh_tiny_pipe)
    state = method.state_dict()
    first = method.update(traj, [], Feedback(good=[True, False], best=0))
    method.load_state_dict(state)
    again = method.update(traj, [], Feedback(good=[True, False], best=0))
    assert first == again


def test_unknown_option_is_named(fresh_tiny_pipe):
    with pytest.raises(ConfigError, match="beta2.*allowed fields.*ratio_clip"):
        D3PO().setup(_ctx(fresh_tiny_pipe, beta2=0.3))


def test_shared_images_in_a_minibatch_give_the_per_pair_losses(fresh_tiny_pipe):
    pipe = fresh_tiny_pipe
    params = attach_lora(pipe, rank=2, init_seed=0)
    noise = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    traj = sample_with_trajectory(pipe, ["a cat"] * 3, noise, num_inference_steps=STEPS,
                                  generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        for p in params:  # a slightly trained adapter, so that losses differ from log 2 and between pairs
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    trainer = D3POTrainer(pipe, D3POOptions(beta=5.0, ratio_clip=0.9), seed=0)
    ref = torch.full(traj.log_probs.shape, float("nan"))
    ref[:, :] = trainer.reference_log_probs(traj, torch.arange(3), torch.arange(STEPS))
    both = trainer._accumulate(traj, [(torch.tensor([[0, 1], [2, 0]]), 1)], ref, scale=1.0)[0][0]
    first = trainer._accumulate(traj, [(torch.tensor([[0, 1]]), 1)], ref, scale=1.0)[0][0]
    second = trainer._accumulate(traj, [(torch.tensor([[2, 0]]), 1)], ref, scale=1.0)[0][0]
    assert not torch.isclose(first, second)
    torch.testing.assert_close(both, (first + second) / 2)


def test_a_comparison_config_gives_each_method_its_own_section(fresh_tiny_pipe):
    method = D3PO()
    method.setup(_ctx(fresh_tiny_pipe, **{"d3po-style": {"group_size": 3}, "dreambooth": {"train_steps": 9}}))
    assert method.options.group_size == 3
    with pytest.raises(ConfigError, match="mixes per-method sections"):
        D3PO().setup(_ctx(tiny_sd_pipeline(), **{"d3po-style": {"group_size": 3}, "beta": 0.2}))


def test_fused_passes_give_the_per_step_gradient():
    """Scoring all of an optimiser step's transitions in one UNet pass is a speed-up only: the same
    gradient norm and weights as one pass per (pair, step)."""
    noise = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    results = []
    for chunk in (None, 1):
        pipe = tiny_sd_pipeline()
        attach_lora(pipe, rank=2, init_seed=0)
        traj = sample_with_trajectory(pipe, ["a cat"] * 3, noise, num_inference_steps=STEPS,
                                      generator=torch.Generator().manual_seed(6))
        trainer = D3POTrainer(pipe, D3POOptions(beta=5.0, learning_rate=1e-3, pair_batch_size=2,
                                                max_transitions_per_pass=chunk), seed=0)
        stats = trainer.update(traj, [(0, 1), (2, 1), (0, 2)])
        results.append((stats, [p.detach().clone() for p in trainer.opt.params]))
    (fused, w_fused), (split, w_split) = results
    assert fused["optimizer_steps"] == split["optimizer_steps"] == 2
    assert fused["grad_norm"] == pytest.approx(split["grad_norm"], rel=1e-4)
    for a, b in zip(w_fused, w_split, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-5)


@pytest.mark.parametrize(("sizes", "limit", "passes"), [
    ([2, 2, 2], None, [[0, 1, 2]]),
    ([2, 2, 2], 4, [[0, 1], [2]]),
    ([5, 1], 2, [[0], [1]]),  # a unit larger than the limit still gets a pass, never split
])
def test_units_are_grouped_into_passes_without_splitting(sizes, limit, passes):
    from hero_bench.baselines.d3po import _unit_passes

    assert list(_unit_passes(sizes, limit)) == passes
