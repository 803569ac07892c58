# mypy: disable-error-code="attr-defined, arg-type"
# (diffusers pipelines register their components at runtime, invisible to mypy)
"""Train the embedded tiny Stable Diffusion on the toy world and save it in the diffusers folder layout.

Four parts, trained in order, each a real diffusers/transformers model so that the saved folder loads with
`StableDiffusionPipeline.from_pretrained(folder)` exactly like SD v1.5:
1. a BPE tokenizer (HF `tokenizers`) on the caption vocabulary, wrapped as a `CLIPTokenizer`;
2. a small CLIP (text + vision towers) trained contrastively — its text tower is the pipeline's text
   encoder, the whole model is kept for CLIP metrics and the CLIP-proxy oracle;
3. an `AutoencoderKL` (64x64 RGB <-> 8x8 latents with `latent_channels` channels, SD's downsampling factor 8);
4. a `UNet2DConditionModel` with cross-attention on the text tower's hidden states, epsilon prediction on
   SD's noise schedule, classifier-free-guidance caption dropout, and an EMA of its weights.
Everything is seeded; the same command reproduces the same weights on the same machine. Each stage lives in its
own module (train_text, train_vae, train_unet) and checkpoints itself (train_checkpoint): re-issuing a stopped
`hero-bench toy train` resumes it.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from hero_bench.errors import UnknownNameError
from hero_bench.run_files import atomic_write_text
from hero_bench.toyworld.dataset import CALIBRATED_SUCCESS_RATES, sample_examples
from hero_bench.toyworld.train_checkpoint import StageCheckpoint
from hero_bench.toyworld.train_text import make_clip, tokenize, train_clip, train_tokenizer
from hero_bench.toyworld.train_unet import make_unet, sampling_schedule, train_noise_schedule, train_unet
from hero_bench.toyworld.train_vae import finetune_decoder, images_to_tensor, make_vae, train_vae

__all__ = [
    "TrainConfig",
    "make_clip",
    "make_unet",
    "make_vae",
    "quick_config",
    "sampling_schedule",
    "tokenize",
    "train_all",
    "train_noise_schedule",
    "train_tokenizer",
]

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
    latent_channels: int = 16
    """Channels of the 8x8 latent grid: 4 (SD v1.5) loses ~15% of shapes and colours; see docs/toyworld.md."""
    vae_channels: tuple[int, ...] = (16, 32, 64, 64)
    vae_steps: int = 5000
    """The shipped VAE's steps (its round-trip agreement plateaus near 5,000; docs/toyworld.md)."""
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    vae_edge_weight: float = 4.0
    """Extra loss weight on pixels at colour edges: outlines, notches and small objects are what the judge reads."""
    decoder_steps: int = 2000
    """Decoder-only fine-tuning after the UNet stage (the latent space, and so the UNet, stay valid)."""
    decoder_lr: float = 2e-4
    decoder_edge_weight: float = 8.0
    vae_eval_every: int = 1000
    """Round-trip parser agreement on unseen scenes every this many steps (0: never), logged to vae_fidelity.json."""
    # UNet
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_layers: int = 1
    unet_steps: int = 16000
    """The shipped UNet's steps (v3, Dec 2026: 115 min on one thread here with a second job beside it)."""
    unet_batch: int = 32
    unet_lr: float = 8e-4
    cond_dropout: float = 0.1
    ema_decay: float = 0.999
    task_success_rates: dict[str, float] = field(default_factory=lambda: dict(CALIBRATED_SUCCESS_RATES))
    """How often a task-prompt caption is right in the UNet's data (see dataset.CALIBRATED_SUCCESS_RATES)."""
    checkpoint_every: int = 250
    """Steps between resumable checkpoints of the VAE and UNet stages."""
    threads: int = 1
    """Torch threads per process: 1 is fastest on a shared 2-core machine and the text and VAE stages run
    side by side; results are bit-identical only for the same thread count."""
    device: str = "cpu"
    """Where the stages train (a torch device). The shipped weights were made on the CPU; a GPU trains faster but
    gives other weights (other kernels), and a stage stopped on one device resumes on another."""
    log_every: int = 100
    extra: dict = field(default_factory=dict)


def warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup_frac: float):
    """Linear warm-up then cosine decay to 5% of the base learning rate."""
    warm = max(1, int(total * warmup_frac))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ------------------------------------------------------------------------------------------------ pipeline
# Training runs in three stages so that the text and VAE stages can run side by side (one thread each is
# faster on 2 cores than two threads for these small models); each stage writes its part into `out`.

STAGES = ("text", "vae", "unet", "decoder")


def _data(cfg: TrainConfig, calibrated: bool = False) -> tuple[np.ndarray, list[str]]:
    """The seeded training scenes. Only the UNet sees the per-task calibrated success rates: the tokenizer,
    CLIP and VAE learn words and pixels, which do not depend on how often a caption is right."""
    examples = sample_examples(cfg.seed, cfg.n_examples, cfg.task_success_rates if calibrated else None)
    return np.stack([e.image for e in examples]), [e.caption for e in examples]


