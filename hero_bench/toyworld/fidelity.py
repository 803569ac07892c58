"""How much of a scene survives the toy VAE: parser agreement on rendered scenes after encode + decode.

The judge reads decoded images, so this round trip bounds every success rate measured on the toy world.
Scenes come from a seed that training never used (training uses seeds 0..); `hero-bench toy fidelity`
prints the table and tests assert it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hero_bench.model_source import local_model_folder
from hero_bench.toyworld.agreement import PROPERTIES, agreement
from hero_bench.toyworld.dataset import Example, sample_examples

HELD_OUT_SEED = 1_000_003
"""Seed of the fidelity scenes: far from the training seeds, so the round trip is measured on unseen scenes."""


def round_trip(vae, images: np.ndarray, batch: int = 100) -> np.ndarray:
    """Encode (posterior mode, as the pipeline's latents are) and decode uint8 images; returns uint8 images."""
    from hero_bench.toyworld.train_vae import images_to_tensor

    out = []
    weight = next(vae.parameters())  # its dtype and device (a VAE in training may be on a GPU)
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images_to_tensor(images[i : i + batch]).to(weight.device, weight.dtype)
            rec = vae.decode(vae.encode(x).latent_dist.mode()).sample.float()
            out.append(((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def round_trip_agreement(
    vae, n: int = 1000, seed: int = HELD_OUT_SEED
) -> tuple[dict[str, float], list[tuple[int, str]], float]:
    """Per-property parser agreement on decoded scenes, the disagreements, and the mean absolute pixel error."""
    examples = sample_examples(seed, n)
    images = np.stack([e.image for e in examples])
    decoded = round_trip(vae, images)
    scores, misses = agreement([Example(d, e.scene, e.caption) for d, e in zip(decoded, examples, strict=True)])
    mae = float(np.abs(decoded.astype(np.float32) - images.astype(np.float32)).mean())
    return scores, misses, mae


def load_vae(model: str | Path):
    """The VAE of a diffusers pipeline folder, in float32."""
    from diffusers import AutoencoderKL

    folder = local_model_folder(model)  # a folder without a pipeline: one line, not diffusers' traceback
    return AutoencoderKL.from_pretrained(str(folder or model), subfolder="vae", torch_dtype=torch.float32).eval()


def fidelity_table(scores: dict[str, float]) -> list[tuple[str, float]]:
    return [(p, scores[p]) for p in PROPERTIES]
