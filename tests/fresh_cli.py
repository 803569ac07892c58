"""Shared by the CLI tests: run `hero-bench` commands in one fresh interpreter (nothing imported yet) and report,
per command, its exit code, its stderr and which heavy packages it had imported by the time it ended (refusals
must come before torch loads); or run `main` here on a command added for the test (how it ends a failure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HEAVY = ("torch", "diffusers", "transformers", "peft", "open_clip")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("HERO_VLM_", "OPENAI_"))}  # no VLM judge set up
ENV.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


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


def exit_code_of_main_with(command: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> int | str | None:
    """The exit status of `hero-bench <a command that runs command()>` through the real entry point `main`."""
    from hero_bench import cli

    cli.app.command("test-command")(command)
    try:
        monkeypatch.setattr(sys, "argv", ["hero-bench", "test-command"])
        with pytest.raises(SystemExit) as stop:
            cli.main()
    finally:
        cli.app.registered_commands.pop()
    return stop.value.code
