"""The on-palette share (issue 12, item 2): flat rendered objects score 1, colour bleed scores low."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from hero_bench.toyworld.palette import PALETTE_PROMPTS, PaletteShare, prompt_family, rendered_images
from hero_bench.toyworld.scene import BACKGROUND, OBJECT_COLOURS


def test_rendered_scenes_of_every_prompt_are_fully_on_palette():
    for prompt in PALETTE_PROMPTS:
        share = PaletteShare.of(list(rendered_images(prompt, 8, seed=3)))
        assert share.object_pixels > 0 and share.share == 1.0, prompt


def test_a_red_to_yellow_gradient_square_is_mostly_off_palette():
    image = np.full((64, 64, 3), BACKGROUND, np.uint8)
    red, yellow = np.array(OBJECT_COLOURS["red"], float), np.array(OBJECT_COLOURS["yellow"], float)
    for i, x in enumerate(range(16, 48)):
        image[16:48, x] = (red + (yellow - red) * i / 31).round()
    share = PaletteShare.of([image])
    assert share.object_pixels >= 28 * 28 and share.share < 0.5
    flat = image.copy()
    flat[16:48, 16:48] = OBJECT_COLOURS["red"]
    assert PaletteShare.of([flat]).share == 1.0


def test_prompt_family_names_the_task_whose_captions_hold_the_prompt():
    assert prompt_family("a yellow square") == "toy-hand"
    assert prompt_family("two red squares") is None


def test_toy_palette_prints_a_share_per_prompt_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "toy", "palette", "--n", "4", "--prompt", "a yellow square", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (row,) = json.loads(out.stdout)["prompts"]
    assert row["family"] == "toy-hand" and row["rendered"] == 1.0
    assert 0.5 < row["generated"] <= 1.0 and 0.9 < row["vae_round_trip"] <= 1.0
    assert row["ambiguous_rendered"] == 0.0 and 0.0 <= row["ambiguous_generated"] <= 1.0
