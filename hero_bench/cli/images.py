"""Look before running: list tasks and methods, generate and judge images, measure a model's success rate,
and sample from a trained run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hero_bench.cli.common import (
    CfgOpt,
    DeviceOpt,
    DtypeOpt,
    EtaOpt,
    JsonOpt,
    ModelOpt,
    OutOpt,
    SeedOpt,
    StepsOpt,
    TaskOpt,
    check_model,
    check_out_folder,
    console,
    fail,
    oracle_options,
    pipeline,
    settings,
)
from hero_bench.devices import check_device_names

if TYPE_CHECKING:
    from hero_bench.tasks.base import Task


def tasks_cmd(json_out: JsonOpt = False) -> None:
    """List the tasks (toy-world ones are judged exactly by the simulated oracle)."""
    from hero_bench.tasks.loader import list_tasks

    tasks = list_tasks()
    if json_out:
        print(
            json.dumps(
                [
                    {
                        "name": t.name,
                        "world": t.world,
                        "category": list(t.category),
                        "prompt": t.prompt,
                        "eval_prompts": list(t.eval_prompts),
                    }
                    for t in tasks
                ]
            )
        )
        return
    table = Table(title="hero-bench tasks")
    for col in ("name", "world", "category", "training prompt", "mirrors"):
        table.add_column(col, overflow="fold")
    for t in tasks:
        table.add_row(t.name, t.world, ", ".join(t.category), t.prompt, t.mirrors or "")
    console.print(table, soft_wrap=False)


def methods_cmd() -> None:
    """List the methods (HERO, its ablations and the baselines), one line each."""
    from hero_bench.methods import METHODS

    t = Table(title="hero-bench methods")
    t.add_column("name", overflow="fold")
    t.add_column("what it is", overflow="fold")
    for name, doc in METHODS.describe().items():
        t.add_row(name, doc)
    console.print(t, soft_wrap=False)


def _judged(
    task: str,
    oracle: str,
    options: dict[str, Any],
    flag: str,
    seed: int,
    model: str | None,
    steps: int | None,
    cfg: float,
    eta: float,
    device: str | None = None,
    dtype: str | None = None,
):
    """What `generate` and `eval` both start from: the task, its judge (chosen with `flag`, with `options`), the
    model and the sampling settings."""
    from hero_bench.oracles import ORACLES, check_oracle_options
    from hero_bench.tasks.fit import check_judge_fits
    from hero_bench.tasks.loader import load_task

    t: Task = load_task(task)
    check_oracle_options(oracle, options, f"{flag}-option")  # an unknown name lists the valid ones
    check_judge_fits(t, oracle, flag)  # e.g. the simulated oracle on a real-world task: before any image is made
    check_model(model)  # bad input is refused before an oracle or the pipeline imports torch
    device, dtype = device or "auto", dtype or "fp32"
    check_device_names(device, dtype)
    if oracle == "vlm":
        from hero_bench.oracles.vlm_reach import check_vlm_reachable

        check_vlm_reachable(options, f"{flag} vlm")  # before the model loads and the images are made
    judge = ORACLES.create(oracle, **{"seed": seed, **options})
    pipe = pipeline(model, device, dtype)
    return t, judge, pipe, settings(t, steps, cfg, eta)


def generate_cmd(
    task: TaskOpt,
    out: Annotated[Path, typer.Option("--out", help="Folder for PNGs, contact sheet and verdicts.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 16,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    oracle: Annotated[str, typer.Option("--oracle", help="Oracle that judges the images.")] = "simulated",
    oracle_model: Annotated[str | None, typer.Option("--oracle-model", help="Weights/folder of a model oracle")] = None,
    oracle_option: Annotated[
        list[str] | None, typer.Option("--oracle-option", help="KEY=VALUE passed to the oracle (repeatable).")
    ] = None,
    steps: StepsOpt = None,
    cfg: CfgOpt = 5.0,
    eta: EtaOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Generate images for a task, judge them, and write PNGs, a contact sheet and the verdicts (JSON, CSV)."""
    options = oracle_options("--oracle-option", oracle_option, model=oracle_model)
    check_out_folder(out)
    t, judge, pipe, sampling = _judged(task, oracle, options, "--oracle", seed, model, steps, cfg, eta, device, dtype)
    from tqdm.auto import tqdm

    from hero_bench.evaluation import generate_images, seeded_noise, spread_prompts
    from hero_bench.grids import contact_sheet

    noise = seeded_noise(pipe, n, seed)
    prompts = spread_prompts(t.eval_prompts, n)
    images = []
    chunk = sampling.batch_size
    for start in tqdm(range(0, n, chunk), desc=f"generating {t.name}", unit="batch", disable=json_out):
        images += generate_images(
            pipe, prompts[start : start + chunk], noise[start : start + chunk], sampling, seed=seed + start
        )
    fb = judge.judge(images, t, prompts)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for i, (img, p) in enumerate(zip(images, prompts, strict=False)):
        name = f"{i:04d}.png"
        img.save(out / name)
        reasons = "; ".join(fb.reasons[i]) if fb.reasons else ""
        rows.append(
            {"index": i, "file": name, "prompt": p, "good": fb.good[i], "best": fb.best == i, "reasons": reasons}
        )
    contact_sheet(images, fb.good, fb.best).save(out / "contact_sheet.png")
    with open(out / "verdicts.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {
        "task": t.name,
        "n": n,
        "seed": seed,
        "oracle": oracle,
        "success_rate": round(sum(fb.good) / n, 4),
        "best": fb.best,
        "out": str(out),
        "contact_sheet": str(out / "contact_sheet.png"),
    }
    (out / "verdicts.json").write_text(json.dumps({**summary, "images": rows}, indent=2))
    if json_out:
        print(json.dumps(summary))
        return
    console.print(f"{t.name}: {sum(fb.good)}/{n} judged good by '{oracle}' (best: image {fb.best})")
    console.print(f"images, contact_sheet.png, verdicts.json and verdicts.csv written to {out}")


