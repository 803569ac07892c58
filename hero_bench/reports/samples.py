"""Random sample grids of final-epoch evaluation images, each marked by the judge (the paper's Figure 4).

Samples are drawn with a fixed seed from all seeds' final evaluation images of a method, so the grid is
an honest random sample (not the best images) and the same every time the report is rebuilt. Besides the
green/red frame, each image carries a shape (disc = success, cross = failure) so the marks survive
greyscale printing and colour blindness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from hero_bench.grids import BAD, GOOD, contact_sheet
from hero_bench.reports.runs import EvalBatch


@dataclass
class SampleGrid:
    task: str
    method: str
    image: Image.Image
    n_good: int
    n: int
    pool: int
    """How many final-epoch images the sample was drawn from."""


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


def sample_grid(task: str, method: str, batches: Sequence[EvalBatch], k: int = 16, seed: int = 0) -> SampleGrid | None:
    """A grid of up to k images drawn at random from the batches (None when there are no images)."""
    pool = [(b, i) for b in batches for i in range(len(b.files))]
    if not pool:
        return None
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(pool), size=min(k, len(pool)), replace=False).tolist())
    images, good = [], []
    for p in picks:
        batch, i = pool[p]
        good.append(batch.good[i])
        images.append(mark(batch.images([i])[0], batch.good[i]))
    sheet = contact_sheet(images, good, columns=min(8, len(images)), scale=1, border=3)
    return SampleGrid(task, method, sheet, sum(good), len(good), len(pool))
