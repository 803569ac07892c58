"""Why a metric could not be computed.

A metric whose model is absent must be reported as missing with its reason, never as a number (a 0 in a
table reads as a result), so loaders raise `MetricUnavailable` and the suite records its message.
"""

from __future__ import annotations

from hero_bench.errors import HeroBenchError


class MetricUnavailable(HeroBenchError):
    """A metric's model or files are missing or unusable; the message says what and where."""
