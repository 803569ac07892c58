"""From `hero-bench run`'s flags to the grid of run configs (tasks x methods x swept values x seeds), and the
grid's end: the Ray executor's report and the summary table.

A `--config` file gives the base settings; a flag overrides the file only when it is given on the command
line (`Given` records which were), so that a default such as `--method hero` never hides the file's value.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hero_bench.cli.common import console, err_console, fail, split
from hero_bench.run_files import DONE

if TYPE_CHECKING:
    from hero_bench.config import RunConfig


# (variant label, HERO overrides, DDPO overrides) of one value of `--sweep`
Variant = tuple[str, dict[str, Any], dict[str, Any]]
NO_VARIANT: Variant = ("", {}, {})


@dataclass
class GridRequest:
    """The grid a `run` asks for. None means "not given": the file's value, else the built-in default."""

    tasks: list[str] | None
    methods: list[str] | None
    seeds: int
    seed_start: int | None
    preset: str | None
    sweep: str | None
    fields: dict[str, Any] = field(default_factory=dict)  # RunConfig fields given as flags
    hero: dict[str, Any] = field(default_factory=dict)
    ddpo: dict[str, Any] = field(default_factory=dict)
    command: str = ""


def sweep_variants(sweep: str | None) -> list[Variant]:
    """[(variant label, hero overrides, ddpo overrides)] for `--sweep field=v1,v2`; one empty variant if none."""
    import yaml

    from hero_bench.ddpo_config import DDPOConfig
    from hero_bench.errors import yaml_problem
    from hero_bench.hero.config import HeroConfig

    if not sweep:
        return [NO_VARIANT]
    name, sep, values = sweep.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        fail(f"--sweep expects FIELD=V1,V2,... (e.g. best_ratio=0,0.5,1), got {sweep!r}")
    sections = {"hero": HeroConfig.model_fields, "ddpo": DDPOConfig.model_fields}
    given, _, bare = name.rpartition(".")  # `hero.best_ratio`, as the field sits in a --config file, is fine too
    if given in sections and bare in sections[given]:
        side, name = given, bare
    elif not given and name in sections["hero"]:
        side = "hero"
    elif not given and name in sections["ddpo"]:
        side = "ddpo"
    else:
        fail(
            f"--sweep: unknown field {name!r}; HERO fields: {', '.join(HeroConfig.model_fields)}; "
            f"DDPO fields: {', '.join(DDPOConfig.model_fields)} (each alone or as hero.FIELD / ddpo.FIELD)"
        )
    out = []
    for raw in split(values):
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            fail(f"--sweep {name}: the value {raw!r} is read as YAML, and it is {yaml_problem(e)}")
        out.append((f"{name}={raw}", {name: value} if side == "hero" else {}, {name: value} if side == "ddpo" else {}))
    return out


def swept_section(variants: list[Variant]) -> str | None:
    """'hero' or 'ddpo': whose setting the sweep sets (one field, so every value is on the same side); None."""
    _, hero_extra, ddpo_extra = variants[0]
    return "hero" if hero_extra else "ddpo" if ddpo_extra else None


def variants_for(method: str, variants: list[Variant]) -> list[Variant]:
    """The swept values `method` runs at: all of them when it reads the swept setting, otherwise none (one run):
    d3po-style at every best_ratio would be the same run again and again, and a row per value in the report."""
    from hero_bench.methods import settings_read

    side = swept_section(variants)
    return variants if side is None or side in settings_read(method) else [NO_VARIANT]


def method_options(items: list[str]) -> dict[str, Any]:
    """`--method-option` values as RunConfig.method_options: {method: {key: value}} for METHOD.KEY=VALUE
    (each method reads only its own section), {key: value} for plain KEY=VALUE."""
    from hero_bench.cli.common import key_value
    from hero_bench.methods import METHODS

    out: dict[str, Any] = {}
    for item in items:
        key, parsed = key_value(item, "--method-option", "METHOD.KEY=VALUE or KEY=VALUE")
        name, dot, option = key.rpartition(".")
        if dot and name:
            if name not in METHODS:
                fail(f"--method-option {item!r}: unknown method {name!r}; valid: {', '.join(METHODS)}")
            out.setdefault(name, {})[option] = parsed
        else:
            out[key] = parsed
    return out


