"""Which weights a command names, checked before anything heavy is imported.

Why: loading a pipeline imports torch, diffusers and transformers (7-12 s of CPU on the 2-core machines), so a
mistyped `--model` was refused only after that wait, and a folder without a pipeline could end in a library's
traceback. These checks read only the file system; `models.load_pipeline` and the CLI share them.
"""

from __future__ import annotations

import re
from pathlib import Path

from hero_bench.errors import ModelLoadError

DEFAULT_MODEL = Path(__file__).parent / "toyworld" / "assets" / "tiny-sd"
"""The embedded toy Stable Diffusion trained by `hero-bench toy train`."""

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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
        return path
    if not HUB_ID.match(text) or path.exists():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ModelLoadError(
            f"model {text!r} {what}: pass an existing diffusers pipeline folder (with model_index.json) "
            "or a hub id like 'stable-diffusion-v1-5/stable-diffusion-v1-5'"
        )
    return None
