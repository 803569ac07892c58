"""Text-image alignment: CLIP score (cosine of CLIP embeddings) and BLIP image-text-matching probability.

Both load from local folders only (the hub is unreachable in this project). The toy world's CLIP has no
image processor: it was trained on pixels scaled to [-1, 1] (pixel / 127.5 - 1), so images given to it
are converted the same way; a CLIP folder that ships a `preprocessor_config.json` (e.g. a saved
openai/clip-vit-large-patch14) uses its own processor instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hero_bench.metrics.availability import MetricUnavailable


def _pooled(output: torch.Tensor | object) -> torch.Tensor:
    """The projected embedding from get_*_features: a tensor in transformers 4, an output object in 5."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output  # type: ignore[attr-defined]


def toy_pixels(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """RGB images as an N x 3 x size x size tensor in [-1, 1], the toy CLIP's training convention."""
    arrays = []
    for img in images:
        img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(img, dtype=np.float32))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).div(127.5).sub(1.0)


class ClipEmbedder:
    """Unit-norm CLIP image and text embeddings from a transformers `CLIPModel` and its tokenizer."""

    def __init__(self, model, tokenizer, image_processor=None, batch_size: int = 64) -> None:
        if len(tokenizer) <= 2:  # transformers 5 builds a 2-token tokenizer silently when misused
            raise MetricUnavailable(f"CLIP tokenizer has only {len(tokenizer)} tokens: it was built wrong")
        self.model = model.float().eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.batch_size = batch_size

    @classmethod
    def from_folder(cls, folder: str | Path) -> ClipEmbedder:
        """Load a saved CLIPModel folder (weights, config, tokenizer files, optional image processor)."""
        from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise MetricUnavailable(f"no CLIP model at {folder} (config.json missing)")
        if not any((folder / f).exists() for f in ("vocab.json", "tokenizer.json")):
            raise MetricUnavailable(f"no CLIP tokenizer files (vocab.json/merges.txt) in {folder}")
        model = CLIPModel.from_pretrained(folder, dtype=torch.float32)
        tokenizer = CLIPTokenizer.from_pretrained(folder)
        processor = None
        if (folder / "preprocessor_config.json").exists():
            processor = CLIPImageProcessor.from_pretrained(folder)
        return cls(model, tokenizer, processor)

    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if self.image_processor is not None:
            return self.image_processor(images=[i.convert("RGB") for i in images], return_tensors="pt").pixel_values
        return toy_pixels(images, int(self.model.config.vision_config.image_size))

    @torch.no_grad()
    def image_embeddings(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """N x d unit vectors."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            pix = self.pixels(images[start : start + self.batch_size])
            chunks.append(_pooled(self.model.get_image_features(pixel_values=pix)))
        return torch.nn.functional.normalize(torch.cat(chunks), dim=-1)

    @torch.no_grad()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        """N x d unit vectors; prompts are padded to the tokenizer's length, as in the toy CLIP's training."""
        tok = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length, return_tensors="pt")
        emb = _pooled(self.model.get_text_features(input_ids=tok.input_ids, attention_mask=tok.attention_mask))
        return torch.nn.functional.normalize(emb, dim=-1)

    def clip_score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity of image i with prompt i (raw cosine in [-1, 1], not the x100 or x2.5 variants)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        return (self.image_embeddings(images) * self.text_embeddings(prompts)).sum(-1)


class BlipItmScorer:
    """Probability that image i matches prompt i, from BLIP's image-text-matching head (softmax, class 1)."""

    def __init__(self, model, processor, batch_size: int = 16) -> None:
        self.model = model.float().eval()
        self.processor = processor
        self.batch_size = batch_size

    @classmethod
    def from_folder(cls, folder: str | Path) -> BlipItmScorer:
        """Load a saved `BlipForImageTextRetrieval` with its `BlipProcessor` (e.g. Salesforce/blip-itm-large-coco)."""
        from transformers import BlipForImageTextRetrieval, BlipProcessor

        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise MetricUnavailable(f"no BLIP ITM model at {folder} (config.json missing)")
        if not (folder / "processor_config.json").exists() and not (folder / "preprocessor_config.json").exists():
            raise MetricUnavailable(f"no BLIP processor files in {folder}")
        model = BlipForImageTextRetrieval.from_pretrained(folder, dtype=torch.float32)
        return cls(model, BlipProcessor.from_pretrained(folder))

    @torch.no_grad()
    def itm_probability(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> torch.Tensor:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = self.processor(images=[i.convert("RGB") for i in images[start : start + self.batch_size]],
                                   text=list(prompts[start : start + self.batch_size]), padding=True,
                                   truncation=True, return_tensors="pt")
            logits = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                pixel_values=batch.pixel_values, use_itm_head=True).itm_score
            out.append(logits.softmax(-1)[:, 1])
        return torch.cat(out)
