"""Which weights a run was made with, so that a run folder is never resumed or reused on other weights.

A run's config names its model only as given (`model: null` for the embedded default), and the default's weights
change when the project ships a better toy model. A finished run of the old default would then be "reused" in a
new comparison, or an interrupted one continued on the new weights, with nothing in the results to show it.
Each run folder therefore records a fingerprint of the weights it loaded (`model.json`); a folder whose
fingerprint differs from the weights a command would load holds "a run with other settings".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hero_bench.errors import RunFolderError
from hero_bench.run_files import MODEL, atomic_write_text

_WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt")
_EDGE = 1 << 20  # bytes read from each end of a weights file: cheap for a 3 GB UNet, distinct for any retraining


def model_fingerprint(source: str | Path) -> dict[str, str]:
    """The model as named, and a hash of its component configs and its weights files (size, first and last
    MiB). A hub id that is not a local folder is fingerprinted by name only."""
    path = Path(source)
    if not path.is_dir():
        return {"source": str(source), "fingerprint": "name:" + str(source)}
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if not f.is_file() or rel.parts[0].startswith("."):
            continue
        if f.suffix in _WEIGHTS:
            size = f.stat().st_size
            with f.open("rb") as fh:
                head = fh.read(_EDGE)
                fh.seek(max(size - _EDGE, 0))
                tail = fh.read(_EDGE)
            digest.update(f"{rel}:{size}".encode() + head + tail)
        elif f.name == "config.json" and len(rel.parts) == 2:  # a component's architecture (unet/config.json)
            config = json.loads(f.read_text())
            config.pop("_name_or_path", None)  # where it was saved from, not what it is
            digest.update(f"{rel}:".encode() + json.dumps(config, sort_keys=True).encode())
    return {"source": str(source), "fingerprint": digest.hexdigest()[:20]}


def write_model_record(folder: Path, source: str | Path) -> None:
    atomic_write_text(Path(folder) / MODEL, json.dumps(model_fingerprint(source), indent=2))


def recorded_model(folder: Path) -> dict[str, str] | None:
    path = Path(folder) / MODEL
    from hero_bench.run_folders import read_run_json

    return read_run_json(path) if path.exists() else None


def same_model(folder: Path, model: str | None, default: Path) -> bool:
    """Whether the run in `folder` was made with the weights that `model` (None: the default) holds now.

    A folder from before runs recorded their weights is matched by its config's model name, except for the
    default: which weights "the default" meant then cannot be known, so such a run is never taken for today's."""
    record = recorded_model(folder)
    if record is None:
        return model is not None
    return record.get("fingerprint") == model_fingerprint(model or default)["fingerprint"]


def check_same_model(folder: Path, model: str | None, default: Path) -> None:
    """Refuse to continue an interrupted run on other weights than it was trained on so far."""
    if not same_model(folder, model, default):
        made = (recorded_model(folder) or {}).get("source", "an earlier default model")
        raise RunFolderError(
            f"{folder} was made with other weights ({made}) than {model or 'the default model'} holds now; "
            "it cannot be continued on them (start it again in another --out)"
        )
