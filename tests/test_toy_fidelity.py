"""The toy world v2 VAE keeps the scene: the parser reads a decoded render almost as it reads the render.

Every toy verdict is the parser's reading of a decoded image, so this round trip is the ceiling of the judge's
accuracy on generated images (docs/toyworld.md, `hero-bench toy fidelity`). The default model carries the v2 VAE;
the first shipped model's (`assets/tiny-sd-v1`, 4 latent channels) loses ~15% of shapes and colours.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hero_bench.evaluation import DEFAULT_MODEL
from hero_bench.toyworld.agreement import PROPERTIES
from hero_bench.toyworld.fidelity import HELD_OUT_SEED, load_vae, round_trip_agreement

SHIPPED_MODEL = DEFAULT_MODEL
TARGET = 0.995
"""The goal on every property. Reflections, which this VAE keeps worst (pale, low contrast), read 0.995 exactly
(seed 1000003, 1000 scenes; 0.999 on seed 2000003, 2000 scenes) since the parser reads their shapes with a fitted
linear rule (scripts/fit-reflection-shapes.py; 0.992 and 0.9985 before): one more miss fails this test."""


@pytest.fixture(scope="module")
def shipped_round_trip():
    return round_trip_agreement(load_vae(SHIPPED_MODEL), n=1000, seed=HELD_OUT_SEED)


def test_round_trip_keeps_every_property_on_1000_unseen_scenes(shipped_round_trip):
    scores, misses, _ = shipped_round_trip
    low = {p: s for p, s in scores.items() if s < TARGET}
    assert not low, f"round-trip agreement below {TARGET}: {low}; first misses {misses[:10]}"
    assert set(scores) == set(PROPERTIES)


def test_round_trip_pixels_stay_close(shipped_round_trip):
    _, _, mae = shipped_round_trip
    assert mae < 2.5  # on the 0-255 scale; the first shipped VAE (4 latent channels) was at 4.4


def test_fidelity_command_prints_the_table_as_json():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hero_bench.cli",
            "toy",
            "fidelity",
            "--model",
            str(SHIPPED_MODEL),
            "--n",
            "50",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 50 and set(out["agreement"]) == set(PROPERTIES)