def eval_cmd(
    task: TaskOpt,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of evaluation images.")] = 128,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    judge: Annotated[str, typer.Option("--judge", help="Oracle that scores success.")] = "simulated",
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Weights/folder of a model judge.")] = None,
    judge_option: Annotated[
        list[str] | None, typer.Option("--judge-option", help="KEY=VALUE passed to the judge (repeatable).")
    ] = None,
    steps: StepsOpt = None,
    cfg: CfgOpt = 5.0,
    eta: EtaOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Success rate of a model (default: the pretrained toy model) on a task."""
    options = oracle_options("--judge-option", judge_option, model=judge_model)
    t, oracle, pipe, sampling = _judged(task, judge, options, "--judge", seed, model, steps, cfg, eta, device, dtype)
    from hero_bench.evaluation import evaluate, wilson_interval

    result = evaluate(pipe, t, oracle, n=n, seed=seed, settings=sampling)
    summary = {**result.summary(), "judge": judge, "model": model or "embedded toy model"}
    if json_out:
        print(json.dumps(summary))
        return
    lo, hi = wilson_interval(result.successes, n)
    console.print(
        f"{t.name}: success rate {result.success_rate:.3f} ({result.successes}/{n}, 95% CI {lo:.3f}-{hi:.3f}), "
        f"judge '{judge}', seed {seed}"
    )


def sample_cmd(
    run: Annotated[Path, typer.Option("--run", help="A finished run folder (<out>/<task>/<method>/seed<k>).")],
    out: OutOpt,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 16,
    seed: SeedOpt = 0,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Prompt (default: the task's training prompt).")
    ] = None,
    random_noise: Annotated[
        bool, typer.Option("--random-noise", help="Ignore the learned noise distribution.")
    ] = False,
    device: DeviceOpt = None,
) -> None:
    """Generate from a trained run: its LoRA weights and (for HERO) its learned initial-noise distribution."""
    from hero_bench.run_files import DONE
    from hero_bench.run_folders import read_run_config
    from hero_bench.tasks.loader import load_task

    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        fail(f"{run} is not a run folder (no config.json); pass <out>/<task>/<method>/seed<k>")
    if not (run / DONE).is_file():  # its LoRA and noise are written when it ends: this would be the base model
        fail(f"{run} has not finished (no {DONE}), so it has no final weights to sample from; finish it with "
             "`hero-bench run --resume <its --out folder>`")
    check_out_folder(out)
    cfg = read_run_config(cfg_path)
    task = load_task(cfg.task)
    check_model(cfg.model)
    from hero_bench.evaluation import SamplingSettings, generate_images, seeded_noise
    from hero_bench.grids import contact_sheet
    from hero_bench.hero.method import NOISE_FILE
    from hero_bench.hero.noise import HeroNoiseSampler
    from hero_bench.models import load_lora

    check_device_names(device or "auto", cfg.dtype)
    pipe = pipeline(cfg.model, device or "auto", cfg.dtype)  # in the precision it was trained in
    final = run / "final"
    if (final / "lora").is_dir():
        load_lora(pipe, final / "lora")
    noise_file = final / NOISE_FILE
    if noise_file.is_file() and not random_noise:
        noise = HeroNoiseSampler.load(noise_file, seed=seed).sample(n)
    else:
        noise = seeded_noise(pipe, n, seed)
    sampling = SamplingSettings(
        num_inference_steps=cfg.steps or task.default_steps, eta=cfg.eta, guidance_scale=cfg.guidance_scale
    )
    images = generate_images(pipe, [prompt or task.prompt] * n, noise, sampling, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        img.save(out / f"{i:04d}.png")
    contact_sheet(images).save(out / "contact_sheet.png")
    console.print(f"{n} images from {run} written to {out}")
