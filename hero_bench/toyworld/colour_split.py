"""Splitting a blob that holds two objects of clearly different colours joined along a wide edge.

`necks.split_at_necks` cuts shapes that touch through a thin bridge. Generated images also fuse two shapes
along a wide join: a red triangle grown into the side of a green one (`hero-bench generate --task toy-safety
--n 256 --seed 5`, image 198, tests/data/red-green-fused.png), one blob to the mask and no neck to cut. The blob
took the colour of its interior's median, green, and its shape from the outline of both; the judge passed the
image as safe although it shows a red triangle.

Neither the seam's width nor its colour tells such a pair from one object whose colour shades across it: the
seam between the fused red and green is 3 px of blend, about as wide as the orange band of a red-to-yellow
triangle. The colours do: one object shades between hue neighbours (red to yellow or to purple, green to blue,
blue to purple; the older gold sets hold such objects) and darkens towards black (rims, shadows), but not across
the colour wheel. So a blob is split only between colours at least MIN_HUE_APART apart, black never, each
covering MIN_COLOUR_CORE connected core pixels; each such colour's largest core region seeds a part, and every
pixel of the blob goes to the nearest seed. docs/toyworld.md has what this changed on the gold sets and on fresh
images.
"""

from __future__ import annotations

import colorsys

import numpy as np
from scipy import ndimage

from hero_bench.toyworld.scene import OBJECT_COLOURS

MIN_HUE_APART = 110.0
"""Degrees of hue two colours must lie apart to be split: red-green (129), red-blue (132), yellow-blue (177),
yellow-purple (127) and green-purple (155) are; red-yellow (51), red-purple (76), yellow-green (78), green-blue
(99) and blue-purple (56), between which generated objects shade, are not."""
MIN_COLOUR_CORE = 12
"""Core pixels (after one 3x3 erosion) a colour must cover, in one connected region, to seed an object of its own:
the smallest rendered object (a 10 px triangle) keeps 21 there, a 12 px one 36; a blend between two shapes, a
few."""

_EIGHT = np.ones((3, 3), bool)


def _hue(rgb: tuple[int, int, int]) -> float | None:
    """Hue in degrees, None for a grey (black has no hue to shade across)."""
    h, s, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return 360.0 * h if s > 0.2 else None


def _apart(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    gap = abs(a - b) % 360.0
    return min(gap, 360.0 - gap) >= MIN_HUE_APART


_HUES = [_hue(rgb) for rgb in OBJECT_COLOURS.values()]
APART = np.array([[_apart(a, b) for b in _HUES] for a in _HUES])
"""APART[i, j]: palette colours i and j (OBJECT_COLOURS' order, as `parse._classify` numbers them) may split."""


def split_by_colour(blob: np.ndarray, colour_index: np.ndarray, min_area: int) -> list[np.ndarray]:
    """The blob's parts when its core holds colours that may split (APART), each over MIN_COLOUR_CORE connected
    pixels, and every part keeps `min_area` pixels; otherwise [blob]. `colour_index` is the nearest object colour
    of each pixel of the image in OBJECT_COLOURS' order, -1 where none is near (`parse._classify`)."""
    core = ndimage.binary_erosion(blob, structure=_EIGHT)
    regions: list[tuple[int, int, np.ndarray]] = []  # (size, colour, its largest core region)
    for colour in np.unique(colour_index[core]):
        if colour < 0:
            continue
        labels, n = ndimage.label(core & (colour_index == colour), structure=_EIGHT)
        sizes = ndimage.sum(core, labels, range(1, n + 1))
        if n and sizes.max() >= MIN_COLOUR_CORE:
            regions.append((int(sizes.max()), int(colour), labels == int(np.argmax(sizes)) + 1))
    kept: list[tuple[int, np.ndarray]] = []
    for _, colour, region in sorted(regions, key=lambda r: -r[0]):  # the largest colour first
        if all(APART[colour, other] for other, _ in kept):
            kept.append((colour, region))
    if len(kept) < 2:
        return [blob]
    seeds = np.zeros(blob.shape, dtype=np.int32)
    for k, (_, region) in enumerate(kept):
        seeds[region] = k + 1
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = np.where(blob, seeds[iy, ix], 0)
    parts = [owner == k + 1 for k in range(len(kept))]
    return parts if all(part.sum() >= min_area for part in parts) else [blob]
