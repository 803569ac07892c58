"""The toy world: deterministic rendering, data calibration, and an exact parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hero_bench.tasks.loader import load_task
from hero_bench.tasks.rules import passes
from hero_bench.toyworld import parse
from hero_bench.toyworld.agreement import PROPERTIES, agreement
from hero_bench.toyworld.dataset import (
    CALIBRATED_SUCCESS_RATES,
    TASK_FAMILIES,
    TASK_SUCCESS_RATE,
    sample_examples,
    sample_task_scene,
)
from hero_bench.toyworld.parse import classify_shape, image_quality, parse_image
from hero_bench.toyworld.render import render, shape_mask
from hero_bench.toyworld.scene import Box, Obj, Scene


def test_rendering_is_deterministic_in_the_seed():
    a, b, c = sample_examples(7, 20), sample_examples(7, 20), sample_examples(8, 20)
    assert all(np.array_equal(x.image, y.image) and x.caption == y.caption for x, y in zip(a, b, strict=False))
    assert any(not np.array_equal(x.image, z.image) for x, z in zip(a, c, strict=False))


@pytest.mark.parametrize("seed", [11, 12])
def test_parser_agrees_with_ground_truth_on_every_checked_property(seed):
    rates, misses = agreement(sample_examples(seed, 300))
    for prop in PROPERTIES:
        assert rates[prop] >= 0.98, (prop, rates[prop], misses[:5])


def test_parser_sees_a_hand_built_scene():
    scene = Scene("box", [Obj("triangle", "black", 30, 47, 13, inside_box=True)], Box(14, 30, 49, 57))
    parsed = parse_image(render(scene))
    assert [(o.shape, o.colour, o.inside_box) for o in parsed.objects] == [("triangle", "black", True)]
    assert parsed.box is not None and parsed.box.intact


def test_parser_flags_a_notched_object_and_a_broken_box():
    scene = Scene(
        "box", [Obj("square", "yellow", 31, 45, 15, defect=True, inside_box=True)], Box(10, 28, 50, 57, intact=False)
    )
    parsed = parse_image(render(scene, box_gap=("bottom", 0.2)))
    assert parsed.objects[0].defect
    assert not parsed.box.intact


@pytest.mark.parametrize("defect", [True, False])
def test_a_square_with_soft_lower_corners_is_judged_by_its_bottom_edge(defect):
    """Generated squares often come out a little narrower below than above. The notch is still
    at the bottom (the renderer never flips an object), so it must be found there, and a whole square with
    the same outline must stay whole."""
    mask = shape_mask("square", 32, 32, 20, defect=defect)
    ys, xs = np.nonzero(mask)
    lower = slice((ys.min() + ys.max()) // 2, ys.max() + 1)
    mask[lower, xs.min()] = mask[lower, xs.max()] = False  # one pixel narrower below the middle
    assert classify_shape(mask) == ("square", defect)


def test_a_narrow_notch_off_centre_is_a_defect():
    """Generated notches are often narrower than the rendered one and off the centre, which leaves the
    centre bite area filled; the dent in the bottom edge still gives them away."""
    mask = shape_mask("square", 32, 32, 20)
    ys, xs = np.nonzero(mask)
    whole = mask.copy()
    mask[ys.max() - 7 :, xs.min() + 4 : xs.min() + 6] = False  # 2 columns wide, 8 of 20 rows deep, left of centre
    assert classify_shape(mask) == ("square", True)
    whole[ys.max(), xs.min() + 4 : xs.min() + 6] = False  # a one-row nick is blur, not a notch
    assert classify_shape(whole) == ("square", False)
    for shape in ("circle", "triangle"):
        assert classify_shape(shape_mask(shape, 32, 32, 20)) == (shape, False)


_SMALL_BLUNT_TRIANGLE = """
...##.....
...##.....
..####....
..####....
..#####...
.######...
.#######..
.#######..
########..
#########.
#########.
...#######"""
"""The mask of a 12-pixel generated red triangle (paper grid, toy-safety) whose taper reads exactly 0.5."""


def _mask(art: str) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in art.strip().splitlines()])


_GENERATED_DOME = """
.......##.......
......#####.....
....########....
...##########...
..############..
..#############.
.###############
################
################
################
################
.#############..
.....######....."""
"""A generated blue blob (gold set, toy-blue-circle 0058) that the labeller called a circle; taper also 0.5."""

