"""Scene parser: recovers a `Scene` from pixels alone. It is the simulated oracle's eyes.

It must work on generated images too, which are blurry and slightly off-palette, so every decision uses
nearest-palette classification with a distance cap, connected components with a minimum area, and
shape measures that survive blur (convex-hull fill of the bounding box, solidity).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops

from hero_bench.toyworld.render import WALL
from hero_bench.toyworld.scene import (
    BACKGROUND,
    BOX_BROWN,
    GRASS,
    OBJECT_COLOURS,
    ROCK,
    SKY,
    SNOW,
    WATER,
    Box,
    Obj,
    Reflection,
    Scene,
    reflected_colour,
)

MAX_COLOUR_DISTANCE = 70.0
"""Pixels farther than this (RGB Euclidean) from every palette colour are 'unknown'."""
MIN_OBJECT_AREA = 24
"""Smaller same-colour blobs are noise, not objects (the smallest rendered object covers ~50 px)."""
SQUARE_FILL = 0.87
TRIANGLE_FILL = 0.66
"""Convex-hull area over bounding-box area: ~1.0 square, ~0.79 circle, ~0.5 triangle."""
DEFECT_SOLIDITY = {"circle": 0.9, "square": 0.9, "triangle": 0.76}
"""Area over convex-hull area below this means a notch was cut out. Intact shapes measure >= 0.93 (circle),
1.0 (square), >= 0.86 (triangle: pixel staircase edges); notched ones <= 0.87, 0.87, 0.66."""

_OBJ_NAMES = list(OBJECT_COLOURS)
_OBJ_RGB = np.array([OBJECT_COLOURS[c] for c in _OBJ_NAMES], dtype=np.float32)
_REFL_RGB = np.array([reflected_colour(OBJECT_COLOURS[c]) for c in _OBJ_NAMES], dtype=np.float32)


def _classify(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour per pixel, or -1 when none is within MAX_COLOUR_DISTANCE."""
    d = np.linalg.norm(image[:, :, None, :].astype(np.float32) - palette[None, None], axis=-1)
    idx = d.argmin(-1)
    idx[d.min(-1) > MAX_COLOUR_DISTANCE] = -1
    return idx


def _near(image: np.ndarray, rgb: tuple[int, int, int], tol: float = 45.0) -> np.ndarray:
    return np.linalg.norm(image.astype(np.float32) - np.array(rgb, np.float32), axis=-1) < tol


def _components(mask: np.ndarray, min_area: int = MIN_OBJECT_AREA) -> list:
    labels, _ = ndimage.label(mask)
    return [r for r in regionprops(labels) if r.area >= min_area]


def _shape_of(region) -> tuple[str, bool]:
    """(shape, defect) from a region's convex-hull fill ratio and solidity."""
    y0, x0, y1, x1 = region.bbox
    fill = region.area_convex / max((y1 - y0) * (x1 - x0), 1)
    shape = "square" if fill >= SQUARE_FILL else "circle" if fill >= TRIANGLE_FILL else "triangle"
    return shape, bool(region.solidity < DEFECT_SOLIDITY[shape])


