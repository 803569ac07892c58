"""Checks of the harness itself: speed and memory (`bench`), a real-GPU shape check (`gpu-check`) and CI's
feedback-efficiency regression check (`regress`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hero_bench.cli.common import JsonOpt, check_out_folder, console, fail


def bench_cmd(
    full: Annotated[bool, typer.Option("--full/--no-full", help="Also time a full toy HERO run (minutes).")] = True,
    task: Annotated[str, typer.Option("--task", help="Task of the full run.")] = "toy-black-cat",
    budget: Annotated[int, typer.Option("--budget", help="Feedback budget of the full run.")] = 512,
    batch: Annotated[int, typer.Option("--batch", help="Images per epoch of the full run.")] = 64,
    preset: Annotated[
        str,
        typer.Option(
            "--preset", help="Full runs to time against their sampling floor: paper,official-code,d3po-style."
        ),
    ] = "paper",
) -> None:
    """Print speed and memory figures as JSON: sampler vs diffusers' pipeline, and each full run as a multiple of
    its sampling floor (the same images sampled by the plain pipeline call, docs/speed.md)."""
    from hero_bench.config import BENCH_PRESETS
    from hero_bench.tasks.loader import load_task

    unknown = [p for p in preset.split(",") if p.strip() not in BENCH_PRESETS]
    if unknown:
        fail(f"unknown --preset {', '.join(unknown)}; valid: {', '.join(BENCH_PRESETS)}")
    if full:
        load_task(task)  # an unknown task is refused now, not after the sampler benchmark
    from hero_bench import bench  # torch and diffusers: only once the input is known to be good

    bench.main(full=full, presets=preset, task=task, budget=budget, batch=batch)


def gpu_check_cmd(
    size: Annotated[str, typer.Option("--size", help="paper (SD v1.5 shape, needs CUDA), toy, or auto.")] = "auto",
    dtype: Annotated[str | None, typer.Option("--dtype", help="fp32,bf16,fp16 list (CUDA: bf16,fp16).")] = None,
    out: Annotated[Path, typer.Option("--out", help="JSON file of the figures.")] = Path("out/gpu-check.json"),
    max_transitions: Annotated[
        int | None, typer.Option("--max-transitions", min=1, help="Transitions per UNet pass (CUDA: fitted).")
    ] = None,
    memory_limit: Annotated[float, typer.Option("--memory-limit-gib", min=1, help="Fit passes under this.")] = 24.0,
    repeats: Annotated[int | None, typer.Option("--repeats", min=1, help="Timed pipeline/sampler calls.")] = None,
    d3po_pairs: Annotated[int | None, typer.Option("--d3po-pairs", min=1, help="Pairs d3po-style trains.")] = None,
    evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Time the evaluation images too.")] = True,
) -> None:
    """Time one HERO and one d3po-style epoch on an SD v1.5-shaped pipeline (random weights) per stage, with
    peak GPU memory and the sampler/pipeline ratio; without CUDA, the same code at toy size (a dry run)."""
    from hero_bench import gpucheck

    gpucheck.check_names(size, dtype)  # a typo is refused here, before torch loads
    check_out_folder(out.parent, "--out's folder")
    from hero_bench.gpucheck.report import format_report

    result = gpucheck.main(size, dtype, out, max_transitions, memory_limit, repeats, d3po_pairs, evaluate)
    console.print(format_report(result), highlight=False, markup=False, soft_wrap=True)
    console.print(f"figures: {out}", highlight=False, markup=False)


def regress_cmd(
    update: Annotated[
        bool, typer.Option("--update", help="Rewrite the committed reference curve from this run (on purpose).")
    ] = False,
    spread_seeds: Annotated[
        int,
        typer.Option("--spread-seeds", min=0, help="With --update: re-measure tolerances over seeds 0..N-1 (N >= 2)."),
    ] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Keep the run folders here (default: a temporary folder).")
    ] = None,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help="Break HERO on purpose to see the check fail: inverted-verdicts, "
            "shuffled-rewards or skipped-update (docs/regress.md).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """CI's feedback-efficiency check: a small seeded CPU run of HERO and SD-pretrained on toy-mountain,
    compared with the committed reference curve; exit 1 with a diff if AUC or feedback-to-target regress."""
    from hero_bench.regress_faults import FAULTS

    if spread_seeds and not update:
        fail("--spread-seeds re-measures the tolerances and needs --update")
    if fault is not None and update:
        fail("--fault breaks the check's runs and cannot --update the reference")
    if fault is not None and fault not in FAULTS:
        fail(f"unknown fault {fault!r}; valid faults: {', '.join(FAULTS)}")
    if out is not None:
        check_out_folder(out)
    from hero_bench import regress  # torch and diffusers: only once the flags are known to be good

    if update:
        written = regress.update(spread_seeds=spread_seeds, root=out, progress=not json_out)
        print(json.dumps(written, indent=None if json_out else 2))
        return
    result = regress.check(root=out, progress=not json_out, fault=fault)
    if json_out:
        findings = [{k: (None if v != v else v) for k, v in vars(f).items()} for f in result.findings]  # NaN: null
        out = {"ok": result.ok, "problems": result.problems, "findings": findings, "machine": result.machine}
        print(json.dumps(out))
    else:
        console.print(result.report(), highlight=False, markup=False)
    if not result.ok:
        sys.exit(1)
