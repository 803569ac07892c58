"""Give an archived grid what a report of it needs from the images it no longer has.

Archives made before reports stored their scores (`metrics.json`, hero_bench/reports/scored.py) and their
sample sheets' records (`samples/*.json`, hero_bench/reports/samples.py) keep verdicts but no images, so a
rebuilt report could show neither CLIP metrics nor sample sheets. The report built while the images existed
has both: its tables/metrics_per_epoch.csv holds every epoch's scores, which this writes into each run's
evaluation folder tagged with today's toy CLIP, and its samples/ holds the sheets, for which this writes a
record only where the sheet's caption in that report.md counts the same images (good, shown, pool) that the
archived verdicts draw; a sheet that does not match is left without one, and rebuilt reports do not show it.
Use it only where that report was built with the same toy CLIP and metric prompts (checked for docs/results in
Dec 2026: docs/results/README.md, "The committed reports, rebuilt").

    python scripts/backfill-archived-report.py docs/results/paper-grid-v3/runs docs/results/paper-grid-v3/report

Several run folders may come before the report (a report of part of an archive). A score already stored is
never replaced: the table's row is matched by task, method, seed and epoch, which a rerun shares.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from hero_bench.metrics.suite import TOY_CLIP
from hero_bench.reports.runs import load_runs
from hero_bench.reports.samples import record_path, sample_picks, sample_pools, write_record
from hero_bench.reports.scored import model_fingerprint, prompts_fingerprint, read_store, stored_prompts, write_store

CAPTION = re.compile(r"^\*([^*/]+) / ([^*:]+): (\d+) of (\d+) sampled images succeed \(drawn from (\d+)\)\.\*$", re.M)


def store_metrics(runs, report: Path) -> str:
    table = pd.read_csv(report / "tables" / "metrics_per_epoch.csv").set_index(["task", "method", "seed", "epoch"])
    table = table.sort_index()
    clip = model_fingerprint(TOY_CLIP)
    written = skipped = 0
    for run in runs:
        task, _, seed = run.key
        label = str(run.results["label"].iloc[0])
        for folder in run.eval_epochs():
            key = (task, label, seed, int(folder.name.split("_")[-1]))
            prompts = stored_prompts(run, folder)
            if key not in table.index or prompts is None:
                skipped += 1
                continue
            row, entries = table.loc[key], read_store(folder)
            new = {metric: {"value": float(row[metric]), "model": clip, "prompts": prompts_fingerprint(prompts)}
                   for metric in ("diversity", "clip_score")  # the toy CLIP's two metrics
                   if metric in row and pd.notna(row[metric]) and metric not in entries}  # a stored score stands
            if new:
                write_store(folder, entries | new)
                written += 1
    return (f"metrics stored in {written} evaluation folders ({skipped} had no row in the report's table; the "
            "others already had theirs)")


def record_sheets(runs, report: Path, k: int = 16, seed: int = 0) -> str:
    captions = {(t, m): tuple(map(int, rest)) for t, m, *rest in CAPTION.findall((report / "report.md").read_text())}
    matched, unmatched = 0, []
    for pool in sample_pools(runs, seed):
        sheet = report / "samples" / pool.sheet_name()
        if not sheet.exists() or record_path(sheet).exists():
            continue
        picks, drawn_from = sample_picks(pool.judged, k=k, seed=pool.seed)
        if captions.get((pool.task, pool.method)) == (sum(b.good[i] for b, i in picks), len(picks), drawn_from):
            write_record(sheet, picks)
            matched += 1
        else:
            unmatched.append(sheet.name)
    return (f"sample sheets recorded: {matched}; not matching these verdicts (left out of rebuilt reports): "
            f"{len(unmatched)} {' '.join(unmatched)}")


def main(runs_dirs: list[str], report_dir: str) -> int:
    needed = [Path(report_dir) / "tables" / "metrics_per_epoch.csv", Path(report_dir) / "report.md"]
    if missing := [str(p) for p in needed if not p.is_file()]:
        print(f"error: {', '.join(missing)} not found: pass the report built while the images existed",
              file=sys.stderr)
        return 2
    runs = load_runs(runs_dirs).runs
    print(store_metrics(runs, Path(report_dir)))
    print(record_sheets(runs, Path(report_dir)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("usage: python scripts/backfill-archived-report.py RUNS_DIR [RUNS_DIR ...] OLD_REPORT_DIR",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:-1], sys.argv[-1]))
