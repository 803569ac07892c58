"""Shared by the tests of refusals that must come before torch loads: run `hero-bench` commands in one fresh
interpreter (nothing imported yet) and report, per command, its exit code, its stderr and which heavy packages
it had imported by the time it ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "diffusers", "transformers", "peft", "open_clip")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def cli_in_fresh_interpreter(cases: list[list[str]], cwd: Path | None = None) -> list[tuple[int, str, list[str]]]:
    """(exit code, stderr, heavy modules imported so far) of `hero-bench <argv>` for each argv, in order."""
    code = f"""
import contextlib, io, json, sys
from hero_bench.cli import main
HEAVY = {HEAVY!r}
out = []
for argv in {cases!r}:
    sys.argv = ["hero-bench", *argv]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code
    out.append([code, err.getvalue(), [m for m in HEAVY if m in sys.modules]])
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return [tuple(x) for x in json.loads(r.stdout.strip().splitlines()[-1])]
