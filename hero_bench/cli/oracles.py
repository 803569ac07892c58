"""The feedback oracles: list them, calibrate or score one against the exact oracle or a person's gold labels,
and practise the human labelling page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hero_bench.cli.common import JsonOpt, ModelOpt, SeedOpt, check_out_folder, console, fail, pipeline, settings


def oracles_cmd(json_out: JsonOpt = False) -> None:
    """List the feedback oracles and what each needs (nothing, weights, an endpoint, or a person)."""
    from hero_bench.oracles import describe_oracles

    rows = describe_oracles()
    if json_out:
        print(json.dumps(rows))
        return
    table = Table(title="hero-bench oracles (--oracle for training feedback, --judge for success rates)")
    for col in ("name", "needs", "what it is", "how to provide it"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["needs"], r["description"], r["detail"])
    console.print(table, soft_wrap=False)


def calibrate_cmd(
    task: Annotated[
        str | None, typer.Option("--task", help="Toy task to calibrate on (its renders or model samples).")
    ] = None,
    oracle: Annotated[str, typer.Option("--oracle", help="Oracle to calibrate (clip) or to measure (any).")] = "clip",
    gold: Annotated[
        Path | None,
        typer.Option("--gold", help="Score the oracle against a person's labels of generated images (a gold folder)."),
    ] = None,
    oracle_model: Annotated[
        str | None,
        typer.Option("--oracle-model", help="CLIP folder / hub id / open_clip:ARCH:FILE (default: the toy CLIP)."),
    ] = None,
    n: Annotated[int, typer.Option("--n", min=4, help="Images (half fit the margin, half measure it).")] = 200,
    seed: SeedOpt = 0,
    source: Annotated[str, typer.Option("--source", help="render: toy renders; model: images of --model.")] = "render",
    model: ModelOpt = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the margin beside the CLIP weights.")] = True,
    json_out: JsonOpt = False,
) -> None:
    """Fit a proxy oracle's margin against the exact simulated oracle; report accuracy and Cohen's kappa."""
    import dataclasses

    from hero_bench.oracles import ORACLES
    from hero_bench.oracles.calibrate import calibrate, measure_agreement, save_margin
    from hero_bench.tasks.loader import load_task

    options = {"model": oracle_model} if oracle_model else {}
    if oracle == "vlm":
        from hero_bench.oracles.vlm_reach import check_vlm_reachable

        check_vlm_reachable(options, "--oracle vlm")  # before any image is rendered or judged
    if gold is not None:
        from hero_bench.oracles.gold_report import print_gold_report

        print_gold_report(console, oracle, gold, seed, json_out, options)
        return
    if task is None:
        fail("name a task with --task, or score against a gold folder with --gold DIR")
    t = load_task(task)
    if source not in ("render", "model"):
        fail(f"--source must be 'render' or 'model', got {source!r}")
    proxy = ORACLES.create(oracle, seed=seed, **options)
    images = None
    if source == "model":
        from hero_bench.evaluation import generate_images, seeded_noise, spread_prompts

        pipe = pipeline(model)
        prompts = spread_prompts(t.eval_prompts, n)
        images = generate_images(pipe, prompts, seeded_noise(pipe, n, seed), settings(t, None, 5.0, 1.0), seed=seed)
    if not hasattr(proxy, "scores"):  # no margin to fit: measure agreement only
        agreement = measure_agreement(proxy, t, n=n, seed=seed, images=images)
        if json_out:
            print(json.dumps({"task": t.name, "oracle": oracle, **dataclasses.asdict(agreement)}))
        else:
            console.print(
                f"{t.name}: '{oracle}' agrees with the exact oracle on {agreement.n} images: accuracy "
                f"{agreement.accuracy:.3f}, kappa {agreement.kappa:.3f}"
            )
        return
    report = calibrate(proxy, t, n=n, seed=seed, images=images)  # type: ignore[arg-type]
    saved = None
    folder = getattr(proxy, "margins_folder", None)
    if save and report.improved and folder is not None:
        saved = save_margin(folder, report)
    if json_out:
        print(json.dumps({**report.to_dict(), "improved": report.improved, "saved": str(saved) if saved else None}))
        return
    console.print(report.summary())
    if saved:
        console.print(f"margin saved to {saved}; `--oracle {oracle}` now uses it for {t.name}")
    elif save and folder is None:
        console.print(f"not saved (weights are not a local folder): pass margin={report.margin:.4f} to the oracle")


def label_cmd(
    task: Annotated[str, typer.Option("--task", help="Task (name or YAML) the images are labelled for.")] = (
        "toy-blue-circle"
    ),
    batches: Annotated[int, typer.Option("--batches", min=1, help="Number of practice batches.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per batch.")] = 8,
    seed: SeedOpt = 0,
    store: Annotated[Path, typer.Option("--store", help="SQLite label file.")] = Path("runs/human_labels.sqlite"),
    host: Annotated[str, typer.Option("--host", help="Serve on this address (not 127.0.0.1: exposed).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port of the labelling page (0: any free port).")
    ] = 8765,
    folder: Annotated[
        Path | None, typer.Option("--folder", help="Label these PNGs (e.g. from `hero-bench generate`), not renders.")
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Gold labels CSV to write (default: labels.csv beside --folder).")
    ] = None,
) -> None:
    """Practise the labelling page on toy renders, or label a folder of generated images into gold labels
    (--folder); rerunning resumes at the first unlabelled batch."""
    if store.is_dir():
        fail(f"--store {store} is a folder; give the SQLite file's path, e.g. {store / 'human_labels.sqlite'}")
    check_out_folder(store.parent, "--store's folder")
    from hero_bench.oracles.human.practice import run_practice

    if folder is not None:
        from hero_bench.oracles.human.label_folder import label_folder

        target = export or folder.resolve().parent / "labels.csv"
        rows = label_folder(
            folder,
            task,
            target,
            batch_size,
            store,
            host,
            port,
            announce=lambda s: console.print(s, highlight=False, markup=False, soft_wrap=True),
        )
        console.print(f"done: {int(rows['good'].sum())} of {len(rows)} images labelled good; labels in {target}")
        return

    records = run_practice(
        task,
        batches,
        batch_size,
        seed,
        store,
        None,
        host,
        port,
        announce=lambda s: console.print(s, highlight=False, markup=False, soft_wrap=True),
    )
    agree = sum(r["agreement"] for r in records) / len(records)
    console.print(f"done: {len(records)} batches; your labels agree with the exact rule on {agree:.0%} of images")
