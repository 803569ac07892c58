"""Secondary metrics of evaluation folders, scored once and kept beside the folder's verdicts.

Scoring images with CLIP, BLIP or ImageReward is the slow part of a report, and the images are the bulky
part of a run: an archived grid (`scripts/paper-grid-archive.sh`) keeps each epoch's `verdicts.json` but
not its PNGs. So every score a report computes is also written to `metrics.json` in the evaluation folder,
tagged with a fingerprint of the metric model that produced it and of the prompts it was measured against.
A later report reuses a stored value only when the same model scores the same prompts; without the images it
reports what was stored and names what was not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hero_bench.metrics import imagereward as ir
from hero_bench.metrics.suite import MetricResult, MetricSuite
from hero_bench.reports.runs import EvalBatch, Run

STORE = "metrics.json"
VERSION = 1
"""Bump when a metric's definition changes (not its model): stored values of another version are ignored."""
MODEL_OF = {"diversity": "clip", "clip_score": "clip", "blip_score": "blip", "imagereward": "imagereward"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_EDGE = 1 << 20


def model_fingerprint(folder: Path) -> str:
    """Which weights a metric model folder holds: names, sizes and the first and last MiB of each weight file
    (hashing gigabytes of ImageReward or BLIP on every report would cost more than it protects)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES):
        size = path.stat().st_size
        h.update(f"{path.relative_to(folder).as_posix()}:{size}".encode())
        with path.open("rb") as f:
            h.update(f.read(_EDGE))
            if size > _EDGE:
                f.seek(max(size - _EDGE, _EDGE))
                h.update(f.read())
    return h.hexdigest()[:16]


def prompts_fingerprint(prompts: list[str]) -> str:
    """The metric prompts of a batch, in order: a value measured against other prompts is another value."""
    return hashlib.sha256(json.dumps(prompts).encode()).hexdigest()[:16]


def read_store(folder: Path) -> dict:
    """The stored entries of one evaluation folder ({} if none, unreadable, or of another version)."""
    try:
        data = json.loads((folder / STORE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("metrics"), dict):
        return {}
    return data["metrics"]


def write_store(folder: Path, entries: dict) -> None:
    """Best effort: a read-only run folder still gets its report, only not the saved scores."""
    tmp = folder / f".{STORE}.tmp"
    try:
        tmp.write_text(json.dumps({"version": VERSION, "metrics": entries}, indent=1, sort_keys=True))
        tmp.replace(folder / STORE)
    except OSError:
        tmp.unlink(missing_ok=True)


def stored_prompts(run: Run, folder: Path) -> list[str] | None:
    """The metric prompts of an evaluation folder from its verdicts.json and the run's task.json, which an
    archive keeps, so that stored values can be checked without the images."""
    stand_in = EvalBatch.verdicts_only(folder)
    return run.with_requested(stand_in).metric_prompts if stand_in is not None else None


class ScoredBatches:
    """The suite's metrics per evaluation folder, computed once a report (the final-epoch table and the
    per-epoch curves both score the last epoch) and stored for the next report and for archives."""

    def __init__(self, suite: MetricSuite) -> None:
        self.suite = suite
        self._done: dict[Path, MetricResult] = {}
        self._models: dict[str, str] | None = None

    def models(self) -> dict[str, str]:
        """Fingerprint of each loaded metric model ('clip', 'blip', 'imagereward')."""
        if self._models is None:
            self._models = {name: model_fingerprint(folder) for name, folder in self.suite.sources.items()
                            if getattr(self.suite, name, None) is not None}
        return self._models

    def __call__(self, run: Run, folder: Path) -> MetricResult | None:
        """Scores of one evaluation folder; None when it has neither images nor a usable stored value."""
        if folder not in self._done:
            batch = run.eval_batch(folder)
            prompts = batch.metric_prompts if batch is not None else stored_prompts(run, folder)
            if prompts is None:
                return None
            asked = prompts_fingerprint(list(prompts))
            stored = self._usable(read_store(folder), asked)
            wanted = [m for m, model in MODEL_OF.items() if getattr(self.suite, model) is not None]
            if batch is not None and (not wanted or any(m not in stored for m in wanted)):
                res = self.suite.compute(batch.images(), batch.metric_prompts)
                self._store(folder, res, asked)
            elif stored:
                res = self._from_store(stored, folder)
            else:
                return None
            self._done[folder] = res
        return self._done[folder]

    def _usable(self, entries: dict, prompts: str) -> dict[str, float]:
        models = self.models()
        return {m: float(e["value"]) for m, e in entries.items()
                if m in MODEL_OF and isinstance(e, dict) and isinstance(e.get("value"), int | float)
                and e.get("prompts") == prompts and e.get("model") is not None
                and e.get("model") == models.get(MODEL_OF[m])}

    def _store(self, folder: Path, res: MetricResult, prompts: str) -> None:
        new = {m: {"value": value, "model": self.models()[MODEL_OF[m]], "prompts": prompts}
               for m, value in res.values.items() if m in MODEL_OF and MODEL_OF[m] in self.models()}
        if new:  # a suite whose models came without a folder (built in code) has nothing to tie a score to
            write_store(folder, read_store(folder) | new)

    def missing_reason(self, metric: str, where: Path) -> str:
        """Why `metric` has no value for the evaluation images under `where` (which are not on disk)."""
        model = MODEL_OF[metric]
        if getattr(self.suite, model) is None:
            return self.suite.unavailable.get(model, f"no {model} model")
        return f"no evaluation images in {where} and no score stored for this {model} model"

    def _from_store(self, stored: dict[str, float], folder: Path) -> MetricResult:
        """Stored scores; with images on disk every wanted metric is among them (else it was computed)."""
        res = MetricResult(values=dict(stored))
        res.missing = {m: self.missing_reason(m, folder) for m in MODEL_OF if m not in stored}
        if "imagereward" in stored:
            res.notes["imagereward"] = ir.PARITY
        return res
