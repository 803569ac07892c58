"""How flat and on-palette a model's objects are: the share of object pixels near a palette colour.

Why: the judge names colours by their nearest palette entry, so an object drawn as a red-to-yellow gradient
or a purple-haloed black is misread however good the parser is. The share is measured on the *core* of each
object (its rim is a blend with whatever it stands on, for any renderer) and compared with rendered scenes of
the same prompt family, whose objects are flat by construction, and with their VAE round trip (what the
latent space can carry at best). `hero-bench toy palette` prints the table per prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from hero_bench.toyworld.scene import BACKGROUND, BOX_BROWN, OBJECT_COLOURS, ROCK, SKY, SNOW, WATER, reflected_colour

ON_PALETTE = 40.0
"""An object pixel is on-palette when it is within this RGB distance of an object colour or its reflection
(the parser accepts colours up to 70 away; 40 is 'visibly that colour')."""
SCENERY_DISTANCE = 45.0
"""Pixels this close to the background or to a scenery colour (box brown, water, sky, rock, snow) are not
object pixels."""

_OBJECT_RGB = np.array(
    [*OBJECT_COLOURS.values(), *(reflected_colour(c) for c in OBJECT_COLOURS.values())], dtype=np.float32
)
_SCENERY_RGB = np.array([BACKGROUND, BOX_BROWN, WATER, SKY, ROCK, SNOW], dtype=np.float32)

PALETTE_PROMPTS: tuple[str, ...] = (
    "a yellow square",
    "one blue circle in a box",
    "a black triangle sitting inside a box",
    "a purple circle by the water with its reflection",
    "a sharp shape",
    "two red squares",
    "a green circle inside a box",
    "a red triangle and a blue square",
)
"""The toy task prompts that draw objects (toy-mountain draws none) and caption-grammar prompts that are not
tasks."""


def _min_distance(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return np.linalg.norm(image[:, :, None, :].astype(np.float32) - palette[None, None], axis=-1).min(-1)


def object_core(image: np.ndarray) -> np.ndarray:
    """Pixels of objects, less a one-pixel rim: far from the background and every scenery colour."""
    image = np.asarray(image)[:, :, :3]
    mask = _min_distance(image, _SCENERY_RGB) > SCENERY_DISTANCE
    return ndimage.binary_erosion(mask)


def on_palette_counts(image: np.ndarray) -> tuple[int, int]:
    """(object-core pixels within ON_PALETTE of an object colour, object-core pixels) of one image."""
    image = np.asarray(image)[:, :, :3]
    core = object_core(image)
    if not core.any():
        return 0, 0
    near = _min_distance(image[core][None], _OBJECT_RGB)[0] <= ON_PALETTE
    return int(near.sum()), int(core.sum())


@dataclass(frozen=True)
class PaletteShare:
    """On-palette share of object-core pixels over a set of images, pooled over pixels."""

    on_palette: int
    object_pixels: int
    images: int

    @property
    def share(self) -> float:
        return self.on_palette / self.object_pixels if self.object_pixels else float("nan")

    @classmethod
    def of(cls, images: Sequence[np.ndarray | Image.Image]) -> PaletteShare:
        counts = [on_palette_counts(np.asarray(im)) for im in images]
        return cls(sum(c[0] for c in counts), sum(c[1] for c in counts), len(counts))


def prompt_family(prompt: str) -> str | None:
    """The task family whose training captions include `prompt` (None: a caption-grammar prompt)."""
    from hero_bench.toyworld.dataset import TASK_FAMILIES

    return next((task for task, (prompts, _) in TASK_FAMILIES.items() if prompt in prompts), None)


def rendered_images(prompt: str, n: int, seed: int) -> np.ndarray:
    """Rendered scenes for `prompt`: its task family's scenes (half successes), else generic training scenes
    whose caption mentions the prompt's colour words (all training scenes when none does)."""
    from hero_bench.toyworld.dataset import sample_examples, sample_task_scene
    from hero_bench.toyworld.render import render

    family = prompt_family(prompt)
    rng = np.random.default_rng(seed)
    if family is not None:
        scenes = [sample_task_scene(rng, family, ok=bool(i % 2)) for i in range(n)]
        return np.stack([render(scene, box_gap=gap) for scene, gap in scenes])
    colours = [c for c in OBJECT_COLOURS if c in prompt.split()]
    pool = [e for e in sample_examples(seed, 8 * n) if not colours or any(c in e.caption for c in colours)]
    return np.stack([e.image for e in pool[:n]])
