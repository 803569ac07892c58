"""The CLIP proxy oracle: an image is good when the task's positive texts beat its negative texts.

Why a proxy at all: a person or a VLM is slow and costly, while CLIP scores thousands of images a minute.
CLIP is a biased judge (weak at counting and containment), so its margin must be calibrated against a
trusted judge before its labels mean anything; `hero_bench.oracles.calibrate` does that on the toy world
and stores per-task margins beside the weights, where this oracle picks them up.

Two backends share one tiny interface (`ClipModelLike`: normalised image and text embeddings):
- transformers `CLIPModel` folders (the toy world's own CLIP, PickScore-style checkpoints, hub ids);
- `open_clip` models from a local checkpoint or a pretrained tag (`open_clip:ARCH:TAG_OR_FILE`).

`image_text_similarity` and `clip_margins` are plain functions so that metrics can reuse them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.reach import hub_reachable
from hero_bench.tasks.base import Task
from hero_bench.tasks.fit import task_text

TOY_CLIP = Path(__file__).resolve().parents[1] / "toyworld" / "assets" / "tiny-sd" / "toy_clip"
"""The toy world's CLIP (written by `hero-bench toy train`); the default weights of this oracle."""

MARGINS_FILE = "hero_bench_clip_margins.json"
"""Per-task margins fitted by `hero-bench calibrate`, stored beside the weights they were fitted for."""

OPEN_CLIP_PREFIX = "open_clip:"
TOY_IMAGE_SIZE = 64
"""Toy-world images are 64x64; a processor-less CLIP of this input size is the toy CLIP."""


class OracleSetupError(HeroBenchError):
    """An oracle cannot start: missing weights, an unreachable endpoint, a bad key. Names the fix."""


# ---------------------------------------------------------------------------------------- hub or folder


def hub_offline() -> bool:
    """True when the user switched the Hugging Face hub off (then hub ids must come from the cache)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags)


def load_local_or_hub(load: Callable[..., Any], source: str | Path, what: str, fix: str) -> Any:
    """`load(source, local_files_only=...)` from a folder, the local cache, or (if reachable) the hub.

    `what` names the weights in errors ("CLIP weights"); `fix` says how to get them. Every failure is
    an `OracleSetupError` that names the fix instead of a stack of hub-client retries.
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise OracleSetupError(f"{what}: folder {path} has no config.json (not a saved model). {fix}")
        try:
            return load(str(path), local_files_only=True)
        except OSError as e:
            raise OracleSetupError(f"{what}: could not load {path}: {e}. {fix}") from e
    if text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise OracleSetupError(f"{what}: {text!r} is neither an existing folder nor a hub id. {fix}")
    try:
        return load(text, local_files_only=True)
    except OSError as cached_error:
        why = "HF_HUB_OFFLINE is set" if hub_offline() else ("no network" if not hub_reachable() else "")
        if why:
            raise OracleSetupError(
                f"{what}: hub id {text!r} is not in the local Hugging Face cache and the hub cannot be used "
                f"({why}). " + (fix if "huggingface-cli download" in fix else f"Download it where there is network "
                f"(`huggingface-cli download {text} --local-dir <folder>`) and pass the folder. {fix}")
            ) from cached_error
    return load(text, local_files_only=False)


# --------------------------------------------------------------------------------------------- backends


