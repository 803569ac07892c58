"""Feedback-efficiency regression check for CI (`hero-bench regress`).

Why: unit tests catch crashes and wrong shapes, not a method that silently learns less from the same
feedback. This module runs a CI-sized, seeded CPU comparison (HERO and SD-pretrained on toy-mountain, a small
budget) through the ordinary run loop and compares its feedback-to-success curve with a reference committed
in the package (`data/regress_reference.csv`). It fails, with a readable per-point diff, when the area under
the curve drops, or the feedback needed to reach the target rises, by more than a tolerance derived from
measured seed-to-seed spread (`data/regress_tolerances.json`, written by `--update --spread-seeds N`).

The runs use one CPU thread, so the same seed gives the same numbers on the same kind of machine (tested):
the tolerance only absorbs changed random streams and other CPUs' float rounding.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hero_bench import regress_files, regress_lora
from hero_bench.config import RunConfig, build_run_config
from hero_bench.metrics.curves import area_under_curve, feedback_to_target
from hero_bench.metrics.lora_only import LORA_ONLY, with_lora_only_rows
from hero_bench.regress_files import REFERENCE, TOLERANCES, load_reference, load_reference_configs, load_tolerances
from hero_bench.run_environment import cpu_record, machine_note
from hero_bench.run_files import atomic_write_text

CURVE_COLUMNS = ["task", "method", "seed", "epoch", "feedback_used", "success_rate", regress_lora.LORA_CHANGE]


@dataclass(frozen=True)
class RegressSettings:
    """The CI-sized comparison: about two minutes per HERO run on one CPU thread, 8 epochs long, so that a HERO
    that stops learning falls outside the seed spread."""

    tasks: tuple[str, ...] = ("toy-mountain",)
    methods: tuple[str, ...] = ("hero", "sd-pretrained")
    seeds: tuple[int, ...] = (0,)
    budget: int = 128
    batch: int = 16
    eval_n: int = 32
    steps: int = 20
    """Not 10: there the default model's HERO seeds split too widely to catch a fault (docs/regress.md)."""
    target: float = 0.75
    """Success level for 'feedback to target' (between the pretrained ~0.52 and HERO's ~0.9 on toy world v2)."""
    ddpo: tuple[tuple[str, Any], ...] = ()
    """DDPO settings that differ from the defaults, as (field, value) pairs (e.g. a larger probe)."""

    def configs(self, seeds: Sequence[int] | None = None, lora_only: bool = True) -> list[RunConfig]:
        return [
            build_run_config(
                task,
                method,
                seed=seed,
                budget=self.budget,
                batch=self.batch,
                eval_n=self.eval_n,
                steps=self.steps,
                ddpo=dict(self.ddpo),
                eval_std_noise=lora_only,
                command="hero-bench regress",
            )
            for seed in (self.seeds if seeds is None else seeds)
            for task in self.tasks
            for method in self.methods
        ]


