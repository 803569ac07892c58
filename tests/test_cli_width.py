"""Tables fit the reader's width: 80 columns when it is unknown (a pipe, a CI log), folded rather than cut."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pandas as pd
from rich.console import Console

from hero_bench.cli.summary_table import summary_table

LORA = "hero, LoRA only (N(0,I) noise)"  # the long label `run` prints for HERO's fine-tuned model alone


def results() -> pd.DataFrame:
    """A results table as `run` writes it: two methods, three seeds, three epochs."""
    rows = []
    for seed, curve in enumerate([(0.2, 0.4, 0.6), (0.2, 0.6, 0.7), (0.1, 0.2, 0.3)]):
        for epoch, rate in enumerate(curve):
            for method, fb in (("hero-random-noise", 64), ("ddpo-reward", 0), (LORA, 64)):
                rows.append(dict(task="toy-blue-circle", method=method, seed=seed, epoch=epoch, success_rate=rate,
                                 feedback_used=fb * epoch, uses_feedback=fb > 0, wall_time_s=1234.0))  # fmt: skip
    return pd.DataFrame(rows)


def quickstart_results() -> pd.DataFrame:
    """The quickstart's grid: every method on toy-black-cat, one seed, two epochs."""
    methods = ["d3po-style", "ddpo-reward", "dreambooth", "hero", LORA, "sd-enhanced", "sd-pretrained"]
    return pd.DataFrame([dict(task="toy-black-cat", method=m, seed=0, epoch=e, success_rate=0.469, feedback_used=32 * e,
                              uses_feedback=True, wall_time_s=38.0) for m in methods for e in (0, 1, 2)])  # fmt: skip


def rendered(width: int, table: pd.DataFrame | None = None) -> list[str]:
    out = io.StringIO()
    grid = results() if table is None else table
    Console(file=out, width=width).print(summary_table(grid, 0.5, "results in runs/", width=width))
    return out.getvalue().splitlines()


def test_the_summary_folds_into_80_columns_without_losing_a_figure():
    lines = rendered(80)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "…" not in text  # folded, not elided
    for figure in ("0.533", "0.208", "96", "(2/3", "seeds)", "2)", "toy-blue-circle", "hero-random-noise"):
        assert figure in text, figure  # names stay whole, figures wrap at spaces
    assert "11106 s" not in text and "not shown to fit 80 columns: wall time (see results.csv)" in text
    assert "hero, LoRA only" in text and "(N(0,I) noise)" in text  # a long label wraps at its spaces
    wide = rendered(160)
    assert "11106 s" in "\n".join(wide) and len(wide) == 4 + 3 + 1  # title, header, a line per row, bottom


def test_no_word_is_cut_while_dropping_columns_can_make_room():
    """Headers and figures wrap at spaces: "feedbac" / "k used" was drawn at 80 columns, and a table rich
    measured as fitting could come out wider than the console, which then cut its last column."""
    for grid, names, widths in ((results(), {"hero-random-noise", "toy-blue-circle"}, (90, 80, 76, 72)),
                                (quickstart_results(), {"sd-pretrained", "toy-black-cat"}, (80, 78, 76, 72))):
        for width in widths:
            lines = rendered(width, grid)
            drawn = "\n".join(lines)
            cells = [c.strip() for line in lines for c in line.replace("┃", "│").split("│")[1:-1]]
            words = {w for c in cells for w in c.split()}
            bottom = next(line for line in lines if line.startswith("└"))
            assert max(len(line) for line in lines) <= width and bottom.endswith("┘"), (width, drawn)  # not cut
            assert {"feedback", "success", *names} <= words, (width, sorted(words))
            assert not words & {"feedbac", "succes", "reache"}, (width, drawn)


def test_a_very_narrow_width_drops_more_and_then_folds_names():
    lines = rendered(50)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 50 and "…" not in text
    assert "feedback used" not in text and "0.208" in text and "toy-blu" in text


def test_a_pipe_gets_80_columns_and_columns_is_honoured():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    cmd = [sys.executable, "-m", "hero_bench.cli", "tasks"]
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=True)
    lines = piped.stdout.splitlines()
    assert max(len(line) for line in lines) == 80 and "…" not in piped.stdout
    assert "toy-blue-circle" in piped.stdout and "personalization" in piped.stdout
    wide = subprocess.run(cmd, capture_output=True, text=True, env={**env, "COLUMNS": "200"},
                          stdin=subprocess.DEVNULL, check=True)  # fmt: skip
    assert len(wide.stdout.splitlines()) < len(lines)  # a known width is used: fewer, longer lines


def test_one_seed_shows_no_spread():
    """A spread needs two seeds: one seed's final success is its value alone, not "0.469 +- 0.000"."""
    one = "\n".join(rendered(160, quickstart_results()))
    assert "0.469" in one and "+-" not in one
    assert "+-" in "\n".join(rendered(160))  # three seeds: mean +- std