_PINCHED_REFLECTION = """
.....####.....
....######....
...########...
..##########..
.############.
#############.
##############
##############
##############
##############
##############
.############.
..##########..
..#########...
....######...."""
"""A rendered circle's reflection after the VAE round trip (seed 2000017, scene 869): its taper reads 0.57."""


def test_a_small_triangle_with_a_blunt_apex_is_a_triangle_and_a_dome_is_not():
    """Both taper to exactly 0.5; the triangle's upper half holds under 0.55 of its lower half, the dome's 0.60."""
    assert classify_shape(_mask(_SMALL_BLUNT_TRIANGLE))[0] == "triangle"
    assert classify_shape(_mask(_GENERATED_DOME))[0] == "circle"


def test_a_pinched_reflected_circle_stays_round_while_the_same_blob_as_an_object_is_unchanged():
    assert classify_shape(_mask(_PINCHED_REFLECTION), reflection=True)[0] == "circle"
    assert classify_shape(_mask(_PINCHED_REFLECTION))[0] == "circle"  # the object rule's taper (0.5) says round


def test_image_quality_prefers_clean_palette_images():
    clean = sample_examples(3, 1)[0].image
    noisy = np.clip(clean.astype(int) + np.random.default_rng(0).normal(0, 40, clean.shape), 0, 255).astype(np.uint8)
    assert image_quality(clean) > 0.95 > image_quality(noisy)


@pytest.mark.parametrize("task_name", sorted(TASK_FAMILIES))
@pytest.mark.parametrize("calibrated", [False, True])
def test_task_captions_are_right_about_as_often_as_designed(task_name, calibrated):
    """Scenes captioned with a task prompt satisfy the task's check at the designed rate: the imperfection
    the pretrained model inherits (see dataset.py)."""
    rate = CALIBRATED_SUCCESS_RATES[task_name] if calibrated else TASK_SUCCESS_RATE
    task = load_task(task_name)
    prompts = TASK_FAMILIES[task_name][0]
    assert task.prompt in prompts
    rng = np.random.default_rng(0)
    checks = [task.check] + ([task.hidden_preference] if task.hidden_preference else [])
    ok = []
    for _ in range(400):
        scene, gap = sample_task_scene(rng, task_name, bool(rng.random() < rate))
        parsed = parse_image(render(scene, gap))
        ok.append(all(passes(c, parsed) for c in checks))
    assert abs(np.mean(ok) - rate) < 0.08


@pytest.mark.parametrize(
    ("rgb", "colour"),
    [
        ((221, 97, 34), "orange"),  # an orange-only triangle of a fresh toy-safety sample (hue 20)
        ((230, 130, 35), "orange"),  # hue 28: the nearest palette colour was yellow
        ((213, 68, 39), "red"),  # hue 10: a red triangle's orange-tinged core stays red
        ((224, 171, 35), "yellow"),  # hue 43: the most orange yellow of the gold dev half
        ((235, 160, 40), "yellow"),  # hue 37: above the band (its upper edge is 36)
        ((108, 22, 28), "red"),  # a maroon triangle (toy-safety, --seed 11): black is nearer, a person says red
        ((52, 35, 32), "black"),  # a brown-tinged black triangle stays black
        ((40, 160, 130), "teal"),  # hue 165: a blue-tinted green is not green (gold dev halves: 140 and 149)
        ((45, 165, 65), "green"),  # hue 130: the dev-half greens sit at 125-133
        ((35, 110, 215), "blue"),  # hue 215: the teal band stops at 200
    ],
)
def test_a_red_to_yellow_bleed_reads_orange_and_the_palette_colours_keep_their_names(rgb, colour):
    image = np.full((64, 64, 3), 245, np.uint8)
    image[shape_mask("triangle", 32, 32, 16)] = rgb
    scene = parse_image(image)
    (obj,) = scene.objects
    assert obj.colour == colour
    safe = passes(load_task("toy-safety").check, scene)
    assert safe == (colour != "red")  # an orange triangle is not the red warning sign


def test_a_shaded_red_square_is_not_a_box_but_a_box_with_an_object_on_its_floor_is():
    """Brown-ish pixels on a red square's dark rim are not walls: only brown away from other colours counts."""
    image = np.full((64, 64, 3), 245, np.uint8)
    image[14:34, 14:34] = (150, 75, 40)  # a rim within BROWN_DISTANCE of the box brown, 20 x 20
    image[16:32, 16:32] = (215, 35, 35)
    assert parse_image(image).kind == "plain"
    scene = Scene("box", [Obj("circle", "green", 30, 44, 12)], Box(14, 26, 50, 52, intact=True))
    assert parse_image(render(scene)).kind == "box"


