"""A bite out of a square's corner: the step a generated square shows when a piece at one corner is missing.

The renderer cuts its defect from the middle of the bottom edge, and the parser's notch measures
(`parse._notch`, `parse._bottom_dent`) look there. Generated squares also come with a whole corner missing:
an L-shaped block, or a block with a step in one side. The toy-hand task asks for a square with "no notch or
bite cut out of any of its edges", and the judge passed such blocks as whole (DreamBooth's final toy-hand
evaluations, Dec 2026: seven of its 30 passed images by eye, four of which this rule catches). A bite at a
corner leaves one side of the bounding box touched only along part of its length: from one end the blob keeps
well away from that side for a stretch, then steps onto it and stays there. A rounded or soft corner keeps
away only for a few pixels, and a skewed square drifts away along the whole side without a step, so neither is
a bite.
docs/toyworld.md has what this changed on the gold sets and on generated images.
"""

from __future__ import annotations

import numpy as np

STEP_DEPTH = 0.2
"""The bite is at least this deep, over the bounding box's extent across that side."""
STEP_LENGTH = 0.25
"""...and runs at least this share of the side's length from the corner."""
STEP_FLAT = 0.08
"""After the step, the edge lies within this share of the extent from the side (a blurred edge wobbles ~1 px)."""
STEP_WIDTH = 3
"""Pixels along the side in which the edge must fall from the bite's depth onto the side: a step, not a slope."""


def _side_gaps(crop: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """For each side of the bounding box: the blob's distance from it at every position along it, and the
    box's extent across it (an empty row or column counts as the full extent)."""
    h, w = crop.shape
    cols, rows = crop.any(0), crop.any(1)
    return [
        (np.where(cols, np.argmax(crop[::-1], 0), h).astype(float), h),  # bottom
        (np.where(cols, np.argmax(crop, 0), h).astype(float), h),  # top
        (np.where(rows, np.argmax(crop, 1), w).astype(float), w),  # left
        (np.where(rows, np.argmax(crop[:, ::-1], 1), w).astype(float), w),  # right
    ]


def corner_step(crop: np.ndarray) -> float:
    """The longest corner bite of a blob cropped to its bounding box, as a share of its side's length (0 when
    it has none): a run from a corner at least STEP_DEPTH deep and STEP_LENGTH long, ending in a step onto the
    side within STEP_WIDTH pixels, and the side's edge flat (STEP_FLAT) over the next 30% of the side after it."""
    longest = 0.0
    for gaps, extent in _side_gaps(crop):
        n = len(gaps)
        for gap in (gaps, gaps[::-1]):  # from either corner of that side
            deep = gap >= STEP_DEPTH * extent
            run = n if deep.all() else int(np.argmin(deep))
            after = gap[run + STEP_WIDTH : run + STEP_WIDTH + max(3, int(0.3 * n))]
            if run >= STEP_LENGTH * n and len(after) and after.max() <= STEP_FLAT * extent:
                longest = max(longest, run / n)
    return longest
