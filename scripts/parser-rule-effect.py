"""Which parses a parser rule changes: each image parsed with the rule off and on.

    python scripts/parser-rule-effect.py neck-split "out/gen/*/*.png"
    python scripts/parser-rule-effect.py square-aspect "out/gen/toy-hand/*.png" toy-hand

neck-split: `necks.split_at_necks` (two shapes touching through a thin neck are two objects).
square-aspect: `parse.SQUARE_MAX_ASPECT` (a long four-cornered blob is a rectangle, not a square).
corner-bite: `parse._bottom_dent` letting a dent's bounding edge lie in the outer 15% (a bite beside a corner).
corner-step: `corner_steps.corner_step` (a bite out of a square's corner, on any side, is a defect).
colour-split: `colour_split.split_by_colour` (two shapes of different colours joined along a wide edge are two).
Candidates measured and not adopted (docs/toyworld.md, "Two colours fused along a wide edge"):
neck-erosion-2: necks cut with two 3x3 erosions instead of one.
pointed-apex: a "circle" 12 px or taller whose row at 12% of its height spans under 0.3 of its widest row is a
triangle.
Prints each changed image's objects without and with the rule, and the count; with a task, also its verdict
without and with the rule. docs/toyworld.md has the figures.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable

import numpy as np
from PIL import Image

from hero_bench.tasks.loader import load_task
from hero_bench.tasks.rules import passes
from hero_bench.toyworld import necks, parse


def _neck_split(on: bool) -> None:
    parse.split_at_necks = _SPLIT if on else (lambda blob, min_area: [blob])


def _square_aspect(on: bool) -> None:
    parse.SQUARE_MAX_ASPECT = _ASPECT if on else float("inf")


def _dent_bounded_inside(crop: np.ndarray) -> float:
    """The bottom-dent measure before the corner-bite rule: both bounds of a dent had to lie in the inner 70%."""
    h, w = crop.shape
    lowest = np.where(crop.any(0), h - 1 - np.argmax(crop[::-1], axis=0), -1).astype(float)
    inner = lowest[int(round(0.15 * w)) : int(round(0.85 * w))]
    if len(inner) < 3:
        return 0.0
    depth = np.minimum(np.maximum.accumulate(inner), np.maximum.accumulate(inner[::-1])[::-1]) - inner
    return float(np.sort(depth)[-2]) / h


def _corner_bite(on: bool) -> None:
    parse._bottom_dent = _DENT if on else _dent_bounded_inside


def _corner_step(on: bool) -> None:
    parse.corner_step = _STEP if on else (lambda crop: 0.0)


def _colour_split(on: bool) -> None:
    parse.split_by_colour = _COLOUR if on else (lambda blob, colour_index, min_area: [blob])


def _neck_erosion_2(on: bool) -> None:
    necks.NECK_EROSION = 2 if on else 1


def _with_pointed_apex(blob: np.ndarray, reflection: bool = False) -> tuple[str, bool]:
    shape, defect = _CLASSIFY(blob, reflection)
    if reflection or shape != "circle":
        return shape, defect
    ys, xs = np.nonzero(blob)
    crop = blob[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    spans = [int(np.ptp(np.nonzero(row)[0])) + 1 if row.any() else 0 for row in crop]
    pointed = len(spans) >= 12 and spans[int(0.12 * (len(spans) - 1))] / max(spans) < 0.3
    return ("triangle" if pointed else shape), defect


def _pointed_apex(on: bool) -> None:
    parse.classify_shape = _with_pointed_apex if on else _CLASSIFY


_SPLIT, _ASPECT, _DENT, _STEP = parse.split_at_necks, parse.SQUARE_MAX_ASPECT, parse._bottom_dent, parse.corner_step
_COLOUR, _CLASSIFY = parse.split_by_colour, parse.classify_shape
RULES: dict[str, Callable[[bool], None]] = {
    "neck-split": _neck_split,
    "square-aspect": _square_aspect,
    "corner-bite": _corner_bite,
    "corner-step": _corner_step,
    "colour-split": _colour_split,
    "neck-erosion-2": _neck_erosion_2,
    "pointed-apex": _pointed_apex,
}


def main(rule: str, pattern: str, task: str | None = None) -> None:
    switch = RULES[rule]
    check = load_task(task).check if task else None
    files = sorted(f for f in glob.glob(pattern) if not f.endswith("contact_sheet.png"))
    changed = verdicts = 0
    for f in files:
        image = np.asarray(Image.open(f).convert("RGB"))
        switch(False)
        before = parse.parse_image(image)
        switch(True)
        after = parse.parse_image(image)
        if before != after:
            changed += 1
            objects = lambda s: [f"{o.colour} {o.shape}" + (" (notched)" if o.defect else "") for o in s.objects]  # noqa: E731
            verdict = ""
            if check is not None and passes(check, before) != passes(check, after):
                verdicts += 1
                good = lambda scene: "good" if passes(check, scene) else "bad"  # noqa: E731
                verdict = f"  verdict {good(before)} -> {good(after)}"
            print(f"{f}: {objects(before)} -> {objects(after)}{verdict}")
    print(f"{changed}/{len(files)} parses changed" + (f", {verdicts} verdicts" if check is not None else ""))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in RULES:
        raise SystemExit(f'usage: python scripts/parser-rule-effect.py {{{",".join(RULES)}}} "<glob of PNGs>" [task]')
    main(*sys.argv[1:])
