# mypy: disable-error-code="attr-defined"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""DDPO-K: the PPO-clipped policy-gradient update on K denoising steps, shared by HERO and DDPO baselines.

Each stored transition z_t -> z_{t-1} is re-scored under the current LoRA weights (same CFG and DDIM
arithmetic as sampling), and the clipped surrogate  max(-A * r, -A * clip(r, 1 - eps, 1 + eps)),
r = p_theta / p_old, is minimised over LoRA parameters only (paper Eq. 8, Table 7).

Log-probabilities are averaged over latent dimensions by default (`logprob_reduction="mean"`), as in
the released DDPO/HERO code: the paper's clip range of 1e-4 is calibrated to that scale; with summed
log-probs of a 4x64x64 latent almost every ratio would be clipped.

Why the clip range can scale with the latent (`clip_scaling="sqrt-dims"`): the mean log-ratio over D
dimensions has a noise about 1/sqrt(D); SD v1.5's D = 4x64x64 = 16,384 and the toy world's 4x8x8 = 256, so
the same clip is a sqrt(16384 / 256) = 8x tighter trust region on the toy latent. `sqrt-dims` multiplies
the clip by sqrt(clip_reference_dims / D): unchanged on SD v1.5, 8x on the toy latent.

Which K steps are trained (`timestep_selection`) decides what the LoRA can change: the last K (the paper)
come after global attributes are fixed; docs/paper-vs-code.md has the measurement.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from hero_bench.ddpo_config import ClipScaling, DDPOConfig, StepSelection  # noqa: F401 - re-exported
from hero_bench.models import ADAPTER_NAME, has_lora, lora_norms, lora_parameters
from hero_bench.sampling import Trajectory, ddim_step_with_logprob, guided_noise_pred
from hero_bench.snapshots import snapshot

Tensor = torch.Tensor


def select_steps(
    num_samples: int, num_steps: int, config: DDPOConfig, generator: torch.Generator | None = None
) -> Tensor:
    """Indices [B, K] into the S denoising steps that each sample trains on ('all': K = S).

    'spread' takes the middle step of each of K equal stretches of the trajectory (S=20, K=5: 2, 6, 10, 14,
    18), the same for every sample; 'random' draws K distinct steps per sample."""
    k = config.steps_per_sample(num_steps)
    if k > num_steps:
        raise ValueError(
            f"k_steps={k} exceeds the trajectory's {num_steps} denoising steps; lower k_steps "
            "or sample with more num_inference_steps"
        )
    if config.timestep_selection == "random":
        return torch.stack([torch.randperm(num_steps, generator=generator)[:k] for _ in range(num_samples)])
    if config.timestep_selection == "last":
        row = torch.arange(num_steps - k, num_steps)
    elif config.timestep_selection == "spread":
        row = ((torch.arange(k) * 2 + 1) * num_steps) // (2 * k)
    else:  # all
        row = torch.arange(num_steps)
    return row.expand(num_samples, k).clone()


