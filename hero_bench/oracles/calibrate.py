"""Fit a proxy oracle's decision margin against a trusted judge, and measure how well they agree.

Why: a CLIP margin of 0 means "the positive text wins", which is not the same as "a person would call
this image good". On the toy world the exact simulated oracle is the truth, so the margin that best
reproduces its labels can be fitted and the remaining disagreement reported honestly as accuracy and
Cohen's kappa (agreement beyond chance: 0 = no better than guessing the base rate, 1 = perfect).

The margin is fitted on one half of the images and reported on the other half, so the reported
agreement is not inflated by the fit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from hero_bench.errors import UnsupportedTaskError
from hero_bench.oracles.base import Oracle
from hero_bench.run_files import atomic_write_text
from hero_bench.tasks.base import Task

Labels = Sequence[bool] | np.ndarray
Scores = Sequence[float] | np.ndarray


class ScoringOracle(Protocol):
    """An oracle whose verdict is `score > threshold` (the CLIP proxy); calibration moves the threshold."""

    def scores(self, images: Sequence[Image.Image], task: Task) -> np.ndarray: ...

    def margin_for(self, task: Task) -> float: ...


# ------------------------------------------------------------------------------------------- agreement


def cohen_kappa(a: Labels, b: Labels) -> float:
    """Cohen's kappa of two binary labelings: (observed - chance agreement) / (1 - chance agreement).

    When both raters give a single constant label chance agreement is 1 and kappa is undefined; we return
    1.0 if they agree everywhere (nothing to disagree about) and 0.0 otherwise.
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"kappa needs two label lists of the same length, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError("kappa needs at least one label")
    observed = float(np.mean(x == y))
    chance = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    if chance >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - chance) / (1.0 - chance)


@dataclass(frozen=True)
class Agreement:
    """How a proxy's labels agree with the truth on a set of images."""

    n: int
    accuracy: float
    kappa: float
    truth_good_rate: float
    proxy_good_rate: float

    @classmethod
    def of(cls, truth: Labels, proxy: Labels) -> Agreement:
        t, p = np.asarray(truth, dtype=bool), np.asarray(proxy, dtype=bool)
        return cls(
            n=len(t),
            accuracy=float(np.mean(t == p)),
            kappa=cohen_kappa(t, p),
            truth_good_rate=float(t.mean()),
            proxy_good_rate=float(p.mean()),
        )


def fit_margin(scores: Scores, truth: Labels) -> float:
    """The threshold (label = score > threshold) with the highest kappa, then accuracy, on these labels.

    Candidates are midpoints between consecutive distinct scores plus one below and one above all of them,
    so every achievable split is tried once.
    """
    s, t = np.asarray(scores, dtype=float), np.asarray(truth, dtype=bool)
    if len(s) == 0 or len(s) != len(t):
        raise ValueError(f"need matching, non-empty scores and labels, got {len(s)} and {len(t)}")
    u = np.unique(s)
    candidates = np.concatenate([[u[0] - 1e-3], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-3]])
    best_key, best = (-np.inf, -np.inf), float(candidates[0])
    for c in candidates:
        pred = s > c
        key = (cohen_kappa(t, pred), float(np.mean(pred == t)))
        if key > best_key:
            best_key, best = key, float(c)
    return best


# ---------------------------------------------------------------------------------------- toy images


def toy_calibration_images(task: Task, n: int, seed: int = 0, good_rate: float = 0.5) -> list[Image.Image]:
    """`n` rendered toy-world scenes of `task`'s family, about `good_rate` of them successes by design.

    Renders (not model samples) make calibration independent of how well the toy model is trained; pass
    generated images to `calibrate` to calibrate on the model's own distribution instead.
    """
    from hero_bench.toyworld.dataset import TASK_FAMILIES, sample_task_scene
    from hero_bench.toyworld.render import render

    if not task.is_toy or task.name not in TASK_FAMILIES:
        raise UnsupportedTaskError(
            f"toy-world renders exist only for {', '.join(sorted(TASK_FAMILIES))}; task {task.name!r} needs "
            "generated images judged by a trusted oracle (pass images=...)"
        )
    rng = np.random.default_rng([seed, n])
    out = []
    for _ in range(n):
        scene, gap = sample_task_scene(rng, task.name, bool(rng.random() < good_rate))
        out.append(Image.fromarray(render(scene, gap)))
    return out


# ----------------------------------------------------------------------------------------- calibrate


