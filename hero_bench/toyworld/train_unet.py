"""The toy model's denoiser: a `UNet2DConditionModel` on the VAE's 8x8 latents, trained as SD's is, resumably.

Epsilon prediction on SD v1.5's scaled-linear schedule, cross-attention on the text encoder's hidden states,
caption dropout for classifier-free guidance, and an EMA of the weights (what ships). Latents and text states
are computed once and cached, so a step costs one UNet forward and backward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hero_bench.toyworld.train_checkpoint import StageCheckpoint, resume, rng_state

if TYPE_CHECKING:
    from hero_bench.toyworld.train import TrainConfig


def make_unet(cfg: TrainConfig, cross_dim: int):
    from diffusers import UNet2DConditionModel

    n = len(cfg.unet_channels)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        block_out_channels=cfg.unet_channels,
        layers_per_block=cfg.unet_layers,
        cross_attention_dim=cross_dim,
        attention_head_dim=8,
        norm_num_groups=min(32, min(cfg.unet_channels)),
    )


def train_noise_schedule():
    """SD v1.5's training schedule (scaled-linear betas, 1000 steps)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def sampling_schedule():
    """SD v1.5's DDIM inference scheduler configuration."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def train_unet(
    unet,
    latents: torch.Tensor,
    text_states: torch.Tensor,
    caption_ids: torch.Tensor,
    empty_state: torch.Tensor,
    cfg: TrainConfig,
    rng: np.random.Generator,
    checkpoint: StageCheckpoint | None = None,
):
    """Epsilon prediction on cached VAE latents and cached text hidden states; keeps an EMA copy; resumable."""
    from diffusers.training_utils import EMAModel

    from hero_bench.toyworld.train import warmup_cosine

    noise_sched = train_noise_schedule()
    unet.to(cfg.device)  # before the EMA and optimiser: their states live where the weights do
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, weight_decay=1e-2)
    sched = warmup_cosine(opt, cfg.unet_steps, 0.03)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = resume(checkpoint, rng, gen, model=unet, opt=opt, sched=sched, ema=ema)
    ema.to(cfg.device)  # a checkpoint's EMA weights load where they were saved from, or on the CPU
    latents, text_states, caption_ids, empty_state = (
        t.to(cfg.device) for t in (latents, text_states, caption_ids, empty_state)
    )
    unet.train()
    bar = tqdm(range(start, cfg.unet_steps), desc="unet", mininterval=10, initial=start, total=cfg.unet_steps)
    for step in bar:
        idx = torch.from_numpy(rng.integers(0, len(latents), cfg.unet_batch)).to(cfg.device)
        z0 = latents[idx]
        cond = text_states[caption_ids[idx]].clone()
        drop = torch.from_numpy(rng.random(cfg.unet_batch) < cfg.cond_dropout).to(cfg.device)
        cond[drop] = empty_state
        # Drawn on the CPU whatever the device: the same noises (and checkpointed generator) everywhere.
        noise = torch.randn(z0.shape, generator=gen).to(cfg.device)
        t = torch.randint(0, 1000, (cfg.unet_batch,), generator=gen).to(cfg.device)
        zt = noise_sched.add_noise(z0, noise, t)
        loss = F.mse_loss(unet(zt, t, encoder_hidden_states=cond).sample, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.step(unet.parameters())
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if checkpoint is not None and checkpoint.due(step, cfg.unet_steps):
            checkpoint.save(
                step,
                model=unet.state_dict(),
                opt=opt.state_dict(),
                sched=sched.state_dict(),
                ema=ema.state_dict(),
                rng=rng_state(rng, gen),
            )
    ema.copy_to(unet.parameters())
    unet.eval()
    return unet.cpu()
