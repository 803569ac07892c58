"""Is anything listening there? One TCP connection answers in a second.

Why: the clients that would otherwise meet an endpoint first (Ray joining a cluster, the Hugging Face hub
client, the VLM judge's HTTP client) retry for tens of seconds or minutes before they fail, and some only
meet it minutes into a run. Only the standard library is imported here, so a refusal costs no torch import.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit


def why_unreachable(host: str, port: int, timeout: float) -> str | None:
    """None when host:port accepts a TCP connection within `timeout` seconds; otherwise why not, in a few words."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"the host name {host!r} does not resolve"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as e:
        return e.strerror or str(e)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (HF_ENDPOINT, or huggingface.co) accepts a connection."""
    parts = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = parts.hostname or "huggingface.co"
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        return False
    return why_unreachable(host, port, timeout) is None
