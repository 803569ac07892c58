"""The declarative toy-world check: each rule kind passes and fails on hand-built scenes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hero_bench.tasks.rules import Check, explain, passes
from hero_bench.toyworld.scene import Box, Obj, Reflection, Scene


def obj(shape: str, colour: str, *, inside: bool = False, defect: bool = False, cx: float = 20) -> Obj:
    return Obj(shape, colour, cx=cx, cy=20, size=12, defect=defect, inside_box=inside)  # type: ignore[arg-type]


def check(**rules) -> Check:
    return Check.model_validate(rules)


def test_include_exact_count() -> None:
    c = check(include=[{"shape": "square", "colour": "yellow", "count": 1}])
    assert passes(c, Scene(objects=[obj("square", "yellow")]))
    assert not passes(c, Scene(objects=[obj("square", "yellow"), obj("square", "yellow")]))
    assert explain(c, Scene()) == ["expected exactly 1 yellow square, found 0"]


def test_include_defaults_to_at_least_one_and_min_count() -> None:
    at_least_one = check(include=[{"shape": "circle"}])
    assert passes(at_least_one, Scene(objects=[obj("circle", "red"), obj("circle", "blue")]))
    assert not passes(at_least_one, Scene(objects=[obj("square", "red")]))
    two = check(include=[{"colour": "green", "min_count": 2}])
    greens = [obj("circle", "green"), obj("square", "green"), obj("square", "green")]
    assert passes(two, Scene(objects=greens))
    assert explain(two, Scene(objects=greens[:1])) == ["expected at least 2 green objects, found 1"]


def test_include_count_zero_means_absent() -> None:
    c = check(include=[{"shape": "triangle", "count": 0}])
    assert passes(c, Scene(objects=[obj("circle", "red")]))
    assert not passes(c, Scene(objects=[obj("triangle", "red")]))


@pytest.mark.parametrize(
    ("selector", "good", "bad"),
    [
        ({"inside_box": True}, obj("circle", "blue", inside=True), obj("circle", "blue", inside=False)),
        ({"inside_box": False}, obj("circle", "blue", inside=False), obj("circle", "blue", inside=True)),
        ({"defect": False}, obj("square", "yellow"), obj("square", "yellow", defect=True)),
        ({"defect": True}, obj("square", "yellow", defect=True), obj("square", "yellow")),
    ],
)
def test_include_attribute_selectors(selector: dict, good: Obj, bad: Obj) -> None:
    c = check(include=[{**selector, "count": 1}])
    assert passes(c, Scene(objects=[good]))
    assert not passes(c, Scene(objects=[bad]))


def test_exclude() -> None:
    c = check(exclude=[{"shape": "triangle", "colour": "red"}])
    assert passes(c, Scene(objects=[obj("triangle", "blue"), obj("circle", "red")]))
    reasons = explain(c, Scene(objects=[obj("triangle", "red"), obj("triangle", "red")]))
    assert reasons == ["found 2 red triangles, which must not appear"]


def test_total_objects() -> None:
    c = check(total_objects=1)
    assert passes(c, Scene(objects=[obj("circle", "red")]))
    assert explain(c, Scene(objects=[obj("circle", "red")] * 3)) == ["expected 1 object(s) in total, found 3"]


def test_box_intact() -> None:
    c = check(box_intact=True)
    assert passes(c, Scene(kind="box", box=Box(10, 20, 50, 60)))
    assert not passes(c, Scene(kind="box", box=Box(10, 20, 50, 60, intact=False)))
    assert explain(c, Scene()) == ["expected an intact box, but there is no box"]


def test_reflection_consistent() -> None:
    above = obj("circle", "purple", cx=30)
    good = Reflection("circle", "purple", cx=30, cy=50, size=12)
    wrong_colour = Reflection("circle", "blue", cx=30, cy=50, size=12)
    c = check(reflection_consistent=True)
    assert passes(c, Scene(kind="water", objects=[above], water_line=40, reflections=[good]))
    assert not passes(c, Scene(kind="water", objects=[above], water_line=40, reflections=[wrong_colour]))
    assert not passes(c, Scene(kind="water", objects=[above], water_line=40, reflections=[good, good]))
    no_water = explain(c, Scene(objects=[above]))
    assert no_water == ["expected water with reflections, but the scene has no water"]


def test_mountain_and_kind() -> None:
    green = Scene(kind="mountain", mountain="green")
    snowy = Scene(kind="mountain", mountain="snowy")
    assert passes(check(mountain="green"), green)
    assert explain(check(mountain="green"), snowy) == ["the mountains are snowy; expected green mountains"]
    assert passes(check(kind="mountain"), snowy)
    assert not passes(check(kind="mountain"), Scene(kind="plain"))


def test_all_failures_are_reported_together() -> None:
    c = check(include=[{"shape": "triangle", "colour": "black", "inside_box": True, "count": 1}],
              total_objects=1, box_intact=True)
    scene = Scene(kind="box", box=Box(10, 20, 50, 60, intact=False),
                  objects=[obj("triangle", "black"), obj("circle", "red")])
    reasons = explain(c, scene)
    assert len(reasons) == 3
    assert "black triangle inside the box" in reasons[0]


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ({"include": [{"colour": "pink"}]}, "unknown colour 'pink'; allowed: red"),
        ({"include": [{"shape": "hexagon"}]}, "circle"),
        ({"include": [{"count": 1, "min_count": 1}]}, "not both"),
        ({"exclude": [{"shape": "circle", "count": 1}]}, "count"),
        ({"mountain": "purple"}, "green"),
        ({}, "at least one rule"),
    ],
)
def test_invalid_checks_are_rejected(rules: dict, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Check.model_validate(rules)
