"""Random sample grids of final-epoch evaluation images, each marked by the judge (the paper's Figure 4).

Samples are drawn with a fixed seed from all seeds' final evaluation images of a method, so the grid is
an honest random sample (not the best images) and the same every time the report is rebuilt. Besides the
green/red frame, each image carries a shape (disc = success, cross = failure) so the marks survive
greyscale printing and colour blindness.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hero_bench.grids import BAD, GOOD, contact_sheet
from hero_bench.reports.runs import EvalBatch, Run


@dataclass
class SampleGrid:
    task: str
    method: str
    image: Image.Image
    n_good: int
    n: int
    pool: int
    """How many final-epoch images the sample was drawn from."""
    picks: list[tuple[EvalBatch, int]]


def mark(img: Image.Image, good: bool, size: int = 128) -> Image.Image:
    """Upscale (nearest) and draw a success disc or failure cross in the top-left corner."""
    big = img.convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    d = ImageDraw.Draw(big)
    r = max(6, size // 10)
    box = [3, 3, 3 + 2 * r, 3 + 2 * r]
    if good:
        d.ellipse(box, fill=GOOD, outline=(255, 255, 255), width=2)
    else:
        d.rectangle(box, fill=(255, 255, 255))
        d.line([box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2], fill=BAD, width=3)
        d.line([box[0] + 2, box[3] - 2, box[2] - 2, box[1] + 2], fill=BAD, width=3)
    return big


@dataclass
class SamplePool:
    """One (task, method)'s final-epoch batches: with images where the run kept them, and as verdicts for all
    runs (`judged`), so that what a sheet shows can be worked out for archived runs too."""

    task: str
    method: str
    batches: list[EvalBatch]
    judged: list[EvalBatch]
    seed: int
    """The draw's seed: the report's seed plus this pool's place among the pools."""

    def sheet_name(self) -> str:
        return f"{_slug(self.task)}__{_slug(self.method)}.png"

    def figure_id(self) -> str:
        return f"samples-{_slug(self.task)}-{_slug(self.method)}"


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text.replace("β=", "beta"))
    return keep.strip("-") or "x"


def sample_pools(runs: Sequence[Run], seed: int = 0) -> list[SamplePool]:
    """The pools of a report's sample sheets, sorted by (task, method) label, each with its own seed."""
    found: dict[tuple[str, str], tuple[list[EvalBatch], list[EvalBatch]]] = {}
    for run in runs:
        epochs = run.eval_epochs()
        images, judged = found.setdefault((run.key[0], str(run.results["label"].iloc[0])), ([], []))
        if epochs:
            if (batch := run.final_eval()) is not None:
                images.append(batch)
            if (verdicts := EvalBatch.verdicts_only(epochs[-1])) is not None:
                judged.append(verdicts)
    pools, i = [], 0
    for (task, method), (images, judged) in sorted(found.items()):
        if images or judged:
            pools.append(SamplePool(task, method, images, judged, seed + i))
            i += 1
    return pools


def sample_picks(batches: Sequence[EvalBatch], k: int = 16, seed: int = 0) -> tuple[list[tuple[EvalBatch, int]], int]:
    """Which (batch, image index) pairs a sample grid shows, and the pool size: decided by the verdicts' counts
    alone, so a report of archived runs (verdicts, no images) can still say what its kept sheet shows."""
    pool = [(b, i) for b in batches for i in range(len(b.good))]
    if not pool:
        return [], 0
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(pool), size=min(k, len(pool)), replace=False).tolist())
    return [pool[p] for p in picks], len(pool)


def sample_grid(task: str, method: str, batches: Sequence[EvalBatch], k: int = 16, seed: int = 0) -> SampleGrid | None:
    """A grid of up to k images drawn at random from the batches (None when there are no images)."""
    picks, pool = sample_picks(batches, k, seed)
    if not picks:
        return None
    images, good = [], []
    for batch, i in picks:
        good.append(batch.good[i])
        images.append(mark(batch.images([i])[0], batch.good[i]))
    sheet = contact_sheet(images, good, columns=min(8, len(images)), scale=1, border=3)
    return SampleGrid(task, method, sheet, sum(good), len(good), pool, picks)


def picks_record(picks: Sequence[tuple[EvalBatch, int]]) -> list[list]:
    """What a sheet shows, by run and epoch folder (its last five path parts: task/method/seedN/eval/epoch_k),
    image index and verdict: the same whether the runs lie under runs/ or in an archive."""
    return [["/".join(batch.folder.parts[-5:]), i, bool(batch.good[i])] for batch, i in picks]


def record_path(sheet: Path) -> Path:
    return sheet.with_suffix(".json")


def write_record(sheet: Path, picks: Sequence[tuple[EvalBatch, int]]) -> None:
    """Saved beside the sheet, so that a report of the archived runs can check a kept sheet is theirs."""
    record_path(sheet).write_text(json.dumps({"picks": picks_record(picks)}))


def matches_record(sheet: Path, picks: Sequence[tuple[EvalBatch, int]]) -> bool:
    """True when the sheet's record names exactly these picks with these verdicts."""
    try:
        return bool(picks) and json.loads(record_path(sheet).read_text()).get("picks") == picks_record(picks)
    except (OSError, ValueError, AttributeError):
        return False
