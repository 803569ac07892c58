"""The simulated oracle: exact on rendered toy scenes, reproducible noise, valid best picks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hero_bench.errors import ConfigError, UnknownNameError, UnsupportedTaskError
from hero_bench.oracles import ORACLES, Feedback
from hero_bench.oracles.simulated import FLIP_NOTE, SimulatedOracle
from hero_bench.tasks import load_task
from hero_bench.toyworld.dataset import TASK_FAMILIES
from hero_bench.toyworld.render import render
from hero_bench.toyworld.scene import Obj, Scene

# A parser injected through the constructor: pixel (0, 0, 0) holds an index into SCENES and pixel
# (0, 0, 1) the image quality, so unit tests control exactly what the oracle "sees".
SCENES = [
    Scene(objects=[Obj("square", "yellow", 30, 30, 14)]),  # 0: good for toy-hand
    Scene(objects=[Obj("square", "yellow", 30, 30, 14, defect=True)]),  # 1: notched
    Scene(kind="mountain", mountain="green"),  # 2
    Scene(kind="mountain", mountain="snowy"),  # 3
]


def coded_image(scene_index: int, quality: int = 100) -> np.ndarray:
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[0, 0, 0], img[0, 0, 1] = scene_index, quality
    return img


def index_parser(image: np.ndarray) -> Scene:
    return SCENES[int(image[0, 0, 0])]


def pixel_quality(image: np.ndarray) -> float:
    return float(image[0, 0, 1]) / 255.0


def oracle(**kwargs) -> SimulatedOracle:
    return SimulatedOracle(parser=index_parser, quality=pixel_quality, **kwargs)


def _make(make, rng: np.random.Generator, ok: bool):
    """The dataset redraws the rare layout that cannot be placed; so do we."""
    for _ in range(100):
        try:
            return make(rng, ok)
        except RuntimeError:
            continue
    raise RuntimeError("could not place a scene in 100 tries")


@pytest.mark.parametrize("task_name", sorted(TASK_FAMILIES))
def test_exact_on_rendered_scenes(task_name: str) -> None:
    """With the real parser and no noise, the oracle agrees with how the scenes were generated."""
    task = load_task(task_name)
    _, make = TASK_FAMILIES[task_name]
    rng = np.random.default_rng(7)
    images, expected = [], []
    for ok in (True, False) * 4:
        scene, gap = _make(make, rng, ok)
        images.append(Image.fromarray(render(scene, gap)))
        expected.append(ok)
    fb = SimulatedOracle().judge(images, task)
    assert fb.good == expected
    assert all((not r) == ok for r, ok in zip(fb.reasons or [], expected, strict=True))
    assert fb.best is not None and fb.good[fb.best]


def test_same_seed_same_feedback_and_resume() -> None:
    task = load_task("toy-hand")
    batch = [coded_image(i % 2, quality=i) for i in range(32)]
    a, b = oracle(seed=3, flip_prob=0.3), oracle(seed=3, flip_prob=0.3)
    assert [a.judge(batch, task) for _ in range(3)] == [b.judge(batch, task) for _ in range(3)]
    other = oracle(seed=4, flip_prob=0.3)
    assert [other.judge(batch, task).good for _ in range(3)] != [a.judge(batch, task).good for _ in range(3)]

    first = oracle(seed=5, flip_prob=0.3)
    first.judge(batch, task)
    resumed = oracle(seed=999, flip_prob=0.3)
    resumed.load_state_dict(first.state_dict())
    assert resumed.judge(batch, task) == first.judge(batch, task)


def test_flip_rate_matches_flip_prob() -> None:
    task = load_task("toy-hand")
    batch = [coded_image(0)] * 500  # every image truly good
    o = oracle(seed=0, flip_prob=0.2)
    labels = [g for _ in range(8) for g in o.judge(batch, task).good]
    flipped = labels.count(False) / len(labels)
    assert abs(flipped - 0.2) < 0.02  # 4000 labels: std of the rate is ~0.006
    fb = o.judge(batch, task)
    noted = [any(FLIP_NOTE in r for r in rs) for rs in fb.reasons or []]
    assert noted == [not g for g in fb.good]


@pytest.mark.parametrize("best_rule", ["quality", "random"])
def test_best_is_always_a_good_image(best_rule: str) -> None:
    task = load_task("toy-hand")
    rng = np.random.default_rng(1)
    o = oracle(seed=2, flip_prob=0.25, best_rule=best_rule)
    for _ in range(50):
        batch = [coded_image(int(rng.integers(2)), int(rng.integers(256))) for _ in range(8)]
        fb = o.judge(batch, task)
        assert (fb.best is None) == (not any(fb.good))
        assert fb.best is None or fb.good[fb.best]


def test_quality_rule_picks_cleanest_good_image_lowest_index_on_ties() -> None:
    task = load_task("toy-hand")
    batch = [coded_image(0, 50), coded_image(1, 250), coded_image(0, 200), coded_image(0, 200)]
    fb = oracle().judge(batch, task)
    assert fb.good == [True, False, True, True]
    assert fb.best == 2
    assert fb.scores == pytest.approx([50 / 255, 250 / 255, 200 / 255, 200 / 255])


def test_random_rule_spreads_over_good_images() -> None:
    task = load_task("toy-hand")
    batch = [coded_image(0, 10), coded_image(1), coded_image(0, 200)]
    o = oracle(best_rule="random")
    picks = {o.judge(batch, task).best for _ in range(40)}
    assert picks == {0, 2}


def test_hidden_preference_is_applied_by_default() -> None:
    task = load_task("toy-mountain")
    batch = [coded_image(2), coded_image(3)]
    fb = oracle().judge(batch, task)
    assert fb.good == [True, False]
    assert fb.reasons and fb.reasons[1][0].startswith("hidden preference: the mountains are snowy")
    assert oracle(hidden_preference=None).judge(batch, task).good == [True, True]
    assert oracle(hidden_preference={"mountain": "snowy"}).judge(batch, task).good == [False, True]


def test_real_tasks_are_refused_with_a_hint() -> None:
    with pytest.raises(UnsupportedTaskError, match="toy-world tasks.*human, vlm"):
        oracle().judge([coded_image(0)], load_task("hand"))


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="flip_prob.*\\[0, 1\\]"):
        SimulatedOracle(flip_prob=1.5)
    with pytest.raises(UnknownNameError, match="valid best rules: quality, random"):
        SimulatedOracle(best_rule="prettiest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mountain"):
        SimulatedOracle(hidden_preference={"mountain": "blue"})
    with pytest.raises(ValueError, match="64x64"):
        oracle().judge([np.zeros((32, 32, 3), np.uint8)], load_task("toy-hand"))


def test_oracle_registry() -> None:
    assert isinstance(ORACLES.create("simulated", seed=1), SimulatedOracle)
    with pytest.raises(UnknownNameError, match="valid oracles: .*simulated"):
        ORACLES.get("gpt")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"good": [True, False], "best": None}, "must name a good image"),
        ({"good": [False, False], "best": 0}, "must be None"),
        ({"good": [True, False], "best": 1}, "labelled not good"),
        ({"good": [True, False], "best": 2}, "not an index"),
        ({"good": [True, False], "best": 0, "scores": [1.0]}, "scores has 1 entries for 2"),
    ],
)
def test_feedback_validation(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Feedback(**kwargs)


def test_feedback_round_trips_through_dict() -> None:
    fb = Feedback(good=[np.bool_(False), True], best=np.int64(1), scores=[0.1, 0.9], reasons=[["x"], []])
    assert fb.good == [False, True] and type(fb.best) is int
    assert Feedback.from_dict(fb.to_dict()) == fb
