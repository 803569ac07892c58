"""Tables fit the reader's width: 80 columns when it is unknown (a pipe, a CI log), folded rather than cut."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pandas as pd
from rich.console import Console

from hero_bench.cli.grid import summary_table

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


def rendered(width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width).print(summary_table(results(), 0.5, "results in runs/", width=width))
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
