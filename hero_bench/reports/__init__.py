"""Comparison reports built from run folders (`hero-bench report`).

`build_report` is imported on first use (PEP 562): it needs torch for the secondary metrics, and
`hero_bench.reports.runs` (the folder checks the CLI makes first) does not.
"""

from __future__ import annotations

from hero_bench.registry import lazy_attributes

_WHERE = {"build_report": "build"}

__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
