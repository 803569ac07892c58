"""The trajectory sampler must be diffusers' own DDIM sampler plus correct per-step log-probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hero_bench.sampling import (
    PromptEmbeds,
    Trajectory,
    ddim_step_with_logprob,
    decode_latents,
    decode_latents_to_array,
    decode_latents_to_float,
    encode_prompts,
    sample_with_trajectory,
)

PROMPTS = ["a blue rose", "a black cat", "a blue rose", "the cat"]
STEPS = 6


def _sample(pipe, noise, eta=1.0, seed=0, **kw) -> Trajectory:
    return sample_with_trajectory(
        pipe,
        PROMPTS[: len(noise)],
        noise,
        num_inference_steps=STEPS,
        eta=eta,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(seed),
        **kw,
    )


def test_eta0_images_equal_diffusers_pipeline(tiny_pipe, tiny_noise):
    traj = _sample(tiny_pipe, tiny_noise, eta=0.0)
    ours = decode_latents_to_float(tiny_pipe, traj.final_latents)
    ref = tiny_pipe(
        PROMPTS, latents=tiny_noise, num_inference_steps=STEPS, guidance_scale=5.0, eta=0.0, output_type="np"
    ).images
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_eta1_latents_equal_diffusers_with_same_generator(tiny_pipe, tiny_noise):
    traj = _sample(tiny_pipe, tiny_noise, eta=1.0, seed=5)
    ref = tiny_pipe(
        PROMPTS,
        latents=tiny_noise,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        eta=1.0,
        output_type="latent",
        generator=torch.Generator().manual_seed(5),
    ).images
    torch.testing.assert_close(traj.final_latents, ref)


def test_log_probs_match_gaussian_density(tiny_pipe, tiny_noise):
    """Recompute every transition's density independently: diffusers' step for the mean, Normal for pdf."""
    traj = _sample(tiny_pipe, tiny_noise, eta=1.0)
    sched = tiny_pipe.scheduler
    sched.set_timesteps(STEPS)
    cond, uncond = traj.prompt_embeds.cond, traj.prompt_embeds.uncond
    for s, t in enumerate(sched.timesteps):
        z = traj.latents[:, s]
        with torch.no_grad():
            out = tiny_pipe.unet(torch.cat([z, z]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
        eps_u, eps_c = out.chunk(2)
        eps = eps_u + 5.0 * (eps_c - eps_u)
        mean = sched.step(eps, t, z, eta=1.0, variance_noise=torch.zeros_like(z)).prev_sample
        prev_t = t - sched.config.num_train_timesteps // sched.num_inference_steps
        std = sched._get_variance(t, prev_t) ** 0.5
        expected = torch.distributions.Normal(mean, std).log_prob(traj.latents[:, s + 1]).sum(dim=(1, 2, 3))
        torch.testing.assert_close(traj.log_probs[:, s], expected, rtol=1e-4, atol=1e-3)


def test_prev_sample_only_scores_it(tiny_pipe):
    sched = tiny_pipe.scheduler
    sched.set_timesteps(STEPS)
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = sched.timesteps[2]
    drawn, logp = ddim_step_with_logprob(sched, eps, t, x, 1.0, generator=torch.Generator().manual_seed(1))
    same, logp2 = ddim_step_with_logprob(sched, eps, t, x, 1.0, prev_sample=drawn)
    assert same is drawn
    torch.testing.assert_close(logp, logp2)
    # per-sample timesteps give the same answer as a shared scalar timestep
    _, logp3 = ddim_step_with_logprob(sched, eps, t.repeat(3), x, 1.0, prev_sample=drawn)
    torch.testing.assert_close(logp, logp3)
    # a transition further from the mean is less likely
    _, far = ddim_step_with_logprob(sched, eps, t, x, 1.0, prev_sample=drawn + 1.0)
    assert (far < logp).all()


def test_eta0_log_prob_is_undefined(tiny_pipe, tiny_noise):
    traj = _sample(tiny_pipe, tiny_noise[:1], eta=0.0)
    assert torch.isnan(traj.log_probs).all()


def test_trajectory_shapes_and_metadata(tiny_pipe, tiny_noise):
    traj = _sample(tiny_pipe, tiny_noise)
    assert traj.latents.shape == (4, STEPS + 1, 4, 8, 8)
    assert traj.log_probs.shape == (4, STEPS) and traj.log_probs.dtype == torch.float32
    assert torch.isfinite(traj.log_probs).all()
    assert traj.timesteps.shape == (STEPS,) and bool((traj.timesteps.diff() < 0).all())
    assert torch.equal(traj.latents[:, 0], tiny_noise)
    assert traj.prompts == PROMPTS and len(traj) == 4
    assert (traj.num_inference_steps, traj.eta, traj.guidance_scale) == (STEPS, 1.0, 5.0)
    sub = traj.select([3, 1])
    assert torch.equal(sub.latents, traj.latents[[3, 1]]) and sub.prompts == ["the cat", "a black cat"]


def test_seeded_generator_is_deterministic(tiny_pipe, tiny_noise):
    a, b = _sample(tiny_pipe, tiny_noise, seed=3), _sample(tiny_pipe, tiny_noise, seed=3)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.log_probs, b.log_probs)
    c = _sample(tiny_pipe, tiny_noise, seed=4)
    assert not torch.equal(a.final_latents, c.final_latents)


def test_chunking_does_not_change_results(tiny_pipe, tiny_noise):
    full = _sample(tiny_pipe, tiny_noise, eta=0.0)
    chunked = _sample(tiny_pipe, tiny_noise, eta=0.0, batch_size=3)
    torch.testing.assert_close(chunked.latents, full.latents, rtol=1e-4, atol=1e-4)


def test_init_noise_sigma_is_respected(tiny_pipe, tiny_noise, monkeypatch):
    monkeypatch.setattr(tiny_pipe.scheduler, "init_noise_sigma", 2.0)
    traj = _sample(tiny_pipe, tiny_noise[:1], eta=0.0)
    torch.testing.assert_close(traj.latents[:, 0], 2.0 * tiny_noise[:1])


def test_single_prompt_broadcasts(tiny_pipe, tiny_noise):
    traj = sample_with_trajectory(tiny_pipe, ["a cat"], tiny_noise, num_inference_steps=2, eta=0.0)
    assert traj.prompts == ["a cat"] * 4
    assert sample_with_trajectory(tiny_pipe, "a cat", tiny_noise[:2], num_inference_steps=1).prompts == ["a cat"] * 2


def test_bad_inputs_are_clear_errors(tiny_pipe, tiny_noise):
    with pytest.raises(ValueError, match="initial_noise"):
        sample_with_trajectory(tiny_pipe, ["x"], torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="prompts"):
        sample_with_trajectory(tiny_pipe, ["x", "y"], tiny_noise)
    with pytest.raises(ValueError, match="num_inference_steps"):
        sample_with_trajectory(tiny_pipe, ["x"], tiny_noise, num_inference_steps=0)
    with pytest.raises(TypeError, match="list of strings"):
        encode_prompts(tiny_pipe, "a cat", 5.0)  # type: ignore[arg-type]


def test_encode_prompts_dedupes_and_caches(tiny_pipe):
    calls: list[int] = []
    hook = tiny_pipe.text_encoder.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        cache: dict = {}
        e1 = encode_prompts(tiny_pipe, PROMPTS, 5.0, cache=cache)
        # 3 distinct prompts + the empty negative prompt, one text-encoder pass each batch
        assert sum(calls) == 3 + 3
        e2 = encode_prompts(tiny_pipe, list(reversed(PROMPTS)), 5.0, cache=cache)
        assert sum(calls) == 6, "cached prompts must not be re-encoded"
    finally:
        hook.remove()
    assert isinstance(e1, PromptEmbeds) and e1.uncond is not None
    assert e1.cond.shape == (4, 77, 32)
    torch.testing.assert_close(e1.cond[0], e1.cond[2])
    assert not torch.allclose(e1.cond[0], e1.cond[1])
    torch.testing.assert_close(e2.cond[3], e1.cond[0])
    assert encode_prompts(tiny_pipe, ["a"], guidance_scale=1.0).uncond is None


def test_precomputed_embeds_give_same_trajectory(tiny_pipe, tiny_noise):
    embeds = encode_prompts(tiny_pipe, PROMPTS, 5.0)
    a = _sample(tiny_pipe, tiny_noise, seed=1)
    b = sample_with_trajectory(
        tiny_pipe,
        embeds,
        tiny_noise,
        STEPS,
        eta=1.0,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(a.latents, b.latents)


def test_no_cfg_below_scale_one(tiny_pipe, tiny_noise):
    traj = sample_with_trajectory(tiny_pipe, ["a cat"], tiny_noise[:2], num_inference_steps=3, guidance_scale=1.0)
    ref = tiny_pipe(
        ["a cat"] * 2,
        latents=tiny_noise[:2],
        num_inference_steps=3,
        guidance_scale=1.0,
        eta=0.0,
        output_type="latent",
    ).images
    traj0 = sample_with_trajectory(
        tiny_pipe, ["a cat"], tiny_noise[:2], num_inference_steps=3, guidance_scale=1.0, eta=0.0
    )
    assert traj.prompt_embeds.uncond is None
    torch.testing.assert_close(traj0.final_latents, ref)


def test_decode_formats(tiny_pipe, tiny_noise):
    traj = _sample(tiny_pipe, tiny_noise[:3], eta=0.0)
    images = decode_latents(tiny_pipe, traj.final_latents, batch_size=2)
    arrays = decode_latents_to_array(tiny_pipe, traj.final_latents)
    assert len(images) == 3 and images[0].size == (64, 64) and images[0].mode == "RGB"
    assert arrays.shape == (3, 64, 64, 3) and arrays.dtype == np.uint8
    assert np.array_equal(np.asarray(images[2]), arrays[2])
