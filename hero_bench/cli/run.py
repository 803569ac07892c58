"""`hero-bench run`: methods x tasks x seeds (x one swept setting) with the same budget and judge, on this
machine or on Ray, then the summary table. The flags only describe the grid; hero_bench/cli/grid.py builds it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hero_bench.cli.common import (
    DEFAULT_TARGET,
    DeviceOpt,
    DtypeOpt,
    ModelOpt,
    StepsOpt,
    check_model,
    check_out_folder,
    console,
    err_console,
    fail,
    oracle_options,
    split,
)
from hero_bench.cli.grid import (
    GridRequest,
    build_grid,
    check_devices,
    check_endpoints,
    check_human_ports,
    executor_choice,
    method_options,
    run_on_ray,
    warn_unread_flags,
    where_results_are,
)
from hero_bench.cli.summary_table import print_summary

if TYPE_CHECKING:
    from hero_bench.config import RunConfig

FloatOpt = float | None


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether a flag was given (command line or environment) rather than left at its default. Compared by
    name: typer vendors its own copy of click, whose ParameterSource is not click's."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


# What `--resume` honours beside the folder: where and how the runs execute, and how the table reads. Every other
# flag describes runs, and a run continues with the settings it started with (its config.json).
RESUME_HONOURS = ("resume", "target", "executor", "address", "run_cpus", "run_gpus", "device")


def _resumed_runs(ctx: typer.Context, folder: Path, device: str | None) -> list[tuple[Any, Path]]:
    """The runs under `folder`, on `device` when one is given (a run may move to another GPU or to the CPU).
    A flag that would change a run is refused rather than ignored: `--resume X --budget 1024` does not extend."""
    from hero_bench.run_folders import runs_under

    ignored = [name for name in ctx.params if name not in RESUME_HONOURS and _given(ctx, name)]
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        them = "it" if len(ignored) == 1 else "them"
        fail(f"{flags} with --resume: a run continues with the settings it started with (its config.json); drop "
             f"{them}, or start runs with new settings under another --out")  # fmt: skip
    runs = runs_under(folder)
    return [(cfg.model_copy(update={"device": device}) if device else cfg, f) for cfg, f in runs]


def _not_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def run_cmd(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option("--task", help="Task name(s) or YAML path(s), comma-separated.")] = None,
    method: Annotated[
        str, typer.Option("--method", help="Method name(s), comma-separated (see `hero-bench methods`).")
    ] = "hero",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Number of seeds (0..N-1).")] = 1,
    seed_start: Annotated[int, typer.Option("--seed-start", min=0, help="First seed.")] = 0,
    budget: Annotated[int | None, typer.Option("--budget", help="Feedback budget per run (paper: 512).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Images judged per epoch (paper: 64).")] = None,
    oracle: Annotated[str | None, typer.Option("--oracle", help="Training feedback oracle.")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="Oracle scoring success rates.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Root folder of the runs.")] = Path("runs"),
    model: ModelOpt = None,
    steps: StepsOpt = None,
    cfg: Annotated[FloatOpt, typer.Option("--cfg", help="Classifier-free guidance weight (paper: 5.0).")] = None,
    eta: Annotated[FloatOpt, typer.Option("--eta", help="DDIM eta (paper: 1.0).")] = None,
    eval_n: Annotated[int | None, typer.Option("--eval-n", help="Evaluation images per epoch.")] = None,
    preset: Annotated[str, typer.Option("--preset", help="HERO defaults: paper | official-code.")] = "paper",
    best_ratio: Annotated[FloatOpt, typer.Option("--best-ratio", help="HERO beta (paper: 0.5).")] = None,
    noise_variance: Annotated[FloatOpt, typer.Option("--noise-variance", help="HERO eps0^2 (paper: 0.1).")] = None,
    triplet_margin: Annotated[FloatOpt, typer.Option("--triplet-margin", help="Triplet margin (paper: 0.5).")] = None,
    embedding_lr: Annotated[
        FloatOpt, typer.Option("--embedding-lr", help="E_theta learning rate (paper: 1e-5).")
    ] = None,
    lr: Annotated[FloatOpt, typer.Option("--lr", help="LoRA learning rate (paper: 3e-4).")] = None,
    k_steps: Annotated[
        int | None, typer.Option("--k-steps", help="DDPO-K: trained denoising steps (paper: 5).")
    ] = None,
    clip_range: Annotated[FloatOpt, typer.Option("--clip-range", help="PPO clip (paper: 1e-4).")] = None,
    lora_rank: Annotated[int | None, typer.Option("--lora-rank", help="LoRA rank.")] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    flip_prob: Annotated[FloatOpt, typer.Option("--flip-prob", help="Simulated oracle label-flip noise.")] = None,
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
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Weights/folder of a model judge (as --oracle-model).")
    ] = None,
    judge_option: Annotated[
        list[str] | None,
        typer.Option("--judge-option", help="KEY=VALUE passed to the judge (repeatable), as --oracle-option."),
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
            "or feature_source=z0,x1 (each method that reads it runs at each value, the others once).",
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
        typer.Option(
            "--run-gpus", min=0, help="GPUs per run on Ray (default: 1 with --device cuda, or for a --model on GPUs)."
        ),
    ] = None,
) -> None:
    """Run methods on tasks with the same seeds, budget and judge; print a summary table at the end."""
    import shlex

    from hero_bench.run_folders import collect_results, run_dir_for, runs_in_progress

    if not 0 < target <= 1:
        fail(f"--target is a success rate in (0, 1], got {target}")  # before the runs, not in their summary
    on_ray = executor_choice(executor, address, run_cpus, run_gpus)
    if resume is not None:
        runs = _resumed_runs(ctx, resume, device)
        if not on_ray or address is None:
            _check_run_folders([folder for _, folder in runs])
            check_devices([cfg for cfg, _ in runs])
    if resume is not None and on_ray:
        run_on_ray(runs, resume, True, address, run_cpus, run_gpus, target)
        return
    if resume is not None:
        from hero_bench.runs import resume_all

        with _interrupted_runs_kept(resume):
            table = resume_all(resume, device=device)
        print_summary(table, target, f"resumed {resume}")
        return
    fields = _not_none(
        budget=budget, batch=batch, oracle=oracle, judge=judge, model=model, steps=steps,
        guidance_scale=cfg, eta=eta, eval_n=eval_n, lora_rank=lora_rank, device=device, dtype=dtype,
    )  # fmt: skip
    for name, options in (
        ("oracle_options", oracle_options("--oracle-option", oracle_option, flip_prob=flip_prob, model=oracle_model)),
        ("judge_options", oracle_options("--judge-option", judge_option, model=judge_model)),
    ):
        if options:
            fields[name] = options
    if method_option:
        fields["method_options"] = method_options(method_option)
    request = GridRequest(
        tasks=split(task) if task is not None else None,
        methods=split(method) if _given(ctx, "method") else None,
        seeds=seeds,
        seed_start=seed_start if _given(ctx, "seed_start") else None,
        preset=preset if _given(ctx, "preset") else None,
        sweep=sweep,
        fields=fields,
        hero=_not_none(
            best_ratio=best_ratio,
            noise_variance=noise_variance,
            triplet_margin=triplet_margin,
            embedding_lr=embedding_lr,
        ),  # fmt: skip
        ddpo=_not_none(learning_rate=lr, k_steps=k_steps, clip_range=clip_range),
        command="hero-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    cfgs = build_grid(request, config)
    if on_ray:
        from hero_bench.executors.ray_grid import refuse_undistributable

        refuse_undistributable(cfgs)  # what cannot run on Ray at all is said first
    if not on_ray or address is None:  # a cluster's workers may see folders this machine does not
        check_out_folder(out)
        for model in {c.model for c in cfgs}:
            check_model(model)  # refused in a second, not after torch loads or in every run
        check_endpoints(cfgs)  # a judge's endpoint that is down: before a model loads and a batch is sampled
        check_devices(cfgs)  # --device cuda on a machine without one, fp16 on the CPU
        _check_run_folders([run_dir_for(out, c) for c in cfgs], cfgs)
        if not on_ray:  # Ray refuses a person's oracle or judge on its own
            check_human_ports(cfgs)
    warn_unread_flags(request, cfgs)  # after every refusal: a refused command prints its one line alone
    if on_ray:
        run_on_ray([(c, run_dir_for(out, c)) for c in cfgs], out, False, address, run_cpus, run_gpus, target)
        return
    from hero_bench.runs import run_many  # the run loop (torch, diffusers): only where runs execute in this process

    with _interrupted_runs_kept(out):
        run_many(cfgs, out)
    print_summary(collect_results(out), target, f"results in {out}")
    if busy := runs_in_progress(out):
        console.print(f"left out of this table and of {out / 'results.csv'}: {len(busy)} run(s) under {out} still in "
                      f"progress (a checkpoint and no done.json), e.g. {busy[0]}", highlight=False, soft_wrap=True)
    console.print(where_results_are(out))


def _check_run_folders(folders: list[Path], cfgs: list[RunConfig] | None = None) -> None:
    """A run that another process is working on, a run folder whose config.json is damaged, or (for `cfgs`, a new
    grid) one that holds a run with other settings, is refused now, in a second, not once torch and the model
    have loaded, or after the grid's earlier runs (on Ray, as a failed run at the end)."""
    from hero_bench.run_files import CONFIG, check_not_busy
    from hero_bench.run_folders import read_run_json
    from hero_bench.run_identity import folder_taken, same_settings

    for i, folder in enumerate(folders):
        check_not_busy(folder)
        if (folder / CONFIG).exists():  # the run loop reads it first thing (may the run be reused or resumed?)
            read_run_json(folder / CONFIG)
            if cfgs is not None and not same_settings(folder, cfgs[i]):  # as the run loop would say, later
                raise folder_taken(folder, same=False)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what a scheduler such as Slurm or Kubernetes sends before SIGKILL), raised like Ctrl-C so that the
    run in progress stops the same way: a checkpoint being written is dropped whole, the last one kept."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


@contextmanager
def _interrupted_runs_kept(root: Path) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) during a local grid: say what is kept and how to go on, exit 130 (143 for SIGTERM).
    It exited 0 on Ctrl-C, as if the grid had finished, and SIGTERM ended it without a word."""
    import signal

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except KeyboardInterrupt as e:
        how = "terminated (SIGTERM)" if isinstance(e, _Terminated) else "interrupted"
        err_console.print(
            f"{how}: finished runs under {root} are kept, and the unfinished one continues from its last "
            "checkpoint when the same command is issued again",
            highlight=False, markup=False, soft_wrap=True,
        )
        sys.exit(143 if isinstance(e, _Terminated) else 130)
    finally:
        signal.signal(signal.SIGTERM, previous)
