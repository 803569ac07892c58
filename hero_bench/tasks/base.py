"""The Task schema: one benchmark task, stored as a YAML file and validated here.

Tasks are data so that a user can add one (`--task my-task.yaml`) without writing Python, and so that
every oracle and baseline reads the same texts: the training prompt, the success condition shown to
humans and VLM judges, VQA questions for a BLIP proxy, CLIP texts, an enhanced prompt and DreamBooth
prompts. Toy-world tasks add a declarative `check` that the simulated oracle evaluates exactly.

Only name, world, prompt and success_condition (plus `check` on the toy world) are required: a new task
should need no more than the judge and the prompt need. The texts only some components read (vqa, clip,
enhanced_prompt, dreambooth) are optional, and the component that needs a missing one says which field to
add (`Task.require`); `summary` defaults to the success condition and `category` to none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hero_bench.errors import HeroBenchError
from hero_bench.tasks.rules import Check

Category = Literal[
    "correction",
    "reasoning",
    "counting",
    "feasibility",
    "functionality",
    "homonym",
    "personalization",
    "safety",
]
World = Literal["toy", "real"]

def spread_prompts(prompts: Sequence[str], n: int) -> list[str]:
    """Cycle the prompts over n images so that each evaluation prompt gets an equal share. Image i of every
    evaluation batch stands for prompt i of this list, whatever prompt a method rewrote it to."""
    return [prompts[i % len(prompts)] for i in range(n)]


DREAMBOOTH_TOKEN = "[V]"
"""Placeholder for DreamBooth's rare identifier token; a baseline substitutes its own token for it."""

TOY_DEFAULT_STEPS = 20
REAL_DEFAULT_STEPS = 50
"""The paper samples with 50 DDIM steps (20 for hand); the toy world uses 20 throughout."""

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

_NO_PARSER = (
    "only toy-world tasks can have a 'check' or 'hidden_preference' (there is no scene parser for real "
    "images); describe success in 'success_condition' instead"
)


class MissingTaskFieldError(HeroBenchError):
    """A component needs a task text that this task file does not give; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VQAItem(_Strict):
    """A yes/no question whose expected answer holds for a successful image."""

    question: str = Field(min_length=1)
    answer: Literal["yes", "no"]


class ClipTexts(_Strict):
    """Texts for a CLIP proxy: a good image is closer to the positives than to the negatives."""

    positive: list[str] = Field(min_length=1)
    negative: list[str] = Field(default_factory=list)


class DreamBoothPrompts(_Strict):
    """DreamBooth prompts; `[V]` marks the identifier token in the instance and generation prompts."""

    instance_prompt: str
    class_prompt: str
    generation_prompt: str

    @model_validator(mode="after")
    def _token_placement(self) -> Self:
        for field in ("instance_prompt", "generation_prompt"):
            if DREAMBOOTH_TOKEN not in getattr(self, field):
                raise ValueError(f"{field} must contain the identifier token {DREAMBOOTH_TOKEN}")
        if DREAMBOOTH_TOKEN in self.class_prompt:
            raise ValueError(f"class_prompt names the generic class and must not contain {DREAMBOOTH_TOKEN}")
        return self

    def generation_without_token(self) -> str:
        """The generation prompt with `[V]` left out: what the identifier's effect is measured against."""
        return " ".join(self.generation_prompt.replace(DREAMBOOTH_TOKEN, "").split())

    def with_token(self, token: str) -> dict[str, str]:
        """The prompts with `[V]` replaced by the baseline's actual identifier token (a plain dict)."""
        return {
            "instance_prompt": self.instance_prompt.replace(DREAMBOOTH_TOKEN, token),
            "class_prompt": self.class_prompt,
            "generation_prompt": self.generation_prompt.replace(DREAMBOOTH_TOKEN, token),
        }


class Task(_Strict):
    """One benchmark task. Toy tasks carry a `check`; real tasks are judged by people or proxies."""

    name: str = Field(pattern=NAME_PATTERN)
    summary: str = Field(min_length=1, description="one line shown by `hero-bench tasks`; default: success_condition")
    world: World
    category: list[Category] = Field(default_factory=list)
    mirrors: str | None = Field(default=None, description="the paper task this one imitates")
    prompt: str = Field(min_length=1, description="training prompt")
    eval_prompts: list[str] = Field(
        default_factory=list,
        validate_default=True,
        description="prompts for measuring success; defaults to [prompt], unseen prompts for transfer tasks",
    )
    success_condition: str = Field(min_length=1, description="shown to humans and VLM judges")
    check: Check | None = Field(default=None, validate_default=True)
    hidden_preference: Check | None = Field(
        default=None,
        validate_default=True,
        description="a rule the simulated person applies that the prompt does not state",
    )
    vqa: list[VQAItem] | None = Field(default=None, min_length=1, description="for the blip-vqa oracle")
    clip: ClipTexts | None = Field(default=None, description="for the clip oracle")
    enhanced_prompt: str | None = Field(default=None, min_length=1, description="for sd-enhanced (task-table)")
    dreambooth: DreamBoothPrompts | None = Field(default=None, description="for the dreambooth baseline")
    num_inference_steps: int | None = Field(default=None, ge=1)
    images_per_epoch: int | None = Field(default=None, ge=1, description="overrides the run default (64)")
    epochs: int | None = Field(default=None, ge=1, description="overrides the run default (8)")

    @model_validator(mode="before")
    @classmethod
    def _default_summary(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("summary") and isinstance(data.get("success_condition"), str):
            return {**data, "summary": " ".join(data["success_condition"].split())}
        return data

    def require(self, field: str, who: str) -> Any:
        """The value of an optional task text, or a one-line error naming the field that `who` needs."""
        value = getattr(self, field)
        if value is None:
            raise MissingTaskFieldError(
                f"task {self.name!r} has no {field!r}, which {who} needs: add it to the task file "
                f"(see hero_bench/tasks/data/toy-black-cat.yaml for its form)"
            )
        return value

    @field_validator("category")
    @classmethod
    def _no_repeats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("categories must not repeat")
        return v

    @field_validator("eval_prompts", mode="after")
    @classmethod
    def _default_eval_prompts(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v and "prompt" in info.data:
            return [info.data["prompt"]]
        if any(not p.strip() for p in v):
            raise ValueError("eval prompts must be non-empty strings")
        return v

    @field_validator("check", mode="after")
    @classmethod
    def _check_matches_world(cls, v: Check | None, info: ValidationInfo) -> Check | None:
        world = info.data.get("world")
        if world == "toy" and v is None:
            raise ValueError("toy-world tasks need a 'check' (the simulated oracle evaluates it)")
        if world == "real" and v is not None:
            raise ValueError(_NO_PARSER)
        return v

    @field_validator("hidden_preference", mode="after")
    @classmethod
    def _preference_matches_world(cls, v: Check | None, info: ValidationInfo) -> Check | None:
        if info.data.get("world") == "real" and v is not None:
            raise ValueError(_NO_PARSER)
        return v

    @property
    def is_toy(self) -> bool:
        return self.world == "toy"

    @property
    def default_steps(self) -> int:
        """DDIM steps to sample with unless the run overrides them."""
        if self.num_inference_steps is not None:
            return self.num_inference_steps
        return TOY_DEFAULT_STEPS if self.is_toy else REAL_DEFAULT_STEPS
