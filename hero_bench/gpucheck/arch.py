"""A Stable Diffusion pipeline of SD v1.5's exact architecture with random weights, built offline.

Why: the GPU check measures speed and memory, which depend on the architecture and the dtype, not on the
weights; building from configs shipped in the package means no hub access, no 4 GB download and no
licence step on the GPU machine. `sd-v1-5` is SD v1.5's UNet (860M parameters), VAE (84M), CLIP
ViT-L/14 text encoder (123M) and scheduler; `tiny` is the same layout shrunk for a CPU dry run.

The tokenizer is CLIP's real one (49,408 tokens), rebuilt from the BPE merge list that open_clip ships,
so prompts go through `pipe.encode_prompt` exactly as with SD v1.5.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import cache
from importlib import resources
from pathlib import Path

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from hero_bench.models import prepare_pipeline

ARCHS = ("sd-v1-5", "tiny")
COMPONENTS = ("unet", "vae", "text_encoder", "scheduler")
CLIP_VOCAB_SIZE = 49_408
_BPE_MERGES = CLIP_VOCAB_SIZE - 256 * 2 - 2  # byte symbols, byte symbols + '</w>', start and end tokens


def arch_dir(arch: str) -> Path:
    """The package folder holding one architecture's component configs."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return Path(str(resources.files("hero_bench") / "data" / "arch" / arch))


def load_configs(arch: str) -> dict[str, dict]:
    """{component: config dict} as shipped for `arch`."""
    folder = arch_dir(arch)
    return {name: json.loads((folder / f"{name}.json").read_text()) for name in COMPONENTS}


def _byte_symbols() -> list[str]:
    """CLIP's (and GPT-2's) reversible byte -> printable character table, in CLIP's vocabulary order:
    the printable bytes as themselves first, then every other byte as a character from 256 upwards."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(rest))]


@cache
def _clip_vocab() -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    # Located, not imported: only the data file is needed (a GPU image may lack open_clip's dependencies).
    spec = importlib.util.find_spec("open_clip")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    bpe = Path(folders[0] if folders else ".") / "bpe_simple_vocab_16e6.txt.gz"
    if not bpe.is_file():
        raise FileNotFoundError(f"CLIP's BPE file is missing ({bpe}); install open_clip_torch (--no-deps will do)")
    lines = gzip.open(bpe).read().decode("utf-8").split("\n")
    pairs = [line.split() for line in lines[1 : 1 + _BPE_MERGES]]  # the first line is a header
    merges = tuple((a, b) for a, b in pairs)
    symbols = _byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer() -> CLIPTokenizer:
    """SD v1.5's tokenizer (CLIP ViT-L/14's: 49,408 tokens, 77 positions), built without the hub."""
    vocab, merges = _clip_vocab()
    # tokenizers' BPE takes (left, right) pairs; transformers annotates merges as strings
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=77)  # type: ignore[arg-type]
    if len(tok) != CLIP_VOCAB_SIZE:  # transformers fails silently when a CLIP tokenizer is built wrong
        raise RuntimeError(f"built a CLIP tokenizer of {len(tok)} tokens, expected {CLIP_VOCAB_SIZE}")
    return tok


def build_components(arch: str, device: torch.device | str = "cpu", seed: int = 0) -> dict[str, torch.nn.Module]:
    """UNet, VAE and text encoder of `arch` with freshly initialised weights, created directly on `device`
    (on CUDA that makes the 1B-parameter initialisation take seconds; on `meta` it allocates nothing)."""
    cfgs = load_configs(arch)
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(cfgs["unet"])
        vae = AutoencoderKL.from_config(cfgs["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**cfgs["text_encoder"]))
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder}


def parameter_counts(arch: str) -> dict[str, int]:
    """Parameters per component, counted on the meta device (no memory, no time)."""
    parts = build_components(arch, device="meta")
    return {name: sum(p.numel() for p in module.parameters()) for name, module in parts.items()}


def build_pipeline(
    arch: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
) -> StableDiffusionPipeline:
    """A ready StableDiffusionPipeline of `arch` with random weights in `dtype` on `device`, put through
    `prepare_pipeline` like any loaded model (DDIM from the shipped scheduler config, frozen, quiet)."""
    parts = build_components(arch, device=device, seed=seed)
    for module in parts.values():
        # torch's own cast: diffusers' override warns about "fp32 modules" even when the list is empty
        torch.nn.Module.to(module, dtype=dtype)
    scheduler = PNDMScheduler.from_config(load_configs(arch)["scheduler"])
    pipe = StableDiffusionPipeline(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=clip_tokenizer(),
        unet=parts["unet"],
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return prepare_pipeline(pipe, device=device)
