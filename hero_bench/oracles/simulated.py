"""The simulated person for toy-world tasks: parse the image, apply the task's rule, act a little human.

With defaults it is exact, so it doubles as the ground-truth judge of success rates. Knobs imitate a
real evaluator: `flip_prob` mislabels images at random, `best_rule` says how the favourite is chosen,
and `hidden_preference` is a taste the prompt never states (by default the task's own, e.g. green
mountains), which is exactly what HERO must learn from feedback alone.

Randomness comes from one seeded numpy Generator. Each `judge` call on n images draws exactly n + 1
numbers (n flip draws, one best draw) whatever the labels are, so two oracles with the same seed fed the
same batches agree, and `state_dict` lets a resumed run continue the same stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
from PIL import Image
from pydantic import ValidationError

from hero_bench.errors import ConfigError, UnknownNameError
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.tasks.base import Task
from hero_bench.tasks.fit import not_judgeable
from hero_bench.tasks.rules import Check, explain
from hero_bench.toyworld.scene import CANVAS, Scene

BestRule = Literal["quality", "random"]
"""How the best image is picked among the good ones.

- "quality": highest `image_quality` (the cleanest, most palette-true image); ties go to the lowest index.
- "random": a uniformly random good image (seeded), i.e. a person with no consistent taste for "best".
"""

Parser = Callable[[np.ndarray], Scene]
QualityFn = Callable[[np.ndarray], float]
PreferenceArg = Literal["task"] | Check | Mapping[str, Any] | None

FLIP_NOTE = "label flipped by simulated noise"
PREFERENCE_PREFIX = "hidden preference: "


class SimulatedOracle(Oracle):
    """Judges toy-world images by parsing them into scenes and evaluating the task's declarative check."""

    name = "simulated"

    def __init__(
        self,
        seed: int = 0,
        flip_prob: float = 0.0,
        best_rule: BestRule = "quality",
        hidden_preference: PreferenceArg = "task",
        parser: Parser | None = None,
        quality: QualityFn | None = None,
    ) -> None:
        """`parser`/`quality` default to `hero_bench.toyworld.parse.parse_image`/`image_quality`.

        `hidden_preference`: "task" uses the task's own hidden preference (the simulated person has it);
        None ignores it (a person who only checks the prompt); a Check or mapping imposes another taste.
        """
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise ConfigError(None, "flip_prob", f"is {flip_prob!r}", allowed="a probability in [0, 1]")
        if best_rule not in get_args(BestRule):
            raise UnknownNameError("best rule", str(best_rule), get_args(BestRule))
        self.seed = seed
        self.flip_prob = float(flip_prob)
        self.best_rule: BestRule = best_rule
        self.hidden_preference = _as_preference(hidden_preference)
        self._parser = parser
        self._quality = quality
        self._rng = np.random.default_rng(seed)

    # -- dependencies, imported lazily so the oracle can be built (and tested) without them ------------
    @property
    def parser(self) -> Parser:
        if self._parser is None:
            from hero_bench.toyworld.parse import parse_image

            self._parser = parse_image
        return self._parser

    @property
    def quality(self) -> QualityFn:
        if self._quality is None:
            from hero_bench.toyworld.parse import image_quality

            self._quality = image_quality
        return self._quality

    # -- judging -------------------------------------------------------------------------------------------
    def preference_for(self, task: Task) -> Check | None:
        """The hidden preference this simulated person applies on `task` (None: none)."""
        if self.hidden_preference == "task":
            return task.hidden_preference
        return self.hidden_preference

    def reasons(self, scene: Scene, task: Task) -> list[str]:
        """Why `scene` is not good for `task` under this person's rule (empty list: good). No noise."""
        if task.check is None:
            raise not_judgeable(task)
        out = explain(task.check, scene)
        pref = self.preference_for(task)
        if pref is not None:
            out += [PREFERENCE_PREFIX + r for r in explain(pref, scene)]
        return out

    def judge(
        self,
        images: Sequence[Image.Image | np.ndarray],
        task: Task,
        prompts: Sequence[str] | None = None,
    ) -> Feedback:
        """Parse, check, optionally flip labels, then pick the best good image by `best_rule`.

        `prompts` is accepted for interface compatibility; the rule does not depend on the prompt (the
        toy-safety task is judged the same way on all its evaluation prompts).
        """
        if not task.is_toy or task.check is None:
            raise not_judgeable(task)
        if prompts is not None and len(prompts) != len(images):
            raise ValueError(f"got {len(prompts)} prompts for {len(images)} images")
        arrays = [_to_array(im) for im in images]
        reasons = [self.reasons(self.parser(a), task) for a in arrays]
        truth = [not r for r in reasons]

        flips = self._rng.random(len(arrays)) < self.flip_prob
        best_draw = self._rng.random()
        good = [t != bool(f) for t, f in zip(truth, flips, strict=True)]
        for r, f, t in zip(reasons, flips, truth, strict=True):
            if f:
                r.append(f"{FLIP_NOTE} (the rule says {'good' if t else 'not good'})")

        scores: list[float] | None = None
        good_idx = [i for i, g in enumerate(good) if g]
        best: int | None = None
        if self.best_rule == "quality":
            scores = [float(self.quality(a)) for a in arrays]
            if good_idx:
                best = max(good_idx, key=lambda i: (scores[i], -i))
        elif good_idx:
            best = good_idx[min(int(best_draw * len(good_idx)), len(good_idx) - 1)]
        return Feedback(good=good, best=best, scores=scores, reasons=reasons)

    # -- checkpointing ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]


def _as_preference(value: PreferenceArg) -> Literal["task"] | Check | None:
    if value is None or value == "task" or isinstance(value, Check):
        return value  # type: ignore[return-value]
    if isinstance(value, Mapping):
        try:
            return Check.model_validate(dict(value))
        except ValidationError as e:
            raise ConfigError.from_validation(None, e, Check) from None
    raise ConfigError(
        None,
        "hidden_preference",
        f"is {value!r}",
        allowed="'task', None, a Check, or a mapping of check rules",
    )


def _to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """uint8 HxWx3 array, the parser's input format; rejects sizes the toy world never produces."""
    arr = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if arr.shape != (CANVAS, CANVAS, 3):
        raise ValueError(f"toy-world images must be {CANVAS}x{CANVAS} RGB, got an array of shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"toy-world images must be uint8, got {arr.dtype}")
    return arr
