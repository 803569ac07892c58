"""Find and load tasks: shipped ones by name, user ones by path to a YAML file.

Shipped tasks live in `hero_bench/tasks/data/<name>.yaml` and are registered in `TASKS` on first use.
`load_task` accepts either form, so the CLI's `--task` takes `toy-hand` or `./my-task.yaml` alike.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import get_args

import yaml
from pydantic import ValidationError

from hero_bench.errors import ConfigError, UnknownNameError, yaml_problem
from hero_bench.registry import Registry
from hero_bench.tasks.base import Task, World

TASKS: Registry[Task] = Registry("task")
"""Registry of shipped tasks (name -> loader). Call `registered_tasks()` to be sure it is populated."""

_YAML_SUFFIXES = (".yaml", ".yml")


def load_task_file(path: str | Path) -> Task:
    """Parse and validate one task file; any problem is a ConfigError naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "task file does not exist") from None
    except OSError as e:
        raise ConfigError(path, None, f"cannot read task file: {e.strerror or e}") from None
    return _parse(text, path)


def _parse(text: str, source: str | Path) -> Task:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(source, None, yaml_problem(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            source, None, f"a task file must be a YAML mapping of fields, got {type(data).__name__}",
            allowed=", ".join(Task.model_fields),
        )
    try:
        return Task.model_validate(data)
    except ValidationError as e:
        raise ConfigError.from_validation(source, e, Task) from None


def _shipped_files() -> dict[str, resources.abc.Traversable]:
    data = resources.files("hero_bench.tasks") / "data"
    return {
        f.name.rsplit(".", 1)[0]: f
        for f in sorted(data.iterdir(), key=lambda f: f.name)
        if f.is_file() and f.name.endswith(_YAML_SUFFIXES)
    }


@functools.cache
def _load_shipped(name: str) -> Task:
    file = _shipped_files()[name]
    task = _parse(file.read_text(encoding="utf-8"), f"hero_bench/tasks/data/{file.name}")
    if task.name != name:
        raise ConfigError(
            f"hero_bench/tasks/data/{file.name}", "name", f"is {task.name!r} but the file is named {name!r}",
            allowed=repr(name),
        )
    return task


@functools.cache
def registered_tasks() -> Registry[Task]:
    """Populate TASKS with every shipped task file (once) and return it."""
    for name in _shipped_files():
        if name not in TASKS:
            summary = _load_shipped(name).summary
            TASKS.register(name, functools.partial(_load_shipped, name), summary)
    return TASKS


def _looks_like_path(arg: str) -> bool:
    # Deliberately not "exists on disk": a stray file named like a task must not shadow the shipped one.
    return arg.endswith(_YAML_SUFFIXES) or "/" in arg or "\\" in arg


def load_task(name_or_path: str | Path) -> Task:
    """A shipped task by name (`toy-hand`) or a user task from a YAML file (`./my-task.yaml`).

    Unknown names raise UnknownNameError listing the valid ones; bad files raise ConfigError.
    """
    if isinstance(name_or_path, Path) or _looks_like_path(name_or_path):
        return load_task_file(name_or_path)
    return registered_tasks().create(name_or_path)


def list_tasks(world: str | None = None) -> list[Task]:
    """Every shipped task sorted by name, optionally only those of one world ('toy' or 'real')."""
    if world not in (None, *get_args(World)):
        raise UnknownNameError("world", str(world), get_args(World))
    tasks = [registered_tasks().create(n) for n in registered_tasks().names()]
    return [t for t in tasks if world is None or t.world == world]
