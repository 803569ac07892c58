# mypy: disable-error-code="attr-defined, arg-type"
# (diffusers pipelines register their components at runtime, invisible to mypy)
"""Train the embedded tiny Stable Diffusion on the toy world and save it in the diffusers folder layout.

Four parts, trained in order, each a real diffusers/transformers model so that the saved folder loads with
`StableDiffusionPipeline.from_pretrained(folder)` exactly like SD v1.5:
1. a BPE tokenizer (HF `tokenizers`) on the caption vocabulary, wrapped as a `CLIPTokenizer`;
2. a small CLIP (text + vision towers) trained contrastively — its text tower is the pipeline's text
   encoder, the whole model is kept for CLIP metrics and the CLIP-proxy oracle;
3. an `AutoencoderKL` (64x64 RGB <-> 8x8x4 latents, SD's downsampling factor 8);
4. a `UNet2DConditionModel` with cross-attention on the text tower's hidden states, epsilon prediction on
   SD's noise schedule, classifier-free-guidance caption dropout, and an EMA of its weights.
Everything is seeded; the same command reproduces the same weights on the same machine.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hero_bench.toyworld.dataset import CALIBRATED_SUCCESS_RATES, sample_examples

DEFAULT_OUT = Path(__file__).parent / "assets" / "tiny-sd"
CLIP_SUBFOLDER = "toy_clip"
"""The full toy CLIP (text + vision) lives beside the pipeline components; pipelines ignore extra folders."""


@dataclass
class TrainConfig:
    """Sizes and schedules. Defaults produce the shipped model; tests shrink them to seconds."""

    seed: int = 0
    n_examples: int = 40_000
    max_length: int = 24
    vocab_size: int = 600
    # CLIP
    clip_width: int = 128
    clip_layers: int = 4
    clip_steps: int = 800
    clip_batch: int = 64
    # VAE
    vae_channels: tuple[int, ...] = (16, 32, 64, 64)
    vae_steps: int = 1500
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    # UNet
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_layers: int = 1
    unet_steps: int = 2500
    unet_batch: int = 32
    unet_lr: float = 8e-4
    cond_dropout: float = 0.1
    ema_decay: float = 0.999
    task_success_rates: dict[str, float] = field(default_factory=lambda: dict(CALIBRATED_SUCCESS_RATES))
    """How often a task-prompt caption is right in the UNet's data (see dataset.CALIBRATED_SUCCESS_RATES)."""
    threads: int = 1
    """Torch threads per process: 1 is fastest on a shared 2-core machine and the text and VAE stages run
    side by side; results are bit-identical only for the same thread count."""
    log_every: int = 100
    extra: dict = field(default_factory=dict)


def _warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup_frac: float):
    """Linear warm-up then cosine decay to 5% of the base learning rate."""
    warm = max(1, int(total * warmup_frac))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# ------------------------------------------------------------------------------------------------ tokenizer


def train_tokenizer(captions: list[str], cfg: TrainConfig, out_dir: Path):
    """BPE with CLIP's conventions ('</w>' word ends, start/end-of-text specials), saved as a CLIPTokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        end_of_word_suffix="</w>",
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyz0123456789.,'-!?"),
        show_progress=False,
    )
    tok.train_from_iterator(sorted(set(captions)), trainer)
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp)
        clip_tok = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"))
    clip_tok.model_max_length = cfg.max_length
    if len(clip_tok) <= 2:
        raise RuntimeError("tokenizer collapsed to special tokens only (see DESIGN.md pitfall)")
    clip_tok.save_pretrained(out_dir)
    return clip_tok


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


# ----------------------------------------------------------------------------------------------------- CLIP


def make_clip(tokenizer, cfg: TrainConfig):
    from transformers import CLIPConfig, CLIPModel

    w = cfg.clip_width
    common = dict(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=cfg.clip_layers, num_attention_heads=4)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            max_position_embeddings=cfg.max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **common,
        ),
        vision_config=dict(image_size=64, patch_size=8, **common),
        projection_dim=w,
    )
    return CLIPModel(config)


def train_clip(clip, tokenizer, images: np.ndarray, captions: list[str], cfg: TrainConfig, rng: np.random.Generator):
    """Contrastive training where every pair sharing a caption counts as a positive (captions repeat a lot)."""
    ids = tokenize(tokenizer, captions)
    caption_index = {c: i for i, c in enumerate(sorted(set(captions)))}
    cap_id = torch.tensor([caption_index[c] for c in captions])
    opt = torch.optim.AdamW(clip.parameters(), lr=5e-4, weight_decay=0.01)
    sched = _warmup_cosine(opt, cfg.clip_steps, 0.1)
    clip.train()
    bar = tqdm(range(cfg.clip_steps), desc="clip", mininterval=10)
    for step in bar:
        idx = torch.from_numpy(rng.integers(0, len(captions), cfg.clip_batch))
        pix = _images_to_tensor(images[idx.numpy()])
        out = clip(input_ids=ids[idx], pixel_values=pix)
        same = (cap_id[idx][:, None] == cap_id[idx][None, :]).float()
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (
            torch.sum(-target * F.log_softmax(out.logits_per_image, 1), 1).mean()
            + torch.sum(-target * F.log_softmax(out.logits_per_text, 1), 1).mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    clip.eval()
    return clip


# ------------------------------------------------------------------------------------------------------ VAE


def make_vae(cfg: TrainConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        sample_size=64,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=cfg.vae_channels,
        layers_per_block=1,
        norm_num_groups=min(16, min(cfg.vae_channels)),
    )


def train_vae(vae, images: np.ndarray, cfg: TrainConfig, rng: np.random.Generator):
    """Reconstruction (L1 + MSE) with a small KL term, as SD's VAE but without the adversarial loss."""
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    sched = _warmup_cosine(opt, cfg.vae_steps, 0.05)
    vae.train()
    bar = tqdm(range(cfg.vae_steps), desc="vae", mininterval=10)
    for step in bar:
        x = _images_to_tensor(images[rng.integers(0, len(images), cfg.vae_batch)])
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + cfg.vae_kl_weight * post.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    vae.eval()
    with torch.no_grad():
        lat = torch.cat(
            [
                vae.encode(_images_to_tensor(images[i : i + 256])).latent_dist.mean
                for i in range(0, min(len(images), 2048), 256)
            ]
        )
    vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
    return vae


