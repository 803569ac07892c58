"""`hero-bench report`: one report (HTML or Markdown, with plots, tables and judged samples) from run folders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hero_bench.cli.common import DEFAULT_TARGET, check_out_folder, console, err_console, fail


def report_cmd(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run roots (the --out of `hero-bench run`) or <task>/<method>/seed<k> folders.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.html/report.md, plots/, samples/ and tables/.")
    ] = Path("report"),
    fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md.")] = "html",
    target: Annotated[
        float, typer.Option("--target", help="Success rate for feedback-to-target and efficiency ratios.")
    ] = DEFAULT_TARGET,
    clip: Annotated[
        Path | None,
        typer.Option(
            "--clip",
            envvar="HERO_BENCH_CLIP",
            help="CLIPModel folder for diversity and CLIP score (default: the toy CLIP for toy runs).",
        ),
    ] = None,
    blip: Annotated[
        Path | None,
        typer.Option("--blip", envvar="HERO_BENCH_BLIP", help="BlipForImageTextRetrieval folder for the BLIP score."),
    ] = None,
    imagereward: Annotated[
        Path | None,
        typer.Option(
            "--imagereward",
            envvar="HERO_BENCH_IMAGEREWARD",
            help="Folder with the released ImageReward.pt and bert vocab.txt.",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Images per method in the sample grids.")] = 16,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the sample grids and the bootstrap.")] = 0,
) -> None:
    """Compare runs: success table, feedback curves, ablation, beta sweep, secondary metrics, judged samples."""
    from hero_bench.reports.provenance import report_warnings
    from hero_bench.reports.runs import load_runs

    command = "hero-bench " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else None
    if fmt not in ("html", "md"):
        fail(f"--format must be html or md, got {fmt!r}")
    warnings = report_warnings(load_runs(run_dirs))  # a wrong path, or no finished run: refused before torch loads
    check_out_folder(out)
    for flag, given in (("--clip", clip), ("--blip", blip), ("--imagereward", imagereward)):
        if given is not None and not Path(given).exists():  # a typo would only show as "missing" metrics inside
            fail(f"{flag} (or HERO_BENCH_{flag[2:].upper()}) names {given}, which does not exist; give the "
                 "model's folder, or leave it out to report without that metric")
    from hero_bench.reports import build_report

    path = build_report(
        run_dirs,
        out,
        fmt,  # type: ignore[arg-type]
        target=target,
        clip=clip,
        blip=blip,
        imagereward=imagereward,  # type: ignore[arg-type]
        samples=samples,
        seed=seed,
        command=command,
    )
    console.print(f"report written to {path} (plots, samples and CSV tables beside it)")
    for warning in warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
