"""The `hero-bench` command line (typer). Each command is a thin shell over a library function."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from hero_bench.errors import HeroBenchError  # noqa: E402

# `run` and `report` share one success target so their "feedback to target" columns agree by default
# (kept here rather than imported from hero_bench.metrics, which pulls in torch).
DEFAULT_TARGET = 0.5

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark feedback-driven fine-tuning of text-to-image diffusion models (HERO and baselines).",
)
toy_app = typer.Typer(no_args_is_help=True, help="The embedded toy world and its tiny Stable Diffusion.")
app.add_typer(toy_app, name="toy")
# Piped or logged output gets a wide console so that tables are not squeezed into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Diffusers SD folder or hub id (default: the embedded toy model).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the initial noises (and of the oracle's noise).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object instead of tables.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="DDIM steps (default: the task's, 20 on the toy world).")]
CfgOpt = Annotated[float, typer.Option("--cfg", help="Classifier-free guidance weight (paper: 5.0).")]
EtaOpt = Annotated[float, typer.Option("--eta", help="DDIM eta (paper: 1.0).")]


def _fail(message: str) -> None:
    """Print a user-facing error and exit with status 2 (bad input), without a traceback."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    sys.exit(2)


def _pipeline(model: str | None):
    import torch

    from hero_bench.evaluation import DEFAULT_MODEL
    from hero_bench.models import load_pipeline

    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    return load_pipeline(model or DEFAULT_MODEL, dtype=torch.float32)


def _settings(task, steps: int | None, cfg: float, eta: float):
    from hero_bench.evaluation import SamplingSettings

    return SamplingSettings(num_inference_steps=steps or task.default_steps, eta=eta, guidance_scale=cfg)


@app.command("tasks")
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
        table.add_column(col)
    for t in tasks:
        table.add_row(t.name, t.world, ", ".join(t.category), t.prompt, t.mirrors or "")
    console.print(table)


