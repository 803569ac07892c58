"""The `hero-bench` command line (typer). Each command is a thin shell over a library function; one module
per group of commands, the shared options in `common`. The table below is the order of `hero-bench --help`."""

from __future__ import annotations

import errno
import sys
from typing import Annotated

import typer

from hero_bench.cli import checks, images, oracles, report, run, toy
from hero_bench.cli.common import DEFAULT_TARGET, console, err_console, fail
from hero_bench.errors import HeroBenchError, ModelLoadError
from hero_bench.source_date import fixed_time

__all__ = ["DEFAULT_TARGET", "app", "console", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark feedback-driven fine-tuning of text-to-image diffusion models (HERO and baselines).",
)
for _name, _command in (
    ("tasks", images.tasks_cmd),
    ("generate", images.generate_cmd),
    ("eval", images.eval_cmd),
    ("run", run.run_cmd),
    ("methods", images.methods_cmd),
    ("sample", images.sample_cmd),
    ("report", report.report_cmd),
    ("bench", checks.bench_cmd),
    ("gpu-check", checks.gpu_check_cmd),
    ("regress", checks.regress_cmd),
    ("oracles", oracles.oracles_cmd),
    ("calibrate", oracles.calibrate_cmd),
    ("label", oracles.label_cmd),
):
    app.command(_name)(_command)
app.add_typer(toy.toy_app, name="toy")


def _show_version(value: bool) -> None:
    if value:
        from hero_bench.run_environment import code_label, code_version, library_versions

        libraries = ", ".join(f"{name} {v or 'not installed'}" for name, v in library_versions().items())
        console.print(f"hero-bench {code_label(code_version())} ({libraries})", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_show_version,
                     help="Print hero-bench's version and git commit, and the library versions, then exit."),
    ] = False,
) -> None:  # fmt: skip
    """Options of `hero-bench` itself, before a command."""


def main() -> None:
    """Entry point: run the app, turning hero-bench's own errors into a clear message and exit code 2."""
    try:
        fixed_time()  # a bad SOURCE_DATE_EPOCH stops numpy and matplotlib with a traceback, so check it first
        code = app(standalone_mode=False)
    except (HeroBenchError, ModelLoadError) as e:
        fail(str(e))
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" holding {e.filename}" if e.filename else ""
        fail(f"no space left on the device{where} ({e.strerror}): free some, then issue the same command again "
             "(a run continues from its last checkpoint, which was not touched)")
    except Exception as e:  # usage errors: click's own, or those of the copy of click that typer >= 0.2x vendors
        import click

        if isinstance(e, click.exceptions.ClickException | typer.TyperException) and hasattr(e, "show"):
            e.show()
            sys.exit(getattr(e, "exit_code", 2))
        if isinstance(e, click.exceptions.Abort | typer.Abort):
            sys.exit(1)
        raise
    if type(code) is int and code != 0:  # typer returns (does not raise) the code of Ctrl-C: 130
        if code == 130:
            err_console.print("interrupted", highlight=False, markup=False)
        sys.exit(code)
