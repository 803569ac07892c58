"""Errors a user can fix. The CLI maps every `HeroBenchError` to exit code 2 and prints its message.

Anything else escaping the CLI is a bug in hero-bench, so user-facing problems must raise one of these
with a message that says what was wrong and what would be accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


def yaml_problem(error: Exception) -> str:
    """A YAML parser error in one line: what was wrong and where (PyYAML's own message spans several)."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {getattr(error, 'problem', None) or error}"


class HeroBenchError(Exception):
    """Base class of errors caused by user input (names, files, options), not by bugs."""


class ModelLoadError(OSError):
    """A pipeline could not be loaded; the message says what to pass instead. Defined here (and re-exported
    by `hero_bench.models`) so that the CLI can catch it without importing torch and diffusers first."""


class UnknownNameError(HeroBenchError, KeyError):
    """A name (task, method, oracle, ...) that is not registered; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        msg = f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid) or '(none registered)'}"
        close = difflib.get_close_matches(name, self.valid, n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class ConfigError(HeroBenchError):
    """A malformed configuration or task file; names the file, the field path and what is allowed."""

    def __init__(
        self,
        file: str | Path | None,
        field: str | None,
        problem: str,
        allowed: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.field = field
        self.problem = problem
        self.allowed = allowed
        where = self.file or "<config>"
        msg = f"{where}: " + (f"field '{field}': " if field else "") + problem
        if allowed:
            msg += f"; allowed: {allowed}"
        super().__init__(msg)

    @classmethod
    def from_validation(
        cls, file: str | Path | None, error: ValidationError, model: type[BaseModel]
    ) -> ConfigError:
        """Turn pydantic's errors into one ConfigError listing every bad field of `file`.

        pydantic reports *that* an extra field is forbidden but not which fields exist, so for those we
        look the sub-model up by the error's location and list its field names.
        """
        problems = []
        first_field: str | None = None
        for err in error.errors():
            loc = err["loc"]
            field = _format_loc(loc)
            first_field = first_field or field
            text = _strip_prefix(err["msg"])
            if err["type"] == "extra_forbidden":
                text = "unknown field"
                owner = _model_at(model, loc[:-1])
                if owner is not None:
                    text += "; allowed fields: " + ", ".join(owner.model_fields)
            elif err["type"] == "missing":
                text = "required field is missing"
            elif isinstance(err.get("input"), str | int | float) and repr(err["input"]) not in text:
                text += f" (got {err['input']!r})"
            problems.append(f"field '{field or '<top level>'}': {text}")
        if len(problems) == 1:
            # Keep the simple "file: field 'x': problem" shape for the common single-error case.
            return cls(file, first_field, problems[0].split(": ", 1)[1])
        return cls(file, None, f"{len(problems)} problems:\n  " + "\n  ".join(problems))


class UnsupportedTaskError(HeroBenchError):
    """A component (e.g. an oracle) was asked to handle a task it cannot; the message says what can."""


def _format_loc(loc: Sequence[int | str]) -> str:
    """('include', 0, 'colour') -> 'include[0].colour', the form users see in YAML paths."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _strip_prefix(msg: str) -> str:
    """pydantic prefixes our own ValueError messages with 'Value error, '; users need not see that."""
    return msg.removeprefix("Value error, ")


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model class found by following `loc` through field annotations (None if lost)."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # list index: the element type was already unwrapped below
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = _unwrap_model(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap_model(annotation: Any) -> Any:
    """Find a BaseModel inside Optional[...] / list[...] / Union[...] annotations."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _unwrap_model(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


class RunFolderError(HeroBenchError, FileExistsError):
    """A run folder holds a run made with other settings (or is otherwise unusable); says how to proceed."""


class RunBusyError(RunFolderError):
    """Another process is working on this run folder (it holds the folder's lock)."""


class NoRunsError(HeroBenchError, FileNotFoundError):
    """`--resume` was pointed at a folder that holds no run."""