@app.command("generate")
def generate_cmd(
    task: Annotated[str, typer.Option("--task", help="Task name or path to a task YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for PNGs, contact sheet and verdicts.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 16,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    oracle: Annotated[str, typer.Option("--oracle", help="Oracle that judges the images.")] = "simulated",
    steps: StepsOpt = None,
    cfg: CfgOpt = 5.0,
    eta: EtaOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Generate images for a task, judge them, and write PNGs, a contact sheet and the verdicts (JSON, CSV)."""
    from tqdm.auto import tqdm

    from hero_bench.evaluation import generate_images, seeded_noise, spread_prompts
    from hero_bench.grids import contact_sheet
    from hero_bench.oracles import ORACLES
    from hero_bench.tasks.loader import load_task

    t = load_task(task)
    judge = ORACLES.create(oracle, seed=seed)
    pipe = _pipeline(model)
    settings = _settings(t, steps, cfg, eta)
    noise = seeded_noise(pipe, n, seed)
    prompts = spread_prompts(t.eval_prompts, n)
    images = []
    chunk = settings.batch_size
    for start in tqdm(range(0, n, chunk), desc=f"generating {t.name}", unit="batch", disable=json_out):
        images += generate_images(
            pipe, prompts[start : start + chunk], noise[start : start + chunk], settings, seed=seed + start
        )
    fb = judge.judge(images, t, prompts)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (img, p) in enumerate(zip(images, prompts, strict=False)):
        name = f"{i:04d}.png"
        img.save(out / name)
        rows.append(
            {
                "index": i,
                "file": name,
                "prompt": p,
                "good": fb.good[i],
                "best": fb.best == i,
                "reasons": "; ".join(fb.reasons[i]) if fb.reasons else "",
            }
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


@app.command("eval")
def eval_cmd(
    task: Annotated[str, typer.Option("--task", help="Task name or path to a task YAML file.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of evaluation images.")] = 128,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    judge: Annotated[str, typer.Option("--judge", help="Oracle that scores success.")] = "simulated",
    steps: StepsOpt = None,
    cfg: CfgOpt = 5.0,
    eta: EtaOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Success rate of a model (default: the pretrained toy model) on a task."""
    from hero_bench.evaluation import evaluate, wilson_interval
    from hero_bench.oracles import ORACLES
    from hero_bench.tasks.loader import load_task

    t = load_task(task)
    oracle = ORACLES.create(judge, seed=seed)
    pipe = _pipeline(model)
    result = evaluate(pipe, t, oracle, n=n, seed=seed, settings=_settings(t, steps, cfg, eta))
    summary = {**result.summary(), "judge": judge, "model": model or "embedded toy model"}
    if json_out:
        print(json.dumps(summary))
        return
    lo, hi = wilson_interval(result.successes, n)
    console.print(
        f"{t.name}: success rate {result.success_rate:.3f} ({result.successes}/{n}, 95% CI {lo:.3f}-{hi:.3f}), "
        f"judge '{judge}', seed {seed}"
    )


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _print_summary(table, target: float, title: str) -> None:
    from hero_bench.runs import summarise

    summary = summarise(table, target)
    t = Table(title=title)
    for col in ("task", "method", "seeds", "final success", "feedback used", f"feedback to {target:.2f}", "wall time"):
        t.add_column(col)
    for r in summary.itertuples():
        std = 0.0 if r.final_success_std != r.final_success_std else r.final_success_std
        if r.feedback_to_target != r.feedback_to_target:
            reach = "not reached"
        elif not r.uses_feedback:  # trains without feedback (ddpo-reward) or not at all: no feedback axis
            reach = f"no feedback (epoch {r.epochs_to_target:.0f})"
        else:
            reach = f"{r.feedback_to_target:.0f}"
        if r.seeds_reaching and r.seeds_reaching < r.seeds:
            reach += f" ({r.seeds_reaching}/{r.seeds} seeds)"
        t.add_row(
            r.task,
            r.method,
            str(r.seeds),
            f"{r.final_success_mean:.3f} +- {std:.3f}",
            f"{r.feedback_used:.0f}",
            reach,
            f"{r.wall_time_s:.0f} s",
        )
    console.print(t)


def _sweep_variants(sweep: str | None) -> list[tuple[str, dict, dict]]:
    """[(variant label, hero overrides, ddpo overrides)] for `--sweep field=v1,v2`; one empty variant if none."""
    import yaml

    from hero_bench.ddpo import DDPOConfig
    from hero_bench.hero.config import HeroConfig

    if not sweep:
        return [("", {}, {})]
    field, sep, values = sweep.partition("=")
    field = field.strip()
    if not sep or not values.strip():
        _fail(f"--sweep expects FIELD=V1,V2,... (e.g. best_ratio=0,0.5,1), got {sweep!r}")
    if field in HeroConfig.model_fields:
        side = "hero"
    elif field in DDPOConfig.model_fields:
        side = "ddpo"
    else:
        _fail(
            f"--sweep: unknown field {field!r}; HERO fields: {', '.join(HeroConfig.model_fields)}; "
            f"DDPO fields: {', '.join(DDPOConfig.model_fields)}"
        )
    out = []
    for raw in _split(values):
        value = yaml.safe_load(raw)
        out.append(
            (f"{field}={raw}", {field: value} if side == "hero" else {}, {field: value} if side == "ddpo" else {})
        )
    return out


def _key_value(item: str, flag: str, form: str) -> tuple[str, Any]:
    """One KEY=VALUE flag value, the value read as YAML (numbers, booleans, lists); bad form: exit 2."""
    import yaml

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        _fail(f"{flag} expects {form}, got {item!r}")
    return key.strip(), yaml.safe_load(value)


def _method_options(items: list[str]) -> dict[str, Any]:
    """`--method-option` values as RunConfig.method_options: {method: {key: value}} for METHOD.KEY=VALUE
    (each method reads only its own section), {key: value} for plain KEY=VALUE."""
    from hero_bench.methods import METHODS

    out: dict[str, Any] = {}
    for item in items:
        key, parsed = _key_value(item, "--method-option", "METHOD.KEY=VALUE or KEY=VALUE")
        name, dot, option = key.rpartition(".")
        if dot and name:
            if name not in METHODS:
                _fail(f"--method-option {item!r}: unknown method {name!r}; valid: {', '.join(METHODS)}")
            out.setdefault(name, {})[option] = parsed
        else:
            out[key] = parsed
    return out


@app.command("run")
def run_cmd(
    task: Annotated[str | None, typer.Option("--task", help="Task name(s) or YAML path(s), comma-separated.")] = None,
    method: Annotated[
        str, typer.Option("--method", help="Method name(s), comma-separated (see `hero-bench methods`).")
    ] = "hero",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Number of seeds (0..N-1).")] = 1,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    budget: Annotated[int | None, typer.Option("--budget", help="Feedback budget per run (paper: 512).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Images judged per epoch (paper: 64).")] = None,
    oracle: Annotated[str | None, typer.Option("--oracle", help="Training feedback oracle.")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="Oracle scoring success rates.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Root folder of the runs.")] = Path("runs"),
    model: ModelOpt = None,
    steps: StepsOpt = None,
    cfg: Annotated[float | None, typer.Option("--cfg", help="Classifier-free guidance weight (paper: 5.0).")] = None,
    eta: Annotated[float | None, typer.Option("--eta", help="DDIM eta (paper: 1.0).")] = None,
    eval_n: Annotated[int | None, typer.Option("--eval-n", help="Evaluation images per epoch.")] = None,
    preset: Annotated[str, typer.Option("--preset", help="HERO defaults: paper | official-code.")] = "paper",
    best_ratio: Annotated[float | None, typer.Option("--best-ratio", help="HERO beta (paper: 0.5).")] = None,
    noise_variance: Annotated[float | None, typer.Option("--noise-variance", help="HERO eps0^2 (paper: 0.1).")] = None,
    triplet_margin: Annotated[
        float | None, typer.Option("--triplet-margin", help="Triplet margin (paper: 0.5).")
    ] = None,
    embedding_lr: Annotated[
        float | None, typer.Option("--embedding-lr", help="E_theta learning rate (paper: 1e-5).")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="LoRA learning rate (paper: 3e-4).")] = None,
    k_steps: Annotated[
        int | None, typer.Option("--k-steps", help="DDPO-K: trained denoising steps (paper: 5).")
    ] = None,
    clip_range: Annotated[float | None, typer.Option("--clip-range", help="PPO clip (paper: 1e-4).")] = None,
    lora_rank: Annotated[int | None, typer.Option("--lora-rank", help="LoRA rank.")] = None,
    flip_prob: Annotated[float | None, typer.Option("--flip-prob", help="Simulated oracle label-flip noise.")] = None,
    oracle_model: Annotated[
        str | None, typer.Option("--oracle-model", help="Weights/folder of a model oracle.")
    ] = None,
    oracle_option: Annotated[
        list[str] | None,
        typer.Option(
            "--oracle-option",
            help="KEY=VALUE passed to the oracle (repeatable), e.g. port=8800 or host=0.0.0.0 (human page), "
            "margin=0.02 (clip); see `hero-bench oracles`.",
        ),
    ] = None,
    method_option: Annotated[
        list[str] | None,
        typer.Option(
            "--method-option",
            help="METHOD.KEY=VALUE for one method's options (repeatable), e.g. d3po-style.max_pairs=16 "
            "or ddpo-reward.epochs=50; plain KEY=VALUE when a single method runs.",
        ),
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="Sweep one HERO or DDPO setting, e.g. best_ratio=0,0.5,1 "
            "or feature_source=z0,x1 (runs every method at each value).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML/JSON file of run settings (flags override).")
    ] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run(s) under this folder.")] = None,
    target: Annotated[float, typer.Option("--target", help="Success level for 'feedback to target'.")] = DEFAULT_TARGET,
    executor: Annotated[
        str, typer.Option("--executor", help="local: one run after another here; ray: one Ray task per run.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster to join (auto, ray://HOST:PORT); default: start one here."),
    ] = None,
    run_cpus: Annotated[
        float | None, typer.Option("--run-cpus", min=0.01, help="CPUs (and torch threads) per run on Ray (default 1).")
    ] = None,
    run_gpus: Annotated[
        float | None,
        typer.Option("--run-gpus", min=0, help="GPUs per run on Ray (default: 1 for a real SD when there are GPUs)."),
    ] = None,
) -> None:
    """Run methods on tasks with the same seeds, budget and judge; print a summary table at the end."""
    import shlex

    on_ray = _executor_choice(executor, address, run_cpus, run_gpus)  # before the slow imports below
    from hero_bench.config import build_run_config, load_config_file
    from hero_bench.methods import METHODS
    from hero_bench.runs import _collect, resume_all, run_many
    from hero_bench.tasks.loader import load_task

    if resume is not None and on_ray:
        from hero_bench.runs import runs_under

        _run_on_ray(runs_under(resume), resume, True, address, run_cpus, run_gpus, target)
        return
    if resume is not None:
        table = resume_all(resume)
        _print_summary(table, target, f"resumed {resume}")
        return
    fields: dict[str, Any] = {
        k: v
        for k, v in dict(
            budget=budget,
            batch=batch,
            oracle=oracle,
            judge=judge,
            model=model,
            steps=steps,
            guidance_scale=cfg,
            eta=eta,
            eval_n=eval_n,
            lora_rank=lora_rank,
        ).items()
        if v is not None
    }
    hero = {
        k: v
        for k, v in dict(
            best_ratio=best_ratio,
            noise_variance=noise_variance,
            triplet_margin=triplet_margin,
            embedding_lr=embedding_lr,
        ).items()
        if v is not None
    }
    ddpo = {k: v for k, v in dict(learning_rate=lr, k_steps=k_steps, clip_range=clip_range).items() if v is not None}
    oracle_options: dict = {}
    if flip_prob is not None:
        oracle_options["flip_prob"] = flip_prob
    if oracle_model is not None:
        oracle_options["model"] = oracle_model
    for item in oracle_option or []:
        key, value = _key_value(item, "--oracle-option", "KEY=VALUE")
        oracle_options[key] = value
    if oracle_options:
        fields["oracle_options"] = oracle_options
    if method_option:
        fields["method_options"] = _method_options(method_option)
    command = "hero-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if task is None and config is None:
        _fail("name a task with --task (see `hero-bench tasks`) or a settings file with --config")
    methods = _split(method)
    for m in methods:
        METHODS.get(m)  # unknown names fail before any work, listing the valid ones
    variants = _sweep_variants(sweep)
    cfgs = []
    for seed in range(seed_start, seed_start + seeds):
        for m, (variant, hero_extra, ddpo_extra) in ((m, v) for m in methods for v in variants):
            if config is not None:
                base = load_config_file(config, task=task, method=m)
                data = base.model_dump()
                data.update(fields)
                data["hero"] = {**data["hero"], **hero}
                data["ddpo"] = {**data["ddpo"], **ddpo}
                data.update(seed=seed, command=command)
                cfgs.append(type(base)(**data))
                continue
            for t in _split(task or ""):
                load_task(t)
                cfgs.append(
                    build_run_config(
                        t,
                        m,
                        preset_name=preset,
                        hero={**hero, **hero_extra},
                        ddpo={**ddpo, **ddpo_extra},
                        seed=seed,
                        command=command,
                        variant=variant,
                        **fields,
                    )
                )
    if on_ray:
        from hero_bench.runs import run_dir_for

        _run_on_ray([(c, run_dir_for(out, c)) for c in cfgs], out, False, address, run_cpus, run_gpus, target)
        return
    run_many(cfgs, out)
    _print_summary(_collect(out), target, f"results in {out}")
    console.print(f"results table: {out / 'results.csv'}; per-run folders under {out}/<task>/<method>/seed<k>")


