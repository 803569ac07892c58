# mypy: disable-error-code="attr-defined"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""DDIM sampling that keeps the whole denoising trajectory and each step's log-probability.

DDPO treats every DDIM step with eta > 0 as a Gaussian policy z_{t-1} ~ N(mean_theta(z_t, t), std_t^2),
so the sampler must store every latent z_T..z_0 and the log-density of each transition; the update later
re-evaluates the same transitions under the current weights with exactly the same arithmetic
(`guided_noise_pred` + `ddim_step_with_logprob`), which makes the first importance ratio exactly 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

Tensor = torch.Tensor
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class PromptEmbeds:
    """Text embeddings for each sample: conditional, and unconditional ("" prompt) when CFG is on."""

    cond: Tensor  # [B, L, D]
    uncond: Tensor | None  # [B, L, D], None without classifier-free guidance
    prompts: list[str]

    def __len__(self) -> int:
        return self.cond.shape[0]

    def select(self, index: Tensor | Sequence[int] | slice) -> PromptEmbeds:
        """The embeddings of a subset of samples (minibatches in the DDPO update)."""
        idx = index if isinstance(index, slice) else torch.as_tensor(index, dtype=torch.long)
        prompts = self.prompts[idx] if isinstance(idx, slice) else [self.prompts[int(i)] for i in idx]
        rows = idx.to(self.cond.device) if isinstance(idx, Tensor) else idx
        uncond = None if self.uncond is None else self.uncond[rows]
        cond = self.cond[rows]
        return PromptEmbeds(cond=cond, uncond=uncond, prompts=prompts)

    def to(self, device: torch.device | str) -> PromptEmbeds:
        uncond = None if self.uncond is None else self.uncond.to(device)
        return PromptEmbeds(cond=self.cond.to(device), uncond=uncond, prompts=list(self.prompts))

    def guidance_batch(self) -> Tensor:
        """[uncond; cond] concatenated, the order diffusers uses, for one UNet call per step."""
        if self.uncond is None:
            return self.cond
        return torch.cat([self.uncond, self.cond])


@dataclass
class Trajectory:
    """One batch of DDIM denoising runs: everything the DDPO update and the oracles need."""

    latents: Tensor  # [B, S+1, C, H, W]: z_T (already scaled by init_noise_sigma) .. z_0
    log_probs: Tensor  # [B, S] float32: log N(z_{s+1}; mean, std^2) summed over C*H*W
    timesteps: Tensor  # [S] scheduler timesteps, first = noisiest
    prompt_embeds: PromptEmbeds
    num_inference_steps: int
    eta: float
    guidance_scale: float

    def __len__(self) -> int:
        return self.latents.shape[0]

    @property
    def initial_latents(self) -> Tensor:
        """z_T as it entered the first step (initial noise times init_noise_sigma, which is 1 for DDIM)."""
        return self.latents[:, 0]

    @property
    def final_latents(self) -> Tensor:
        """z_0, to decode into images."""
        return self.latents[:, -1]

    @property
    def prompts(self) -> list[str]:
        return self.prompt_embeds.prompts

    def select(self, index: Tensor | Sequence[int]) -> Trajectory:
        """A sub-batch (e.g. only the samples that received feedback)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return Trajectory(
            latents=self.latents[idx.to(self.latents.device)],
            log_probs=self.log_probs[idx.to(self.log_probs.device)],
            timesteps=self.timesteps,
            prompt_embeds=self.prompt_embeds.select(idx),
            num_inference_steps=self.num_inference_steps,
            eta=self.eta,
            guidance_scale=self.guidance_scale,
        )

    def to(self, device: torch.device | str) -> Trajectory:
        return Trajectory(
            latents=self.latents.to(device),
            log_probs=self.log_probs.to(device),
            timesteps=self.timesteps.to(device),
            prompt_embeds=self.prompt_embeds.to(device),
            num_inference_steps=self.num_inference_steps,
            eta=self.eta,
            guidance_scale=self.guidance_scale,
        )


def uses_cfg(pipe: StableDiffusionPipeline, guidance_scale: float) -> bool:
    """Same rule as diffusers: classifier-free guidance only when the scale exceeds 1."""
    if pipe.unet.config.get("time_cond_proj_dim") is not None:
        raise NotImplementedError("guidance-distilled UNets (time_cond_proj_dim set, e.g. LCM) are not supported")
    return guidance_scale > 1.0


@torch.no_grad()
def encode_prompts(
    pipe: StableDiffusionPipeline,
    prompts: Sequence[str],
    guidance_scale: float,
    cache: dict[str, tuple[Tensor, Tensor | None]] | None = None,
) -> PromptEmbeds:
    """Encode each distinct prompt once (and "" for CFG), then expand to one row per sample.

    Pass the same `cache` dict across calls to never re-encode a prompt; it is only valid while the text
    encoder is frozen (true for every method here: LoRA trains the UNet only).
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, one per sample, not a single string")
    if len(prompts) == 0:
        raise ValueError("prompts is empty")
    cfg = uses_cfg(pipe, guidance_scale)
    cache = {} if cache is None else cache
    todo = [p for p in dict.fromkeys(prompts) if p not in cache or (cfg and cache[p][1] is None)]
    if todo:
        cond, uncond = pipe.encode_prompt(
            list(todo), pipe._execution_device, num_images_per_prompt=1, do_classifier_free_guidance=cfg
        )
        for i, p in enumerate(todo):
            cache[p] = (cond[i], uncond[i] if cfg else None)
    cond = torch.stack([cache[p][0] for p in prompts])
    uncond = torch.stack([cache[p][1] for p in prompts]) if cfg else None  # type: ignore[misc]
    return PromptEmbeds(cond=cond, uncond=uncond, prompts=list(prompts))


