"""What was run, at the end of a report: one compact row per group of runs with the same settings, then every
run folder with its command, code version and device, so that a reader can check or reproduce any number above.
A report that mixes runs made by different code (a grid reuses finished runs after the code changed) says so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hero_bench.reports.comparability import mixes
from hero_bench.reports.content import Section, Table
from hero_bench.reports.runs import RunSet
from hero_bench.run_environment import code_label, device_label, read_environment

NOT_RECORDED = "(not recorded)"


def _in_order(labels: list[str]) -> str:
    """Each distinct label once, in the order the run met them: `a -> b` for a run resumed under other code."""
    seen = list(dict.fromkeys(labels))
    return " -> ".join(seen) if seen else NOT_RECORDED


def provenance(runs: RunSet) -> pd.DataFrame:
    """One row per run folder: task, method label, seed, oracle, judge, model, budget, command, code, device,
    folder."""
    recs = []
    for r in runs.runs:
        environment = read_environment(r.path)
        task, method, seed = r.key
        c = r.config
        try:
            where = str(r.path.relative_to(Path.cwd()))
        except ValueError:
            where = str(r.path)
        recs.append(
            {
                "task": task,
                "method": str(r.results["label"].iloc[0]),
                "seed": seed,
                "oracle": c.get("oracle", "?"),
                "judge": c.get("judge", "?"),
                "model": c.get("model") or "embedded toy model",
                "budget": c.get("budget", ""),
                "batch": c.get("batch", ""),
                "best_ratio": "" if r.best_ratio is None else f"{r.best_ratio:g}",
                "command": c.get("command", NOT_RECORDED),
                "code": _in_order([code_label(e) for e in environment]),
                "device": _in_order([device_label(e) for e in environment]),
                "run_dir": where,
            }
        )
    return pd.DataFrame(recs)


def join(values) -> str:
    return ", ".join(str(v) for v in sorted(set(map(str, values)))) or "?"


def compact(prov: pd.DataFrame) -> pd.DataFrame:
    """The runs grouped by their settings: which tasks and methods ran with which seeds, oracle and judge."""
    keys = ["oracle", "judge", "model", "budget", "batch"]
    rows = []
    for values, part in prov.astype({k: str for k in keys}).groupby(keys, sort=True):
        settings = dict(zip(keys, values, strict=True))
        for seeds, group in part.groupby(part.groupby(["task", "method"])["seed"].transform(join)):
            rows.append(
                {
                    "tasks": join(group["task"]),
                    "methods": join(group["method"]),
                    "seeds": seeds,
                    "runs": len(group),
                    "settings": f"oracle {settings['oracle']}; judge {settings['judge']}; model {settings['model']}; "
                    f"budget {settings['budget']}, batch {settings['batch']}",
                }
            )
    return pd.DataFrame(rows)


def runs_section(prov: pd.DataFrame, command: str, suite_desc: dict[str, str], built: str) -> Section:
    """The report's last section: how it was built, the compact table of what ran, every run's command."""
    sec = Section("runs", "Runs and commands")
    sec.paragraphs.append(f"Report built {built} by: `{command}`")
    sec.paragraphs.append("Metric models: " + "; ".join(f"{k}: {v}" for k, v in suite_desc.items()) + ".")
    if prov.empty:
        sec.paragraphs.append("Rows came from results tables without run folders: no configs were found.")
        return sec
    sec.paragraphs.append(code_note(prov))
    sec.tables.append(Table("what-was-run", compact(prov), "what was run, grouped by settings", index=False))
    sec.tables.append(Table("runs-table", prov, "every run folder with its config", "tables/runs.csv", index=False))
    return sec


def _code_versions(prov: pd.DataFrame) -> tuple[int, str]:
    """(how many versions, `label (n runs); ...`) of the code that made the runs (each run folder once: a HERO run
    is listed twice, itself and its LoRA-only view)."""
    counts = prov.drop_duplicates("run_dir")["code"].value_counts()
    parts = "; ".join(f"{label} ({n} run{'s' if n > 1 else ''})" for label, n in sorted(counts.items()))
    return len(counts), parts


def code_note(prov: pd.DataFrame) -> str:
    """Which hero-bench made the runs: one version for all, or a warning naming each and how many runs it made
    (differences between such runs may come from the code, not from their methods)."""
    versions, parts = _code_versions(prov)
    folders = prov.drop_duplicates("run_dir")
    devices = join(folders["device"])
    if versions == 1 and folders["code"].iloc[0] == NOT_RECORDED:
        return "Code and device: not recorded (runs made before hero-bench wrote environment.jsonl)."
    if versions == 1:
        return f"Code: every run by hero-bench {folders['code'].iloc[0]}; device: {devices}."
    return (
        f"**Runs by {versions} versions of the code**: {parts}. Numbers from different code can differ for "
        f"reasons other than their methods; the runs table says which run is which. Device: {devices}."
    )


def report_warnings(runs: RunSet) -> list[str]:
    """What the command says on the terminal as well, so that it is not only in the report: runs made by
    different code, and tasks whose methods were judged, sampled or given feedback in different ways."""
    warnings = []
    prov = provenance(runs)
    versions, parts = _code_versions(prov) if not prov.empty else (1, "")  # tables without run folders
    if versions > 1:
        warnings.append(f"the runs come from {versions} versions of the code: {parts} (the report's runs table "
                        "says which run is which)")  # fmt: skip
    warnings += [mix.warning() for mix in mixes(runs.runs)]
    return warnings
