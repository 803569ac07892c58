"""What each oracle option's value may be, checked when a command starts (pydantic only, no torch).

Why: options arrive as YAML-read strings (`--oracle-option margin=abc`). The oracles took them as given: a CLIP
margin that is no number fell through to the calibrated margins without a word, `flip_prob=abc` and
`batch_size=0` were tracebacks once the model had loaded. Options not listed here (model folders, URLs, stores,
hosts) are checked where they are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, TypeAdapter, ValidationError

from hero_bench.errors import HeroBenchError

Positive = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]

OPTION_VALUES: dict[str, dict[str, Any]] = {
    "simulated": {"flip_prob": Annotated[float, Field(ge=0, le=1)]},
    "clip": {"margin": float | dict[str, float] | None, "batch_size": Positive},
    "blip-vqa": {"batch_size": Positive},
    "vlm": {
        "timeout": Seconds, "max_retries": Annotated[int, Field(ge=0)], "concurrency": Positive,
        "backoff": Annotated[float, Field(ge=0)], "max_tokens": Positive, "max_new_tokens": Positive,
        "json_mode": StrictBool, "on_malformed": Literal["raise", "bad"],
    },  # fmt: skip
    "human": {
        "port": Annotated[int, Field(ge=0, le=65535)], "timeout": Seconds | None, "budget": Positive | None,
        "finish_grace": Annotated[float, Field(ge=0)],
    },  # fmt: skip
}


def check_option_values(name: str, options: Mapping[str, Any], flag: str) -> None:
    """Refuse, in one line, a value the oracle `name` cannot use (a text where a number goes, out of range)."""
    for key, value in options.items():
        kind = OPTION_VALUES.get(name, {}).get(key)
        if kind is None:
            continue
        try:
            TypeAdapter(kind).validate_python(value)
        except ValidationError as e:
            problem = "; ".join(dict.fromkeys(err["msg"] for err in e.errors()))
            raise HeroBenchError(f"{flag}: the {name} oracle's {key}={value!r} is not usable: {problem}") from e
