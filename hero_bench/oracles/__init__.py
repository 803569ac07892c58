"""Feedback sources. `ORACLES` maps CLI names to lazily imported factories (heavy models load on use)."""

import difflib
from collections.abc import Mapping
from typing import Any

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.registry import Registry, lazy

ORACLES: Registry[Oracle] = Registry("oracle")
ORACLES.register(
    "simulated",
    lazy("hero_bench.oracles.simulated:SimulatedOracle"),
    "toy world only: parses the image and applies the task's check (exact unless noise is asked for)",
)

# -- proxies, judges and a person (issue 5) ---------------------------------------------------------------
ORACLES.register(
    "clip",
    lazy("hero_bench.oracles.clip:ClipOracle"),
    "CLIP proxy: good when the task's positive texts beat its negatives by a calibrated margin",
)
ORACLES.register(
    "blip-vqa",
    lazy("hero_bench.oracles.blip_vqa:BlipVQAOracle"),
    "BLIP VQA proxy: good when every yes/no question of the task gets its expected answer",
)
ORACLES.register(
    "vlm",
    lazy("hero_bench.oracles.vlm:VLMOracle"),
    "VLM judge: a vision-language model reads the success condition and returns a JSON verdict",
)
ORACLES.register(
    "human",
    lazy("hero_bench.oracles.human:HumanOracle"),
    "a person labels each batch on a local web page (good/bad, one best)",
)

ORACLE_NEEDS: dict[str, tuple[str, str]] = {
    "simulated": ("nothing", "toy-world tasks only"),
    "clip": ("weights", "the toy CLIP (hero-bench toy train), a CLIPModel folder/hub id, or open_clip:ARCH:FILE"),
    "blip-vqa": ("weights", "a BlipForQuestionAnswering folder or hub id, e.g. Salesforce/blip-vqa-base"),
    "vlm": ("endpoint", "an OpenAI-compatible URL + model + key (HERO_VLM_*), or a local VLM folder (weights)"),
    "human": ("person", "someone at a browser; serves http://127.0.0.1:8765/?token=... (printed); "
              "--oracle-option port=N (0: any free), host=0.0.0.0 to expose it deliberately, timeout=SECONDS"),
}

# The options a user can give each oracle (`--oracle-option`, `--judge-option`, `oracle_options` in a settings
# file): its class's keyword parameters (for vlm also its transports'), less `seed` and the injected objects.
# Listed here so that a typo is refused before the oracle, and torch, is imported; a test compares them with
# the classes.
ORACLE_OPTIONS: dict[str, tuple[str, ...]] = {
    "simulated": ("flip_prob", "best_rule", "hidden_preference"),
    "clip": ("model", "margin", "device", "batch_size"),
    "blip-vqa": ("model", "device", "batch_size"),
    "vlm": (
        "model", "base_url", "api_key", "timeout", "max_retries", "concurrency", "cache", "on_malformed", "device",
        "backoff", "json_mode", "max_tokens", "max_new_tokens",
    ),  # fmt: skip
    "human": ("run_id", "store", "host", "port", "budget", "timeout", "announce", "finish_grace"),
}


def check_oracle_options(name: str, options: Mapping[str, Any], flag: str = "--oracle-option") -> None:
    """Refuse an option `name`'s oracle does not take, listing those it does, or a value it cannot use (`flag` is
    where it came from)."""
    ORACLES.entry(name)
    for key in options:
        valid = ORACLE_OPTIONS.get(name)
        if valid is not None and key != "seed" and key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise HeroBenchError(
                f"{flag}: the {name} oracle has no option {key!r}{hint}; its options: {', '.join(valid)}"
            )
    from hero_bench.oracles.option_values import check_option_values

    check_option_values(name, options, flag)


def describe_oracles() -> list[dict[str, str]]:
    """One row per oracle for `hero-bench oracles`: name, what it needs (weights/endpoint/person), one line."""
    rows = []
    for name, line in ORACLES.describe().items():
        needs, detail = ORACLE_NEEDS.get(name, ("?", ""))
        rows.append({"name": name, "needs": needs, "detail": detail, "description": line})
    return rows


__all__ = ["ORACLES", "ORACLE_OPTIONS", "Feedback", "Oracle", "check_oracle_options", "describe_oracles"]
