# mypy: disable-error-code="attr-defined"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""Tiny random-weight Stable Diffusion pipelines for tests.

Tests must exercise the exact code path of SD v1.5 (same diffusers classes, same tokenizer class, same
scheduler) without a network and in well under a second, so every component is built from a small config
instead of downloaded. The weights are random: images are noise, but shapes, dtypes, CFG, LoRA and
scheduler arithmetic are all real.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from hero_bench.toyworld.train_unet import sampling_schedule

_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"
# A few merges so that the BPE code path is exercised (CLIP's merges file starts with a version line).
_MERGES = ["t h", "th e</w>", "c a", "ca t</w>", "r o", "ro s", "ros e</w>", "b l", "bl u", "blu e</w>"]


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins for raw bytes that CLIP's byte-level BPE uses (GPT-2 scheme)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    chars = [chr(b) for b in keep]
    extra = 0
    for b in range(256):
        if b not in keep:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_tiny_clip_tokenizer_files(folder: str | Path) -> tuple[Path, Path]:
    """Write a minimal but complete CLIP BPE vocabulary (every byte, with and without the end-of-word mark).

    Any text tokenizes without unknown tokens, so prompts stay distinguishable in the text encoder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = _byte_alphabet()
    tokens += [t + "</w>" for t in tokens]
    tokens += [m.replace(" ", "") for m in _MERGES]
    tokens += [_BOS, _EOS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    vocab_path = folder / "vocab.json"
    merges_path = folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def tiny_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """Build a tiny CLIPTokenizer offline.

    Positional arguments on purpose: with transformers 5, keyword `vocab_file=`/`merges_file=` silently
    yields a 2-token tokenizer that maps everything to UNK (see DESIGN.md).
    """
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path, merges_path = write_tiny_clip_tokenizer_files(tmp)
        tok = CLIPTokenizer(str(vocab_path), str(merges_path), model_max_length=model_max_length)
    if len(tok) <= 2:
        raise RuntimeError(f"tiny CLIP tokenizer was built wrong: only {len(tok)} tokens")
    return tok


def tiny_sd_pipeline(
    seed: int = 0,
    sample_size: int = 8,
    vae_scale_factor: int = 8,
    unet_channels: tuple[int, ...] = (32, 64),
    text_hidden_size: int = 32,
    dtype: torch.dtype = torch.float32,
) -> StableDiffusionPipeline:
    """A random-weight StableDiffusionPipeline with SD v1.5's structure at toy size.

    `sample_size` is the latent side; images are `sample_size * vae_scale_factor` pixels (64 by default).
    The scheduler uses SD v1.5's DDIM settings (scaled-linear betas, steps_offset 1, final alpha not one),
    so every DDIM step, the last included, has a non-zero eta variance.
    """
    if vae_scale_factor < 1 or vae_scale_factor & (vae_scale_factor - 1):
        raise ValueError(f"vae_scale_factor must be a power of two, got {vae_scale_factor}")
    gen_state = torch.random.fork_rng(devices=[])
    with gen_state:
        torch.manual_seed(seed)
        tokenizer = tiny_clip_tokenizer()
        text_config = CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden_size,
            intermediate_size=2 * text_hidden_size,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        text_encoder = CLIPTextModel(text_config)
        groups = min(8, min(unet_channels))
        unet = UNet2DConditionModel(
            sample_size=sample_size,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=unet_channels,
            down_block_types=("CrossAttnDownBlock2D",) + ("DownBlock2D",) * (len(unet_channels) - 1),
            up_block_types=("UpBlock2D",) * (len(unet_channels) - 1) + ("CrossAttnUpBlock2D",),
            cross_attention_dim=text_hidden_size,
            attention_head_dim=8,
            norm_num_groups=groups,
        )
        n_vae_blocks = vae_scale_factor.bit_length()  # 2**(n-1) == vae_scale_factor
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(8,) * n_vae_blocks,
            down_block_types=("DownEncoderBlock2D",) * n_vae_blocks,
            up_block_types=("UpDecoderBlock2D",) * n_vae_blocks,
            layers_per_block=1,
            norm_num_groups=4,
            sample_size=sample_size * vae_scale_factor,
        )
    scheduler = sampling_schedule()  # SD v1.5's DDIM configuration, as the toy model ships it
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.eval()
        module.requires_grad_(False)
    if dtype != torch.float32:
        pipe = pipe.to(dtype=dtype)
    return pipe