@contextmanager
def _one_thread() -> Iterator[None]:
    """Reductions on several threads may sum in another order: one thread makes runs repeatable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_curves(
    settings: RegressSettings,
    seeds: Sequence[int] | None = None,
    root: Path | None = None,
    progress: bool = False,
    fault: str | None = None,
    lora_only: bool = True,
) -> pd.DataFrame:
    """Run the comparison with the library's run loop (in `root`, or a temporary folder) and return the
    tidy curve table (CURVE_COLUMNS), HERO's LoRA-only evaluation (N(0, I) noises) as a method of its own.
    Finished runs with identical settings in `root` are reused. `fault` names a deliberate break
    (`hero_bench.regress_faults`); its runs go to their own subfolder, never reused as healthy ones.
    `lora_only=False` skips that second evaluation (half of a HERO run's sampling) where no LoRA-only curve
    is looked at; the other curves stay the same (tests/test_regress.py)."""
    from hero_bench.regress_faults import inject
    from hero_bench.runs import run_many

    broken = inject(fault) if fault else nullcontext()
    with _one_thread(), tempfile.TemporaryDirectory(prefix="hero-bench-regress-") as tmp, broken:
        where = Path(root) if root is not None else Path(tmp)
        folder = where / f"fault-{fault}" if fault else where
        # a temporary folder goes with the run: no checkpoint to resume from (about 1 s an epoch for HERO)
        table = run_many(settings.configs(seeds, lora_only), folder, progress=progress, resumable=root is not None)
    table = with_lora_only_rows(table) if lora_only else table
    table[regress_lora.LORA_CHANGE] = regress_lora.lora_change_column(table, table["method"].str.endswith(LORA_ONLY))
    return table[CURVE_COLUMNS].sort_values(["task", "method", "seed", "epoch"], ignore_index=True)


# ------------------------------------------------------------------------------------------------ metrics
def curve_metrics(curves: pd.DataFrame, budget: float, target: float) -> pd.DataFrame:
    """Per task and method: AUC of the seed-mean curve over [0, budget], feedback to `target` (NaN: never)."""
    auc = area_under_curve(curves, budget=budget)[["task", "method", "auc"]]
    ftt = feedback_to_target(curves, target)[["task", "method", "feedback_to_target"]]
    return auc.merge(ftt, on=["task", "method"])


def per_seed_metrics(curves: pd.DataFrame, budget: float, target: float) -> pd.DataFrame:
    """AUC and feedback-to-target of every seed's own curve: the inputs of the spread measurement."""
    frames = [curve_metrics(part, budget, target).assign(seed=seed) for seed, part in curves.groupby("seed")]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class ToleranceRule:
    """tolerance = max(k * seed std * sqrt(2 / n check seeds), floor).

    sqrt(2 / n) * std is the spread of the difference between two independent means of n seeds: the
    reference and a check whose random streams changed legitimately (unchanged code reproduces the
    reference exactly). k = 2 then lets such a change trip a metric about 2% of the time. The floor of
    feedback-to-target is one batch (its resolution); that of the AUC keeps a zero spread from failing on
    rounding."""

    k: float = 2.0
    auc_floor: float = 0.03
    ftt_floor_batches: float = 1.0


def measure_tolerances(curves: pd.DataFrame, settings: RegressSettings, rule: ToleranceRule = ToleranceRule()) -> dict:
    """Seed-to-seed spread of AUC and feedback-to-target per task and method, and the tolerances it implies.
    Seeds that never reach the target are counted and left out of the feedback spread."""
    per_seed = per_seed_metrics(curves, settings.budget, settings.target)
    scale = rule.k * math.sqrt(2 / len(settings.seeds))
    out: dict[str, dict] = {}
    for (task, method), part in per_seed.groupby(["task", "method"]):
        reached = part["feedback_to_target"].dropna()
        auc_std = float(part["auc"].std(ddof=1)) if len(part) > 1 else 0.0
        ftt_std = float(reached.std(ddof=1)) if len(reached) > 1 else 0.0
        out[f"{task}/{method}"] = {
            "seeds": [int(s) for s in part["seed"]],
            "auc_per_seed": [round(float(a), 4) for a in part["auc"]],
            "auc_mean": round(float(part["auc"].mean()), 4),
            "auc_std": round(auc_std, 4),
            "feedback_to_target_per_seed": [None if np.isnan(f) else float(f) for f in part["feedback_to_target"]],
            "feedback_to_target_std": round(ftt_std, 2),
            "seeds_reaching_target": int(len(reached)),
            "auc_tolerance": round(max(scale * auc_std, rule.auc_floor), 4),
            "feedback_to_target_tolerance": round(max(scale * ftt_std, rule.ftt_floor_batches * settings.batch), 1),
        }
        change = regress_lora.final_change(curves[(curves.task == task) & (curves.method == method)])
        if len(change):  # a method with a LoRA: how far its weights moved, seed by seed
            values = [round(float(v), 4) for v in change[regress_lora.LORA_CHANGE]]
            out[f"{task}/{method}"]["lora_change_per_seed"] = values
            out[f"{task}/{method}"]["lora_change_tolerance"] = regress_lora.tolerance(values, scale)
    return {"settings": _settings_json(settings), "rule": asdict(rule), "tolerances": out}


def _settings_json(settings: RegressSettings) -> dict:
    return json.loads(json.dumps(asdict(settings)))  # tuples -> lists, as they come back from a file


# --------------------------------------------------------------------------------------------- comparison
@dataclass
class Finding:
    """One metric of one task and method against its reference."""

    task: str
    method: str
    metric: str
    reference: float
    current: float
    tolerance: float
    ok: bool
    note: str = ""

    def __post_init__(self) -> None:
        # plain Python values: findings are computed with numpy and printed as JSON (`regress --json`)
        self.ok = bool(self.ok)
        self.reference, self.current, self.tolerance = map(float, (self.reference, self.current, self.tolerance))


@dataclass
class Comparison:
    """The outcome of a check: findings per metric plus the point-by-point curve diff behind them."""

    findings: list[Finding]
    curve_diff: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    """Reasons the curves cannot be compared at all (other settings, missing rows)."""
    config_changes: list[str] = field(default_factory=list)
    """Run settings that differ from those the reference was made with (e.g. a changed default): the
    likely cause of a difference; not a failure by itself."""
    machine: str = ""
    """Whether the reference was made on a CPU of another kind (`run_environment.machine_note`)."""

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.findings)

    def report(self) -> str:
        """Readable text: the verdict, each metric with reference, current, change and tolerance, and the
        curves side by side for every task and method that failed."""
        lines = [f"feedback-efficiency regression check: {'PASS' if self.ok else 'FAIL'}"]
        lines += [f"  cannot compare: {p}" for p in self.problems]
        if self.config_changes:
            lines.append("  run settings changed since the reference: " + "; ".join(self.config_changes))
        if self.machine:
            lines.append(f"  machine: {self.machine}")
        for f in self.findings:
            lines.append(
                f"  {'ok  ' if f.ok else 'FAIL'} {f.task} / {f.method}: {f.metric} "
                f"{_fmt(f.reference, f.metric)} -> {_fmt(f.current, f.metric)} (tolerance {f.tolerance:g})"
                + (f": {f.note}" if f.note else "")
            )
        failed = {(f.task, f.method) for f in self.findings if not f.ok}
        for task, method in sorted(failed):
            part = self.curve_diff[(self.curve_diff.task == task) & (self.curve_diff.method == method)]
            lines.append(f"\n  {task} / {method}: success rate by feedback used (seed mean)")
            lines.append(f"    {'feedback':>8}  {'reference':>9}  {'current':>7}  {'change':>7}")
            for r in part.itertuples():
                change = r.current - r.reference
                lines.append(f"    {r.feedback_used:>8.0f}  {r.reference:>9.3f}  {r.current:>7.3f}  {change:>+7.3f}")
        if self.ok and any(f.note.startswith("improved") for f in self.findings):
            lines.append("  (an improvement beyond tolerance: `hero-bench regress --update` records it)")
        return "\n".join(lines)