class ClipModelLike(Protocol):
    """What the oracle needs from a CLIP: L2-normalised embeddings of images and of texts."""

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor: ...

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def _embedding(out: Any) -> torch.Tensor:
    """transformers 5 returns an output object whose `.pooler_output` is the projected embedding."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class HFClip:
    """A transformers `CLIPModel` folder or hub id, with its tokenizer and (if saved) image processor.

    Folders without an image processor (the toy CLIP) get the toy world's preprocessing: resize to the
    vision tower's size and scale pixels to [-1, 1] (pixel / 127.5 - 1), exactly as it was trained.
    """

    def __init__(self, source: str | Path, device: str | torch.device = "cpu") -> None:
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        fix = "Pass --oracle-model <CLIP folder or hub id> (for the toy world run `hero-bench toy train`)."
        self.source = str(source)
        self.device = torch.device(device)
        self.model = load_local_or_hub(
            lambda s, **kw: CLIPModel.from_pretrained(s, dtype=torch.float32, **kw), source, "CLIP weights", fix
        ).to(self.device).eval()
        self.tokenizer = load_local_or_hub(
            lambda s, **kw: AutoTokenizer.from_pretrained(s, **kw), source, "CLIP tokenizer", fix
        )
        if len(self.tokenizer) <= 2:  # the silent transformers 5 failure described in DESIGN.md
            raise OracleSetupError(f"CLIP tokenizer in {source} has only {len(self.tokenizer)} tokens. {fix}")
        try:
            self.processor: Any = load_local_or_hub(
                lambda s, **kw: CLIPImageProcessor.from_pretrained(s, **kw), source, "CLIP image processor", fix
            )
        except (OracleSetupError, OSError, ValueError):
            self.processor = None
        self.image_size = int(self.model.config.vision_config.image_size)
        if self.processor is None and self.image_size != TOY_IMAGE_SIZE:
            # Only the toy CLIP is trained on [-1, 1] pixels; a real CLIP fed them would score silently wrong.
            raise OracleSetupError(
                f"CLIP folder {source} has no preprocessor_config.json: save the image processor of its base "
                "model into it (e.g. CLIPImageProcessor.from_pretrained(<base>).save_pretrained(folder); for "
                "PickScore the base is laion/CLIP-ViT-H-14-laion2B-s32B-b79K)"
            )
        self.max_length = min(
            int(self.tokenizer.model_max_length), int(self.model.config.text_config.max_position_embeddings)
        )

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if self.processor is not None:
            return self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt").pixel_values
        arrays = [
            np.asarray(im.convert("RGB").resize((self.image_size, self.image_size), Image.Resampling.BICUBIC))
            for im in images
        ]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        pixels = self._pixels(images).to(self.device, self.model.dtype)
        return _normalise(_embedding(self.model.get_image_features(pixel_values=pixels)).float())

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tok = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        return _normalise(_embedding(self.model.get_text_features(**tok)).float())


class OpenClip:
    """An open_clip model: `arch` (e.g. "ViT-B-32") with `pretrained` = a checkpoint file or a tag."""

    def __init__(self, arch: str, pretrained: str, device: str | torch.device = "cpu") -> None:
        import open_clip

        self.source = f"{OPEN_CLIP_PREFIX}{arch}:{pretrained}"
        self.device = torch.device(device)
        if arch not in open_clip.list_models():
            raise OracleSetupError(
                f"open_clip has no architecture {arch!r}; pick one of `open_clip.list_models()` (e.g. ViT-B-32)"
            )
        is_file = Path(pretrained).expanduser().is_file()
        if not is_file:
            tags = open_clip.list_pretrained_tags_by_model(arch)
            if pretrained not in tags:
                raise OracleSetupError(
                    f"open_clip pretrained {pretrained!r} is neither a checkpoint file nor a tag of {arch} "
                    f"(tags: {', '.join(tags) or 'none'}); pass open_clip:{arch}:/path/to/checkpoint"
                )
            if hub_offline() or not hub_reachable():
                raise OracleSetupError(
                    f"open_clip tag {pretrained!r} must be downloaded but the hub is off or unreachable: "
                    f"download the checkpoint elsewhere and pass open_clip:{arch}:/path/to/checkpoint"
                )
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=str(Path(pretrained).expanduser()) if is_file else pretrained
            )
        except (RuntimeError, KeyError) as e:
            raise OracleSetupError(f"checkpoint {pretrained} does not fit open_clip {arch}: {e}") from e
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(arch)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        pixels = torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(self.device)
        return _normalise(self.model.encode_image(pixels).float())

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return _normalise(self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float())


def load_clip(model: str | Path | None = None, device: str | torch.device = "cpu") -> HFClip | OpenClip:
    """Pick the backend from the spec: `open_clip:ARCH:TAG_OR_FILE`, else a CLIPModel folder or hub id.

    None means the toy world's CLIP; if it is missing the error says to train it. A toy pipeline folder
    (one with a `toy_clip/` subfolder) means the CLIP trained with that pipeline.
    """
    if model is None:
        if not (TOY_CLIP / "config.json").is_file():
            raise OracleSetupError(
                f"the toy CLIP is missing ({TOY_CLIP}): run `hero-bench toy train` (or pass --oracle-model)"
            )
        model = TOY_CLIP
    text = str(model)
    nested = Path(text).expanduser() / TOY_CLIP.name
    if not (Path(text).expanduser() / "config.json").exists() and (nested / "config.json").is_file():
        text = str(nested)  # a toy pipeline folder: use the CLIP trained beside it
    if text.startswith(OPEN_CLIP_PREFIX):
        arch, sep, pretrained = text[len(OPEN_CLIP_PREFIX) :].partition(":")
        if not sep or not arch or not pretrained:
            raise OracleSetupError(f"open_clip model spec must look like open_clip:ARCH:TAG_OR_FILE, got {text!r}")
        return OpenClip(arch, pretrained, device=device)
    return HFClip(text, device=device)


# ------------------------------------------------------------------------------------------ scoring


def image_text_similarity(
    model: ClipModelLike, images: Sequence[Image.Image], texts: Sequence[str], batch_size: int = 64
) -> np.ndarray:
    """Cosine similarity of every image with every text, shape [n_images, n_texts] (CLIP score / 100)."""
    text_emb = model.encode_texts(texts)
    rows = [model.encode_images(images[i : i + batch_size]) @ text_emb.T for i in range(0, len(images), batch_size)]
    return torch.cat(rows).cpu().numpy() if rows else np.zeros((0, len(texts)), dtype=np.float32)


def clip_margins(
    model: ClipModelLike,
    images: Sequence[Image.Image],
    positive: Sequence[str],
    negative: Sequence[str] = (),
    batch_size: int = 64,
) -> np.ndarray:
    """Per image: best positive similarity minus best negative similarity (just the best positive if none).

    Max over each side: an image needs to match *one* phrasing of success, and fails if it matches any
    one failure mode better.
    """
    sims = image_text_similarity(model, images, [*positive, *negative], batch_size)
    pos = sims[:, : len(positive)].max(axis=1)
    if not negative:
        return pos
    return pos - sims[:, len(positive) :].max(axis=1)


def stored_calibrations(path: Path) -> dict[str, Any]:
    """The margins file's records by task ({} if never calibrated); a damaged file names itself, since it
    holds every task's calibration and must be neither read as 'uncalibrated' nor written over."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        for record in data.values():
            _margin_of(record)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise HeroBenchError(f"{path}: not a margins file ({type(e).__name__}: {e}); re-run `hero-bench "
                             "calibrate --oracle clip` for each task, or remove the file") from e
    return data


