"""A tiny name -> factory registry shared by tasks, methods and oracles.

Why a registry: the CLI takes names (`--task toy-hand --oracle simulated`), must list what exists
(`hero-bench oracles`), and must answer a typo with the valid names instead of a traceback. Factories
(not instances) are stored so that heavy dependencies are imported only when a component is used; see
`lazy` for registering a component by its import path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hero_bench.errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: how to build it and a one-line description for listings."""

    name: str
    factory: Callable[..., T]
    description: str


class Registry(Generic[T]):
    """Maps names to factories of `T`. `kind` ("task", "method", ...) is used in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., T] | None = None,
        description: str = "",
        *,
        replace: bool = False,
    ) -> Any:
        """Register `factory` under `name`; without a factory, return a decorator that registers one.

        Registering a taken name is a programming error (two components fighting over a name) unless
        `replace=True` is passed deliberately.
        """

        def add(f: Callable[..., T]) -> Callable[..., T]:
            if not name or name != name.strip():
                raise ValueError(f"{self.kind} name must be non-empty without surrounding spaces: {name!r}")
            if name in self._entries and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            desc = description or _first_line(getattr(f, "__doc__", None))
            self._entries[name] = Entry(name, f, desc)
            return f

        return add if factory is None else add(factory)

    def entry(self, name: str) -> Entry[T]:
        """The entry for `name`; UnknownNameError (listing valid names) if it is not registered."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under `name`."""
        return self.entry(name).factory

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the component: `get(name)(*args, **kwargs)`."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        """name -> one-line description, sorted by name (what `hero-bench <kind>s` prints)."""
        return {n: self._entries[n].description for n in self.names()}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def lazy(target: str) -> Callable[..., Any]:
    """A factory for "package.module:attr" that imports the module only when first called.

    Lets a registry list e.g. a CLIP oracle without importing open_clip at start-up.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"lazy target must look like 'package.module:attr', got {target!r}")

    def factory(*args: Any, **kwargs: Any) -> Any:
        obj = getattr(importlib.import_module(module_name), attr)
        return obj(*args, **kwargs)

    factory.__doc__ = f"Lazily import and call {target}."
    factory.__qualname__ = factory.__name__ = f"lazy[{target}]"
    return factory


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` (PEP 562) for `package` that imports `name` from `package.<where[name]>` on first
    use. Lets a package keep its short public names (`from hero_bench.hero import HeroConfig`) while reading one
    light submodule (its config) does not import the heavy ones (torch) beside it."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__