# ----------------------------------------------------------------------------------------------------- UNet


def make_unet(cfg: TrainConfig, cross_dim: int):
    from diffusers import UNet2DConditionModel

    n = len(cfg.unet_channels)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
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
):
    """Epsilon prediction on cached VAE latents and cached text hidden states; keeps an EMA copy."""
    from diffusers.training_utils import EMAModel

    noise_sched = train_noise_schedule()
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, weight_decay=1e-2)
    sched = _warmup_cosine(opt, cfg.unet_steps, 0.03)
    gen = torch.Generator().manual_seed(cfg.seed)
    unet.train()
    bar = tqdm(range(cfg.unet_steps), desc="unet", mininterval=10)
    for step in bar:
        idx = torch.from_numpy(rng.integers(0, len(latents), cfg.unet_batch))
        z0 = latents[idx]
        cond = text_states[caption_ids[idx]].clone()
        drop = torch.from_numpy(rng.random(cfg.unet_batch) < cfg.cond_dropout)
        cond[drop] = empty_state
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(0, 1000, (cfg.unet_batch,), generator=gen)
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
    ema.copy_to(unet.parameters())
    unet.eval()
    return unet


# ------------------------------------------------------------------------------------------------ pipeline
# Training runs in three stages so that the text and VAE stages can run side by side (one thread each is
# faster on 2 cores than two threads for these small models); each stage writes its part into `out`.

STAGES = ("text", "vae", "unet")


def _data(cfg: TrainConfig, calibrated: bool = False) -> tuple[np.ndarray, list[str]]:
    """The seeded training scenes. Only the UNet sees the per-task calibrated success rates: the tokenizer,
    CLIP and VAE learn words and pixels, which do not depend on how often a caption is right."""
    examples = sample_examples(cfg.seed, cfg.n_examples, cfg.task_success_rates if calibrated else None)
    return np.stack([e.image for e in examples]), [e.caption for e in examples]


def stage_text(cfg: TrainConfig, out: Path) -> None:
    """Tokenizer and CLIP; writes tokenizer/, text_encoder/ and toy_clip/."""
    from transformers import CLIPTextModel

    rng = np.random.default_rng([cfg.seed, 1])
    torch.manual_seed(cfg.seed)
    images, captions = _data(cfg)
    tokenizer = train_tokenizer(captions, cfg, out / "tokenizer")
    clip = train_clip(make_clip(tokenizer, cfg), tokenizer, images, captions, cfg, rng)
    text_encoder = CLIPTextModel(clip.config.text_config)
    # transformers 5 flattens CLIPTextModel (no .text_model); older versions nest it.
    getattr(text_encoder, "text_model", text_encoder).load_state_dict(clip.text_model.state_dict())
    text_encoder.save_pretrained(out / "text_encoder")
    clip.save_pretrained(out / CLIP_SUBFOLDER)
    tokenizer.save_pretrained(out / CLIP_SUBFOLDER)


