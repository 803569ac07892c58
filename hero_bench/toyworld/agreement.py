"""Parser-vs-ground-truth agreement per checked property: the evidence that the simulated oracle is exact."""

from __future__ import annotations

from collections import Counter

from hero_bench.toyworld.parse import parse_image
from hero_bench.toyworld.scene import Scene

PROPERTIES = ("kind", "shapes_colours", "defects", "containment", "box_intact", "reflection", "mountain")


def scene_properties(scene: Scene) -> dict[str, object]:
    """The properties toy-task checks depend on, in a comparable form."""
    return {
        "kind": scene.kind,
        "shapes_colours": Counter((o.shape, o.colour) for o in scene.objects),
        "defects": Counter((o.shape, o.colour, o.defect) for o in scene.objects),
        "containment": Counter((o.shape, o.colour, o.inside_box) for o in scene.objects) if scene.box else None,
        "box_intact": scene.box.intact if scene.box else None,
        "reflection": scene.reflection_consistent,
        "mountain": scene.mountain,
    }


def agreement(examples) -> tuple[dict[str, float], list[tuple[int, str]]]:
    """Share of scenes on which parser and ground truth agree, per property; plus the disagreements."""
    hits: Counter = Counter()
    misses = []
    for i, ex in enumerate(examples):
        truth, seen = scene_properties(ex.scene), scene_properties(parse_image(ex.image))
        for p in PROPERTIES:
            if truth[p] == seen[p]:
                hits[p] += 1
            else:
                misses.append((i, p))
    return {p: hits[p] / len(examples) for p in PROPERTIES}, misses
