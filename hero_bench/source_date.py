"""SOURCE_DATE_EPOCH, the reproducible-builds convention (seconds since 1970 UTC): when set, a file that records
when it was made records this time instead, so that rebuilding it from the same inputs gives the same bytes.

Standard library only: the CLI checks the variable before anything heavy is imported, because numpy's f2py
(imported through scipy) and matplotlib's SVG writer read it too and stop with a traceback on a bad value.
"""

from __future__ import annotations

import datetime as _dt
import os

from hero_bench.errors import HeroBenchError

VARIABLE = "SOURCE_DATE_EPOCH"


def fixed_time() -> _dt.datetime | None:
    """The time SOURCE_DATE_EPOCH fixes (UTC), None when it is unset; a one-line error for a bad value."""
    value = os.environ.get(VARIABLE)
    if value is None:
        return None
    try:
        return _dt.datetime.fromtimestamp(int(value), _dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise HeroBenchError(
            f"{VARIABLE}={value!r} is not a whole number of seconds since 1970; unset it or set it to e.g. "
            "$(git log -1 --format=%ct)"
        ) from None


def built_at() -> str:
    """When something is being built, to the second: now, or the time SOURCE_DATE_EPOCH fixes."""
    return (fixed_time() or _dt.datetime.now()).isoformat(timespec="seconds")
