"""Which weights a command names, checked before anything heavy is imported.

Why: loading a pipeline imports torch, diffusers and transformers (7-12 s of CPU on the 2-core machines), so a
mistyped `--model` was refused only after that wait, and a folder without a pipeline could end in a library's
traceback. These checks read only the file system; `models.load_pipeline` and the CLI share them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hero_bench.errors import ModelLoadError

DEFAULT_MODEL = Path(__file__).parent / "toyworld" / "assets" / "tiny-sd"
"""The embedded toy Stable Diffusion trained by `hero-bench toy train`."""

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# Components a Stable Diffusion pipeline cannot load without (the safety checker and feature extractor are dropped).
REQUIRED = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _missing_components(folder: Path) -> list[str]:
    """Required components listed in model_index.json whose subfolder has no config (diffusers would answer
    "no file named config.json found in directory <the pipeline folder>", naming the wrong folder)."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"model folder {folder}: model_index.json is not valid JSON ({e})") from e
    missing = []
    for name in REQUIRED:
        entry = index.get(name) if isinstance(index, dict) else None
        if not (isinstance(entry, list) and entry and entry[0] is not None):
            continue  # not listed (or null): not this check's business
        sub = folder / name
        if not sub.is_dir() or not any(sub.glob("*.json")) and not any(sub.glob("*.txt")):
            missing.append(f"{name}/")
    return missing


def local_model_folder(model: str | Path) -> Path | None:
    """The diffusers pipeline folder `model` names, or None for a hub id (resolved later, from the cache or the
    hub). Anything else raises ModelLoadError with what to pass instead."""
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"model folder {path} has no model_index.json; expected a diffusers pipeline folder "
                "(as written by StableDiffusionPipeline.save_pretrained)"
            )
        missing = _missing_components(path)
        if missing:
            raise ModelLoadError(
                f"model folder {path} lacks {', '.join(missing)}, which its model_index.json lists: copy the whole "
                "pipeline folder (each component in its own subfolder with its config)"
            )
        return path
    if not HUB_ID.match(text) or path.exists():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ModelLoadError(
            f"model {text!r} {what}: pass an existing diffusers pipeline folder (with model_index.json) "
            "or a hub id like 'stable-diffusion-v1-5/stable-diffusion-v1-5'"
        )
    return None
