"""Declarative, GenEval-style success checks for toy-world scenes.

A toy task states its success condition as data (which objects must / must not appear, plus a few
scene-level facts), so that the same rule can be evaluated on a rendered scene (ground truth) or on a
parsed image (the simulated oracle), and explained to a person in words when it fails.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hero_bench.toyworld.scene import COLOURS, MountainKind, Obj, Scene, SceneKind, Shape


class Match(BaseModel):
    """Which objects a rule is about; unset attributes match anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Shape | None = None
    colour: str | None = None
    inside_box: bool | None = None
    defect: bool | None = None

    @field_validator("colour")
    @classmethod
    def _known_colour(cls, v: str | None) -> str | None:
        if v is not None and v not in COLOURS:
            raise ValueError(f"unknown colour {v!r}; allowed: {', '.join(COLOURS)}")
        return v

    def matches(self, obj: Obj) -> bool:
        """True when every attribute this selector sets agrees with `obj`."""
        return (
            (self.shape is None or obj.shape == self.shape)
            and (self.colour is None or obj.colour == self.colour)
            and (self.inside_box is None or obj.inside_box == self.inside_box)
            and (self.defect is None or obj.defect == self.defect)
        )

    def describe(self, plural: bool = False) -> str:
        """Words for the selector, e.g. 'blue circle inside the box' or 'yellow squares without a defect'."""
        noun: str = (self.shape or "object") + ("s" if plural else "")
        words: list[str] = [self.colour, noun] if self.colour else [noun]
        if self.inside_box is True:
            words.append("inside the box")
        elif self.inside_box is False:
            words.append("outside the box")
        if self.defect is True:
            words.append("with a defect")
        elif self.defect is False:
            words.append("without a defect")
        return " ".join(words)


class Include(Match):
    """Objects that must appear: exactly `count` of them, or at least `min_count` (default at least 1)."""

    count: int | None = Field(default=None, ge=0)
    min_count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_count(self) -> Self:
        if self.count is not None and self.min_count is not None:
            raise ValueError("set either 'count' (exact) or 'min_count' (at least), not both")
        return self

    def satisfied_by(self, n: int) -> bool:
        """Whether `n` matching objects meet the count requirement."""
        if self.count is not None:
            return n == self.count
        return n >= (self.min_count if self.min_count is not None else 1)

    def requirement(self) -> str:
        """e.g. 'exactly 1 blue circle' or 'at least 2 squares'."""
        if self.count is not None:
            return f"exactly {self.count} {self.describe(plural=self.count != 1)}"
        at_least = self.min_count if self.min_count is not None else 1
        return f"at least {at_least} {self.describe(plural=at_least != 1)}"


class Check(BaseModel):
    """A task's success condition on a Scene. Every rule that is set must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[Include] = Field(default_factory=list)
    exclude: list[Match] = Field(default_factory=list)
    total_objects: int | None = Field(default=None, ge=0)
    box_intact: bool | None = None
    reflection_consistent: bool | None = None
    mountain: MountainKind | None = None
    kind: SceneKind | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        scene_rules = (self.total_objects, self.box_intact, self.reflection_consistent, self.mountain)
        if not self.include and not self.exclude and all(r is None for r in (*scene_rules, self.kind)):
            raise ValueError(
                "a check needs at least one rule (an empty check would pass every image); allowed rules: "
                + ", ".join(type(self).model_fields)
            )
        return self


def explain(check: Check, scene: Scene) -> list[str]:
    """Human-readable reasons why `scene` fails `check`, in rule order; an empty list means success."""
    reasons: list[str] = []
    for inc in check.include:
        n = sum(inc.matches(o) for o in scene.objects)
        if not inc.satisfied_by(n):
            reasons.append(f"expected {inc.requirement()}, found {n}")
    for exc in check.exclude:
        n = sum(exc.matches(o) for o in scene.objects)
        if n:
            reasons.append(f"found {n} {exc.describe(plural=n != 1)}, which must not appear")
    if check.total_objects is not None and len(scene.objects) != check.total_objects:
        reasons.append(f"expected {check.total_objects} object(s) in total, found {len(scene.objects)}")
    if check.box_intact is not None:
        intact = scene.box is not None and scene.box.intact
        if intact != check.box_intact:
            if scene.box is None:
                reasons.append("expected an intact box, but there is no box")
            elif check.box_intact:
                reasons.append("the box is not intact (a wall has a gap or is pierced)")
            else:
                reasons.append("expected a broken box, but the box is intact")
    if check.reflection_consistent is not None:
        consistent = scene.reflection_consistent
        if consistent is None:
            reasons.append("expected water with reflections, but the scene has no water")
        elif consistent != check.reflection_consistent:
            reasons.append(
                "the reflections do not match the objects above the water (shape, colour, count or position)"
                if check.reflection_consistent
                else "expected inconsistent reflections, but they match the objects"
            )
    if check.mountain is not None and scene.mountain != check.mountain:
        shown = f"the mountains are {scene.mountain}" if scene.mountain else "there are no mountains"
        reasons.append(f"{shown}; expected {check.mountain} mountains")
    if check.kind is not None and scene.kind != check.kind:
        reasons.append(f"the scene is a {scene.kind} scene; expected a {check.kind} scene")
    return reasons


def passes(check: Check, scene: Scene) -> bool:
    """True when `scene` meets every rule of `check`."""
    return not explain(check, scene)
