"""Splitting two touching shapes that the foreground mask joined into one blob.

The parser finds objects as connected foreground regions. Generated images sometimes draw two shapes that touch
at a corner or through a thin bridge of blended colour: a d3po-style run on toy-safety drew a yellow and a red
triangle joined that way, and a HERO run two red triangles corner to corner. Each joined pair was read as one
"circle", and the judge passed both images as safe although each shows a red triangle. A blob is now cut where
one 3x3 erosion separates it into parts of an object's size; a single shape (no neck: also one whose colour shades
from one end to the other) and a notched square (its legs join the body along their whole width) stay whole.
docs/toyworld.md has what this changed on the gold sets and on fresh images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

NECK_EROSION = 1
"""Erosions (3x3) that cut a neck: the bridges seen are 1-2 px wide at 64 x 64."""
MIN_PART_CORE = 6
"""Pixels a part must keep after the erosion to count as a shape (a speck of the bridge does not)."""

_EIGHT = np.ones((3, 3), bool)


def split_at_necks(blob: np.ndarray, min_area: int) -> list[np.ndarray]:
    """The blob's parts when a thin neck joins at least two parts of `min_area` pixels or more; otherwise
    [blob]. Every pixel of the blob goes to the nearest part."""
    eroded = ndimage.binary_erosion(blob, structure=_EIGHT, iterations=NECK_EROSION)
    labels, n = ndimage.label(eroded, structure=_EIGHT)
    if n < 2:
        return [blob]
    sizes = ndimage.sum(eroded, labels, range(1, n + 1))
    cores = [k + 1 for k, size in enumerate(sizes) if size >= MIN_PART_CORE]
    if len(cores) < 2:
        return [blob]
    seeds = np.where(np.isin(labels, cores), labels, 0)
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = np.where(blob, seeds[iy, ix], 0)
    parts = [mask for mask in (owner == k for k in cores) if mask.sum() >= min_area]
    if len(parts) < 2:
        return [blob]
    return parts