class DDPOTrainer:
    """Holds the optimiser over the UNet's LoRA weights and applies DDPO-K updates to it."""

    def __init__(self, pipe: StableDiffusionPipeline, config: DDPOConfig | None = None) -> None:
        if not has_lora(pipe):
            raise ValueError("the pipeline's UNet has no LoRA adapter; call hero_bench.models.attach_lora first")
        self.pipe = pipe
        self.config = config or DDPOConfig()
        self.params = lora_parameters(pipe)
        self.optimizer = torch.optim.AdamW(
            self.params,
            lr=self.config.learning_rate,
            betas=self.config.adam_betas,
            eps=self.config.adam_eps,
            weight_decay=self.config.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.num_updates = 0
        self.num_optimizer_steps = 0
        self.initial_params = [p.detach().cpu().clone() for p in self.params]
        """The LoRA weights before any update: `lora_delta_norm` measures how far training moved them."""

    # ---- log-probabilities -------------------------------------------------------------------------
    def _scale(self, traj: Trajectory) -> float:
        dims = math.prod(traj.latents.shape[2:])
        return 1.0 / dims if self.config.logprob_reduction == "mean" else 1.0

    def transition_log_prob(self, traj: Trajectory, samples: Tensor, steps: Tensor) -> Tensor:
        """log p_theta(z_{s+1} | z_s) under the current weights for pairs (samples[i], steps[i]), [N].

        The trajectory may live on another device (e.g. kept on CPU); only the pairs used move.
        """
        self._set_timesteps(traj)
        device = self.pipe._execution_device
        here = traj.latents.device
        samples, steps = samples.to(here), steps.to(here)
        latents = traj.latents[samples, steps].to(device)
        next_latents = traj.latents[samples, steps + 1].to(device)
        timesteps = traj.timesteps.to(device)[steps.to(device)]
        embeds = traj.prompt_embeds.select(samples.cpu()).to(device)
        noise_pred = guided_noise_pred(self.pipe, latents, timesteps, embeds, traj.guidance_scale)
        _, log_prob = ddim_step_with_logprob(
            self.pipe.scheduler, noise_pred, timesteps, latents, traj.eta, prev_sample=next_latents
        )
        return log_prob * self._scale(traj)

    def _set_timesteps(self, traj: Trajectory) -> None:
        """The DDIM step size depends on the scheduler's step count: match the trajectory's."""
        scheduler = self.pipe.scheduler
        if scheduler.num_inference_steps != traj.num_inference_steps:
            scheduler.set_timesteps(traj.num_inference_steps, device=self.pipe._execution_device)
        if not torch.equal(scheduler.timesteps.cpu(), traj.timesteps.cpu()):
            raise ValueError("the trajectory's timesteps differ from the pipeline scheduler's; resample it")

    # ---- the update ---------------------------------------------------------------------------------
    def _check(self, traj: Trajectory, advantages: Tensor) -> None:
        if advantages.ndim != 1 or advantages.shape[0] != len(traj):
            raise ValueError(f"advantages must have shape [{len(traj)}], got {tuple(advantages.shape)}")
        if not torch.isfinite(advantages).all():
            raise ValueError("advantages contain NaN or inf")
        if traj.eta <= 0:
            raise ValueError("DDPO needs a stochastic sampler: the trajectory was sampled with eta=0")
        num_steps = traj.log_probs.shape[1]
        fixed = self.config.timestep_selection != "random"  # the same steps for every sample
        candidates = traj.log_probs[:, select_steps(1, num_steps, self.config)[0]] if fixed else traj.log_probs
        if not torch.isfinite(candidates).all():
            raise ValueError(
                "some selected steps have no finite log-probability (zero variance); with DDIM's "
                "set_alpha_to_one=True the last step is deterministic: use set_alpha_to_one=False as SD v1.5"
            )

    def _minibatches(self, order: Tensor) -> Iterator[list[Tensor]]:
        """Group the shuffled samples into optimiser steps of up to grad_accum_steps minibatches."""
        cfg = self.config
        batches = list(order.split(cfg.batch_size))
        for start in range(0, len(batches), cfg.grad_accum_steps):
            yield batches[start : start + cfg.grad_accum_steps]

    def update(self, traj: Trajectory, advantages: Tensor) -> dict[str, float]:
        """One DDPO-K update on a batch of trajectories; returns mean loss, approx_kl, clipfrac, ...

        `advantages` (one per sample, e.g. HERO's normalised rewards) are clamped to +-adv_clip_max.
        Metrics average over every (minibatch, step) pair; `approx_kl` is 0.5 * E[(log r)^2]. Also returned,
        so that a run that does not learn says so: the clip used (`clip_range`), the advantages' mean and
        spread (`adv_mean`, `adv_std`), and the LoRA weights' norm and distance from their initial values
        (`lora_norm`, `lora_delta_norm`).
        """
        cfg = self.config
        n, num_steps = traj.log_probs.shape
        select_steps(n, num_steps, cfg)  # validates k_steps before any work
        self._check(traj, advantages)
        self._set_timesteps(traj)
        # indices stay on CPU (drawn from a CPU generator); values are gathered there, used on the device
        device = self.pipe._execution_device
        adv_all = advantages.detach().float().cpu().clamp(-cfg.adv_clip_max, cfg.adv_clip_max)
        old_all = traj.log_probs.detach().float().cpu() * self._scale(traj)
        eps = cfg.effective_clip(math.prod(traj.latents.shape[2:]))

        stats: list[Tensor] = []  # per (minibatch, step): loss, approx_kl, clipfrac, ratio; one sync at the end
        grad_norms: list[Tensor] = []
        self.pipe.unet.eval()  # no dropout: the ratio must be exactly 1 before the first step
        for _ in range(cfg.inner_epochs):
            order = torch.randperm(n, generator=self.generator)
            steps = select_steps(n, num_steps, cfg, self.generator)
            for group in self._minibatches(order):
                self.optimizer.zero_grad(set_to_none=True)
                for samples, step_idx, weight in self._transition_passes(group, steps):
                    new = self.transition_log_prob(traj, samples, step_idx)
                    old, adv = old_all[samples, step_idx].to(device), adv_all[samples].to(device)
                    loss, metrics = self._clipped_loss(new, old, adv, weight.to(device), eps)
                    loss.backward()
                    stats.append(metrics)
                if cfg.max_grad_norm is not None:
                    grad_norms.append(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
                self.optimizer.step()
                self.num_optimizer_steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.num_updates += 1
        means = torch.stack(stats).mean(dim=0).tolist()
        out = dict(zip(("loss", "approx_kl", "clipfrac", "ratio"), means, strict=True))
        out["grad_norm"] = torch.stack(grad_norms).mean().item() if grad_norms else float("nan")
        out["optimizer_steps"] = float(self.num_optimizer_steps)
        out["clip_range"] = eps
        out["adv_mean"], out["adv_std"] = adv_all.mean().item(), adv_all.std(unbiased=False).item()
        return {**out, **self.lora_norms()}

    def lora_norms(self) -> dict[str, float]:
        """L2 norm of all LoRA weights, and of their change since the trainer was built."""
        return lora_norms(self.params, self.initial_params)

    def _transition_passes(self, group: list[Tensor], steps: Tensor) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """(samples, steps, loss weights) of the UNet passes of one optimiser step.

        The paper's update averages the surrogate over each minibatch and K steps, then accumulates the
        minibatches; all of them see the same weights (no optimiser step in between). So one pass over
        every (sample, step) pair of the group, each weighted 1 / (|minibatch| * len(group) * K), gives
        the same gradient as minibatch-by-minibatch passes, with far fewer, larger UNet calls (the
        dominant cost on a CPU). `max_transitions_per_pass` splits it again where memory is short.
        """
        k = steps.shape[1]
        samples = torch.cat([mb.repeat_interleave(k) for mb in group])
        step_idx = torch.cat([steps[mb].reshape(-1) for mb in group])
        weight = torch.cat([torch.full((len(mb) * k,), 1.0 / (len(mb) * len(group) * k)) for mb in group])
        chunk = self.config.max_transitions_per_pass or len(samples)
        for start in range(0, len(samples), chunk):
            sl = slice(start, start + chunk)
            yield samples[sl], step_idx[sl], weight[sl]

    def _clipped_loss(self, new: Tensor, old: Tensor, adv: Tensor, weight: Tensor, eps: float) -> tuple[Tensor, Tensor]:
        """PPO's clipped surrogate (clip `eps`), weighted per transition and summed (to minimise), and
        detached [mean surrogate, approx_kl, clipfrac, mean ratio]."""
        log_ratio = new - old
        ratio = log_ratio.exp()
        surrogate = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - eps, 1 + eps))
        loss = (surrogate * weight).sum()
        with torch.no_grad():
            metrics = torch.stack(
                [
                    surrogate.detach().mean(),
                    0.5 * (log_ratio**2).mean(),
                    ((ratio - 1).abs() > eps).float().mean(),
                    ratio.mean(),
                ]
            )
        return loss, metrics

    # ---- checkpoint / resume -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training bit-for-bit: config, optimiser, RNG, LoRA weights."""
        lora = get_peft_model_state_dict(self.pipe.unet, adapter_name=ADAPTER_NAME)
        return {
            "config": self.config.model_dump(),
            # a snapshot (torch returns live references to the Adam moments), live for a checkpoint
            "optimizer": snapshot(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "num_updates": self.num_updates,
            "num_optimizer_steps": self.num_optimizer_steps,
            "lora": {k: v.detach().cpu().clone() for k, v in lora.items()},
            "initial_lora": [p.clone() for p in self.initial_params],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`; the saved config replaces the current one."""
        config = DDPOConfig(**state["config"])
        set_peft_model_state_dict(self.pipe.unet, state["lora"], adapter_name=ADAPTER_NAME)
        self.config = config
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])
        self.num_optimizer_steps = int(state["num_optimizer_steps"])
        self.initial_params = [p.clone() for p in state.get("initial_lora", self.initial_params)]
