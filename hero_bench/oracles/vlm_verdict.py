"""What the VLM judge is asked and how its answer is read: the instructions sent with each image and the
parser that turns a reply into a `Verdict` (the first JSON object in it; chatter and code fences allowed).

Kept apart from the transports so that a prompt change (bump PROMPT_VERSION) and the parser's tolerance are
reviewed, and tested, on their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hero_bench.errors import HeroBenchError
from hero_bench.tasks.base import Task

PROMPT_VERSION = 1
"""Bump when the instructions change: verdicts cached under another wording are not reused."""

SYSTEM_PROMPT = (
    "You are a strict, consistent judge of images made by a text-to-image model. You check one image "
    "against a success condition and reply with a single JSON object and nothing else."
)


class VLMReplyError(HeroBenchError):
    """The judge kept replying with something that is not a valid verdict."""


class MalformedVerdict(ValueError):
    """One reply could not be read as a verdict (retried; see VLMReplyError)."""


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one image."""

    good: bool
    score: float
    reason: str = ""


def verdict_instructions(task: Task, prompt: str) -> str:
    """The user-turn text sent with each image."""
    return (
        f'The image was generated from the prompt: "{prompt}"\n'
        f"Success condition: {task.success_condition}\n\n"
        "Decide whether the image satisfies the success condition. Then rate how well it does, counting "
        "image quality too, from 1 (worst) to 10 (best); a good image should score at least 6.\n"
        'Reply with only this JSON: {"good": true or false, "score": an integer from 1 to 10, '
        '"reason": "one short sentence"}'
    )


_BOOL_WORDS = {"true": True, "yes": True, "good": True, "false": False, "no": False, "bad": False}


def _first_json_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise MalformedVerdict(f"no JSON object in the reply: {text[:200]!r}")


def parse_verdict(text: str) -> Verdict:
    """Read a verdict from a model's reply: the first JSON object in it (code fences and chatter allowed).

    `good` must be a boolean (or "true"/"false"/"yes"/"no"); `score` a number from 1 to 10.
    """
    if not isinstance(text, str):
        raise MalformedVerdict(f"reply content is {type(text).__name__}, not text")
    obj = _first_json_object(text)
    good = obj.get("good")
    if isinstance(good, str) and good.strip().lower() in _BOOL_WORDS:
        good = _BOOL_WORDS[good.strip().lower()]
    if not isinstance(good, bool):
        raise MalformedVerdict(f'"good" must be true or false, got {obj.get("good")!r}')
    score = obj.get("score")
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            raise MalformedVerdict(f'"score" must be a number from 1 to 10, got {score!r}') from None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 10:
        raise MalformedVerdict(f'"score" must be a number from 1 to 10, got {obj.get("score")!r}')
    reason = obj.get("reason", "")
    return Verdict(good=good, score=float(score), reason=str(reason) if reason is not None else "")