def stage_vae(cfg: TrainConfig, out: Path) -> None:
    """The autoencoder; writes vae/."""
    rng = np.random.default_rng([cfg.seed, 2])
    torch.manual_seed(cfg.seed + 2)
    images, _ = _data(cfg)
    vae = train_vae(make_vae(cfg), images, cfg, rng)
    # Saved in fp16 now, as it ships: the UNet stage then encodes its latents with exactly the shipped VAE.
    vae.to(torch.float16).save_pretrained(out / "vae")


def stage_unet(cfg: TrainConfig, out: Path, fp16: bool = True) -> None:
    """The UNet on cached latents and text states, then the assembled pipeline (model_index.json etc.)."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline
    from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

    rng = np.random.default_rng([cfg.seed, 3])
    torch.manual_seed(cfg.seed + 3)
    images, captions = _data(cfg, calibrated=True)
    tokenizer = CLIPTokenizer.from_pretrained(out / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(out / "text_encoder", torch_dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(out / "vae", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        latents = (
            torch.cat(
                [
                    vae.encode(_images_to_tensor(images[i : i + 256])).latent_dist.mean
                    for i in range(0, len(images), 256)
                ]
            )
            * vae.config.scaling_factor
        )
        unique = sorted(set(captions))
        states = torch.cat(
            [text_encoder(tokenize(tokenizer, unique[i : i + 256]))[0] for i in range(0, len(unique), 256)]
        )
        empty = text_encoder(tokenize(tokenizer, [""]))[0][0]
    del images
    index = {c: i for i, c in enumerate(unique)}
    caption_ids = torch.tensor([index[c] for c in captions])
    unet = train_unet(make_unet(cfg, text_encoder.config.hidden_size), latents, states, caption_ids, empty, cfg, rng)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=sampling_schedule(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    clip = CLIPModel.from_pretrained(out / CLIP_SUBFOLDER, torch_dtype=torch.float32)
    if fp16:
        # Halve the big parts on disk. diffusers loads UNet and VAE back as float32 by default, but
        # transformers keeps a checkpoint's dtype, so the text encoder stays float32: a plain
        # `StableDiffusionPipeline.from_pretrained(folder)` must give one consistent dtype.
        unet.to(torch.float16)
        vae.to(torch.float16)
        clip.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True)
    clip.save_pretrained(out / CLIP_SUBFOLDER, safe_serialization=True)


def _one_thread(stage, cfg: TrainConfig, out: Path) -> None:
    torch.set_num_threads(1)
    stage(cfg, out)


def _text_and_vae_in_parallel(cfg: TrainConfig, out: Path) -> None:
    """The text and VAE stages are independent: one process (one thread) each keeps both cores busy."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(_one_thread, stage_text, cfg, out), pool.submit(_one_thread, stage_vae, cfg, out)]
        for job in jobs:
            job.result()


def train_all(cfg: TrainConfig, out: Path = DEFAULT_OUT, fp16: bool = True, stages: tuple[str, ...] = STAGES) -> Path:
    """Run the given stages in order and record how the folder was made. Returns `out`."""
    torch.set_num_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for stage in stages:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid stages: {', '.join(STAGES)}")
    if "text" in stages and "vae" in stages and (os.cpu_count() or 1) >= 2:
        _text_and_vae_in_parallel(cfg, out)
        stages = tuple(s for s in stages if s not in ("text", "vae"))
    for stage in stages:
        if stage == "text":
            stage_text(cfg, out)
        elif stage == "vae":
            stage_vae(cfg, out)
        elif stage == "unet":
            stage_unet(cfg, out, fp16=fp16)
    info_path = out / "hero_bench_train.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info.update(
        {
            "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
            "torch": torch.__version__,
            "fp16": fp16,
            f"seconds_{'+'.join(stages)}": round(time.time() - t0, 1),
        }
    )
    info_path.write_text(json.dumps(info, indent=2))
    return out


def quick_config(seed: int = 0) -> TrainConfig:
    """Tiny models and a handful of steps: proves the whole script runs (used by tests and `--quick`)."""
    return TrainConfig(
        seed=seed,
        n_examples=64,
        clip_width=32,
        clip_layers=1,
        clip_steps=2,
        clip_batch=8,
        vae_channels=(8, 16, 16, 16),
        vae_steps=2,
        vae_batch=4,
        unet_channels=(32, 32, 32),
        unet_steps=2,
        unet_batch=8,
        threads=1,
        log_every=1,
    )


def expected_steps_hint(cfg: TrainConfig) -> str:
    """A one-line summary printed before training starts."""
    return (
        f"tokenizer + CLIP {cfg.clip_steps} steps and VAE {cfg.vae_steps} steps (side by side), then UNet "
        f"{cfg.unet_steps} steps, on {cfg.n_examples} seeded scenes (seed {cfg.seed}), {cfg.threads} thread(s) each"
    )
