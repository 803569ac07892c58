"""Secondary metrics survive archiving: a report stores each evaluation folder's scores beside its verdicts, and
a report of the archived runs (verdicts, no images) shows the same numbers, but only for the same metric model
and the same prompts."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from hero_bench.metrics.suite import MetricSuite
from hero_bench.reports.build import build_report
from hero_bench.reports.fixtures import demo_runs
from hero_bench.reports.scored import STORE
from hero_bench.run_environment import append_environment, environment_record

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("tables/metrics_per_run.csv", "tables/metrics_per_epoch.csv", "tables/metrics.csv")
SHEET_COUNTS = re.compile(r"\*([^*/]+) / ([^*:]+): .*?(\d+) of (\d+) sampled images succeed \(drawn from (\d+)\)")
"""(task, method, successes, shown, pool) of each sample sheet's caption, made fresh or kept."""


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    from hero_bench.metrics.tiny import tiny_clip_folder

    return tiny_clip_folder(tmp_path_factory.mktemp("clip") / "clip")


@pytest.fixture
def scored_and_archived(tmp_path, clip_folder) -> tuple[Path, Path, Path]:
    """Runs with images, their report (which stores the scores), and the archive the project's script makes."""
    runs = demo_runs(tmp_path / "runs", seeds=(0, 1), ablation=False, epochs=2)
    for results in runs.glob("*/*/seed*/results.csv"):  # finished, as the archive script wants them
        (results.parent / "done.json").write_text(json.dumps({"epochs": 2}))
        append_environment(results.parent, environment_record("cpu", "fp32", resumed_at_epoch=None))
    first = build_report([runs], tmp_path / "report", "md", suite=MetricSuite.from_folders(clip=clip_folder))
    archive = tmp_path / "archive"
    r = subprocess.run(["bash", str(ROOT / "scripts" / "paper-grid-archive.sh"), str(runs), str(archive)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not list(archive.rglob("*.png")) and list(archive.rglob(STORE)), "verdicts and scores, no images"
    return runs, first.parent, archive


def test_an_archived_grid_reports_the_scores_its_images_had(scored_and_archived, tmp_path, clip_folder):
    _, first, archive = scored_and_archived
    before_text = (first / "report.md").read_text()
    rebuilt = build_report([archive], first, "md", suite=MetricSuite.from_folders(clip=clip_folder)).parent
    for table in TABLES:
        assert (rebuilt / table).exists(), table
    before = {t: pd.read_csv(tmp_path / "report" / t) for t in TABLES}
    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(rebuilt / table), before[table])
    text = (rebuilt / "report.md").read_text()
    assert "diversity: missing" not in text and "clip_score: missing" not in text
    # the sample sheets need images: the earlier build's are kept, say so, and count what they show as it did
    assert "kept from an earlier build of this report" in text
    assert text.count("](samples/") == len(list((rebuilt / "samples").glob("*.png"))) > 0
    assert SHEET_COUNTS.findall(text) == SHEET_COUNTS.findall(before_text) != []


def test_an_archived_grid_still_names_the_code_and_machine_of_each_run(scored_and_archived, tmp_path, clip_folder):
    """A run replays bit for bit only on the machine that made it (docs/regress.md, "Determinism"), so the archive
    keeps what each run recorded of its code and machine, and the report of the archive names them as before."""
    _, first, archive = scored_and_archived
    rebuilt = build_report([archive], tmp_path / "rebuilt", "md", suite=MetricSuite.from_folders(clip=clip_folder))
    columns = ["task", "method", "seed", "code", "device"]
    before = pd.read_csv(first / "tables" / "runs.csv")[columns]
    after = pd.read_csv(rebuilt.parent / "tables" / "runs.csv")[columns]
    assert not before.empty and not before["device"].str.contains("not recorded").any()
    pd.testing.assert_frame_equal(after, before)


def test_a_new_report_folder_of_an_archive_has_no_sample_sheets(scored_and_archived, tmp_path, clip_folder):
    _, _, archive = scored_and_archived
    text = build_report([archive], tmp_path / "fresh", "md",
                        suite=MetricSuite.from_folders(clip=clip_folder)).read_text()
    assert "No evaluation images were found in the run folders." in text and "kept from" not in text
    assert "clip_score: missing" not in text


def test_scores_of_another_clip_are_not_taken(scored_and_archived, tmp_path):
    """A stored value stands for its model's weights: another CLIP leaves the archived metrics missing, named."""
    from hero_bench.metrics.tiny import tiny_clip_folder

    _, _, archive = scored_and_archived
    other = MetricSuite.from_folders(clip=tiny_clip_folder(tmp_path / "other", seed=1))
    out = build_report([archive], tmp_path / "other-report", "md", suite=other)
    assert "and no score stored for this clip model" in out.read_text()
    assert "clip_score" not in pd.read_csv(out.parent / "tables" / "metrics_per_run.csv").columns


def test_scores_against_other_prompts_are_not_taken(scored_and_archived, tmp_path, clip_folder):
    """A clip score is measured against prompts: if the task's evaluation prompts read differently now, the
    stored value is not this report's number."""
    _, _, archive = scored_and_archived
    runs = sorted(p.parent for p in archive.glob("*/*/seed*/done.json"))
    assert runs
    for run in runs:
        task = {"name": run.parts[-3], "eval_prompts": ["a prompt nobody scored these images against"]}
        (run / "task.json").write_text(json.dumps(task))
    out = build_report([archive], tmp_path / "prompts", "md", suite=MetricSuite.from_folders(clip=clip_folder))
    per_run = pd.read_csv(out.parent / "tables" / "metrics_per_run.csv")
    assert "clip_score" not in per_run.columns or per_run["clip_score"].isna().all()


def test_a_stored_value_is_used_where_images_remain(scored_and_archived, tmp_path, clip_folder, monkeypatch):
    """With images and a matching store, nothing is scored again; a damaged store is scored again and rewritten."""
    runs, _, _ = scored_and_archived
    suite = MetricSuite.from_folders(clip=clip_folder)
    calls: list[int] = []
    compute = suite.compute
    monkeypatch.setattr(suite, "compute", lambda *a, **k: calls.append(1) or compute(*a, **k))
    build_report([runs], tmp_path / "again", "md", suite=suite)
    assert calls == []
    damaged = sorted(runs.rglob(STORE))[0]
    damaged.write_text("{not json")
    build_report([runs], tmp_path / "again2", "md", suite=suite)
    assert len(calls) == 1 and json.loads(damaged.read_text())["metrics"]["clip_score"]["value"] > -1
    store = json.loads(damaged.read_text())
    store["metrics"]["clip_score"]["value"] = "high"  # valid JSON, not a score
    damaged.write_text(json.dumps(store))
    build_report([runs], tmp_path / "again3", "md", suite=suite)
    assert len(calls) == 2 and isinstance(json.loads(damaged.read_text())["metrics"]["clip_score"]["value"], float)


def test_a_suite_without_model_folders_writes_no_store(tmp_path):
    """Metric models built in code (no folder to fingerprint) score as before and leave the run folders alone."""
    from hero_bench.metrics.alignment import ClipEmbedder
    from hero_bench.metrics.tiny import tiny_clip_folder

    runs = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=1)
    suite = MetricSuite(clip=ClipEmbedder.from_folder(tiny_clip_folder(tmp_path / "clip")))
    out = build_report([runs], tmp_path / "r", "md", suite=suite)
    assert "clip_score" in pd.read_csv(out.parent / "tables" / "metrics_per_run.csv").columns
    assert not list(runs.rglob(STORE))


