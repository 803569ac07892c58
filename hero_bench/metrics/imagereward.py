"""ImageReward (Xu et al. 2023) rebuilt on transformers' BLIP parts, loading the released `ImageReward.pt`.

The reference `image-reward` package does not import with transformers 5 and fetches its files from a hub,
so this module re-creates its scoring path from transformers classes:

    image -> resize/crop 224, CLIP normalisation -> BLIP ViT (BlipVisionModel) -> patch states
    prompt -> BERT tokens (35, padded) -> BLIP text encoder with cross-attention to the patch states
    [CLS] state -> 5 linear layers (no activations, as released) -> (r - 0.16717) / 1.03334

and maps every key of the released state dict to this model explicitly (`map_reference_keys`): an unknown
or missing key is an error, never silently left at random init. Parity with the reference package on the
same weights is checked by `tox -e imagereward-parity`; `PARITY` records the outcome shown in reports.

A folder for `load_imagereward` holds `ImageReward.pt`, optionally `med_config.json` (the released text
encoder config; BERT-base defaults otherwise) and the bert-base-uncased tokenizer files (`vocab.txt`,
directly or in `tokenizer/`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from hero_bench.metrics.availability import MetricUnavailable

REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
"""The released model's reward normalisation constants."""
MAX_TOKENS = 35
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_DIMS = (1024, 128, 64, 16, 1)

PARITY = ("verified: max |diff| 9.5e-07 vs image-reward 1.5 (transformers 4.45.2, timm 0.6.13) on 16 prompt-image "
          "pairs at the released ViT-L/BERT-base size, random weights (tox -e imagereward-parity)")
"""'unverified' until `tox -e imagereward-parity` matched the reference package; since then, what it showed.
Re-run that env after any change to this module and update the figures (or set it back to 'unverified')."""

_V = r"blip\.visual_encoder\."
_T = r"blip\.text_encoder\."
_WB = r"(weight|bias)"
_HEAD_INDEX = {"0": 0, "2": 1, "4": 2, "6": 3, "7": 4}  # the released head interleaves Dropout modules

# (pattern over a reference key, replacement giving our key); applied with re.fullmatch.
KEY_RULES: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (_V + r"cls_token", "vision.embeddings.class_embedding"),
    (_V + r"pos_embed", "vision.embeddings.position_embedding"),
    (_V + r"patch_embed\.proj\." + _WB, r"vision.embeddings.patch_embedding.\1"),
    (_V + r"blocks\.(\d+)\.norm1\." + _WB, r"vision.encoder.layers.\1.layer_norm1.\2"),
    (_V + r"blocks\.(\d+)\.attn\.qkv\." + _WB, r"vision.encoder.layers.\1.self_attn.qkv.\2"),
    (_V + r"blocks\.(\d+)\.attn\.proj\." + _WB, r"vision.encoder.layers.\1.self_attn.projection.\2"),
    (_V + r"blocks\.(\d+)\.norm2\." + _WB, r"vision.encoder.layers.\1.layer_norm2.\2"),
    (_V + r"blocks\.(\d+)\.mlp\.(fc1|fc2)\." + _WB, r"vision.encoder.layers.\1.mlp.\2.\3"),
    (_V + r"norm\." + _WB, r"vision.post_layernorm.\1"),
    # BLIP's text encoder ("med" BERT) and transformers' BlipTextModel share their sub-module names.
    (_T + r"(embeddings\.(?:word_embeddings|position_embeddings)\.weight)", r"text.\1"),
    (_T + r"(embeddings\.LayerNorm\.(?:weight|bias))", r"text.\1"),
    (_T + r"(encoder\.layer\.\d+\.(?:attention|crossattention)\.self\.(?:query|key|value)\.(?:weight|bias))",
     r"text.\1"),
    (_T + r"(encoder\.layer\.\d+\.(?:attention|crossattention)\.output\.(?:dense|LayerNorm)\.(?:weight|bias))",
     r"text.\1"),
    (_T + r"(encoder\.layer\.\d+\.(?:intermediate|output)\.dense\.(?:weight|bias))", r"text.\1"),
    (_T + r"(encoder\.layer\.\d+\.output\.LayerNorm\.(?:weight|bias))", r"text.\1"),
    (r"mlp\.layers\.([02467])\." + _WB, lambda m: f"head.{_HEAD_INDEX[m.group(1)]}.{m.group(2)}"),
]
IGNORED_KEYS = [
    _T + r"embeddings\.position_ids",  # a buffer (0..511), rebuilt by transformers
    r"blip\.(?:vision_proj|text_proj)\." + _WB,  # contrastive projections, unused by the reward
]


