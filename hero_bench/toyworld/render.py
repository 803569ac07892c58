"""Draw a `Scene` onto a 64x64 RGB canvas.

Flat palette colours and no anti-aliasing: the parser can then recover the scene exactly from rendered
images, and generated images are judged by how close they come to this clean look.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from hero_bench.toyworld.scene import (
    BACKGROUND,
    BOX_BROWN,
    CANVAS,
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

WALL = 4
"""Thickness of a box wall in pixels."""
NOTCH_WIDTH = 0.4
NOTCH_DEPTH = 0.45
"""A defect is a rectangular bite of NOTCH_WIDTH x NOTCH_DEPTH (fractions of the object size) from its bottom edge."""


def shape_mask(shape: str, cx: float, cy: float, size: float, flip: bool = False, defect: bool = False) -> np.ndarray:
    """Boolean mask of one filled shape; `flip` mirrors it vertically (reflections), `defect` cuts the notch."""
    img = Image.new("1", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    h = size / 2
    box = (cx - h, cy - h, cx + h - 1, cy + h - 1)
    if shape == "circle":
        draw.ellipse(box, fill=1)
    elif shape == "square":
        draw.rectangle(box, fill=1)
    elif shape == "triangle":
        apex, base = (cy - h, cy + h - 1) if not flip else (cy + h - 1, cy - h)
        draw.polygon([(cx - 0.5, apex), (cx - h, base), (cx + h - 1, base)], fill=1)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    mask = np.array(img, dtype=bool)
    if defect:
        nw, nd = NOTCH_WIDTH * size / 2, NOTCH_DEPTH * size
        edge = cy - h if flip else cy + h
        y0, y1 = (edge, edge + nd) if flip else (edge - nd, edge)
        notch = np.zeros_like(mask)
        notch[max(int(round(y0)), 0) : max(int(round(y1)), 0), max(int(round(cx - nw)), 0) : int(round(cx + nw))] = True
        mask &= ~notch
    return mask


def box_masks(box: Box, gap: tuple[str, float] | None = None) -> np.ndarray:
    """Mask of an open-topped box's three walls, optionally with a gap (wall name, position along it)."""
    m = np.zeros((CANVAS, CANVAS), dtype=bool)
    m[box.y0 : box.y1 + 1, box.x0 : box.x0 + WALL] = True
    m[box.y0 : box.y1 + 1, box.x1 - WALL + 1 : box.x1 + 1] = True
    m[box.y1 - WALL + 1 : box.y1 + 1, box.x0 : box.x1 + 1] = True
    if gap is not None:
        wall, pos = gap
        g = 6
        if wall == "bottom":
            x = int(box.x0 + WALL + pos * (box.x1 - box.x0 - 2 * WALL - g))
            m[box.y1 - WALL + 1 : box.y1 + 1, x : x + g] = False
        else:
            y = int(box.y0 + 3 + pos * (box.y1 - box.y0 - WALL - g - 6))
            xs = slice(box.x0, box.x0 + WALL) if wall == "left" else slice(box.x1 - WALL + 1, box.x1 + 1)
            m[y : y + g, xs] = False
    return m


def render(scene: Scene, box_gap: tuple[str, float] | None = None) -> np.ndarray:
    """Render a scene to uint8 [64, 64, 3]. `box_gap` draws a broken box (the scene's box.intact should be False)."""
    bg = SKY if scene.kind == "mountain" else BACKGROUND
    canvas = np.empty((CANVAS, CANVAS, 3), dtype=np.uint8)
    canvas[:] = bg
    if scene.kind == "mountain":
        _draw_mountains(canvas, scene)
    if scene.water_line is not None:
        canvas[scene.water_line :] = WATER
        for r in scene.reflections:
            mask = shape_mask(r.shape, r.cx, r.cy, r.size, flip=True)
            mask[: scene.water_line] = False  # a reflection never rises above the water
            _paint(canvas, mask, reflected_colour(OBJECT_COLOURS[r.colour]))
    if scene.box is not None:
        _paint(canvas, box_masks(scene.box, box_gap), BOX_BROWN)
    for o in scene.objects:
        _paint(canvas, shape_mask(o.shape, o.cx, o.cy, o.size, defect=o.defect), OBJECT_COLOURS[o.colour])
    return canvas


def _paint(canvas: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int]) -> None:
    canvas[mask] = rgb


def _draw_mountains(canvas: np.ndarray, scene: Scene) -> None:
    """Each peak is a big triangle standing on the bottom edge; snowy mountains get a white cap."""
    for cx, h in scene.peaks:
        apex_y = CANVAS - h
        img = Image.new("1", (CANVAS, CANVAS), 0)
        ImageDraw.Draw(img).polygon([(cx, apex_y), (cx - h * 0.8, CANVAS), (cx + h * 0.8, CANVAS)], fill=1)
        mask = np.array(img, dtype=bool)
        if scene.mountain == "green":
            _paint(canvas, mask, GRASS)
        else:
            _paint(canvas, mask, ROCK)
            cap = mask.copy()
            cap[int(apex_y + 0.38 * h) :] = False
            _paint(canvas, cap, SNOW)


def mirror(obj: Obj, water_line: int) -> Reflection:
    """The reflection a consistent world would show for `obj`."""
    return Reflection(obj.shape, obj.colour, obj.cx, 2 * water_line - obj.cy - 1, obj.size)
