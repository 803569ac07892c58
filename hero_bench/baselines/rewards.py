"""Pretrained reward models for `ddpo-reward`: a score per (image, prompt), higher = preferred.

Why an interface: the paper's DDPO baseline uses PickScore-v1, a CLIP fine-tuned on human preferences
whose score is the CLIP logit, `logit_scale.exp() * cos(image, text)`. Any transformers `CLIPModel`
scores the same way, so one backend covers PickScore (weights from `yuvalkirstain/PickScore_v1`,
tokenizer and preprocessing from the LAION CLIP-H it was fine-tuned from) and, on the toy world, the
project's toy CLIP as the "general preference" reward for the task prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from hero_bench.oracles.clip import TOY_CLIP, OracleSetupError, load_local_or_hub

PICKSCORE_MODEL = "yuvalkirstain/PickScore_v1"
PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class RewardScorer(Protocol):
    """What DDPO needs from a reward model."""

    source: str

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> torch.Tensor:
        """One float per image, [B], for the prompt it was generated from."""
        ...


def _embedding(out: Any) -> torch.Tensor:
    """transformers 5 returns an output object whose `.pooler_output` is the projected embedding."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class ClipRewardScorer:
    """`logit_scale.exp() * cos(image, text)` of a transformers CLIPModel (PickScore-v1's definition).

    `processor` (default: the model's own folder) supplies the tokenizer and image processor; folders
    without an image processor (the toy CLIP) get the toy world's preprocessing, resize and [-1, 1].
    """

    def __init__(self, model: str | Path, processor: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 32) -> None:
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        fix = ("Pass method_options.reward_model (a CLIPModel folder or hub id) and reward_processor if its "
               "tokenizer lives elsewhere; for the toy world run `hero-bench toy train`.")
        self.source = str(model)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = load_local_or_hub(lambda s, **kw: CLIPModel.from_pretrained(s, dtype=torch.float32, **kw),
                                       model, "reward CLIP weights", fix).to(self.device).eval()
        proc_source = processor if processor is not None else model
        self.tokenizer = load_local_or_hub(lambda s, **kw: AutoTokenizer.from_pretrained(s, **kw), proc_source,
                                           "reward CLIP tokenizer", fix)
        if len(self.tokenizer) <= 2:  # the silent transformers 5 failure described in DESIGN.md
            raise OracleSetupError(f"tokenizer in {proc_source} has only {len(self.tokenizer)} tokens. {fix}")
        try:
            self.processor: Any = load_local_or_hub(
                lambda s, **kw: CLIPImageProcessor.from_pretrained(s, **kw), proc_source, "image processor", fix)
        except (OracleSetupError, OSError, ValueError):
            self.processor = None
        self.image_size = int(self.model.config.vision_config.image_size)
        self.max_length = min(int(self.tokenizer.model_max_length),
                              int(self.model.config.text_config.max_position_embeddings))

    @property
    def scale(self) -> float:
        return float(self.model.logit_scale.exp())

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        rgb = [im.convert("RGB") for im in images]
        if self.processor is not None:
            return self.processor(images=rgb, return_tensors="pt").pixel_values
        size = (self.image_size, self.image_size)
        arrays = np.stack([np.asarray(im.resize(size, Image.Resampling.BICUBIC)) for im in rgb])
        return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    @torch.no_grad()
    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> torch.Tensor:
        if len(images) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts for {len(images)} images")
        out = []
        for start in range(0, len(images), self.batch_size):
            imgs, texts = images[start : start + self.batch_size], prompts[start : start + self.batch_size]
            pixels = self._pixels(imgs).to(self.device)
            tok = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
            img = _embedding(self.model.get_image_features(pixel_values=pixels)).float()
            txt = _embedding(self.model.get_text_features(**tok)).float()
            cos = torch.nn.functional.cosine_similarity(img, txt, dim=-1)
            out.append(self.scale * cos.cpu())
        return torch.cat(out)


def default_reward_model(is_toy: bool) -> tuple[str, str | None]:
    """(model, processor): the toy CLIP on the toy world, PickScore-v1 otherwise (the paper's choice)."""
    return (str(TOY_CLIP), None) if is_toy else (PICKSCORE_MODEL, PICKSCORE_PROCESSOR)
