"""Can the VLM judge be reached? Checked when a command starts, before torch loads and any image is made.

Why: the vlm oracle's transport only meets its endpoint at the first judged batch. On SD v1.5 that is after
the model has loaded and a batch was sampled, minutes in, to learn that the URL had a typo or the server was
not started. A TCP connection to the endpoint's host and port answers that in a second. Only the standard
library is imported here, so a refusal costs no torch import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hero_bench.errors import HeroBenchError
from hero_bench.reach import why_unreachable

NO_JUDGE = (
    "the vlm oracle needs a judge: set HERO_VLM_BASE_URL (an OpenAI-compatible URL such as "
    "http://127.0.0.1:8000/v1), HERO_VLM_MODEL and, if the server wants one, HERO_VLM_API_KEY; or pass a "
    "local vision-language model folder as the oracle model"
)


def no_model_name(url: str) -> str:
    return (
        f"no model name for the VLM endpoint {url}: set HERO_VLM_MODEL (or pass model=...), e.g. the name your "
        "server lists at /v1/models"
    )


START_THE_SERVER = "start the server, or give a reachable OpenAI-compatible URL (base_url=... or HERO_VLM_BASE_URL)"


def env_setting(*names: str) -> str | None:
    """The first of these environment variables that is set and not blank."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def endpoint_url(options: Mapping[str, Any]) -> str | None:
    """The endpoint the vlm oracle would use with these options (None: a local model folder or nothing)."""
    given = options.get("base_url")
    return str(given) if given else env_setting("HERO_VLM_BASE_URL", "OPENAI_BASE_URL")


def check_vlm_reachable(options: Mapping[str, Any], flag: str, timeout: float = 3.0) -> None:
    """Refuse, in one line, a judge that is not configured (no endpoint and no local model folder, or an
    endpoint without a model name) and an endpoint URL that cannot be parsed or whose host:port accepts no
    connection. Nothing more is checked for a local model folder. `flag` says where the options came from."""
    url = endpoint_url(options)
    if url is None:
        if not options.get("model"):
            raise HeroBenchError(f"{flag}: {NO_JUDGE}")
        return
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number, or out of range
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise HeroBenchError(
            f"{flag}: the VLM endpoint {url!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1"
        )
    why = why_unreachable(parts.hostname, port, timeout)
    if why is not None:
        raise HeroBenchError(f"{flag}: cannot reach the VLM endpoint {url} ({why}): {START_THE_SERVER}")
    if not (options.get("model") or env_setting("HERO_VLM_MODEL")):
        raise HeroBenchError(f"{flag}: {no_model_name(url)}")
