"""SD-pretrained: the untouched model, the floor every method must beat."""

from __future__ import annotations

from PIL import Image

from hero_bench.methods.base import Method
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory


class Pretrained(Method):
    """Samples from the base model with N(0, I) noise; learns nothing and asks for no feedback."""

    name = "sd-pretrained"
    uses_feedback = False
    trains = False

    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        raise RuntimeError("sd-pretrained does not train")