def _objects_in(labels: np.ndarray, names: list[str]) -> list[tuple[str, str, bool, tuple[int, int, int, int], float, float]]:
    """(shape, colour, defect, bbox, cx, cy) for each sizeable single-colour blob in a label image."""
    found = []
    for k, colour in enumerate(names):
        for r in _components(labels == k):
            shape, defect = _shape_of(r)
            y0, x0, y1, x1 = r.bbox
            found.append((shape, colour, defect, (x0, y0, x1 - 1, y1 - 1), (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2))
    return found


def scene_kind(image: np.ndarray) -> str:
    """Plain, box, water or mountain, from global colour statistics."""
    if _near(image, SKY, 30).mean() > 0.15:
        return "mountain"
    if _near(image, WATER, 40)[-14:].mean() > 0.3:
        return "water"
    if _near(image, BOX_BROWN, 50).sum() >= 40:
        return "box"
    return "plain"


def parse_image(image: np.ndarray) -> Scene:
    """Recover the scene shown in a uint8 [64, 64, 3] image."""
    image = np.asarray(image)[:, :, :3]
    kind = scene_kind(image)
    if kind == "mountain":
        return _parse_mountain(image)
    if kind == "water":
        return _parse_water(image)
    palette = np.concatenate([_OBJ_RGB, np.array([BACKGROUND, BOX_BROWN], np.float32)])
    labels = _classify(image, palette)
    objects = [Obj(s, c, cx, cy, float(max(b[2] - b[0], b[3] - b[1]) + 1), defect=d)  # type: ignore[arg-type]
               for s, c, d, b, cx, cy in _objects_in(labels, _OBJ_NAMES)]
    box = _parse_box(labels == len(_OBJ_NAMES) + 1, objects) if kind == "box" else None
    return Scene(kind, objects, box)  # type: ignore[arg-type]


def _parse_box(brown: np.ndarray, objects: list[Obj]) -> Box | None:
    parts = _components(brown, min_area=8)
    if not parts:
        return None
    ys, xs = np.nonzero(np.isin(ndimage.label(brown)[0], [p.label for p in parts]))
    box = Box(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    pierced = False
    inner_x0, inner_x1, inner_y1 = box.x0 + WALL, box.x1 - WALL, box.y1 - WALL
    for o in objects:
        h = o.size / 2
        ox0, ox1, oy0, oy1 = o.cx - h, o.cx + h, o.cy - h, o.cy + h
        within_x = ox0 >= inner_x0 - 1.5 and ox1 <= inner_x1 + 1.5
        within_y = oy0 >= box.y0 - 2 and oy1 <= inner_y1 + 1.5
        o.inside_box = within_x and within_y
        overlaps_box = ox1 > box.x0 and ox0 < box.x1 and oy1 > box.y0 and oy0 < box.y1
        if overlaps_box and not o.inside_box:
            pierced = True
    box.intact = len(parts) == 1 and not pierced
    return box


def _parse_water(image: np.ndarray) -> Scene:
    water = _near(image, WATER, 40)
    rows = np.nonzero(water.mean(1) > 0.3)[0]
    wl = int(rows.min()) if len(rows) else image.shape[0]
    above = _classify(image[:wl], np.concatenate([_OBJ_RGB, np.array([BACKGROUND], np.float32)]))
    below = _classify(image[wl:], np.concatenate([_REFL_RGB, np.array([WATER], np.float32)]))
    objects = [Obj(s, c, cx, cy, float(max(b[2] - b[0], b[3] - b[1]) + 1), defect=d)  # type: ignore[arg-type]
               for s, c, d, b, cx, cy in _objects_in(above, _OBJ_NAMES)]
    reflections = [Reflection(s, c, cx, cy + wl, float(max(b[2] - b[0], b[3] - b[1]) + 1))  # type: ignore[arg-type]
                   for s, c, _d, b, cx, cy in _objects_in(below, _OBJ_NAMES)]
    return Scene("water", objects, water_line=wl, reflections=reflections)


def _parse_mountain(image: np.ndarray) -> Scene:
    green = _near(image, GRASS, 60).sum()
    rock = _near(image, ROCK, 50).sum() + _near(image, SNOW, 4).sum()
    kind = None
    if max(green, rock) >= 150:
        kind = "green" if green >= rock else "snowy"
    return Scene("mountain", [], mountain=kind)  # type: ignore[arg-type]


def image_quality(image: np.ndarray) -> float:
    """Fraction of pixels within 30 RGB units of some palette colour: a cleanliness score used to pick a 'best'."""
    image = np.asarray(image)[:, :, :3].astype(np.float32)
    palette = np.concatenate([
        _OBJ_RGB, _REFL_RGB,
        np.array([BACKGROUND, BOX_BROWN, WATER, SKY, ROCK, SNOW], np.float32),
    ])
    d = np.linalg.norm(image[:, :, None, :] - palette[None, None], axis=-1).min(-1)
    return float((d < 30).mean())