def guided_noise_pred(
    pipe: StableDiffusionPipeline,
    latents: Tensor,
    timestep: Tensor,
    embeds: PromptEmbeds,
    guidance_scale: float,
) -> Tensor:
    """The UNet's CFG-combined prediction with one batched call on [latents; latents].

    `timestep` is a scalar or one timestep per sample ([B]). Shared by sampling and the DDPO update so the
    policy being optimised is exactly the one that sampled.
    """
    cfg = embeds.uncond is not None and guidance_scale > 1.0
    model_in = torch.cat([latents, latents]) if cfg else latents
    t = timestep
    if t.ndim == 1 and cfg:
        t = torch.cat([t, t])
    model_in = pipe.scheduler.scale_model_input(model_in, timestep)
    embeddings = embeds.guidance_batch() if cfg else embeds.cond
    out = pipe.unet(model_in, t, encoder_hidden_states=embeddings, return_dict=False)[0]
    if not cfg:
        return out
    uncond, cond = out.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


def _per_sample(x: Tensor, ndim: int) -> Tensor:
    return x.reshape(x.shape + (1,) * (ndim - x.ndim)) if x.ndim else x


def ddim_step_mean_std(
    scheduler: DDIMScheduler, model_output: Tensor, timestep: int | Tensor, sample: Tensor, eta: float
) -> tuple[Tensor, Tensor]:
    """The Gaussian of one DDIM step z_t -> z_{t-1}: its mean (float32, like `sample`) and std (per sample,
    broadcastable), the one arithmetic that sampling, the DDPO update and diagnostics share.

    Mirrors `DDIMScheduler.step` (prediction type, thresholding / clipping, the eta variance, the final
    alpha) but also accepts one timestep per sample.
    """
    if scheduler.num_inference_steps is None:
        raise ValueError("call scheduler.set_timesteps(num_inference_steps) before stepping")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    cfg = scheduler.config
    device = sample.device
    t = torch.as_tensor(timestep, device=device).long()
    prev_t = t - cfg.num_train_timesteps // scheduler.num_inference_steps
    alphas = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    final = torch.as_tensor(scheduler.final_alpha_cumprod, device=device, dtype=torch.float32)
    ndim = sample.ndim
    alpha_t = _per_sample(alphas[t], ndim)
    alpha_prev = _per_sample(torch.where(prev_t >= 0, alphas[prev_t.clamp(min=0)], final), ndim)
    beta_t = 1 - alpha_t

    x = sample.float()
    out = model_output.float()
    if cfg.prediction_type == "epsilon":
        x0 = (x - beta_t.sqrt() * out) / alpha_t.sqrt()
        eps = out
    elif cfg.prediction_type == "sample":
        x0 = out
        eps = (x - alpha_t.sqrt() * x0) / beta_t.sqrt()
    elif cfg.prediction_type == "v_prediction":
        x0 = alpha_t.sqrt() * x - beta_t.sqrt() * out
        eps = alpha_t.sqrt() * out + beta_t.sqrt() * x
    else:
        raise ValueError(f"unsupported prediction_type {cfg.prediction_type!r}")
    if cfg.thresholding:
        x0 = scheduler._threshold_sample(x0)
    elif cfg.clip_sample:
        x0 = x0.clamp(-cfg.clip_sample_range, cfg.clip_sample_range)

    variance = (1 - alpha_prev) / beta_t * (1 - alpha_t / alpha_prev)
    std = eta * variance.sqrt()
    return alpha_prev.sqrt() * x0 + (1 - alpha_prev - std**2).sqrt() * eps, std


