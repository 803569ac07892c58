"""Contact sheets: a batch of images in a grid, each framed green (good) or red (bad), the best one marked."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

GOOD = (40, 170, 70)
BAD = (210, 50, 50)
BEST = (250, 200, 0)


def contact_sheet(
    images: Sequence[Image.Image],
    good: Sequence[bool] | None = None,
    best: int | None = None,
    columns: int | None = None,
    scale: int = 2,
    border: int = 3,
) -> Image.Image:
    """One PNG-ready grid; without verdicts the frames are neutral grey."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    n = len(images)
    cols = columns or min(n, max(1, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    w, h = images[0].width * scale, images[0].height * scale
    cell_w, cell_h = w + 2 * border, h + 2 * border
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        x, y = c * cell_w, r * cell_h
        colour = (160, 160, 160) if good is None else (GOOD if good[i] else BAD)
        if best is not None and i == best:
            colour = BEST
        draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], fill=colour)
        sheet.paste(img.convert("RGB").resize((w, h), Image.Resampling.NEAREST), (x + border, y + border))
    return sheet
