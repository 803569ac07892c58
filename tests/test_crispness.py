"""Shape ambiguity (issue 12, item 2): rendered shapes sit far from the judge's thresholds, in-between blobs near."""

from __future__ import annotations

import numpy as np

from hero_bench.toyworld.crispness import ShapeAmbiguity, object_shape_features
from hero_bench.toyworld.palette import PALETTE_PROMPTS, rendered_images
from hero_bench.toyworld.scene import BACKGROUND, OBJECT_COLOURS


def _superellipse(power: float) -> np.ndarray:
    """A green blob from a circle (power 2) through a rounded square (3) to a square (large powers)."""
    yy, xx = np.mgrid[:64, :64]
    image = np.full((64, 64, 3), BACKGROUND, np.uint8)
    image[(np.abs(xx - 32.0) / 8.5) ** power + (np.abs(yy - 32.0) / 8.5) ** power <= 1] = OBJECT_COLOURS["green"]
    return image


def test_rendered_scenes_of_every_prompt_have_no_ambiguous_shape():
    for prompt in PALETTE_PROMPTS:
        score = ShapeAmbiguity.of(list(rendered_images(prompt, 8, seed=3)))
        assert score.objects > 0 and score.ambiguous == 0, prompt


def test_a_rounded_square_is_ambiguous_and_a_circle_and_a_square_are_not():
    assert ShapeAmbiguity.of([_superellipse(3)]).ambiguous == 1
    assert ShapeAmbiguity.of([_superellipse(2), _superellipse(20)]) == ShapeAmbiguity(0, 2, 2)


def test_a_mountain_scene_has_no_objects_to_judge():
    from hero_bench.toyworld.dataset import sample_task_scene
    from hero_bench.toyworld.render import render

    scene, gap = sample_task_scene(np.random.default_rng(0), "toy-mountain", ok=True)
    assert object_shape_features(render(scene, box_gap=gap)) == []
