"""What was run, at the end of a report: one compact row per group of runs with the same settings, then every
run folder with its command, so that a reader can check or reproduce any number above."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hero_bench.reports.content import Section, Table
from hero_bench.reports.runs import RunSet


def provenance(runs: RunSet) -> pd.DataFrame:
    """One row per run folder: task, method label, seed, oracle, judge, model, budget, command, folder."""
    recs = []
    for r in runs.runs:
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
                "command": c.get("command", "(not recorded)"),
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
    sec.tables.append(Table("what-was-run", compact(prov), "what was run, grouped by settings", index=False))
    sec.tables.append(Table("runs-table", prov, "every run folder with its config", "tables/runs.csv", index=False))
    return sec
