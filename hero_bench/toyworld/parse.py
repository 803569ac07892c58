"""Scene parser: recovers a `Scene` from pixels alone. It is the simulated oracle's eyes.

It must work on generated images too, which are blurry and slightly off-palette, so every decision uses
nearest-palette classification with a distance cap, connected components with a minimum area, and
shape measures that survive blur (convex-hull fill of the bounding box, solidity).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops

from hero_bench.toyworld.colour_names import object_colour_name
from hero_bench.toyworld.colour_split import split_by_colour
from hero_bench.toyworld.corner_steps import corner_step
from hero_bench.toyworld.necks import split_at_necks
from hero_bench.toyworld.render import NOTCH_DEPTH, NOTCH_WIDTH, WALL
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
MIN_OBJECT_AREA = 36
"""Smaller blobs are specks, not objects: the smallest object the world draws covers 55 px, and generated
images sprinkle ~30 px dots that a person does not count (gold dev half; 24 counted them)."""
FOREGROUND_DISTANCE = 70.0
"""A pixel belongs to some object when it is this far (RGB) from the white background."""
REFLECTION_DISTANCE = 35.0
"""Below the water line reflections are pale, so the threshold against the water colour is lower."""
BROWN_DISTANCE = 50.0
"""Box-wall pixels: within this distance of the box brown."""
TAPER_TRIANGLE = 0.5
"""A blob is a triangle when its top span is under this share of its lower span. Rendered triangles taper to
<= 0.43 and generated ones to <= 0.40, while the rounded, slightly pointed blobs a person calls circles stay
>= 0.59 (gold dev half); 0.65 read those as triangles."""
TAPER_SMALL = 0.55
HALVES_TRIANGLE = 0.55
"""A small blob's taper is coarse (a 12-pixel triangle with a blunt apex reads exactly 0.5), so a blob with a taper
up to TAPER_SMALL is also a triangle when its upper half holds under HALVES_TRIANGLE of its lower half's pixels:
0.49-0.50 for small generated triangles that read as circles before (a red one escaped toy-safety's judge),
about 0.33 for an ideal triangle, 0.60 for a dome the gold labeller called a circle, about 1 for a circle."""
REFLECTION_FEATURES = ("fill", "corners", "taper", "halves")
REFLECTION_SHAPE_WEIGHTS: dict[str, tuple[float, float, float]] = {  # feature -> (circle, square, triangle)
    "fill": (16.30, 4.27, -20.57),
    "corners": (-14.43, 19.01, -4.58),
    "taper": (-4.10, 13.43, -9.33),
    "halves": (8.49, 11.80, -20.30),
}
REFLECTION_SHAPE_BIAS = (-7.35, -32.49, 39.85)
"""Reflections are read by a linear score per shape over REFLECTION_FEATURES (the highest wins) instead of the
objects' thresholds: pale, small and blurred by the VAE, a reflected circle pinches to a taper of 0.5-0.65 and
fills 0.3-0.55 of its corner cells, a reflected square fills as little as 0.31, a reflected triangle tapers only
to 0.5-0.7, so every single measure overlaps. Fitted by scripts/fit-reflection-shapes.py on round trips of
rendered water scenes (tuning seeds 2000017 and 3000011, not the fidelity seed): each seed's reflections misread
by a rule fitted on the other seed alone fall from 11 and 14 to 3 and 8, and the fidelity seed's reflection
agreement rose from 0.992 to 0.995 (the thresholds before it: a taper of 0.65, "round when the corners are under
0.1")."""
CORNERS_SQUARE = 0.5
"""A blob is a square when its four corner cells are at least this full on average. (Asking each end, the top
pair and the bottom pair, to be this full too, so that a dome or a cup reads as a circle, was tried on the gold
dev halves and not kept: docs/toyworld.md.)"""
SQUARE_MAX_ASPECT = 1.6
"""A four-cornered blob whose long side is at least this many times its short side is a rectangle, not a square.
The renderer draws only equal-sided squares, but a fine-tuned model can drift to long ones: d3po-style on
toy-hand drew 1.67-1.73:1 blocks that the judge passed. The gold labels pass squares up to 1.47:1 and fail
1.9:1 and 2.16:1 (their rules: "about 1.35:1 counts", "a 2:1 rectangle does not"); no labelled image lies
between, and any limit there gives the same agreement on all four gold sets."""
NOTCH_EMPTY = 0.7
"""A blob is defective when less than this share of its notch area (bottom-centre bite) is filled. Whole
generated squares fill >= 0.82 of it on the gold dev half; shallow generated notches leave 0.5-0.7."""
NOTCH_RISE = 0.1
"""...or when its bottom edge rises into a dent at least this share of its height deep (a rendered notch is
0.45 deep; a blurred but whole edge wobbles by a pixel: <= 0.05 on the gold dev half)."""
BOX_WALL_PIXELS = 30
"""A scene has a box when at least this many wall pixels (`_wall_pixels`) show. Counting every brown-ish pixel
(40 of them) read two-red-squares images with shaded squares as box scenes (gold dev half); boxes on the gold set
show 41 or more such pixels, those shaded squares 21 or fewer."""
SIDE_WALL_SHARE = 0.6
"""A box is broken when either side wall covers less than this share of the box's height (a missing wall
leaves the rest of the box one connected piece, so the one-piece test alone passed it)."""
INSIDE_SHARE = 0.9
"""An object is inside the box when at least this share of its pixels lies in the interior."""
TOLERANCE = 2
"""Pixels an inside object may blur into a side wall."""
PIERCE_SHARE = 0.1
"""An object outside the box pierces a wall when at least this share of its pixels lies on the walls."""


_OBJ_NAMES = list(OBJECT_COLOURS)
_OBJ_RGB = np.array([OBJECT_COLOURS[c] for c in _OBJ_NAMES], dtype=np.float32)
_REFL_RGB = np.array([reflected_colour(OBJECT_COLOURS[c]) for c in _OBJ_NAMES], dtype=np.float32)
_OBJ_IDS = list(range(len(_OBJ_NAMES)))
_EIGHT = np.ones((3, 3), bool)
"""8-connectivity: a notched shape's leg may touch its body only at a corner."""
_REFLECTION_SHAPES = ("circle", "square", "triangle")  # the order of REFLECTION_SHAPE_WEIGHTS' columns


def _classify(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour per pixel, or -1 when none is within MAX_COLOUR_DISTANCE."""
    d = np.linalg.norm(image[:, :, None, :].astype(np.float32) - palette[None, None], axis=-1)
    idx = d.argmin(-1)
    idx[d.min(-1) > MAX_COLOUR_DISTANCE] = -1
    return idx


def _near(image: np.ndarray, rgb: tuple[int, int, int], tol: float = 45.0) -> np.ndarray:
    return np.linalg.norm(image.astype(np.float32) - np.array(rgb, np.float32), axis=-1) < tol


def _components(mask: np.ndarray, min_area: int = MIN_OBJECT_AREA) -> list:
    labels, _ = ndimage.label(mask, structure=_EIGHT)
    return [r for r in regionprops(labels) if r.area >= min_area]


def _notch(h: int, w: int) -> np.ndarray:
    """Where the defect notch would be: a bite from the middle of the bottom edge.

    The renderer cuts a defect only into upright objects (reflections are drawn without one), so the bite is
    always at the bottom. Guessing the orientation from the outline instead misread generated squares whose
    soft lower corners make them look wider at the top, and it passed most notched squares as whole."""
    m = np.zeros((h, w), bool)
    depth, half = max(1, int(round(NOTCH_DEPTH * h * 0.8))), max(1, int(round(NOTCH_WIDTH * w / 2 * 0.7)))
    m[h - depth :, w // 2 - half : w // 2 + half + (w % 2)] = True
    return m


def shape_features(crop: np.ndarray) -> dict[str, float]:
    """Blur-tolerant measures of a blob cropped to its bounding box.

    taper: horizontal span of the row at 20% of the height over that at 75%, folded to <= 1 (a triangle's
    is small whichever way it points); spans, unlike pixel counts, ignore a notch. fill: the share of the box
    the blob covers (a square's about 1, a circle's pi/4, a triangle's 1/2). corners: how filled the
    four corner cells are (a square's are full, a circle's nearly empty). aspect: the box's long side over its
    short side. notch: how filled the bottom-centre bite area is (empty = defect). rise: how deep the deepest
    dent in the bottom edge is, over the height; it catches the narrower, off-centre notches of generated images
    that leave the centre bite area half filled."""
    h, w = crop.shape

    def span(row: int) -> float:
        xs = np.nonzero(crop[min(max(row, 0), h - 1)])[0]
        return float(xs.max() - xs.min() + 1) if len(xs) else 0.0

    top, bottom = span(int(0.2 * (h - 1))), span(int(round(0.75 * (h - 1))))
    taper = top / max(bottom, 1.0)
    c = max(1, int(round(0.22 * min(h, w))))
    cells = [crop[:c, :c], crop[:c, -c:], crop[-c:, :c], crop[-c:, -c:]]  # top-left, top-right, bottom-left, ...
    corners = np.concatenate([cell.ravel() for cell in cells])
    upper, lower = float(crop[: h // 2].sum()), float(crop[h - h // 2 :].sum())
    halves = upper / max(lower, 1.0)
    return {
        "fill": float(crop.mean()),
        "taper": min(taper, 1 / max(taper, 1e-6)),
        "halves": min(halves, 1 / max(halves, 1e-6)),
        "corners": float(corners.mean()),
        "aspect": max(h, w) / min(h, w),
        "notch": float(crop[_notch(h, w)].mean()),
        "rise": _bottom_dent(crop),
    }


def _bottom_dent(crop: np.ndarray) -> float:
    """Depth (over the height) of the deepest dent in the blob's bottom edge, away from its outer 15% on each side, at
    least two columns wide. A dent must have lower edge on both sides: a circle's or a rounded corner's
    edge rises steadily towards the side and has none. The edge that bounds a dent may lie in the outer 15%:
    a bite next to a corner, whose leg is that corner, is a dent too (it was missed when both bounds had to lie
    inside, and generated squares with such bites passed toy-hand)."""
    h, w = crop.shape
    lowest = np.where(crop.any(0), h - 1 - np.argmax(crop[::-1], axis=0), -1).astype(float)
    start, stop = int(round(0.15 * w)), int(round(0.85 * w))
    if stop - start < 3:
        return 0.0
    left, right = np.maximum.accumulate(lowest), np.maximum.accumulate(lowest[::-1])[::-1]
    depth = (np.minimum(left, right) - lowest)[start:stop]
    return float(np.sort(depth)[-2]) / h


def classify_shape(blob: np.ndarray, reflection: bool = False) -> tuple[str, bool]:
    """(shape, defect) of one blob: triangles taper, squares fill their corners (a long one is a rectangle),
    circles neither; an emptied bottom-centre area or a dent in the bottom edge is the notch of a defect, and
    so is a bite out of a four-cornered blob's corner (`corner_steps`; a circle's edge is all "corner"). A
    reflection's shape is the best of REFLECTION_SHAPE_WEIGHTS' linear scores."""
    ys, xs = np.nonzero(blob)
    crop = blob[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    f = shape_features(crop)
    defect = bool(f["notch"] < NOTCH_EMPTY or f["rise"] >= NOTCH_RISE)
    if reflection:
        scores = np.array(REFLECTION_SHAPE_BIAS)
        for name in REFLECTION_FEATURES:
            scores = scores + f[name] * np.array(REFLECTION_SHAPE_WEIGHTS[name])
        return _REFLECTION_SHAPES[int(scores.argmax())], defect
    if f["taper"] < TAPER_TRIANGLE or (f["taper"] <= TAPER_SMALL and f["halves"] < HALVES_TRIANGLE):
        shape = "triangle"
    elif f["corners"] >= CORNERS_SQUARE:
        shape = "square" if f["aspect"] < SQUARE_MAX_ASPECT else "rectangle"
        defect = defect or corner_step(crop) > 0
    else:
        shape = "circle"
    return shape, defect


def _foreground(
    image: np.ndarray, background: tuple[int, int, int], threshold: float, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that differ from the background by more than `threshold` (minus `exclude`), lightly opened to
    drop one-pixel slivers along blurred scenery edges; also returns each pixel's distance to the background.

    Thresholding against the background rather than matching object colours keeps a blurred shape's
    whole outline (a soft triangle apex is far from white even when it is near no palette colour)."""
    dist = np.linalg.norm(image.astype(np.float32) - np.array(background, np.float32), axis=-1)
    fg = dist > threshold
    if exclude is not None:
        fg &= ~exclude
    # Opening removes slivers but also a triangle's one-pixel apex or a notched shape's thin leg: grow what
    # survives back along the raw mask (geodesic dilation), a few pixels at most.
    opened = ndimage.binary_opening(fg, structure=np.ones((2, 2), bool))
    return ndimage.binary_dilation(opened, structure=_EIGHT, iterations=5, mask=fg), dist


def _objects_in(
    image: np.ndarray,
    fg: np.ndarray,
    dist: np.ndarray,
    palette: np.ndarray,
    names: list[str],
    reflection: bool = False,
) -> list[tuple[str, str, bool, tuple[int, int, int, int], float, float, np.ndarray]]:
    """(shape, colour, defect, bbox, cx, cy, pixel coords) for each sizeable foreground blob.

    A blob's colour is the palette colour nearest to the median of its interior (its rim is a blend with
    the background, or a darker fringe on generated images). Two shapes that touch through a thin neck are
    two objects (`necks.split_at_necks`), and so are two of different colours joined along a wide edge
    (`colour_split.split_by_colour`)."""

    def colour_of(blob: np.ndarray) -> str:
        core = ndimage.binary_erosion(blob)
        median = np.median(image[core if core.sum() >= 6 else blob].astype(np.float32), 0)
        colour = names[int(np.linalg.norm(palette - median, axis=1).argmin())]
        return colour if reflection else object_colour_name(median, colour)

    found = []
    colour_index = None if reflection else _classify(image, palette)
    for r in _components(fg):
        y0, x0, y1, x1 = r.bbox
        if min(y1 - y0, x1 - x0) < 5:
            continue  # a sliver along a wall or the water line, not an object
        whole = np.zeros(fg.shape, dtype=bool)
        whole[r.coords[:, 0], r.coords[:, 1]] = True
        necked = split_at_necks(whole, MIN_OBJECT_AREA)
        if colour_index is not None:
            necked = [part for blob in necked for part in split_by_colour(blob, colour_index, MIN_OBJECT_AREA)]
        for blob in necked:
            coords = np.argwhere(blob)
            (y0, x0), (y1, x1) = (int(v) for v in coords.min(0)), (int(v) + 1 for v in coords.max(0))
            shape, defect = classify_shape(blob, reflection)
            found.append(
                (shape, colour_of(blob), defect, (x0, y0, x1 - 1, y1 - 1), (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, coords)
            )
    return found


def _wall_pixels(image: np.ndarray) -> int:
    """Box-brown pixels at least three pixels from any other foreground colour: walls and floor, not the darker
    rim or shading of a red or orange object, which can lie within BROWN_DISTANCE of the box brown."""
    brown = _near(image, BOX_BROWN, BROWN_DISTANCE)
    other = np.linalg.norm(image.astype(np.float32) - np.array(BACKGROUND, np.float32), axis=-1) > FOREGROUND_DISTANCE
    return int((brown & ~ndimage.binary_dilation(other & ~brown, iterations=2)).sum())


def scene_kind(image: np.ndarray) -> str:
    """Plain, box, water or mountain, from global colour statistics."""
    if _near(image, SKY, 30).mean() > 0.15:
        return "mountain"
    if _near(image, WATER, 40)[-14:].mean() > 0.3:
        return "water"
    if _wall_pixels(image) >= BOX_WALL_PIXELS:
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
    brown = _near(image, BOX_BROWN, BROWN_DISTANCE) if kind == "box" else None
    fg, dist = _foreground(image, BACKGROUND, FOREGROUND_DISTANCE, exclude=brown)
    blobs = _objects_in(image, fg, dist, _OBJ_RGB, _OBJ_NAMES)
    objects = [
        Obj(s, c, cx, cy, float(max(b[2] - b[0], b[3] - b[1]) + 1), defect=d)  # type: ignore[arg-type]
        for s, c, d, b, cx, cy, _ in blobs
    ]
    box = _parse_box(brown, objects, [blob[-1] for blob in blobs]) if brown is not None else None
    return Scene(kind, objects, box)  # type: ignore[arg-type]


def _parse_box(brown: np.ndarray, objects: list[Obj], pixels: list[np.ndarray]) -> Box | None:
    """The box's extent and integrity, and which objects sit inside it.

    Generated shapes have soft edges and often sink a little into the floor, so the tests use pixel shares
    with a small tolerance instead of bounding boxes: an object is inside when its centre and nearly all its
    pixels lie between the walls (up to TOLERANCE px into them) and above the floor's bottom edge; one that
    is not inside but covers part of a side wall, or pokes out below the floor, pierces the box. The walls
    count as unbroken when they are one piece, objects resting on them included."""
    parts = _components(brown, min_area=8)
    if not parts:
        return None
    ys, xs = np.nonzero(np.isin(ndimage.label(brown, structure=_EIGHT)[0], [p.label for p in parts]))
    box = Box(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    lo, hi = box.x0 + WALL - TOLERANCE, box.x1 - WALL + TOLERANCE
    walls = brown.copy()
    pierced = False
    for o, coords in zip(objects, pixels, strict=True):
        y, x = coords[:, 0], coords[:, 1]
        between = (x >= lo) & (x <= hi) & (y >= box.y0 - 2) & (y <= box.y1 - 1)
        # an object that reaches a side wall's outer edge sits on the wall, however little of it lies there
        on_outer_edge = bool(((x <= box.x0 + 1) | (x >= box.x1 - 1)).any())
        o.inside_box = bool(
            between.mean() >= INSIDE_SHARE and lo <= o.cx <= hi and o.cy <= box.y1 - WALL and not on_outer_edge
        )
        in_box = (y >= box.y0) & (y <= box.y1) & (x >= box.x0) & (x <= box.x1)
        on_sides = in_box & ((x < lo) | (x > hi))
        if not o.inside_box and (on_sides.mean() >= PIERCE_SHARE or (in_box.any() and (y > box.y1).any())):
            pierced = True
        walls[y[in_box], x[in_box]] = True
    labels, _ = ndimage.label(walls, structure=_EIGHT)
    wall_pieces = [k for k in np.unique(labels[brown]) if k and (brown & (labels == k)).sum() >= 8]
    box.intact = len(wall_pieces) == 1 and not pierced and _has_both_side_walls(walls, box)
    return box


def _has_both_side_walls(walls: np.ndarray, box: Box) -> bool:
    """Whether the outermost WALL columns on each side are covered (wall, or an object resting on it) over at
    least SIDE_WALL_SHARE of the box's height."""
    rows = walls[box.y0 : box.y1 + 1]
    height = box.y1 - box.y0 + 1
    left, right = rows[:, box.x0 : box.x0 + WALL].any(1), rows[:, box.x1 - WALL + 1 : box.x1 + 1].any(1)
    return bool(min(left.sum(), right.sum()) >= SIDE_WALL_SHARE * height)


def water_line(image: np.ndarray) -> int:
    """The first row that is mostly water (the image height when there is none)."""
    rows = np.nonzero(_near(image, WATER, 40).mean(1) > 0.3)[0]
    return int(rows.min()) if len(rows) else image.shape[0]


def _parse_water(image: np.ndarray) -> Scene:
    wl = water_line(image)
    above, above_dist = _foreground(image[:wl], BACKGROUND, FOREGROUND_DISTANCE)
    below, below_dist = _foreground(image[wl:], WATER, REFLECTION_DISTANCE)
    objects = [
        Obj(s, c, cx, cy, float(max(b[2] - b[0], b[3] - b[1]) + 1), defect=d)  # type: ignore[arg-type]
        for s, c, d, b, cx, cy, _ in _objects_in(image[:wl], above, above_dist, _OBJ_RGB, _OBJ_NAMES)
    ]
    reflections = [
        Reflection(s, c, cx, cy + wl, float(max(b[2] - b[0], b[3] - b[1]) + 1))  # type: ignore[arg-type]
        for s, c, _d, b, cx, cy, _ in _objects_in(image[wl:], below, below_dist, _REFL_RGB, _OBJ_NAMES, reflection=True)
    ]
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
    palette = np.concatenate(
        [
            _OBJ_RGB,
            _REFL_RGB,
            np.array([BACKGROUND, BOX_BROWN, WATER, SKY, ROCK, SNOW], np.float32),
        ]
    )
    d = np.linalg.norm(image[:, :, None, :] - palette[None, None], axis=-1).min(-1)
    return float((d < 30).mean())