def test_a_store_that_cannot_be_written_leaves_nothing_behind(tmp_path, monkeypatch):
    """A read-only run folder (a mounted archive): writing the store raises nothing and leaves no file."""
    from hero_bench.reports import scored

    runs = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=1)

    def refuse(self, *args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "write_text", refuse)
    scored.write_store(next(runs.rglob("epoch_000")), {"clip_score": {"value": 0.5}})
    monkeypatch.undo()
    assert not list(runs.rglob(STORE)) and not list(runs.rglob(f".{STORE}.tmp"))



def test_a_kept_sheet_of_other_runs_is_not_shown(scored_and_archived, clip_folder):
    """A sheet from an earlier build is shown only if its record names the images these runs' verdicts would
    draw: with a seed fewer in the archive it would show images it cannot vouch for."""
    _, first, archive = scored_and_archived
    for seed1 in archive.glob("*/*/seed1"):
        shutil.rmtree(seed1)
    text = build_report([archive], first, "md", suite=MetricSuite.from_folders(clip=clip_folder)).read_text()
    assert "kept from" not in text and "No evaluation images were found in the run folders." in text


def test_a_kept_sheet_without_its_record_is_not_shown(scored_and_archived, clip_folder):
    _, first, archive = scored_and_archived
    for record in (first / "samples").glob("*.json"):
        record.unlink()
    text = build_report([archive], first, "md", suite=MetricSuite.from_folders(clip=clip_folder)).read_text()
    assert "kept from" not in text