_STAGE_SETTINGS = {
    "vae": ("vae_", "latent_channels"),
    "unet": ("vae_", "latent_channels", "unet_", "cond_dropout", "ema_decay", "task_success_rates"),
    "decoder": ("vae_", "latent_channels", "decoder_"),
}
_NOT_FINGERPRINTED = ("vae_steps", "unet_steps", "decoder_steps", "vae_eval_every")


def _checkpoint(cfg: TrainConfig, out: Path, stage: str) -> StageCheckpoint:
    """The stage's resumable checkpoint. Its fingerprint holds the settings the stage depends on (the data
    and its own fields) but not the step counts: a stopped training may be resumed with more (or fewer)
    steps, and its learning-rate schedule then follows the new total from the step it reached."""
    common = ("seed", "n_examples", "max_length", "vocab_size", "extra")
    own = _STAGE_SETTINGS[stage]
    settings = {
        k: v for k, v in asdict(cfg).items() if (k in common or k.startswith(own)) and k not in _NOT_FINGERPRINTED
    }
    return StageCheckpoint(out, stage, cfg.checkpoint_every, settings)


def _fidelity_monitor(out: Path, log_name: str = "vae_fidelity.json"):
    """Log the VAE's round-trip parser agreement on 200 unseen scenes during training (vae_fidelity.json)."""
    from hero_bench.toyworld.fidelity import round_trip_agreement

    log_path = out / log_name

    def monitor(step: int, vae) -> None:
        scores, _, mae = round_trip_agreement(vae, n=200)
        log = json.loads(log_path.read_text()) if log_path.exists() else []
        log = [e for e in log if e["step"] < step] + [{"step": step, "mae": round(mae, 3), **scores}]
        atomic_write_text(log_path, json.dumps(log, indent=1))  # read back when training resumes
        worst = min(scores.values())
        print(f"vae step {step}: round-trip mae {mae:.2f}, min agreement {worst:.3f} {scores}", flush=True)

    return monitor


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
    vae = train_vae(make_vae(cfg), images, cfg, rng, _checkpoint(cfg, out, "vae"), _fidelity_monitor(out))
    # Saved in fp16 now, as it ships: the UNet stage then encodes its latents with exactly the shipped VAE.
    vae.to(torch.float16).save_pretrained(out / "vae")
    _checkpoint(cfg, out, "vae").clear()


def stage_decoder(cfg: TrainConfig, out: Path) -> None:
    """Decoder-only fine-tuning of out/vae (encoder frozen); rewrites vae/ with the same latent space."""
    from diffusers import AutoencoderKL

    rng = np.random.default_rng([cfg.seed, 4])
    torch.manual_seed(cfg.seed + 4)
    images, _ = _data(cfg)
    vae = AutoencoderKL.from_pretrained(out / "vae", torch_dtype=torch.float32)
    monitor = _fidelity_monitor(out, "decoder_fidelity.json")
    vae = finetune_decoder(vae, images, cfg, rng, _checkpoint(cfg, out, "decoder"), monitor)
    vae.to(torch.float16).save_pretrained(out / "vae")
    _checkpoint(cfg, out, "decoder").clear()


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
                [vae.encode(images_to_tensor(images[i : i + 256])).latent_dist.mean for i in range(0, len(images), 256)]
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
    ckpt = _checkpoint(cfg, out, "unet")
    unet = make_unet(cfg, text_encoder.config.hidden_size)
    unet = train_unet(unet, latents, states, caption_ids, empty, cfg, rng, ckpt)
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
    ckpt.clear()


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
    for stage in stages:
        if stage not in STAGES:
            raise UnknownNameError("stage", stage, STAGES)  # a HeroBenchError: one line and exit 2 on the CLI
    torch.set_num_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
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
        elif stage == "decoder":
            stage_decoder(cfg, out)
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
    atomic_write_text(info_path, json.dumps(info, indent=2))  # read back by the next stage's command
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
        decoder_steps=2,
        vae_eval_every=0,
        threads=1,
        log_every=1,
    )


def expected_steps_hint(cfg: TrainConfig) -> str:
    """A one-line summary printed before training starts."""
    return (
        f"tokenizer + CLIP {cfg.clip_steps} steps and VAE {cfg.vae_steps} steps (side by side), then UNet "
        f"{cfg.unet_steps} steps and decoder fine-tuning {cfg.decoder_steps} steps (each stage as asked by --stages), "
        f"on {cfg.n_examples} seeded scenes (seed {cfg.seed}), "
        + (f"{cfg.threads} CPU thread(s) each" if cfg.device == "cpu" else f"on {cfg.device}")
    )