@dataclass(frozen=True)
class CalibrationReport:
    """The fitted margin and the proxy's agreement with the judge, before and after fitting."""

    task: str
    n: int
    margin_before: float
    margin: float
    before: Agreement
    fit: Agreement
    held_out: Agreement
    held_out_before: Agreement

    @property
    def improved(self) -> bool:
        """Whether the fitted margin agrees better (kappa) than the old one on the held-out half.

        A margin fitted on few images can overfit; keep the old margin when this is False.
        """
        return self.held_out.kappa > self.held_out_before.kappa

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        h = self.held_out
        return (
            f"{self.task}: margin {self.margin_before:+.4f} -> {self.margin:+.4f}; held-out agreement with the "
            f"judge on {h.n} images: accuracy {h.accuracy:.3f}, kappa {h.kappa:.3f} (before fitting: accuracy "
            f"{self.held_out_before.accuracy:.3f}, kappa {self.held_out_before.kappa:.3f}; truth good rate "
            f"{h.truth_good_rate:.2f}, proxy good rate {h.proxy_good_rate:.2f})"
            + ("" if self.improved else "; the fitted margin is no better on held-out images")
        )


def calibrate(
    oracle: ScoringOracle,
    task: Task,
    judge: Oracle | None = None,
    n: int = 200,
    seed: int = 0,
    images: Sequence[Image.Image] | None = None,
) -> CalibrationReport:
    """Fit `oracle`'s margin for `task` so that its labels agree best with `judge`'s.

    `judge` defaults to the exact simulated oracle; `images` default to `n` toy renders. The margin is
    fitted on the even-indexed images and reported on the odd-indexed ones (`held_out`, and
    `held_out_before` for the current margin); `before` is the current margin on all images. The oracle
    itself is not changed: store the margin with `save_margin` (if `improved`) or pass it as `margin=`.
    """
    if judge is None:
        from hero_bench.oracles.simulated import SimulatedOracle

        judge = SimulatedOracle(seed=seed)
    imgs = list(images) if images is not None else toy_calibration_images(task, n, seed)
    if len(imgs) < 4:
        raise ValueError(f"calibration needs at least 4 images, got {len(imgs)}")
    truth = np.asarray(judge.judge(imgs, task).good, dtype=bool)
    scores = np.asarray(oracle.scores(imgs, task), dtype=float)
    before_margin = oracle.margin_for(task)
    fit_idx, test_idx = np.arange(0, len(imgs), 2), np.arange(1, len(imgs), 2)
    margin = fit_margin(scores[fit_idx], truth[fit_idx])
    return CalibrationReport(
        task=task.name,
        n=len(imgs),
        margin_before=before_margin,
        margin=margin,
        before=Agreement.of(truth, scores > before_margin),
        fit=Agreement.of(truth[fit_idx], scores[fit_idx] > margin),
        held_out=Agreement.of(truth[test_idx], scores[test_idx] > margin),
        held_out_before=Agreement.of(truth[test_idx], scores[test_idx] > before_margin),
    )


def measure_agreement(
    oracle: Oracle,
    task: Task,
    judge: Oracle | None = None,
    n: int = 200,
    seed: int = 0,
    images: Sequence[Image.Image] | None = None,
) -> Agreement:
    """Agreement of any oracle's labels with `judge`'s (default: the exact simulated oracle) on the same
    images (default: `n` toy renders). For oracles without a margin to fit (blip-vqa, vlm, human)."""
    if judge is None:
        from hero_bench.oracles.simulated import SimulatedOracle

        judge = SimulatedOracle(seed=seed)
    imgs = list(images) if images is not None else toy_calibration_images(task, n, seed)
    return Agreement.of(judge.judge(imgs, task).good, oracle.judge(imgs, task).good)


def save_margin(folder: str | Path, report: CalibrationReport) -> Path:
    """Record the fitted margin (and its agreement) beside the CLIP weights; ClipOracle reads it by default."""
    from hero_bench.oracles.clip import MARGINS_FILE, stored_calibrations

    path = Path(folder) / MARGINS_FILE
    data = stored_calibrations(path)
    data[report.task] = {
        "margin": report.margin,
        "n": report.n,
        "held_out_accuracy": round(report.held_out.accuracy, 4),
        "held_out_kappa": round(report.held_out.kappa, 4),
    }
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))  # the other tasks' margins survive a stop
    return path