def _margin_of(record: Any) -> float:
    """A task's record ({"margin": m, ...}, or a bare number in files from before the agreement was kept)."""
    return float(record["margin"] if isinstance(record, Mapping) else record)


def read_margins(folder: str | Path) -> dict[str, float]:
    """Task -> fitted margin stored beside CLIP weights (empty if never calibrated)."""
    return {str(k): _margin_of(v) for k, v in stored_calibrations(Path(folder) / MARGINS_FILE).items()}


# ------------------------------------------------------------------------------------------------ oracle


class ClipOracle(Oracle):
    """Good when CLIP's positive-minus-negative margin exceeds the task's calibrated margin; best = top margin."""

    name = "clip"

    def __init__(
        self,
        model: str | Path | None = None,
        margin: float | Mapping[str, float] | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        seed: int = 0,
        clip: ClipModelLike | None = None,
    ) -> None:
        """`model`: see `load_clip`. `margin`: one number, per-task numbers, or None for the calibrated
        margins stored beside the weights (0.0 for a task never calibrated). `clip` injects a loaded model.
        `seed` is accepted for a uniform oracle interface; CLIP scoring is deterministic.
        """
        self.clip: ClipModelLike = clip if clip is not None else load_clip(model, device=device)
        self.batch_size = batch_size
        self.seed = seed
        folder = self.margins_folder
        self.stored_margins = read_margins(folder) if folder else {}
        self.margin = margin

    @property
    def margins_folder(self) -> Path | None:
        """Where calibrated margins are stored: the weights' folder (None for open_clip or hub models)."""
        source = getattr(self.clip, "source", None)
        return Path(source) if source and Path(source).is_dir() else None

    def margin_for(self, task: Task) -> float:
        """The decision threshold for `task` (explicit > calibrated > 0)."""
        if isinstance(self.margin, int | float):
            return float(self.margin)
        if isinstance(self.margin, Mapping) and task.name in self.margin:
            return float(self.margin[task.name])
        return float(self.stored_margins.get(task.name, 0.0))

    def scores(self, images: Sequence[Image.Image], task: Task) -> np.ndarray:
        """Raw margins (positive minus negative similarity), the quantity calibration thresholds."""
        texts = task_text(task, "clip")
        return clip_margins(self.clip, images, texts.positive, texts.negative, self.batch_size)

    def judge(
        self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None
    ) -> Feedback:
        """`prompts` is ignored: the task's CLIP texts describe success for every evaluation prompt."""
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        margins = self.scores(images, task)
        threshold = self.margin_for(task)
        good = [bool(m > threshold) for m in margins]
        good_idx = [i for i, g in enumerate(good) if g]
        best = max(good_idx, key=lambda i: (margins[i], -i)) if good_idx else None
        reasons = [[] if g else [f"CLIP margin {m:.4f} <= {threshold:.4f}"] for g, m in zip(good, margins, strict=True)]
        return Feedback(good=good, best=best, scores=[float(m) for m in margins], reasons=reasons)