def ddim_step_with_logprob(
    scheduler: DDIMScheduler,
    model_output: Tensor,
    timestep: int | Tensor,
    sample: Tensor,
    eta: float,
    prev_sample: Tensor | None = None,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> tuple[Tensor, Tensor]:
    """One DDIM step z_t -> z_{t-1} (`ddim_step_mean_std`) and log p(z_{t-1} | z_t) summed over all latent
    dims (float32, [B]).

    With `prev_sample` given nothing is drawn: only its log-probability under the current prediction is
    returned (the DDPO update). Where the step has zero variance (eta = 0, or the last step when
    `set_alpha_to_one`) the density does not exist and the log-prob is NaN. The mean and log-prob are computed
    in float32 even for fp16/bf16 models.
    """
    mean, std = ddim_step_mean_std(scheduler, model_output, timestep, sample, eta)
    device, ndim = sample.device, sample.ndim

    if prev_sample is None:
        if eta > 0:
            noise = randn_tensor(model_output.shape, generator=generator, device=device, dtype=model_output.dtype)
            prev_sample = (mean + std * noise.float()).to(sample.dtype)
        else:
            prev_sample = mean.to(sample.dtype)

    std_flat = std.reshape(-1).expand(sample.shape[0]) if std.numel() == 1 else std.reshape(-1)
    safe_std = std.clamp(min=torch.finfo(torch.float32).tiny)
    diff = prev_sample.detach().float() - mean
    log_prob = -(diff**2) / (2 * safe_std**2) - safe_std.log() - _HALF_LOG_2PI
    log_prob = log_prob.sum(dim=tuple(range(1, ndim)))
    log_prob = torch.where(std_flat > 0, log_prob, torch.full_like(log_prob, float("nan")))
    return prev_sample, log_prob


def _check_noise(pipe: StableDiffusionPipeline, noise: Tensor) -> None:
    expected_c = pipe.unet.config.in_channels
    if noise.ndim != 4 or noise.shape[1] != expected_c:
        raise ValueError(f"initial_noise must be [B, {expected_c}, H, W], got {tuple(noise.shape)}")


@torch.no_grad()
def sample_with_trajectory(
    pipe: StableDiffusionPipeline,
    prompts: str | Sequence[str] | PromptEmbeds,
    initial_noise: Tensor,
    num_inference_steps: int = 20,
    eta: float = 1.0,
    guidance_scale: float = 5.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> Trajectory:
    """Denoise `initial_noise` with DDIM + CFG, recording every latent and transition log-prob.

    `prompts` is one prompt per sample (or a single prompt, broadcast), or embeddings from
    `encode_prompts` (reuse them across epochs). `batch_size` bounds how many samples go through the UNet
    at once (2x that with CFG). Returned tensors live on the pipeline's device.
    """
    if num_inference_steps < 1:
        raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_noise(pipe, initial_noise)
    n = initial_noise.shape[0]
    device = pipe._execution_device
    if isinstance(prompts, PromptEmbeds):
        embeds = prompts
    else:
        prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
        if len(prompt_list) == 1 and n > 1:
            prompt_list = prompt_list * n
        embeds = encode_prompts(pipe, prompt_list, guidance_scale)
    if len(embeds) != n:
        raise ValueError(f"got {len(embeds)} prompts for {n} initial noises")
    if uses_cfg(pipe, guidance_scale) and embeds.uncond is None:
        raise ValueError("prompt embeddings were encoded without CFG but guidance_scale > 1; re-encode them")
    embeds = embeds.to(device)

    scheduler = pipe.scheduler
    scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    dtype = pipe.unet.dtype
    chunk = batch_size or n
    all_latents, all_logps = [], []
    for start in range(0, n, chunk):
        idx = slice(start, min(start + chunk, n))
        sub = embeds.select(idx)
        latents = initial_noise[idx].to(device=device, dtype=dtype) * scheduler.init_noise_sigma
        traj, logps = [latents], []
        for t in timesteps:
            noise_pred = guided_noise_pred(pipe, latents, t, sub, guidance_scale)
            latents, logp = ddim_step_with_logprob(scheduler, noise_pred, t, latents, eta, generator=generator)
            traj.append(latents)
            logps.append(logp)
        all_latents.append(torch.stack(traj, dim=1))
        all_logps.append(torch.stack(logps, dim=1))
    return Trajectory(
        latents=torch.cat(all_latents),
        log_probs=torch.cat(all_logps),
        timesteps=timesteps.clone(),
        prompt_embeds=embeds,
        num_inference_steps=num_inference_steps,
        eta=float(eta),
        guidance_scale=float(guidance_scale),
    )


@torch.no_grad()
def decode_latents_to_float(pipe: StableDiffusionPipeline, latents: Tensor, batch_size: int = 16) -> np.ndarray:
    """Decode z_0 to float images in [0, 1], [B, H, W, 3]: the same maths as `pipe(..., output_type="np")`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    vae = pipe.vae
    out = []
    for start in range(0, latents.shape[0], batch_size):
        z = latents[start : start + batch_size].to(device=vae.device, dtype=vae.dtype)
        images = vae.decode(z / vae.config.scaling_factor, return_dict=False)[0]
        out.append((images.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def decode_latents_to_array(pipe: StableDiffusionPipeline, latents: Tensor, batch_size: int = 16) -> np.ndarray:
    """Decode z_0 to uint8 images [B, H, W, 3] (the pipeline's own rounding to 8 bits)."""
    return (decode_latents_to_float(pipe, latents, batch_size) * 255).round().astype(np.uint8)


def decode_latents(pipe: StableDiffusionPipeline, latents: Tensor, batch_size: int = 16) -> list[Image.Image]:
    """Decode z_0 to PIL images (what oracles and image grids consume)."""
    return [Image.fromarray(a) for a in decode_latents_to_array(pipe, latents, batch_size)]