def _executor_choice(executor: str, address: str | None, run_cpus: float | None, run_gpus: float | None) -> bool:
    """Whether the grid goes to Ray; flags that only Ray reads are refused without it."""
    from hero_bench.executors import EXECUTORS

    if executor not in EXECUTORS:
        _fail(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor != "ray" and (address is not None or run_cpus is not None or run_gpus is not None):
        _fail("--address, --run-cpus and --run-gpus place runs on Ray workers; add --executor ray")
    return executor == "ray"


def _run_on_ray(jobs, root: Path, resume: bool, address, run_cpus, run_gpus, target: float) -> None:
    """The grid under `root` as Ray tasks (hero_bench/executors/ray_grid.py): a line per run, the summary,
    and exit 1 if any run failed (the others went on), 130 on Ctrl-C."""
    import pandas as pd

    from hero_bench.executors.ray_grid import GridCancelled, RayOptions, run_grid
    from hero_bench.runs import RESULTS, write_results_table

    try:
        progress = run_grid(jobs, resume, RayOptions(address, run_cpus or 1.0, run_gpus))
    except GridCancelled as e:
        err_console.print(str(e), highlight=False, markup=False)
        sys.exit(130)
    if not resume:  # like the local executor: <out>/results.csv gathers every run under --out
        write_results_table(root)
    tables = [pd.read_csv(Path(o.folder) / RESULTS) for o in progress.outcomes if o.ok]
    if tables:
        _print_summary(pd.concat(tables, ignore_index=True), target, f"results in {root}")
    failed = progress.failures
    if failed:
        err_console.print(f"{len(failed)} of {len(progress.outcomes)} runs failed:", highlight=False, markup=False)
        for o in failed:
            err_console.print("  " + o.line(), highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)


@app.command("methods")
def methods_cmd() -> None:
    """List the methods (HERO, its ablations and the baselines), one line each."""
    from hero_bench.methods import METHODS

    t = Table(title="hero-bench methods")
    t.add_column("name")
    t.add_column("what it is")
    for name, doc in METHODS.describe().items():
        t.add_row(name, doc)
    console.print(t)


@app.command("sample")
def sample_cmd(
    run: Annotated[Path, typer.Option("--run", help="A finished run folder (<out>/<task>/<method>/seed<k>).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs and contact sheet.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 16,
    seed: SeedOpt = 0,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Prompt (default: the task's training prompt).")
    ] = None,
    random_noise: Annotated[
        bool, typer.Option("--random-noise", help="Ignore the learned noise distribution.")
    ] = False,
) -> None:
    """Generate from a trained run: its LoRA weights and (for HERO) its learned initial-noise distribution."""
    from hero_bench.config import RunConfig
    from hero_bench.evaluation import SamplingSettings, generate_images, seeded_noise
    from hero_bench.grids import contact_sheet
    from hero_bench.hero.method import NOISE_FILE
    from hero_bench.hero.noise import HeroNoiseSampler
    from hero_bench.models import load_lora
    from hero_bench.tasks.loader import load_task

    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        _fail(f"{run} is not a run folder (no config.json); pass <out>/<task>/<method>/seed<k>")
    cfg = RunConfig(**json.loads(cfg_path.read_text()))
    task = load_task(cfg.task)
    pipe = _pipeline(cfg.model)
    final = run / "final"
    if (final / "lora").is_dir():
        load_lora(pipe, final / "lora")
    noise_file = final / NOISE_FILE
    if noise_file.is_file() and not random_noise:
        noise = HeroNoiseSampler.load(noise_file, seed=seed).sample(n)
    else:
        noise = seeded_noise(pipe, n, seed)
    settings = SamplingSettings(
        num_inference_steps=cfg.steps or task.default_steps, eta=cfg.eta, guidance_scale=cfg.guidance_scale
    )
    images = generate_images(pipe, [prompt or task.prompt] * n, noise, settings, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        img.save(out / f"{i:04d}.png")
    contact_sheet(images).save(out / "contact_sheet.png")
    console.print(f"{n} images from {run} written to {out}")


@app.command("report")
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
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample grids and the bootstrap.")] = 0,
) -> None:
    """Compare runs: success table, feedback curves, ablation, beta sweep, secondary metrics, judged samples."""
    from hero_bench.reports import build_report

    command = "hero-bench " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else None
    if fmt not in ("html", "md"):
        _fail(f"--format must be html or md, got {fmt!r}")
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


@app.command("bench")
def bench_cmd(
    full: Annotated[bool, typer.Option("--full/--no-full", help="Also time a full toy HERO run (minutes).")] = True,
    task: Annotated[str, typer.Option("--task", help="Task of the full run.")] = "toy-black-cat",
    budget: Annotated[int, typer.Option("--budget", help="Feedback budget of the full run.")] = 512,
    batch: Annotated[int, typer.Option("--batch", help="Images per epoch of the full run.")] = 64,
) -> None:
    """Print speed and memory figures as JSON: sampler vs diffusers' pipeline, and a full toy HERO run."""
    from hero_bench import bench

    bench.main(full=full, task=task, budget=budget, batch=batch)


@app.command("gpu-check")
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
    from hero_bench.gpucheck.report import format_report

    result = gpucheck.main(size, dtype, out, max_transitions, memory_limit, repeats, d3po_pairs, evaluate)
    console.print(format_report(result), highlight=False, markup=False, soft_wrap=True)
    console.print(f"figures: {out}", highlight=False, markup=False)


@app.command("regress")
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
        typer.Option("--fault", help="Break HERO on purpose to see the check fail: inverted-verdicts, "
                     "shuffled-rewards or skipped-update (docs/regress.md)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """CI's feedback-efficiency check: a small seeded CPU run of HERO and SD-pretrained on toy-mountain,
    compared with the committed reference curve; exit 1 with a diff if AUC or feedback-to-target regress."""
    from hero_bench import regress
    from hero_bench.regress_faults import FAULTS

    if spread_seeds and not update:
        _fail("--spread-seeds re-measures the tolerances and needs --update")
    if fault is not None and (update or fault not in FAULTS):
        _fail("--fault breaks the check's runs and cannot --update the reference" if update
              else f"unknown fault {fault!r}; valid faults: {', '.join(FAULTS)}")
    if update:
        written = regress.update(spread_seeds=spread_seeds, root=out, progress=not json_out)
        print(json.dumps(written, indent=None if json_out else 2))
        return
    result = regress.check(root=out, progress=not json_out, fault=fault)
    if json_out:
        print(json.dumps({"ok": result.ok, "problems": result.problems,
                          "findings": [{k: (None if v != v else v) for k, v in vars(f).items()}  # NaN -> null
                                       for f in result.findings]}))
    else:
        console.print(result.report(), highlight=False, markup=False)
    if not result.ok:
        sys.exit(1)


@app.command("oracles")
def oracles_cmd(json_out: JsonOpt = False) -> None:
    """List the feedback oracles and what each needs (nothing, weights, an endpoint, or a person)."""
    from hero_bench.oracles import describe_oracles

    rows = describe_oracles()
    if json_out:
        print(json.dumps(rows))
        return
    table = Table(title="hero-bench oracles (--oracle for training feedback, --judge for success rates)")
    for col in ("name", "needs", "what it is", "how to provide it"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["needs"], r["description"], r["detail"])
    console.print(table)


@app.command("calibrate")
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

    if gold is not None:
        from hero_bench.oracles.gold_report import print_gold_report

        print_gold_report(console, oracle, gold, seed, json_out, {"model": oracle_model} if oracle_model else {})
        return
    if task is None:
        _fail("name a task with --task, or score against a gold folder with --gold DIR")
        return
    t = load_task(task)
    if source not in ("render", "model"):
        _fail(f"--source must be 'render' or 'model', got {source!r}")
    options = {"model": oracle_model} if oracle_model else {}
    proxy = ORACLES.create(oracle, seed=seed, **options)
    images = None
    if source == "model":
        from hero_bench.evaluation import generate_images, seeded_noise, spread_prompts

        pipe = _pipeline(model)
        prompts = spread_prompts(t.eval_prompts, n)
        images = generate_images(pipe, prompts, seeded_noise(pipe, n, seed), _settings(t, None, 5.0, 1.0), seed=seed)
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


@app.command("label")
def label_cmd(
    task: Annotated[str, typer.Option("--task", help="Toy task whose renders you label.")] = "toy-blue-circle",
    batches: Annotated[int, typer.Option("--batches", min=1, help="Number of batches.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per batch.")] = 8,
    seed: SeedOpt = 0,
    store: Annotated[Path, typer.Option("--store", help="SQLite label file.")] = Path("runs/human_labels.sqlite"),
    host: Annotated[str, typer.Option("--host", help="Serve on this address (not 127.0.0.1: exposed).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the labelling page (0: any free port).")] = 8765,
) -> None:
    """Practise the labelling page on toy renders (no model); rerunning resumes at the first unlabelled batch."""
    from hero_bench.oracles.human.practice import run_practice

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


@toy_app.command("train")
def toy_train_cmd(
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the package's embedded model).")
    ] = None,
    seed: SeedOpt = 0,
    stages: Annotated[
        str, typer.Option("--stages", help="Comma-separated subset of text,vae,unet,decoder (resumable).")
    ] = "text,vae,unet,decoder",
    unet_steps: Annotated[int | None, typer.Option("--unet-steps", help="Override UNet training steps.")] = None,
    vae_steps: Annotated[int | None, typer.Option("--vae-steps", help="Override VAE training steps.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny models and a few steps: checks the script runs.")
    ] = False,
) -> None:
    """Train the toy world's tiny Stable Diffusion (tokenizer, CLIP, VAE, UNet) and save it as a diffusers folder."""
    from hero_bench.toyworld import train

    cfg = train.quick_config(seed) if quick else train.TrainConfig(seed=seed)
    if unet_steps is not None:
        cfg.unet_steps = unet_steps
    if vae_steps is not None:
        cfg.vae_steps = vae_steps
    target = out or train.DEFAULT_OUT
    console.print(f"training: {train.expected_steps_hint(cfg)} -> {target}")
    train.train_all(cfg, target, stages=tuple(s.strip() for s in stages.split(",") if s.strip()))
    console.print(f"saved: {target} (load it with StableDiffusionPipeline.from_pretrained)")


@toy_app.command("fidelity")
def toy_fidelity_cmd(
    model: ModelOpt = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Rendered scenes to round-trip.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed (default: one training never used).")] = 1_000_003,
    json_out: JsonOpt = False,
) -> None:
    """Parser agreement on unseen rendered scenes after the VAE round trip: the ceiling of every toy verdict."""
    from hero_bench.evaluation import DEFAULT_MODEL
    from hero_bench.toyworld.fidelity import fidelity_table, load_vae, round_trip_agreement

    scores, misses, mae = round_trip_agreement(load_vae(model or DEFAULT_MODEL), n=n, seed=seed)
    if json_out:
        print(json.dumps({"n": n, "seed": seed, "mean_abs_pixel_error": mae, "agreement": scores}))
        return
    table = Table(title=f"VAE round trip: parser agreement on {n} unseen scenes (seed {seed})")
    table.add_column("property")
    table.add_column("agreement", justify="right")
    for prop, value in fidelity_table(scores):
        table.add_row(prop, f"{value:.4f}")
    console.print(table)
    console.print(f"mean absolute pixel error {mae:.2f} (0-255); disagreements: {len(misses)}")


def main() -> None:
    """Entry point: run the app, turning hero-bench's own errors into a clear message and exit code 2."""
    from hero_bench.models import ModelLoadError

    try:
        app(standalone_mode=False)
    except (HeroBenchError, ModelLoadError) as e:
        _fail(str(e))
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click's usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