def _fmt(x: float, metric: str) -> str:
    return "never" if np.isnan(x) else f"{x:.3f}" if metric in ("AUC", "LoRA change") else f"{x:.0f}"


def _seed_mean(curves: pd.DataFrame) -> pd.DataFrame:
    return curves.groupby(["task", "method", "feedback_used"], as_index=False)["success_rate"].mean()


def compare(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    tolerances: dict,
    settings: RegressSettings,
    reference_configs: dict[str, dict] | None = None,
) -> Comparison:
    """Check `current` curves against `reference` ones: fail when the AUC drops or feedback-to-target rises
    by more than its tolerance, or when the target reached in the reference is never reached now.
    Improvements pass (and are pointed out); run settings that changed since the reference are listed."""
    problems = []
    if tolerances.get("settings") != _settings_json(settings):
        problems.append(
            f"the tolerances were measured with settings {tolerances.get('settings')}, the check uses "
            f"{_settings_json(settings)}; re-measure with `hero-bench regress --update --spread-seeds 5`"
        )
    cur, ref = _seed_mean(current), _seed_mean(reference)
    diff = ref.merge(cur, on=["task", "method", "feedback_used"], how="outer", suffixes=("_ref", "_cur"))
    diff = diff.rename(columns={"success_rate_ref": "reference", "success_rate_cur": "current"})
    missing = diff[diff[["reference", "current"]].isna().any(axis=1)]
    if len(missing):
        problems.append(
            "reference and current curves have different points "
            f"{missing[['task', 'method', 'feedback_used']].to_dict('records')}; "
            "if the settings changed on purpose, run `hero-bench regress --update`"
        )
    m_ref = curve_metrics(reference, settings.budget, settings.target).set_index(["task", "method"])
    m_cur = curve_metrics(current, settings.budget, settings.target).set_index(["task", "method"])
    findings = []
    for key in m_ref.index:
        task, method = key
        tol = tolerances.get("tolerances", {}).get(f"{task}/{method}")
        if key not in m_cur.index or tol is None:
            problems.append(f"{task} / {method}: no {'tolerance' if tol is None else 'current run'}")
            continue
        a_ref, a_cur, a_tol = m_ref.at[key, "auc"], m_cur.at[key, "auc"], tol["auc_tolerance"]
        drop = a_ref - a_cur
        note = f"dropped {drop:.3f}" if drop > a_tol else f"improved {-drop:.3f}" if -drop > a_tol else ""
        findings.append(Finding(task, method, "AUC", a_ref, a_cur, a_tol, drop <= a_tol, note))
        f_ref, f_cur, f_tol = (
            m_ref.at[key, "feedback_to_target"],
            m_cur.at[key, "feedback_to_target"],
            tol["feedback_to_target_tolerance"],
        )
        if np.isnan(f_ref):
            continue  # the reference never reaches the target (e.g. SD-pretrained): nothing to hold it to
        metric = f"feedback to {settings.target:g}"
        if np.isnan(f_cur):
            never = f"target never reached within {settings.budget} feedback"
            findings.append(Finding(task, method, metric, f_ref, f_cur, f_tol, False, never))
            continue
        rise = f_cur - f_ref
        note = f"needs {rise:.0f} more" if rise > f_tol else ""
        note = f"improved: needs {-rise:.0f} less" if -rise > f_tol else note
        findings.append(Finding(task, method, metric, f_ref, f_cur, f_tol, rise <= f_tol, note))
    for task, method, ref_c, cur_c, tol_c, ok, note in regress_lora.compare_change(
        current, reference, tolerances.get("tolerances", {})
    ):
        findings.append(Finding(task, method, "LoRA change", ref_c, cur_c, tol_c, ok, note))
    changes = []
    for key, new in run_configs(settings).items():
        if reference_configs and key in reference_configs:
            changes += [f"{key} {c}" for c in _changes(reference_configs[key], new)]
    diff = diff.sort_values(["task", "method", "feedback_used"], ignore_index=True)
    return Comparison(findings, diff, problems, changes)


