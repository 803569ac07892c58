"""The toy world's scene description, shared by the renderer (ground truth) and the parser (what it sees).

Both sides produce the same `Scene` type so that a task's declarative check can be evaluated on either,
and so that parser agreement is a field-by-field comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CANVAS = 64
"""Side of the square canvas in pixels."""

Shape = Literal["circle", "square", "triangle", "rectangle"]
SHAPES: tuple[Shape, ...] = ("circle", "square", "triangle")
"""The shapes the renderer draws. The judge can also read a "rectangle": a square-cornered blob too long to be a
square, which only a model drifting from its training data draws (parse.SQUARE_MAX_ASPECT)."""

# Object colours. Kept far apart in RGB so that blurry generated images still classify unambiguously.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 55),
    "blue": (35, 70, 215),
    "yellow": (235, 205, 30),
    "black": (25, 25, 25),
    "purple": (150, 50, 185),
}
COLOURS: tuple[str, ...] = tuple(OBJECT_COLOURS)

# Colours of scenery (never object colours).
BACKGROUND = (245, 245, 245)
BOX_BROWN = (160, 105, 45)
WATER = (120, 185, 225)
SKY = (200, 225, 250)
ROCK = (115, 110, 120)
SNOW = (252, 252, 252)
GRASS = OBJECT_COLOURS["green"]

REFLECTION_MIX = 0.6
"""A reflection's colour is REFLECTION_MIX * object colour + (1 - REFLECTION_MIX) * water."""

SceneKind = Literal["plain", "box", "water", "mountain"]
MountainKind = Literal["green", "snowy"]


def reflected_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Colour of an object's reflection in the water."""
    return tuple(int(round(REFLECTION_MIX * c + (1 - REFLECTION_MIX) * w)) for c, w in zip(rgb, WATER, strict=False))  # type: ignore[return-value]


@dataclass
class Obj:
    """One object: a filled shape of one colour. `defect` is a notch cut out of it (the toy 'deformed hand')."""

    shape: Shape
    colour: str
    cx: float
    cy: float
    size: float
    defect: bool = False
    inside_box: bool = False


@dataclass
class Box:
    """An open-topped container (a U of brown walls). `intact` is False if a wall has a gap or is pierced."""

    x0: int
    y0: int
    x1: int
    y1: int
    intact: bool = True


@dataclass
class Reflection:
    """A mirrored copy of an object below the water line (may disagree with its object when inconsistent)."""

    shape: Shape
    colour: str
    cx: float
    cy: float
    size: float


@dataclass
class Scene:
    """What a toy image shows. Rendered scenes carry ground truth; parsed scenes carry what pixels reveal."""

    kind: SceneKind = "plain"
    objects: list[Obj] = field(default_factory=list)
    box: Box | None = None
    water_line: int | None = None
    reflections: list[Reflection] = field(default_factory=list)
    mountain: MountainKind | None = None
    peaks: list[tuple[float, float]] = field(default_factory=list)
    """Mountain peaks as (centre x, height); drawing only, not judged."""

    @property
    def reflection_consistent(self) -> bool | None:
        """True when every object above the water has exactly one matching reflection and vice versa.

        None when the scene has no water.
        """
        if self.water_line is None:
            return None
        return reflections_match(self.objects, self.reflections)

    def count(self, shape: str | None = None, colour: str | None = None) -> int:
        """Number of objects matching shape/colour (None matches anything)."""
        return sum(
            1 for o in self.objects if (shape is None or o.shape == shape) and (colour is None or o.colour == colour)
        )


REFLECTION_TOLERANCE = 4.5
"""Pixels a reflection's centre may sit left or right of its object's (centres come in half pixels). The world
shifts a faulty reflection by 14. On generated images, people called a reflection "directly below" at offsets up
to 4.5 px and shifted from 5 px on (the dev halves of both gold sets; it was 6 before, which passed four
reflections 5-5.5 px off that the default model's gold set's labeller called shifted)."""


def reflections_match(objects: list[Obj], reflections: list[Reflection], tol: float = REFLECTION_TOLERANCE) -> bool:
    """Greedy one-to-one matching of objects to reflections on shape, colour and horizontal position."""
    if len(objects) != len(reflections):
        return False
    remaining = list(reflections)
    for o in sorted(objects, key=lambda o: o.cx):
        match = next(
            (r for r in remaining if r.shape == o.shape and r.colour == o.colour and abs(r.cx - o.cx) <= tol),
            None,
        )
        if match is None:
            return False
        remaining.remove(match)
    return True