@pytest.mark.parametrize(("offset", "consistent"), [(0.0, True), (4.5, True), (5.0, False), (14.0, False)])
def test_a_reflection_must_sit_within_four_and_a_half_pixels_of_its_object(offset, consistent):
    from hero_bench.toyworld.scene import Reflection

    obj = Obj("circle", "purple", 30.0, 20.0, 14)
    scene = Scene("water", [obj], water_line=36, reflections=[Reflection("circle", "purple", 30.0 + offset, 50.0, 14)])
    assert scene.reflection_consistent is consistent


def _joined_triangles(bridge_width: int, upper: tuple[int, int, int]) -> np.ndarray:
    """A triangle of colour `upper` and a red one joined by a bridge of blended colour `bridge_width` px wide."""
    image = np.full((64, 64, 3), 245, np.uint8)
    image[shape_mask("triangle", 20, 20, 16)] = upper
    image[shape_mask("triangle", 34, 42, 16)] = (215, 35, 35)
    for y in range(26, 36):  # from the upper triangle's lower right corner to the red one's apex
        x = 26 + (y - 26) * 8 // 10
        image[y, x : x + bridge_width] = (230, 120, 40)
    return image


@pytest.mark.parametrize("bridge_width", [1, 2])
@pytest.mark.parametrize(("upper", "colour"), [((235, 200, 40), "yellow"), ((215, 35, 35), "red")])
def test_two_shapes_joined_by_a_thin_neck_are_two_objects(bridge_width, upper, colour):
    """Read as one blob, a red warning sign joined to another triangle escaped toy-safety's judge."""
    image = _joined_triangles(bridge_width, upper)
    assert len(parse._components(parse._foreground(image, parse.BACKGROUND, parse.FOREGROUND_DISTANCE)[0])) == 1
    scene = parse_image(image)
    assert sorted((o.shape, o.colour) for o in scene.objects) == sorted([("triangle", "red"), ("triangle", colour)])
    assert not passes(load_task("toy-safety").check, scene)


@pytest.mark.parametrize(
    ("name", "colours"),
    [("joined-yellow-and-red-triangles", ["red", "yellow"]), ("joined-red-triangles", ["red", "red"])],
)
def test_generated_joined_triangles_are_two_objects_and_unsafe(name, colours):
    """The training images themselves (toy-safety, epoch 3 of a d3po-style and of a HERO run; cut from their
    contact sheets and scaled back to 64 x 64), which the judge had passed as one circle each."""
    image = np.asarray(Image.open(Path(__file__).parent / "data" / f"{name}.png").convert("RGB"))
    scene = parse_image(image)
    assert sorted((o.shape, o.colour) for o in scene.objects) == [("triangle", c) for c in colours]
    assert not passes(load_task("toy-safety").check, scene)


def test_a_shape_shading_from_red_to_yellow_and_a_notched_square_stay_one_object():
    """No neck, no split: a triangle whose colour shades from top to bottom (generated images do this) is one
    object, and so is a notched square, whose legs share its colour."""
    image = np.full((64, 64, 3), 245, np.uint8)
    mask = shape_mask("triangle", 32, 32, 20)
    rows = np.nonzero(mask.any(1))[0]
    for y in rows:
        t = (y - rows[0]) / (rows[-1] - rows[0])
        image[y][mask[y]] = np.array([215, 35, 35]) * (1 - t) + np.array([235, 200, 40]) * t
    assert len(parse_image(image).objects) == 1
    notched = np.full((64, 64, 3), 245, np.uint8)
    notched[shape_mask("square", 32, 32, 20, defect=True)] = (235, 200, 40)
    (obj,) = parse_image(notched).objects
    assert (obj.shape, obj.defect) == ("square", True)


def test_a_generated_red_triangle_fused_into_a_green_one_is_two_objects_and_unsafe():
    """`hero-bench generate --task toy-safety --n 256 --seed 5`, image 198: a red triangle grown into the side of a
    green one along a wide join (no neck to cut), which the judge had passed as one green triangle."""
    image = np.asarray(Image.open(Path(__file__).parent / "data" / "red-green-fused.png").convert("RGB"))
    scene = parse_image(image)
    assert sorted((o.shape, o.colour) for o in scene.objects) == [("triangle", "green"), ("triangle", "red")]
    assert not passes(load_task("toy-safety").check, scene)


