"""How crisp a model's shapes are: the share of objects whose shape sits near the parser's decision lines.

Why: the judge names a blob's shape by thresholds (a triangle tapers, a square fills its corners). A rendered
shape is far from every threshold, so its verdict is unambiguous; a generated blob between a circle and a square
(a rounded square, a cup, a shield) lands near one, where the judge and a person split (the gold set's
green-circle and blue-circle disagreements are such blobs). The palette share (`palette.py`) says whether
colours are flat; this says whether shapes are, and the VAE round trip of rendered scenes says what the latent
space allows, so a high generated share is the UNet's, not the VAE's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hero_bench.toyworld import parse

TAPER_BAND = 0.1
"""A blob whose taper is within this of `parse.TAPER_TRIANGLE` is between a triangle and a rounder shape."""
CORNER_BAND = 0.15
"""A blob that is clearly not a triangle (taper beyond the taper band) whose corner fill is within this of
`parse.CORNERS_SQUARE` is between a square and a circle. A rendered circle fills about 0.1-0.2 of its corner
cells and a square all of them, so both bands are far from rendered shapes (measured on renders and their VAE
round trips: `hero-bench toy palette`)."""


def object_shape_features(image: np.ndarray) -> list[dict[str, float]]:
    """`parse.shape_features` of every object the parser would read in `image` (reflections and scenery left
    out: a reflection is read by its own rule)."""
    image = np.asarray(image)[:, :, :3]
    kind = parse.scene_kind(image)
    if kind == "mountain":
        return []
    if kind == "water":
        image = image[: parse.water_line(image)]
    brown = parse._near(image, parse.BOX_BROWN, parse.BROWN_DISTANCE) if kind == "box" else None
    fg, _ = parse._foreground(image, parse.BACKGROUND, parse.FOREGROUND_DISTANCE, exclude=brown)
    features = []
    for region in parse._components(fg):
        y0, x0, y1, x1 = region.bbox
        if min(y1 - y0, x1 - x0) < 5:
            continue  # the parser skips slivers too
        crop = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        crop[region.coords[:, 0] - y0, region.coords[:, 1] - x0] = True
        features.append(parse.shape_features(crop))
    return features


def is_ambiguous(features: dict[str, float]) -> bool:
    """Whether a blob's measures sit within a band of the parser's triangle or square threshold."""
    near_taper = abs(features["taper"] - parse.TAPER_TRIANGLE) < TAPER_BAND
    near_corners = (
        features["taper"] >= parse.TAPER_TRIANGLE + TAPER_BAND
        and abs(features["corners"] - parse.CORNERS_SQUARE) < CORNER_BAND
    )
    return near_taper or near_corners


@dataclass(frozen=True)
class ShapeAmbiguity:
    """Ambiguous objects over all objects of a set of images."""

    ambiguous: int
    objects: int
    images: int

    @property
    def share(self) -> float:
        return self.ambiguous / self.objects if self.objects else float("nan")

    @classmethod
    def of(cls, images: Sequence[np.ndarray | Image.Image]) -> ShapeAmbiguity:
        features = [f for im in images for f in object_shape_features(np.asarray(im))]
        return cls(sum(map(is_ambiguous, features)), len(features), len(images))