def _merged(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The file's mapping with the flags' keys on top; nested mappings (a method's options) merge too."""
    out = dict(base)
    for key, value in given.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# RunConfig fields that are dicts of options: a flag's keys are merged into a settings file's, key by key.
OPTION_FIELDS = ("oracle_options", "judge_options", "method_options")


def _from_file(path: Path, req: GridRequest, task: str | None, method: str | None, variant: Variant) -> list[RunConfig]:
    """One (task, method, swept value) from a settings file, over the seeds; flags given win key by key."""
    from hero_bench.config import build_run_config, load_config_file

    base = load_config_file(path, task=task, method=method, preset=req.preset)
    label, hero_extra, ddpo_extra = variants_for(base.method, [variant])[0]
    data = base.model_dump(exclude={"hero", "ddpo", "preset", "seed", "variant", "command"})
    for key in OPTION_FIELDS:
        if key in req.fields:
            data[key] = _merged(data[key], req.fields[key])
    data.update({k: v for k, v in req.fields.items() if k not in OPTION_FIELDS})
    start = base.seed if req.seed_start is None else req.seed_start
    return [
        build_run_config(
            preset_name=base.preset,
            hero={**base.hero.model_dump(), **req.hero, **hero_extra},
            ddpo={**base.ddpo.model_dump(), **req.ddpo, **ddpo_extra},
            source=str(path),
            seed=seed,
            command=req.command,
            variant=label or base.variant,
            **data,
        )
        for seed in range(start, start + req.seeds)
    ]


def build_grid(req: GridRequest, config: Path | None) -> list[RunConfig]:
    """Every run config of the request, seeds outermost (so that a first seed of every method comes first)."""
    from hero_bench.config import build_run_config
    from hero_bench.methods import METHODS
    from hero_bench.tasks.loader import load_task

    if req.tasks is None and config is None:
        fail("name a task with --task (see `hero-bench tasks`) or a settings file with --config")
    methods: list[str | None] = list(req.methods) if req.methods is not None else [None if config else "hero"]
    for m in methods:
        if m is not None:
            METHODS.get(m)  # unknown names fail before any work, listing the valid ones
    variants = sweep_variants(req.sweep)
    if config is not None:
        tasks: list[str | None] = list(req.tasks) if req.tasks is not None else [None]
        cells = [_from_file(config, req, t, m, v) for m in methods for v in variants for t in tasks]
        per_cell = list({(c[0].task, c[0].method, c[0].variant): c for c in cells}.values())  # unswept: once
        for cell in per_cell:  # the file's names fail before any work too
            METHODS.get(cell[0].method)
            _check_fits(cell[0])
        _check_swept(variants, [cell[0] for cell in per_cell])
        return [cell[i] for i in range(req.seeds) for cell in per_cell]
    cfgs = []
    start = req.seed_start or 0
    for seed in range(start, start + req.seeds):
        for m in methods:
            for variant, hero_extra, ddpo_extra in variants_for(m or "hero", variants):
                for t in req.tasks or []:
                    load_task(t)
                    cfgs.append(
                        build_run_config(
                            t,
                            m or "hero",
                            preset_name=req.preset or "paper",
                            hero={**req.hero, **hero_extra},
                            ddpo={**req.ddpo, **ddpo_extra},
                            seed=seed,
                            command=req.command,
                            variant=variant,
                            **req.fields,
                        )
                    )
    for cfg in cfgs:
        _check_fits(cfg)
    _check_method_options(cfgs)
    _check_swept(variants, cfgs)
    return cfgs


FLAG_OF_SETTING = {  # `run`'s flags for HERO and DDPO settings (hero_bench/cli/run.py)
    "best_ratio": "--best-ratio", "noise_variance": "--noise-variance", "triplet_margin": "--triplet-margin",
    "embedding_lr": "--embedding-lr", "learning_rate": "--lr", "k_steps": "--k-steps", "clip_range": "--clip-range",
}  # fmt: skip


def warn_unread_flags(req: GridRequest, cfgs: list[RunConfig]) -> None:
    """A HERO or DDPO flag (or --preset) that no method of the grid reads changes nothing: say so on stderr.
    `--method d3po-style --lr 1e-3` trains at d3po-style's own rate, its `--method-option learning_rate=...`.
    A warning, not an error: the same flags are often reused for a grid's baselines run on their own (`then the
    same with --method sd-pretrained`), and such runs are the same runs without them (run_identity). Called once
    the grid has passed every check, so that a refused command prints its one error line and nothing else."""
    from hero_bench.methods import METHODS, UNTRAINED, settings_read

    methods = list(dict.fromkeys(c.method for c in cfgs))
    for side, given in (("hero", req.hero), ("ddpo", req.ddpo)):
        if given and not any(side in settings_read(m) for m in methods):
            flags = ", ".join(FLAG_OF_SETTING.get(k, k) for k in given)
            readers = ", ".join(m for m in METHODS if side in settings_read(m))
            warn(f"{flags}: no method of this grid reads {'it' if len(given) == 1 else 'them'} ({', '.join(methods)});"
                 f" {side.upper()} settings are read by {readers}; the other methods take theirs as --method-option "
                 "METHOD.KEY=VALUE (docs/baselines.md)")  # fmt: skip
    if req.preset is not None and not any(settings_read(m) for m in methods):
        warn(f"--preset {req.preset}: no method of this grid reads HERO or DDPO settings ({', '.join(methods)})")
    if "lora_rank" in req.fields and all(m in UNTRAINED for m in methods):
        warn(f"--lora-rank: no method of this grid trains a LoRA ({', '.join(methods)})")


def warn(message: str) -> None:
    err_console.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)


def _check_swept(variants: list[Variant], cfgs: list[RunConfig]) -> None:
    """A sweep that no method of the grid reads would run each method once and drop the sweep without a word."""
    from hero_bench.methods import METHODS, settings_read

    labels = {label for label, _, _ in variants} - {""}
    if labels and not any(c.variant in labels for c in cfgs):
        field = next(iter(labels)).partition("=")[0]
        side = swept_section(variants)
        readers = ", ".join(m for m in METHODS if side in settings_read(m))
        methods = ", ".join(dict.fromkeys(c.method for c in cfgs))
        fail(f"--sweep {field}: no method of this grid reads it ({methods}); it is a {side} setting, read by {readers}")


def _check_method_options(cfgs: list[RunConfig]) -> None:
    """Options a method would refuse once its run has loaded torch, or ignore without a word, are refused now."""
    from hero_bench.baselines.options import OPTIONS_OF, check_method_options

    shared = any(c.method in OPTIONS_OF for c in cfgs)
    for cfg in cfgs:
        check_method_options(cfg.method, cfg.method_options, shared)


def check_endpoints(cfgs: list[RunConfig]) -> None:
    """A vlm oracle or judge whose endpoint accepts no connection is refused before any run loads torch
    (each endpoint once). Only where the runs execute on this machine: a cluster may reach what it cannot."""
    from hero_bench.oracles.vlm_reach import check_vlm_reachable, endpoint_url

    seen: set[str | None] = set()
    for cfg in cfgs:
        roles = (("oracle", cfg.oracle, cfg.oracle_options), ("judge", cfg.judge, cfg.judge_options))
        for role, name, options in roles:
            if name == "vlm" and endpoint_url(options) not in seen:
                seen.add(endpoint_url(options))
                check_vlm_reachable(options, f"--{role} vlm")


def check_devices(cfgs: list[RunConfig]) -> None:
    """A device or precision this machine cannot give (`--device cuda` without a GPU, fp16 on the CPU) is refused
    before any run starts. Torch is imported only when a run asks for CUDA or fp16."""
    from hero_bench.devices import check_precision, run_device

    for device, dtype, real_model in sorted({(c.device, c.dtype, c.model is not None) for c in cfgs}):
        if device == "cpu":
            check_precision(dtype, device)
        elif device != "auto" or dtype == "fp16":
            run_device(device, real_model, dtype)


def check_human_ports(cfgs: list[RunConfig]) -> None:
    """A labelling page's port that another program holds is refused before torch loads; the page itself starts
    only at the first batch that needs a person, after the model has loaded and epoch 0 was evaluated."""
    from hero_bench.oracles.human.oracle import DEFAULT_PORT, judge_page_port
    from hero_bench.oracles.human.serve import LOOPBACK, ServerStartError, bind_socket

    seen: set[tuple[str, int]] = set()
    for cfg in cfgs:
        roles = (("oracle", cfg.oracle, cfg.oracle_options), ("judge", cfg.judge, cfg.judge_options))
        for role, name, options in roles:
            if name != "human":
                continue
            default = judge_page_port(cfg.oracle) if role == "judge" else DEFAULT_PORT  # as the run loop has it
            where = (str(options.get("host", LOOPBACK)), int(options.get("port", default)))
            if where[1] == 0 or where in seen:
                continue
            seen.add(where)
            try:
                bind_socket(*where).close()
            except ServerStartError as e:
                fail(f"--{role} human: the labelling page cannot listen on {where[0]}:{where[1]} ({e.reason}); pass "
                     f"--{role}-option port=N with a free port (0 picks one)")


def _check_fits(cfg: RunConfig) -> None:
    """A method or oracle that needs what the task file lacks is refused now, not once its run has loaded torch."""
    from hero_bench.oracles import check_oracle_options
    from hero_bench.tasks.fit import check_run_fits, check_steps
    from hero_bench.tasks.loader import load_task

    check_oracle_options(cfg.oracle, cfg.oracle_options, "--oracle-option (oracle_options)")
    check_oracle_options(cfg.judge, cfg.judge_options, "--judge-option (judge_options)")
    task = load_task(cfg.task)
    check_run_fits(task, cfg.method, cfg.oracle, cfg.judge, cfg.method_options)
    check_steps(task, cfg)


def executor_choice(executor: str, address: str | None, run_cpus: float | None, run_gpus: float | None) -> bool:
    """Whether the grid goes to Ray; flags that only Ray reads are refused without it."""
    from hero_bench.executors import EXECUTORS

    if executor not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor != "ray" and (address is not None or run_cpus is not None or run_gpus is not None):
        fail("--address, --run-cpus and --run-gpus place runs on Ray workers; add --executor ray")
    return executor == "ray"


def where_results_are(out: Path) -> str:
    """The last line of a grid's output, with either executor."""
    return f"results table: {out / 'results.csv'}; per-run folders under {out}/<task>/<method>/seed<k>"


def idle_cores_hint(jobs: list[tuple[RunConfig, Path]], cores: int) -> None:
    """A Ray grid on this machine with fewer runs to do than cores leaves cores idle at the default one torch
    thread per run (`--run-cpus 1`, which keeps runs from fighting over cores when there are more): say how to
    use them. A hint, not a change of default: a grid's runs often outnumber the cores."""
    to_do = sum(not (Path(folder) / DONE).exists() for _, folder in jobs)
    if 0 < to_do < cores:
        per_run = cores // to_do
        err_console.print(f"note: {to_do} run(s) to do on {cores} cores at one torch thread each (--run-cpus 1): "
                          f"{cores - to_do} core(s) stay idle; --run-cpus {per_run} gives each run {per_run}",
                          highlight=False, markup=False, soft_wrap=True)  # fmt: skip


def run_on_ray(jobs, root: Path, resume: bool, address, run_cpus, run_gpus, target: float) -> None:
    """The grid under `root` as Ray tasks (hero_bench/executors/ray_grid.py): a line per run, the summary,
    and exit 1 if any run failed (the others went on), 130 on Ctrl-C."""
    import pandas as pd

    from hero_bench.cli.summary_table import print_summary
    from hero_bench.executors.ray_grid import GridCancelled, RayOptions, run_grid
    from hero_bench.run_files import RESULTS
    from hero_bench.run_folders import read_results, write_results_table

    if run_cpus is None and address is None:
        idle_cores_hint(jobs, os.cpu_count() or 1)
    try:
        progress = run_grid(jobs, resume, RayOptions(address, run_cpus or 1.0, run_gpus))
    except GridCancelled as e:
        err_console.print(str(e), highlight=False, markup=False)
        sys.exit(130)
    if not resume:  # like the local executor: <out>/results.csv gathers every run under --out
        write_results_table(root)
    tables = [read_results(Path(o.folder) / RESULTS) for o in progress.outcomes if o.ok]
    if tables:
        print_summary(pd.concat(tables, ignore_index=True), target, f"results in {root}")
    if not resume:
        console.print(where_results_are(root))
    failed = progress.failures
    if failed:
        err_console.print(f"{len(failed)} of {len(progress.outcomes)} runs failed:", highlight=False, markup=False)
        for o in failed:
            err_console.print("  " + o.line(), highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
