"""Parity of our ImageReward (transformers 5 BLIP parts) with the reference `image-reward` 1.5 package.

The reference package only imports with transformers 4 and timm 0.6.13, which cannot live beside this
project's own stack. So the proof runs in two tox envs (see tox.ini):

1. `imagereward-reference` installs the reference package and runs this file as a script: it builds the
   reference `ImageReward` model at its released size, gives it random weights, and writes the state dict
   (`ImageReward.pt`), `med_config.json`, a small BERT vocabulary, a few images and prompts, and the
   reference scores into a fixture folder. The only change to the reference is that its tokenizer is
   built from that local vocabulary instead of being downloaded.
2. `imagereward-parity` installs hero-bench and runs the test below on that folder: our model loads the
   same `ImageReward.pt` through its explicit key mapping and must reproduce every score within 1e-4.

In the ordinary test suite the test is skipped (the fixture does not exist there).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FIXTURE_ENV = "HERO_BENCH_IMAGEREWARD_PARITY"
TOLERANCE = 1e-4

# The released BLIP text-encoder configuration that ImageReward ships as med_config.json (BERT-base sizes
# with cross-attention; `encoder_width` is overridden to the ViT-L width by the reference code).
MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
    "num_hidden_layers": 12, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30524,
    "encoder_width": 768, "add_cross_attention": True,
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "an", "the", "of", "in", "on", "with", "and",
         "red", "blue", "green", "black", "white", "circle", "square", "cat", "box", "rose", "##s", "mountain",
         "snow", "##y", "two", "three", "hand", "finger", "##ed", "photo", ",", ".", "!"]
PROMPTS = [
    "a red circle in a box",
    "Two blue roses, photo.",
    "a snowy mountain with a black cat " * 6,  # longer than 35 tokens: exercises truncation
    "an unseen zebra",  # out-of-vocabulary words map to [UNK]
]


def _images() -> list:
    """Deterministic test images: toy size, non-square (resize + centre crop), and full size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    toy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    wide = Image.fromarray(rng.integers(0, 256, (60, 100, 3), dtype=np.uint8))
    ramp = np.linspace(0, 255, 224, dtype=np.uint8)
    full = Image.fromarray(np.stack([np.tile(ramp, (224, 1)), np.tile(ramp[:, None], (1, 224)),
                                     np.full((224, 224), 90, np.uint8)], -1))
    grey = Image.fromarray(np.full((64, 64), 128, np.uint8), mode="L")  # converted to RGB by both
    return [toy, wide, full, grey]


def write_reference_fixture(out: Path) -> None:
    """Run the reference package (only in the `imagereward-reference` tox env) and save its scores."""
    import importlib.metadata as md

    import ImageReward.models.BLIP.blip_pretrain as blip_pretrain
    import torch
    import transformers
    from ImageReward.ImageReward import ImageReward
    from transformers import BertTokenizer

    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (out / "med_config.json").write_text(json.dumps(MED_CONFIG, indent=2))

    def local_tokenizer():  # the reference's init_tokenizer, minus the download of bert-base-uncased
        tok = BertTokenizer(str(out / "vocab.txt"))
        tok.add_special_tokens({"bos_token": "[DEC]"})
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        tok.enc_token_id = tok.additional_special_tokens_ids[0]
        return tok

    blip_pretrain.init_tokenizer = local_tokenizer
    torch.manual_seed(0)
    model = ImageReward(med_config=str(out / "med_config.json"), device="cpu").eval()
    # Random weights that make the score depend on every part: perturb all parameters (LayerNorms and
    # zero-initialised biases included, so a mis-mapped key shows) and give the MLP head unit-scale weights
    # (its released init is so small that the score would be nearly constant).
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
        for layer in model.mlp.layers:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) / layer.in_features**0.5)
    torch.save(model.state_dict(), out / "ImageReward.pt")
    names = []
    for i, img in enumerate(_images()):
        names.append(f"image{i}.png")
        img.save(out / names[-1])
    with torch.no_grad():
        scores = [[float(model.score(p, img)) for img in _images()] for p in PROMPTS]
    meta = {"prompts": PROMPTS, "images": names, "scores": scores,
            "reference": {"image-reward": md.version("image-reward"), "transformers": transformers.__version__,
                          "timm": md.version("timm"), "torch": torch.__version__}}
    (out / "reference_scores.json").write_text(json.dumps(meta, indent=2))
    print(f"reference scores written to {out}: {scores}")


def test_our_imagereward_matches_the_reference_package() -> None:
    import pytest

    folder = os.environ.get(FIXTURE_ENV)
    if not folder or not (Path(folder) / "reference_scores.json").exists():
        pytest.skip(f"run `tox -e imagereward-parity` (sets {FIXTURE_ENV}) to compare with the reference package")
    import torch
    from PIL import Image

    from hero_bench.metrics.imagereward import load_imagereward

    folder_path = Path(folder)
    meta = json.loads((folder_path / "reference_scores.json").read_text())
    images = [Image.open(folder_path / name) for name in meta["images"]]
    model = load_imagereward(folder_path)
    ref = torch.tensor(meta["scores"], dtype=torch.float64)
    assert ref.std() > 0.05, "reference scores barely vary: the comparison would prove nothing"
    ours = torch.stack([model.score([p] * len(images), images) for p in meta["prompts"]]).double()
    diff = (ours - ref).abs().max().item()
    print(f"max |ours - reference| = {diff:.2e} over {ref.numel()} prompt-image pairs; reference {meta['reference']}")
    (folder_path / "parity_result.json").write_text(json.dumps(
        {"max_abs_diff": diff, "pairs": ref.numel(), "tolerance": TOLERANCE, "reference": meta["reference"]}))
    assert diff < TOLERANCE


if __name__ == "__main__":
    write_reference_fixture(Path(sys.argv[1]))
