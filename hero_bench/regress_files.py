"""Where `hero-bench regress` keeps its committed reference and tolerances, and how they are read: a module of
its own so that the check (hero_bench.regress) holds only the comparison and its runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "regress_reference.csv"
TOLERANCES = DATA / "regress_tolerances.json"


def load_reference(path: Path = REFERENCE) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def load_reference_configs(path: Path = REFERENCE) -> dict[str, dict]:
    """The run settings recorded in the reference's '# config <task>/<method>: {...}' header lines."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("# config "):
            key, _, data = line.removeprefix("# config ").partition(": ")
            out[key] = json.loads(data)
    return out


def load_reference_machine(path: Path = REFERENCE) -> dict | None:
    """The CPU the reference was made on ('# machine: {...}'), or None for a reference written before it was
    recorded."""
    for line in Path(path).read_text().splitlines():
        if line.startswith("# machine: "):
            return json.loads(line.removeprefix("# machine: "))
    return None


def load_tolerances(path: Path = TOLERANCES) -> dict:
    return json.loads(Path(path).read_text())
