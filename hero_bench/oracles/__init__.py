"""Feedback sources. `ORACLES` maps CLI names to lazily imported factories (heavy models load on use)."""

from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.registry import Registry, lazy

ORACLES: Registry[Oracle] = Registry("oracle")
ORACLES.register(
    "simulated",
    lazy("hero_bench.oracles.simulated:SimulatedOracle"),
    "toy world only: parses the image and applies the task's check (exact unless noise is asked for)",
)

__all__ = ["ORACLES", "Feedback", "Oracle"]