def test_a_metric_scored_on_some_seeds_only_says_how_many(scored_and_archived, tmp_path, clip_folder):
    """Where some runs kept neither images nor scores, a metric's mean is over fewer seeds than the method ran,
    and the table says so instead of passing it off as all of them."""
    _, _, archive = scored_and_archived
    for store in archive.glob(f"*/*/seed1/eval/*/{STORE}"):
        store.unlink()
    out = build_report([archive], tmp_path / "part", "md", suite=MetricSuite.from_folders(clip=clip_folder))
    metrics = pd.read_csv(out.parent / "tables" / "metrics.csv")
    assert (metrics["n_seeds"] == 2).all() and (metrics["clip_score_n"] == 1).all()
    assert re.search(r"\| \d\.\d{3} \(1 of 2 seeds\) \|", out.read_text())


def test_a_damaged_verdicts_file_is_one_line(tmp_path):
    """verdicts.json is all an archived run keeps of its images: a damaged one names itself, exit 2, no traceback."""
    import subprocess
    import sys

    runs = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=1)
    damaged = runs / "toy-blue-circle" / "hero" / "seed0" / "eval" / "epoch_001" / "verdicts.json"
    damaged.write_text("{cut short")
    r = subprocess.run([sys.executable, "-m", "hero_bench.cli", "report", str(runs), "--out", str(tmp_path / "r"),
                        "--format", "md"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "hero/seed0/eval/epoch_001/verdicts.json: not valid JSON" in r.stderr


def test_the_backfill_gives_an_old_archive_what_a_new_one_keeps(scored_and_archived, tmp_path, clip_folder,
                                                                 monkeypatch):
    """Archives made before reports stored scores and sheet records: scripts/backfill-archived-report.py takes
    them from the first build (its metrics_per_epoch.csv and sheet captions), and the rebuilt report then shows
    the same metrics and sheets. The script tags scores with the toy CLIP, so this test's CLIP stands in for it."""
    import runpy

    from hero_bench.metrics import suite as suite_module

    _, first, archive = scored_and_archived
    for made_later in [*archive.rglob(STORE), *(first / "samples").glob("*.json")]:
        made_later.unlink()  # as an archive and a report from before Dec 5, 2026 have them
    monkeypatch.setattr(suite_module, "TOY_CLIP", clip_folder)
    monkeypatch.setattr("sys.argv", ["backfill", str(archive), str(first)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "scripts" / "backfill-archived-report.py"), run_name="__main__")
    assert done.value.code == 0
    assert list(archive.rglob(STORE)) and list((first / "samples").glob("*.json"))
    before = {t: (first / t).read_text() for t in TABLES}
    before_text = (first / "report.md").read_text()
    rebuilt = build_report([archive], first, "md", suite=MetricSuite.from_folders(clip=clip_folder)).parent
    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(rebuilt / table), pd.read_csv(io.StringIO(before[table])))
    assert SHEET_COUNTS.findall((rebuilt / "report.md").read_text()) == SHEET_COUNTS.findall(before_text) != []
