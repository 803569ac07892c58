"""What every feedback source returns, and the interface it implements.

HERO needs, per batch, which images are good and which single good image is best. Oracles (a person, a
VLM, a CLIP or BLIP proxy, the toy world's scene parser) all answer in this one shape so that methods
and the run loop never care where feedback came from. Each image judged costs one unit of feedback.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from hero_bench.tasks.base import Task


@dataclass(frozen=True)
class Feedback:
    """Feedback on one batch: a good/bad label per image and the index of the best good image.

    `scores` (optional) is an oracle-specific per-image number (higher = better); `reasons` (optional)
    lists, per image, why it was judged bad (empty for good images unless the oracle adds notes).
    """

    good: list[bool]
    best: int | None
    scores: list[float] | None = None
    reasons: list[list[str]] | None = None

    def __post_init__(self) -> None:
        # Accept numpy bools/ints from oracles but store plain Python values (JSON-ready, comparable).
        if any(not isinstance(g, bool | np.bool_) for g in self.good):
            raise ValueError("Feedback.good must be a list of bools")
        object.__setattr__(self, "good", [bool(g) for g in self.good])
        if self.best is not None and not isinstance(self.best, bool | np.bool_):
            object.__setattr__(self, "best", operator.index(self.best))
        if self.scores is not None:
            object.__setattr__(self, "scores", [float(s) for s in self.scores])
        n = len(self.good)
        if self.best is None:
            if any(self.good):
                raise ValueError("Feedback.best must name a good image when any image is good")
        else:
            if not any(self.good):
                raise ValueError("Feedback.best must be None when no image is good")
            if isinstance(self.best, bool) or not 0 <= self.best < n:
                raise ValueError(f"Feedback.best={self.best!r} is not an index into {n} images")
            if not self.good[self.best]:
                raise ValueError(f"Feedback.best={self.best} points at an image labelled not good")
        for field in ("scores", "reasons"):
            value = getattr(self, field)
            if value is not None and len(value) != n:
                raise ValueError(f"Feedback.{field} has {len(value)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.good)

    @property
    def n_good(self) -> int:
        return sum(self.good)

    @property
    def good_indices(self) -> list[int]:
        return [i for i, g in enumerate(self.good) if g]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for the run's feedback log)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feedback:
        return cls(
            good=[bool(g) for g in data["good"]],
            best=data.get("best"),
            scores=data.get("scores"),
            reasons=data.get("reasons"),
        )


class Oracle(ABC):
    """A source of feedback. `judge` returns one feedback unit per image."""

    name: ClassVar[str]

    @abstractmethod
    def judge(
        self,
        images: Sequence[Image.Image],
        task: Task,
        prompts: Sequence[str] | None = None,
    ) -> Feedback:
        """Label each image good or bad and pick the best good one.

        `prompts`, if given, has one entry per image: the prompt it was generated from.
        """

    def state_dict(self) -> dict[str, Any]:
        """Internal state to checkpoint (e.g. a random generator), so that a resumed run continues exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless by default
        """Restore what `state_dict` returned."""
