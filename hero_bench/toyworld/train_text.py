"""The toy model's words: a BPE tokenizer on the caption vocabulary and a small contrastive CLIP.

The CLIP's text tower becomes the pipeline's text encoder; the whole CLIP is kept for CLIP metrics and the
CLIP-proxy oracle (see `hero_bench/toyworld/train.py` for the stage order).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hero_bench.toyworld.bpe import learn_bpe, write_bpe
from hero_bench.toyworld.train_vae import images_to_tensor

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.,'-!?"
"""Characters the tokenizer knows even if no caption has them."""

if TYPE_CHECKING:
    from hero_bench.toyworld.train import TrainConfig


def train_tokenizer(captions: list[str], cfg: TrainConfig, out_dir: Path):
    """BPE with CLIP's conventions ('</w>' word ends, start/end-of-text specials), saved as a CLIPTokenizer.
    Learnt by `bpe.learn_bpe`, which gives the same vocabulary in every process (tokenizers' trainer does not)."""
    from transformers import CLIPTokenizer

    vocab, merges = learn_bpe(sorted(set(captions)), cfg.vocab_size, alphabet=ALPHABET)
    with tempfile.TemporaryDirectory() as tmp:
        clip_tok = CLIPTokenizer(*map(str, write_bpe(vocab, merges, Path(tmp))))
    clip_tok.model_max_length = cfg.max_length
    if len(clip_tok) <= 2:
        raise RuntimeError("tokenizer collapsed to special tokens only (see DESIGN.md pitfall)")
    clip_tok.save_pretrained(out_dir)
    return clip_tok


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


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
    from hero_bench.toyworld.train import warmup_cosine

    clip.to(cfg.device)  # before the optimiser: its states live where the weights do
    opt = torch.optim.AdamW(clip.parameters(), lr=5e-4, weight_decay=0.01)
    sched = warmup_cosine(opt, cfg.clip_steps, 0.1)
    clip.train()
    bar = tqdm(range(cfg.clip_steps), desc="clip", mininterval=10)
    for step in bar:
        idx = torch.from_numpy(rng.integers(0, len(captions), cfg.clip_batch))
        pix = images_to_tensor(images[idx.numpy()]).to(cfg.device)
        out = clip(input_ids=ids[idx].to(cfg.device), pixel_values=pix)
        same = (cap_id[idx][:, None] == cap_id[idx][None, :]).float().to(cfg.device)
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
    return clip.cpu()