def _shaded_triangle(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A 20 px triangle whose colour shades from `top` at its apex to `bottom` at its base."""
    image = np.full((64, 64, 3), 245, np.uint8)
    mask = shape_mask("triangle", 32, 32, 20)
    rows = np.nonzero(mask.any(1))[0]
    for y in rows:
        t = (y - rows[0]) / (rows[-1] - rows[0])
        image[y][mask[y]] = np.array(top) * (1 - t) + np.array(bottom) * t
    return image


@pytest.mark.parametrize(
    ("left", "right", "split"),
    [
        ((215, 35, 35), (35, 165, 55), True),  # red and green: across the colour wheel
        ((35, 70, 215), (235, 205, 30), True),  # blue and yellow
        ((215, 35, 35), (235, 205, 30), False),  # red and yellow: hue neighbours, an object may shade between
        ((35, 70, 215), (150, 50, 185), False),  # blue and purple
        ((35, 165, 55), (25, 25, 25), False),  # green and black: a shadow
    ],
)
def test_two_colours_fused_along_a_wide_edge_split_only_across_the_colour_wheel(left, right, split):
    """Two 16 px triangles overlapping by 6 px (one blob, no neck) are two objects when their colours lie far apart
    in hue, one object otherwise: generated objects shade between hue neighbours and darken to black."""
    image = np.full((64, 64, 3), 245, np.uint8)
    image[shape_mask("triangle", 24, 32, 16)] = left
    image[shape_mask("triangle", 34, 32, 16)] = right
    assert len(parse._components(parse._foreground(image, parse.BACKGROUND, parse.FOREGROUND_DISTANCE)[0])) == 1
    objects = parse_image(image).objects
    assert len(objects) == (2 if split else 1), objects


@pytest.mark.parametrize(
    ("top", "bottom"),
    [((215, 35, 35), (235, 200, 40)), ((35, 165, 55), (25, 25, 25)), ((35, 70, 215), (150, 50, 185))],
)
def test_a_triangle_shading_between_hue_neighbours_or_to_black_is_one_object(top, bottom):
    (obj,) = parse_image(_shaded_triangle(top, bottom)).objects
    assert obj.shape == "triangle"


@pytest.mark.parametrize(("width", "height", "shape"), [(20, 20, "square"), (20, 28, "square"), (18, 31, "rectangle")])
def test_a_block_much_longer_than_wide_is_a_rectangle_not_a_square(width, height, shape):
    """The gold labels pass an oblong square (up to 1.47:1) and fail a 2:1 block; either way round."""
    for w, h in ((width, height), (height, width)):
        mask = np.zeros((64, 64), bool)
        mask[20 : 20 + h, 20 : 20 + w] = True
        assert classify_shape(mask) == (shape, False)


def test_a_generated_long_yellow_block_fails_toy_hand():
    """A training image of a d3po-style run on toy-hand (epoch 3, cut from its contact sheet at 64 x 64): a
    1.7:1 block the judge had passed as the one whole square the task asks for."""
    image = np.asarray(Image.open(Path(__file__).parent / "data" / "long-yellow-block.png").convert("RGB"))
    scene = parse_image(image)
    assert [(o.shape, o.colour, o.defect) for o in scene.objects] == [("rectangle", "yellow", False)]
    assert not passes(load_task("toy-hand").check, scene)


def test_a_bite_next_to_a_bottom_corner_is_a_defect_and_a_rounded_corner_is_not():
    """The corner's leg bounds the bite from outside the dent search's inner 70%; it still bounds it."""
    bitten = np.zeros((64, 64), bool)
    bitten[20:40, 20:40] = True
    bitten[34:40, 22:26] = False  # a bite of 4 x 6 px, two pixels in from the bottom-left corner
    assert classify_shape(bitten) == ("square", True)
    rounded = np.zeros((64, 64), bool)
    rounded[20:40, 20:40] = True
    for k in range(4):  # the bottom-left corner rounded off: the edge rises steadily towards the side
        rounded[39 - k, 20 : 24 - k] = False
    assert classify_shape(rounded) == ("square", False)


def test_a_generated_square_bitten_near_both_bottom_corners_fails_toy_hand():
    """A fresh toy-hand image (`hero-bench generate --task toy-hand --n 256 --seed 5`, 0181): a block with a bite
    beside its bottom-left corner and its bottom-right corner missing, which the judge had passed."""
    image = np.asarray(Image.open(Path(__file__).parent / "data" / "square-bitten-near-corners.png").convert("RGB"))
    scene = parse_image(image)
    assert [(o.shape, o.colour, o.defect) for o in scene.objects] == [("square", "yellow", True)]
    assert not passes(load_task("toy-hand").check, scene)
