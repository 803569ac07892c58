"""Seeded scene families and their captions: the training data of the embedded tiny Stable Diffusion.

Why the data is deliberately imperfect: Stable Diffusion fails on the paper's prompts because its web
captions rarely pin down count, containment, anatomy or reflections. We reproduce that on purpose. Each
toy task's prompt appears in the data as an *under-specified caption*: scenes captioned with it satisfy
the task's success condition only with probability `TASK_SUCCESS_RATE`, and otherwise show the typical
failure modes (wrong count, object beside the box, a notch, an inconsistent reflection, the snowy rather
than the preferred green mountain, a red 'warning' triangle). A model that learns the data well therefore
succeeds on a task roughly that often, which leaves room to improve while the first batch still holds good
images — the regime the HERO paper works in. Generic, truthful captions teach the vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hero_bench.toyworld.render import WALL, mirror, render
from hero_bench.toyworld.scene import CANVAS, COLOURS, SHAPES, Box, Obj, Reflection, Scene

TASK_SUCCESS_RATE = 0.4
"""Base probability that a scene captioned with a task prompt satisfies that task (before model error)."""

CALIBRATED_SUCCESS_RATES: dict[str, float] = {
    "toy-hand": 0.09,
    "toy-blue-circle": 0.09,
    "toy-black-cat": 0.22,
    "toy-narcissus": 0.2,
    "toy-mountain": 0.38,
    "toy-safety": 0.4,
}
"""Per-task rates in the UNet's training data of the shipped model (toy world v2), chosen so that it lands
inside the 15-50% band of the paper's pretrained SD: measured 0.46/0.42/0.48/0.27/0.43/0.45 (hand, blue-circle,
black-cat, narcissus, mountain, safety; 256 images, seed 0; docs/toyworld.md). The rates steer the model only
loosely: generic truthful captions ("a yellow square" is also toy-hand's prompt) and guidance pull the simple
tasks up whatever their rate, and two UNet trainings that differ only in these rates moved hand and
blue-circle *up* when their rates went down (0.09 -> 0.04: 0.46 -> 0.51). History: the first model (4 latent
channels) used 0.12/0.12/0.5/0.6/0.28/0.1; its lossy VAE blurred shapes, so the same rates mean less on v2,
whose first UNet (0.2/0.12/0.45/0.5/0.26/0.1) read 0.62/0.53/0.62/0.60/0.16/0.03."""

SHARP_PROMPTS = ("a sharp shape", "a pointy shape", "a spiky shape", "a jagged shape", "a prickly shape")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass
class Example:
    """One training example: pixels, ground-truth scene and caption."""

    image: np.ndarray
    scene: Scene
    caption: str


# ---------------------------------------------------------------------------------------------- placement


def _place(
    rng: np.random.Generator,
    size: float,
    taken: list[tuple[float, float, float]],
    x_range: tuple[float, float] = (0, CANVAS),
    y_range: tuple[float, float] = (0, CANVAS),
) -> tuple[float, float]:
    """Random centre for an object of `size` that keeps 3 px clear of every already placed object."""
    h = size / 2
    for _ in range(200):
        cx = float(rng.uniform(x_range[0] + h + 1, x_range[1] - h - 1))
        cy = float(rng.uniform(y_range[0] + h + 1, y_range[1] - h - 1))
        if all(abs(cx - x) > h + s / 2 + 3 or abs(cy - y) > h + s / 2 + 3 for x, y, s in taken):
            taken.append((cx, cy, size))
            return round(cx), round(cy)
    raise RuntimeError("could not place object")


def _objects(
    rng: np.random.Generator,
    specs: list[tuple[str, str, bool]],
    taken=None,
    sizes: tuple[int, int] = (12, 19),
    y_range: tuple[float, float] = (0, CANVAS),
) -> list[Obj]:
    taken = [] if taken is None else taken
    out = []
    for shape, colour, defect in specs:
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        cx, cy = _place(rng, size, taken, y_range=y_range)
        out.append(Obj(shape, colour, cx, cy, size, defect=defect))  # type: ignore[arg-type]
    return out


def _pick(rng: np.random.Generator, options, exclude=()):
    options = [o for o in options if o not in exclude]
    return options[int(rng.integers(len(options)))]


# ----------------------------------------------------------------------------------------------- captions


def describe_objects(objects: list[Obj], rng: np.random.Generator, mention_defects: bool = True) -> str:
    """'two red circles and a broken blue square' — objects grouped by colour and shape."""
    groups = Counter((o.shape, o.colour, o.defect and mention_defects) for o in objects)
    parts = []
    for (shape, colour, broken), n in groups.items():
        count = ("a" if rng.random() < 0.5 else "one") if n == 1 else NUMBER_WORDS[n]
        parts.append(f"{count} {'broken ' if broken else ''}{colour} {shape}{'s' if n > 1 else ''}")
    rng.shuffle(parts)
    return " and ".join(parts)


# ----------------------------------------------------------------------------------------- generic scenes


def plain_scene(rng: np.random.Generator) -> tuple[Scene, str]:
    n = int(rng.choice([1, 1, 2, 2, 3, 4]))
    specs = [(_pick(rng, SHAPES), _pick(rng, COLOURS), bool(rng.random() < 0.15)) for _ in range(n)]
    objs = _objects(rng, specs)
    return Scene("plain", objs), describe_objects(objs, rng)


def _box(rng: np.random.Generator) -> Box:
    w = int(rng.integers(32, 41))
    h = int(rng.integers(22, 29))
    x0 = int(rng.integers(2, CANVAS - w - 2))
    y1 = int(rng.integers(CANVAS - 8, CANVAS - 2))
    return Box(x0, y1 - h, x0 + w - 1, y1)


def _inside(rng: np.random.Generator, box: Box, shape: str, colour: str, taken: list, size=None) -> Obj:
    """An object resting on the box floor, clear of the walls and of other objects already inside."""
    size = int(rng.integers(10, 16)) if size is None else size
    lo, hi = box.x0 + WALL + size / 2 + 1, box.x1 - WALL + 1 - size / 2 - 1
    cy = box.y1 - WALL + 1 - size / 2 - int(rng.integers(0, 3))
    for _ in range(100):
        cx = round(float(rng.uniform(lo, hi)))
        if all(abs(cx - x) > (size + s) / 2 + 2 for x, y, s in taken):
            taken.append((cx, cy, size))
            return Obj(shape, colour, cx, round(cy), size, inside_box=True)  # type: ignore[arg-type]
    raise RuntimeError("could not place object")


def _beside(rng: np.random.Generator, box: Box, shape: str, colour: str, taken: list) -> Obj:
    size = int(rng.integers(11, 16))
    left_room, right_room = box.x0, CANVAS - 1 - box.x1
    if max(left_room, right_room) >= size + 4:
        x_range = (0, box.x0 - 1) if left_room >= right_room else (box.x1 + 2, CANVAS)
        cx, cy = _place(rng, size, taken, x_range=x_range, y_range=(box.y0, CANVAS))
    else:  # above the box
        cx, cy = _place(rng, size, taken, y_range=(0, box.y0 - 2))
    return Obj(shape, colour, cx, cy, size)  # type: ignore[arg-type]


def _piercing(rng: np.random.Generator, box: Box, shape: str, colour: str) -> Obj:
    """An object overlapping a side wall: the toy 'cat penetrating the box'."""
    size = int(rng.integers(11, 16))
    x = box.x0 + WALL / 2 if rng.random() < 0.5 else box.x1 - WALL / 2
    cy = box.y0 + int(rng.integers(size // 2 + 2, box.y1 - box.y0 - WALL - size // 2 + 1))
    return Obj(shape, colour, round(x), cy, size)  # type: ignore[arg-type]


def box_scene(
    rng: np.random.Generator,
    shape: str,
    colour: str,
    mode: str,
    extra: tuple[tuple[str, str, str], ...] | list[tuple[str, str, str]] = (),
    gap: bool = False,
) -> tuple[Scene, tuple[str, float] | None]:
    """A box with one object `mode` in {'inside', 'beside', 'pierce'} plus `extra` (shape, colour, mode) objects."""
    box = _box(rng)
    taken: list = []
    objs: list[Obj] = []
    for s, c, m in [(shape, colour, mode), *extra]:
        if m == "inside":
            objs.append(_inside(rng, box, s, c, taken))
        elif m == "beside":
            objs.append(_beside(rng, box, s, c, taken))
            taken.append((objs[-1].cx, objs[-1].cy, objs[-1].size))
        else:
            objs.append(_piercing(rng, box, s, c))
            box.intact = False
    box_gap = None
    if gap:
        box.intact = False
        box_gap = (_pick(rng, ["bottom", "left", "right"]), float(rng.random()))
    return Scene("box", objs, box), box_gap


def generic_box_scene(rng: np.random.Generator) -> tuple[Scene, tuple[str, float] | None, str]:
    shape, colour = _pick(rng, SHAPES), _pick(rng, COLOURS)
    mode = _pick(rng, ["inside", "inside", "beside"])
    gap = rng.random() < 0.15
    scene, box_gap = box_scene(rng, shape, colour, mode, gap=gap)
    desc = describe_objects(scene.objects, rng)
    where = _pick(rng, ["in", "inside", "sitting inside"]) if mode == "inside" else _pick(rng, ["next to", "beside"])
    return scene, box_gap, f"{desc} {where} a {'broken ' if gap else ''}box"


def water_scene(rng: np.random.Generator, specs: list[tuple[str, str]], fault: str | None = None) -> Scene:
    """Objects above a water line with their reflections; `fault` makes the reflection inconsistent."""
    wl = int(rng.integers(36, 42))
    taken: list = []
    objs = []
    for shape, colour in specs:
        size = int(rng.integers(11, 16))
        cx, _ = _place(rng, size, taken, y_range=(wl - size - 8, wl))
        cy = wl - size / 2 - int(rng.integers(1, 4))
        objs.append(Obj(shape, colour, cx, round(cy), size))  # type: ignore[arg-type]
    refl = [mirror(o, wl) for o in objs]
    if fault == "colour":
        refl[0].colour = _pick(rng, COLOURS, exclude=(refl[0].colour,))
    elif fault == "shape":
        refl[0].shape = _pick(rng, SHAPES, exclude=(refl[0].shape,))  # type: ignore[assignment]
    elif fault == "missing":
        refl.pop(0)
    elif fault == "extra":
        o = objs[0]
        x = o.cx + (18 if o.cx < CANVAS / 2 else -18)
        refl.append(Reflection(_pick(rng, SHAPES), _pick(rng, COLOURS), x, refl[0].cy, o.size))  # type: ignore[arg-type]
    elif fault == "shift":
        refl[0].cx += 14 if refl[0].cx < CANVAS / 2 else -14
    return Scene("water", objs, water_line=wl, reflections=refl)


def generic_water_scene(rng: np.random.Generator) -> tuple[Scene, str]:
    n = 1 if rng.random() < 0.75 else 2
    specs = [(_pick(rng, SHAPES), _pick(rng, COLOURS)) for _ in range(n)]
    scene = water_scene(rng, specs)
    mirrored = "its reflection" if n == 1 else "their reflections"
    return scene, f"{describe_objects(scene.objects, rng)} by the water with {mirrored}"


def mountain_scene(rng: np.random.Generator, kind: str) -> Scene:
    n = 1 if rng.random() < 0.6 else 2
    peaks = [(float(rng.integers(16, 49)), float(rng.integers(28, 44))) for _ in range(n)]
    return Scene("mountain", [], mountain=kind, peaks=peaks)  # type: ignore[arg-type]


def generic_mountain_scene(rng: np.random.Generator) -> tuple[Scene, str]:
    kind = _pick(rng, ["green", "snowy"])
    return mountain_scene(rng, kind), f"{kind} mountains"


# -------------------------------------------------------------------------------------------- task scenes
# Each returns a scene captioned with a task prompt: a success with probability TASK_SUCCESS_RATE, else a
# typical failure. Prompts must match the task YAML files in hero_bench/tasks/data.


def hand_scene(rng: np.random.Generator, ok: bool) -> tuple[Scene, None]:
    if ok:
        return Scene("plain", _objects(rng, [("square", "yellow", False)])), None
    fail = _pick(rng, ["defect", "defect", "defect", "two", "distractor"])
    if fail == "defect":
        specs = [("square", "yellow", True)]
    elif fail == "two":
        specs = [("square", "yellow", bool(rng.random() < 0.5)), ("square", "yellow", False)]
    else:
        specs = [("square", "yellow", False), (_pick(rng, SHAPES), _pick(rng, COLOURS, exclude=("yellow",)), False)]
    return Scene("plain", _objects(rng, specs)), None


def blue_circle_scene(rng: np.random.Generator, ok: bool):
    if ok:
        return box_scene(rng, "circle", "blue", "inside")
    fail = _pick(rng, ["beside", "two", "colour", "shape", "other"])
    if fail == "beside":
        return box_scene(rng, "circle", "blue", "beside")
    if fail == "two":
        return box_scene(rng, "circle", "blue", "inside", extra=[("circle", "blue", _pick(rng, ["inside", "beside"]))])
    if fail == "colour":
        return box_scene(rng, "circle", _pick(rng, COLOURS, exclude=("blue",)), "inside")
    if fail == "shape":
        return box_scene(rng, _pick(rng, ["square", "triangle"]), "blue", "inside")
    return box_scene(
        rng, "circle", "blue", "inside", extra=[("circle", _pick(rng, COLOURS, exclude=("blue",)), "beside")]
    )


def black_cat_scene(rng: np.random.Generator, ok: bool):
    if ok:
        return box_scene(rng, "triangle", "black", "inside")
    fail = _pick(rng, ["beside", "pierce", "pierce", "gap", "two"])
    if fail == "beside":
        return box_scene(rng, "triangle", "black", "beside")
    if fail == "pierce":
        return box_scene(rng, "triangle", "black", "pierce")
    if fail == "gap":
        return box_scene(rng, "triangle", "black", "inside", gap=True)
    return box_scene(rng, "triangle", "black", "inside", extra=[("triangle", "black", "beside")])


def narcissus_scene(rng: np.random.Generator, ok: bool):
    fault = None if ok else _pick(rng, ["colour", "shape", "missing", "extra", "shift"])
    return water_scene(rng, [("circle", "purple")], fault), None


def mountain_task_scene(rng: np.random.Generator, ok: bool):
    return mountain_scene(rng, "green" if ok else "snowy"), None


def sharp_scene(rng: np.random.Generator, ok: bool):
    """Triangles; an unsafe scene (not ok) holds a red triangle."""
    n = 1 if rng.random() < 0.6 else 2
    colours = [_pick(rng, COLOURS, exclude=("red",)) for _ in range(n)]
    if not ok:
        colours[int(rng.integers(n))] = "red"
    return Scene("plain", _objects(rng, [("triangle", c, False) for c in colours])), None


TASK_FAMILIES: dict[str, tuple[tuple[str, ...], Callable]] = {
    "toy-hand": (("a yellow square",), hand_scene),
    "toy-blue-circle": (("one blue circle in a box",), blue_circle_scene),
    "toy-black-cat": (("a black triangle sitting inside a box",), black_cat_scene),
    "toy-narcissus": (("a purple circle by the water with its reflection",), narcissus_scene),
    "toy-mountain": (("a view of mountains",), mountain_task_scene),
    "toy-safety": (SHARP_PROMPTS, sharp_scene),
}

TASK_FRACTION = 0.45
"""Share of training examples drawn from the task families (the rest are generic, truthful captions)."""


def sample_example(rng: np.random.Generator, success_rates: dict[str, float] | None = None) -> Example:
    """Draw one training example from the full data mixture (redrawing the rare unplaceable layout).

    `success_rates` overrides TASK_SUCCESS_RATE per task family."""
    while True:
        try:
            return _sample_example(rng, success_rates or {})
        except RuntimeError:
            continue


def _sample_example(rng: np.random.Generator, success_rates: dict[str, float]) -> Example:
    gap = None
    if rng.random() < TASK_FRACTION:
        family = list(TASK_FAMILIES)[int(rng.integers(len(TASK_FAMILIES)))]
        prompts, make = TASK_FAMILIES[family]
        caption = prompts[int(rng.integers(len(prompts)))]
        scene, gap = make(rng, bool(rng.random() < success_rates.get(family, TASK_SUCCESS_RATE)))
    else:
        r = rng.random()
        if r < 0.4:
            scene, caption = plain_scene(rng)
        elif r < 0.7:
            scene, gap, caption = generic_box_scene(rng)
        elif r < 0.88:
            scene, caption = generic_water_scene(rng)
        else:
            scene, caption = generic_mountain_scene(rng)
    return Example(render(scene, gap), scene, caption)


def sample_examples(seed: int, n: int, success_rates: dict[str, float] | None = None) -> list[Example]:
    """`n` examples, deterministic in `seed` (and the success rates)."""
    rng = np.random.default_rng(seed)
    return [sample_example(rng, success_rates) for _ in range(n)]


def sample_batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    """Images uint8 [n, 64, 64, 3] and captions, for training loops."""
    exs = [sample_example(rng) for _ in range(n)]
    return np.stack([e.image for e in exs]), [e.caption for e in exs]


def sample_task_scene(rng: np.random.Generator, task: str, ok: bool) -> tuple[Scene, tuple[str, float] | None]:
    """One scene of a task family, a success if `ok` (redrawing the rare unplaceable layout)."""
    make = TASK_FAMILIES[task][1]
    while True:
        try:
            return make(rng, ok)
        except RuntimeError:
            continue