def map_reference_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the released ImageReward state dict to this module's names; unknown keys are an error."""
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if any(re.fullmatch(p, key) for p in IGNORED_KEYS):
            continue
        for pattern, repl in KEY_RULES:
            m = re.fullmatch(pattern, key)
            if m:
                mapped[repl(m) if callable(repl) else m.expand(repl)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise MetricUnavailable(f"ImageReward.pt has {len(unknown)} keys this loader does not map, e.g. {unknown[:5]}")
    return mapped


def _count(mapped: dict[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in mapped if (m := pattern.match(k))})


def configs_from_weights(mapped: dict[str, torch.Tensor], med_config: dict | None = None):
    """BLIP vision and text configs whose shapes match the (mapped) weights.

    Shapes come from the tensors; what tensors cannot tell (attention heads, activation, LayerNorm eps)
    comes from med_config.json for text and from BLIP's ViT for vision (64-dim heads, eps 1e-6).
    """
    from transformers import BlipTextConfig, BlipVisionConfig

    med = med_config or {}
    try:
        pos = mapped["vision.embeddings.position_embedding"]
        patch = mapped["vision.embeddings.patch_embedding.weight"].shape[-1]
        width = pos.shape[-1]
        grid = round((pos.shape[1] - 1) ** 0.5)
        vision = BlipVisionConfig(
            hidden_size=width, intermediate_size=mapped["vision.encoder.layers.0.mlp.fc1.weight"].shape[0],
            num_hidden_layers=_count(mapped, "vision.encoder.layers."), num_attention_heads=width // 64,
            image_size=grid * patch, patch_size=patch, hidden_act="gelu", layer_norm_eps=1e-6, attention_dropout=0.0,
        )
        vocab, hidden = mapped["text.embeddings.word_embeddings.weight"].shape
        text = BlipTextConfig(
            vocab_size=vocab, hidden_size=hidden,
            encoder_hidden_size=mapped["text.encoder.layer.0.crossattention.self.key.weight"].shape[1],
            intermediate_size=mapped["text.encoder.layer.0.intermediate.dense.weight"].shape[0],
            num_hidden_layers=_count(mapped, "text.encoder.layer."),
            num_attention_heads=med.get("num_attention_heads", hidden // 64),
            max_position_embeddings=mapped["text.embeddings.position_embeddings.weight"].shape[0],
            hidden_act=med.get("hidden_act", "gelu"), layer_norm_eps=med.get("layer_norm_eps", 1e-12),
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=med.get("pad_token_id", 0),
            bos_token_id=None, eos_token_id=None, sep_token_id=None, is_decoder=True,
        )
    except KeyError as e:
        raise MetricUnavailable(f"ImageReward.pt lacks {e.args[0]!r} (after key mapping)") from None
    return vision, text


class ImageRewardModel(nn.Module):
    """BLIP ViT + cross-attending BLIP text encoder + linear head; `score` returns normalised rewards."""

    def __init__(self, vision_config, text_config, tokenizer) -> None:
        from transformers import BlipTextModel, BlipVisionModel

        super().__init__()
        self.vision = BlipVisionModel(vision_config)
        self.text = BlipTextModel(text_config, add_pooling_layer=False)
        dims = (text_config.hidden_size, *HEAD_DIMS)
        self.head = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.tokenizer = tokenizer
        self.image_size = int(vision_config.image_size)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The released transform: bicubic resize of the short side, centre crop, RGB, CLIP normalisation."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        out = []
        for img in images:
            img = TF.resize(img, self.image_size, interpolation=InterpolationMode.BICUBIC)
            img = TF.center_crop(img, self.image_size).convert("RGB")
            out.append(TF.normalize(TF.to_tensor(img), CLIP_MEAN, CLIP_STD))
        return torch.stack(out)

    @torch.no_grad()
    def score(self, prompts: Sequence[str], images: Sequence[Image.Image], batch_size: int = 8) -> torch.Tensor:
        """Reward of image i for prompt i (higher = preferred by ImageReward's human raters)."""
        if len(prompts) != len(images):
            raise ValueError(f"{len(prompts)} prompts for {len(images)} images")
        rewards = []
        for s in range(0, len(images), batch_size):
            tok = self.tokenizer(list(prompts[s : s + batch_size]), padding="max_length", truncation=True,
                                 max_length=MAX_TOKENS, return_tensors="pt")
            patches = self.vision(pixel_values=self.preprocess(images[s : s + batch_size])).last_hidden_state
            all_patches = torch.ones(patches.shape[:-1], dtype=torch.long)
            states = self.text(input_ids=tok.input_ids, attention_mask=tok.attention_mask,
                               encoder_hidden_states=patches, encoder_attention_mask=all_patches).last_hidden_state
            rewards.append(self.head(states[:, 0].float()).squeeze(-1))
        return (torch.cat(rewards) - REWARD_MEAN) / REWARD_STD


def _tokenizer(folder: Path):
    from transformers import BertTokenizer

    for candidate in (folder / "tokenizer", folder):
        if (candidate / "vocab.txt").exists() or (candidate / "tokenizer.json").exists():
            tok = BertTokenizer.from_pretrained(candidate)
            # As the reference's BLIP tokenizer: decoder and encoder markers added after BERT's vocabulary.
            tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
            return tok
    raise MetricUnavailable(f"no BERT tokenizer (bert-base-uncased vocab.txt) in {folder} or {folder / 'tokenizer'}")


def load_imagereward(folder: str | Path) -> ImageRewardModel:
    """Build the model from a folder holding the released `ImageReward.pt` (see module docstring)."""
    folder = Path(folder)
    weights = folder / "ImageReward.pt"
    if not weights.exists():
        raise MetricUnavailable(f"ImageReward weights not found: {weights} does not exist")
    tokenizer = _tokenizer(folder)
    med_path = folder / "med_config.json"
    med = json.loads(med_path.read_text()) if med_path.exists() else None
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    mapped = map_reference_keys(state)
    vision_cfg, text_cfg = configs_from_weights(mapped, med)
    model = ImageRewardModel(vision_cfg, text_cfg, tokenizer)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in mapped.items()}, strict=True)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise MetricUnavailable(f"ImageReward.pt does not fit the model: missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}")
    return model.eval()
