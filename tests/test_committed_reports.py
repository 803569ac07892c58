"""The reports committed under docs/results are what `hero-bench report` says of their archived runs today.

The README and docs/results quote these reports' numbers next to the command that rebuilds them; a change to
the statistics that moves a number without a rebuild of the committed report would make those quotes false.
This rebuilds four of them (the others take longer) and compares every table and the report's text.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _text(report: Path) -> list[str]:
    return [line for line in report.read_text().splitlines() if not line.startswith("Report built ")]


def _db_runs() -> list[str]:
    """The dreambooth-identifier report's runs: DreamBooth and SD-pretrained in the baseline comparison's archive
    (as the shell expands docs/results/README.md's globs: sorted)."""
    return [str(p.relative_to(ROOT)) for method in ("dreambooth", "sd-pretrained")
            for p in sorted((ROOT / "docs/results/baseline-comparison/runs").glob(f"*/{method}"))]


@pytest.mark.parametrize(("grid", "runs"), [("hand-grid-v4", None), ("paper-grid-v3", None),
                                            ("paper-grid-v3-rerun", None), ("dreambooth-identifier", _db_runs())])
def test_a_committed_report_is_what_its_archive_gives_today(grid, runs, tmp_path):
    committed = ROOT / "docs" / "results" / grid / "report"
    out = tmp_path / "report"
    if (committed / "samples").is_dir():  # the kept sheets and their records (git keeps no empty folder)
        shutil.copytree(committed / "samples", out / "samples")
    command = [sys.executable, "-m", "hero_bench.cli", "report", *(runs or [f"docs/results/{grid}/runs"]),
               "--out", str(out), "--format", "md"]
    r = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    tables = sorted(p.name for p in (committed / "tables").glob("*.csv"))
    assert tables == sorted(p.name for p in (out / "tables").glob("*.csv"))
    stale = [name for name in tables
             if (committed / "tables" / name).read_bytes() != (out / "tables" / name).read_bytes()]
    assert not stale, (f"docs/results/{grid}/report is stale in {stale}: rebuild it with `hero-bench report "
                       f"docs/results/{grid}/runs --out docs/results/{grid}/report --format md` and update the "
                       "figures docs/results/README.md quotes from it")
    assert _text(out / "report.md") == _text(committed / "report.md")