def run_configs(settings: RegressSettings) -> dict[str, dict]:
    """Every setting of each task/method run (seed and command aside), as recorded with the reference."""
    out = {}
    for cfg in settings.configs(settings.seeds[:1]):
        data = cfg.model_dump(mode="json")
        data.pop("seed"), data.pop("command")
        out[f"{data['task']}/{cfg.label}"] = data
    return out


def _changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'hero.embedding_epochs: 500 -> 50' for every leaf that differs."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a} -> {b}")
    return out


# ------------------------------------------------------------------------------------------ files and entry
def write_reference(curves: pd.DataFrame, settings: RegressSettings, path: Path = REFERENCE) -> None:
    header = (
        "# hero-bench regress reference: success rate by feedback used, written by `hero-bench regress --update`.\n"
        f"# settings: {json.dumps(_settings_json(settings))}\n"
        "# tolerances and how they were measured: regress_tolerances.json (docs/regress.md)\n"
        f"# machine: {json.dumps(cpu_record())}\n"
    )
    header += "".join(f"# config {k}: {json.dumps(v, sort_keys=True)}\n" for k, v in run_configs(settings).items())
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, header + curves.reindex(columns=CURVE_COLUMNS).to_csv(index=False, float_format="%.6g"))


def check(
    settings: RegressSettings = RegressSettings(),
    reference: Path = REFERENCE,
    tolerances: Path = TOLERANCES,
    root: Path | None = None,
    progress: bool = False,
    fault: str | None = None,
) -> Comparison:
    """Run the CI-sized comparison (with a deliberate `fault`, if named) and compare it with the reference."""
    current = run_curves(settings, root=root, progress=progress, fault=fault)
    result = compare(
        current, load_reference(reference), load_tolerances(tolerances), settings, load_reference_configs(reference)
    )
    result.machine = machine_note(regress_files.load_reference_machine(reference), cpu_record(), failed=not result.ok)
    return result


def update(
    settings: RegressSettings = RegressSettings(),
    spread_seeds: int = 0,
    reference: Path = REFERENCE,
    tolerances: Path = TOLERANCES,
    root: Path | None = None,
    progress: bool = False,
) -> dict:
    """Rewrite the reference curves on purpose; with `spread_seeds` > 1 also re-measure the seed-to-seed
    spread over seeds 0..spread_seeds-1 and rewrite the tolerances. Returns what was written."""
    with tempfile.TemporaryDirectory(prefix="hero-bench-regress-") as tmp:
        root = Path(root) if root is not None else Path(tmp)
        if spread_seeds > 1:  # first, so that the check seeds' runs are reused below
            spread = run_curves(settings, seeds=range(spread_seeds), root=root, progress=progress)
            measured = measure_tolerances(spread, settings)
            measured["command"] = f"hero-bench regress --update --spread-seeds {spread_seeds}"
            measured["run_configs"] = run_configs(settings)
            atomic_write_text(Path(tolerances), json.dumps(measured, indent=2) + "\n")  # whole, or the old one
        curves = run_curves(settings, root=root, progress=progress)
    write_reference(curves, settings, reference)
    return {
        "reference": str(reference),
        "tolerances": str(tolerances),
        "metrics": curve_metrics(curves, settings.budget, settings.target).to_dict("records"),
    }
