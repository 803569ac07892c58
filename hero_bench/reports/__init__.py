"""Comparison reports built from run folders (`hero-bench report`)."""

from hero_bench.reports.build import build_report

__all__ = ["build_report"]
