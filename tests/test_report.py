"""`build_report` on run folders in the run loop's format (synthetic runs from `reports.fixtures`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from hero_bench.errors import HeroBenchError
from hero_bench.grids import BAD, GOOD
from hero_bench.metrics.suite import MetricSuite
from hero_bench.reports import build_report
from hero_bench.reports.fixtures import beta_sweep_runs, demo_runs, write_run
from hero_bench.reports.runs import EvalBatch, load_runs
from hero_bench.reports.samples import sample_grid


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return demo_runs(tmp_path_factory.mktemp("runs"), seeds=(0, 1, 2), ablation=True, epochs=3)


def test_load_runs_reads_each_seed_folder_once(runs_root):
    rs = load_runs([runs_root, runs_root / "toy-blue-circle" / "hero" / "seed0"])
    assert len(rs.runs) == 4 * 3  # the root results.csv is not counted again, nor the repeated folder
    df = rs.results
    assert len(df) == 12 * 4 and not df.duplicated(["method", "seed", "epoch"]).any()
    assert df.loc[df["method"] == "sd-pretrained", "uses_feedback"].eq(False).all()
    single = load_runs([runs_root / "toy-blue-circle" / "d3po" / "seed1"])
    assert [r.key for r in single.runs] == [("toy-blue-circle", "d3po", 1)]


def test_load_runs_explains_bad_paths(tmp_path):
    with pytest.raises(HeroBenchError, match="does not exist"):
        load_runs([tmp_path / "nope"])
    with pytest.raises(HeroBenchError, match="no results.csv"):
        load_runs([tmp_path])


def test_a_run_still_in_progress_is_left_out_and_named(runs_root, tmp_path):
    """A grid reported while it runs: a run with a checkpoint and no done.json has not reached its final epoch,
    so its last epoch must not stand in the final tables as if it were its final success."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root, root)
    busy = root / "toy-blue-circle" / "hero" / "seed2"
    (busy / "checkpoint.pt").write_bytes(b"live state")
    rs = load_runs([root])
    assert rs.in_progress == [busy.resolve()]
    assert ("toy-blue-circle", "hero", 2) not in {r.key for r in rs.runs}
    out = build_report([root], tmp_path / "r", "md", suite=MetricSuite())
    summary = pd.read_csv(tmp_path / "r" / "tables" / "summary.csv").set_index("method")
    assert summary.loc["hero", "seeds"] == "0,1" and summary.loc["d3po", "seeds"] == "0,1,2"
    assert "1 run(s) still in progress" in out.read_text() and "toy-blue-circle/hero/seed2" in out.read_text()
    (busy / "done.json").write_text("{}")
    assert busy.resolve() not in load_runs([root]).in_progress


def test_root_results_without_run_folders_still_report(runs_root, tmp_path):
    shutil.copy(runs_root / "results.csv", tmp_path / "results.csv")
    out = build_report([tmp_path], tmp_path / "report", "md", suite=MetricSuite())
    assert "| hero |" in out.read_text()


def test_summary_table_is_final_epoch_mean_and_std_over_seeds(runs_root, tmp_path):
    build_report([runs_root], tmp_path / "r", "md", suite=MetricSuite())
    summary = pd.read_csv(tmp_path / "r" / "tables" / "summary.csv").set_index("method")
    raw = pd.concat(pd.read_csv(p) for p in runs_root.rglob("seed*/results.csv"))
    final = raw[raw["epoch"] == 3].groupby("method")["success_rate"]
    for method in ("hero", "d3po", "sd-pretrained", "hero-binary"):
        assert summary.loc[method, "success_mean"] == pytest.approx(final.mean()[method])
        assert summary.loc[method, "success_std"] == pytest.approx(final.std()[method])
        assert summary.loc[method, "seeds"] == "0,1,2"


def test_markdown_report_links_files_that_exist(runs_root, tmp_path):
    out = build_report([runs_root], tmp_path / "md", "md", suite=MetricSuite())
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(not Path(link).is_absolute() and (out.parent / link).exists() for link in links)
    for section in ("Task success", "Success vs feedback", "Ablation", "Random samples", "Runs and commands"):
        assert f"## {section}" in text
    assert "oracle simulated; judge simulated" in text
    assert "hero-bench run --task toy-blue-circle --method hero --seed 2" in text
    assert (out.parent / "plots" / "success_vs_feedback.svg").exists()
    ratio = r"d3po needs (at least |at most )?[\d.]+x the feedback of hero|ratio undefined \(d3po never"
    assert re.search(rf"toy-blue-circle: ({ratio})", text)
    # hero and sd-pretrained ran on the same seeds: their paired difference is reported, with its CSV
    assert "## Paired differences" in text
    paired = pd.read_csv(out.parent / "tables" / "paired_differences.csv")
    assert {("hero", "sd-pretrained")} <= set(zip(paired.a, paired.b, strict=True))


def test_html_report_is_self_contained(runs_root, tmp_path):
    out = build_report([runs_root], tmp_path / "html", "html", suite=MetricSuite())
    html = out.read_text()
    srcs = re.findall(r"""src=['"]([^'"]+)['"]""", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"""(href|src)=['"](https?:)?//""", html)
    assert "<script" not in html
    assert (out.parent / "tables" / "efficiency_ratios.csv").exists()
    ratios = pd.read_csv(out.parent / "tables" / "efficiency_ratios.csv")
    assert set(ratios["method_b"]) == {"d3po", "hero-binary"} and set(ratios["method_a"]) == {"hero"}
    at_final = pd.read_csv(out.parent / "tables" / "efficiency_at_final.csv").set_index("method_b")
    finals = pd.read_csv(out.parent / "tables" / "summary.csv").set_index("method")["success_mean"]
    assert at_final.loc["d3po", "target"] == pytest.approx(finals["d3po"])  # the comparator's own final success
    assert "at d3po's final success" in unescape(html)
    at_budget = pd.read_csv(out.parent / "tables" / "efficiency_at_budget.csv").set_index("method_b")
    assert at_budget.loc["d3po", "target"] == pytest.approx(finals["d3po"])
    budget = pd.read_csv(out.parent / "tables" / "curves.csv").query("method == 'd3po'")["feedback_used"].max()
    assert at_budget.loc["d3po", "feedback_b"] == budget  # the paper's arithmetic: d3po's whole budget
    assert re.search(r"toy-blue-circle: d3po's whole budget \(\d+ feedback\)", unescape(html))  # task-named bullet


def test_beta_sweep_gets_its_own_plot_and_labels(runs_root, tmp_path):
    sweep = beta_sweep_runs(tmp_path / "sweep", ratios=(0.0, 1.0), seeds=(0,))
    out = build_report([runs_root, *sweep], tmp_path / "beta", "md", suite=MetricSuite())
    assert (out.parent / "plots" / "beta_sweep.png").exists()
    betas = pd.read_csv(out.parent / "tables" / "beta_sweep.csv")
    assert sorted(betas["method"]) == ["β=0", "β=0.5", "β=1"]
    summary = pd.read_csv(out.parent / "tables" / "summary.csv")
    assert "hero" not in set(summary["method"])  # never averaged across different β
    assert {"hero β=0", "hero β=0.5", "hero β=1"} <= set(summary["method"])


def test_no_beta_plot_or_ablation_without_such_runs(tmp_path):
    root = demo_runs(tmp_path / "plain", seeds=(0,), ablation=False, epochs=2)
    out = build_report([root], tmp_path / "r", "md", suite=MetricSuite())
    text = out.read_text()
    assert "## Ablation" not in text and "## Best image ratio" not in text
    assert "(1 seed)" in text


def test_secondary_metrics_are_computed_where_models_exist(runs_root, tmp_path):
    from hero_bench.metrics.tiny import tiny_clip_folder

    suite = MetricSuite.from_folders(clip=tiny_clip_folder(tmp_path / "clip"))
    out = build_report([runs_root], tmp_path / "m", "md", suite=suite)
    per_run = pd.read_csv(out.parent / "tables" / "metrics_per_run.csv")
    assert len(per_run) == 12 and per_run["diversity"].between(0, 2).all() and per_run["clip_score"].notna().all()
    metrics = pd.read_csv(out.parent / "tables" / "metrics.csv")
    assert {"diversity_mean", "clip_score_mean"} <= set(metrics.columns)
    assert (out.parent / "plots" / "secondary_metrics.png").exists()
    per_epoch = pd.read_csv(out.parent / "tables" / "metrics_per_epoch.csv")
    runs = load_runs([runs_root]).runs
    assert len(per_epoch) == sum(len(r.eval_epochs()) for r in runs) > len(per_run), "every evaluated epoch"
    final = per_epoch.sort_values("epoch").groupby(["task", "method", "seed"]).tail(1)
    merged = final.merge(per_run, on=["task", "method", "seed"], suffixes=("", "_final"))
    assert len(merged) == len(per_run)
    assert (merged["clip_score"] - merged["clip_score_final"]).abs().max() < 1e-6, "same images, same numbers"
    assert (out.parent / "plots" / "metrics_vs_feedback.png").exists()
    text = out.read_text()
    assert "blip_score: missing — no BLIP ITM model given" in text and "imagereward: missing" in text


def test_each_evaluation_folder_is_scored_once(tmp_path, monkeypatch):
    """The final-epoch table and the per-epoch curves share one scoring of the last epoch's images, and the
    next report of the same runs reuses the stored scores instead of scoring again."""
    from hero_bench.metrics.tiny import tiny_clip_folder

    root = demo_runs(tmp_path / "runs", seeds=(0, 1), ablation=False, epochs=2)
    suite = MetricSuite.from_folders(clip=tiny_clip_folder(tmp_path / "clip"))
    calls: list[int] = []
    compute = suite.compute

    def counted(images, prompts, good=None):
        calls.append(1)
        return compute(images, prompts, good)

    monkeypatch.setattr(suite, "compute", counted)
    first = build_report([root], tmp_path / "m", "md", suite=suite)
    assert len(calls) == sum(len(r.eval_epochs()) for r in load_runs([root]).runs) > 0
    calls.clear()
    second = build_report([root], tmp_path / "n", "md", suite=suite)
    assert calls == []
    table = "tables/metrics_per_epoch.csv"
    assert (first.parent / table).read_text() == (second.parent / table).read_text()


def test_missing_metrics_are_never_zeros(runs_root, tmp_path):
    suite = MetricSuite.from_folders(clip=None, blip=None, imagereward=tmp_path / "no-weights")
    out = build_report([runs_root], tmp_path / "m", "md", suite=suite)
    text = out.read_text()
    assert "imagereward: missing — ImageReward weights not found" in text
    assert "clip_score: missing — no CLIP model given" in text
    per_run = pd.read_csv(out.parent / "tables" / "metrics_per_run.csv")
    assert not {"imagereward", "clip_score", "diversity"} & set(per_run.columns)


def test_bad_format_or_target_is_a_user_error(runs_root, tmp_path):
    with pytest.raises(HeroBenchError, match="valid formats: html, md"):
        build_report([runs_root], tmp_path, "pdf")  # type: ignore[arg-type]
    with pytest.raises(HeroBenchError, match="target"):
        build_report([runs_root], tmp_path, "md", target=75)


def test_sample_grid_marks_each_image_by_the_judge(tmp_path):
    run = write_run(tmp_path, "t", "m", 0, lambda e: 1.0 if e == 0 else 0.0, epochs=1, n_eval=4)
    good = EvalBatch.read(run / "eval" / "epoch_000")
    bad = EvalBatch.read(run / "eval" / "epoch_001")
    assert good.good == [True] * 4 and bad.good == [False] * 4
    g = sample_grid("t", "m", [good], k=4)
    assert (g.n_good, g.n, g.pool) == (4, 4, 4) and g.image.getpixel((0, 0)) == GOOD
    b = sample_grid("t", "m", [bad], k=3)
    assert (b.n_good, b.n) == (0, 3) and b.image.getpixel((0, 0)) == BAD
    verdicts = json.loads((run / "eval" / "epoch_000" / "verdicts.json").read_text())
    assert verdicts["best"] == 0


def test_the_same_runs_give_the_same_svg_bytes(runs_root, tmp_path):
    """A committed report regenerated from the same runs must not show every plot as changed."""
    svgs = []
    for name in ("a", "b"):
        out = build_report([runs_root], tmp_path / name, "md", suite=MetricSuite())
        svgs.append({p.name: p.read_bytes() for p in sorted((out.parent / "plots").glob("*.svg"))})
    assert svgs[0] and svgs[0] == svgs[1]


def test_source_date_epoch_makes_a_rebuilt_report_the_same_file(runs_root, tmp_path, monkeypatch):
    """Reproducible builds' convention: with SOURCE_DATE_EPOCH set, a report rebuilt later from the same runs
    does not differ in its build time; a value that is not a number is the user's error, not a traceback."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796400000")
    texts = [build_report([runs_root], tmp_path / "same", "md", suite=MetricSuite()).read_text() for _ in range(2)]
    assert "Report built 2026-12-04T16:00:00+00:00 by:" in texts[0] and texts[0] == texts[1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(HeroBenchError, match="SOURCE_DATE_EPOCH='yesterday'"):
        build_report([runs_root], tmp_path / "bad", "md", suite=MetricSuite())
    # numpy (through scipy) and matplotlib read it on import too: the command checks it before either loads
    command = [sys.executable, "-m", "hero_bench.cli", "report", str(runs_root), "--out", str(tmp_path / "cli")]
    r = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.startswith("error: SOURCE_DATE_EPOCH='yesterday'") and len(r.stderr.splitlines()) <= 2, r.stderr


def test_alignment_is_scored_against_the_prompt_the_person_asked_for(tmp_path):
    """sd-enhanced samples from its enhanced prompt and DreamBooth from its [V] prompt; CLIP alignment must still
    compare each image with the task's evaluation prompt it stands for, as for every other method."""
    from hero_bench.reports.build import _epoch_metric_rows
    from hero_bench.reports.fixtures import PROMPTS
    from hero_bench.reports.scored import ScoredBatches

    run = write_run(tmp_path, "toy-blue-circle", "sd-enhanced", 0, lambda e: 0.5, uses_feedback=False, epochs=1,
                    n_eval=8)
    rewritten = ["one blue circle in a box r", "a purple circle by the water with its reflection"]
    for path in run.glob("eval/epoch_*/verdicts.json"):
        verdicts = json.loads(path.read_text())
        path.write_text(json.dumps({**verdicts, "prompts": [rewritten[i % 2] for i in range(8)]}))
    (run / "task.json").write_text(json.dumps({"name": "toy-blue-circle", "eval_prompts": PROMPTS}))
    batch = load_runs([tmp_path]).runs[0].final_eval()
    assert batch is not None and batch.prompts == [rewritten[i % 2] for i in range(8)]
    assert batch.metric_prompts == [PROMPTS[i % 2] for i in range(8)]
    suite = MetricSuite.for_toy_world()
    assert suite.clip is not None
    asked, sampled = (float(suite.clip.clip_score(batch.images(), p).mean()) for p in (batch.metric_prompts,
                                                                                         batch.prompts))
    assert asked != pytest.approx(sampled, abs=1e-3), "the two prompt sets must tell the scores apart"
    loaded = load_runs([tmp_path]).runs[0]
    assert ScoredBatches(suite)(loaded, batch.folder).values["clip_score"] == pytest.approx(asked)
    per_epoch = _epoch_metric_rows(load_runs([tmp_path]), ScoredBatches(suite))  # the curves' path
    assert per_epoch.set_index("epoch").loc[1, "clip_score"] == pytest.approx(asked)


def test_the_runs_section_names_the_code_and_warns_when_runs_come_from_different_code(tmp_path):
    """A grid reuses finished runs after the code changed: the report says which hero-bench made each run, and
    warns when they differ (environment.jsonl, written by the run loop at each start and resume)."""
    from hero_bench.run_environment import append_environment

    root = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=2)
    folders = sorted(p.parent for p in root.glob("*/*/seed*/config.json"))
    text = build_report([root], tmp_path / "none", "md", suite=MetricSuite()).read_text()
    assert "Code and device: not recorded" in text  # folders from before the record existed

    def record(commit: str, dirty: bool = False, device: str = "cpu") -> dict:
        return {"start": "new", "hero_bench": "0.1.0", "commit": commit, "dirty": dirty, "device": device,
                "dtype": "fp32", "device_name": "A CPU"}  # fmt: skip

    for folder in folders:
        append_environment(folder, record("a" * 40))
    text = build_report([root], tmp_path / "same", "md", suite=MetricSuite()).read_text()
    assert "Code: every run by hero-bench 0.1.0 @ aaaaaaaaaaaa; device: cpu fp32." in text
    assert "versions of the code" not in text

    append_environment(folders[0], {**record("b" * 40, dirty=True), "start": "resumed after epoch 1"})
    out = build_report([root], tmp_path / "mixed", "md", suite=MetricSuite())
    text = out.read_text()
    moved = "0.1.0 @ aaaaaaaaaaaa -> 0.1.0 @ bbbbbbbbbbbb + local changes"
    assert f"**Runs by 2 versions of the code**: 0.1.0 @ aaaaaaaaaaaa ({len(folders) - 1} run" in text
    assert f"{moved} (1 run)" in text
    table = pd.read_csv(out.parent / "tables" / "runs.csv")
    assert set(table.code) == {"0.1.0 @ aaaaaaaaaaaa", moved} and set(table.device) == {"cpu fp32"}
    from hero_bench.reports.provenance import report_warnings

    (warning,) = report_warnings(load_runs([root]))  # what `hero-bench report` also prints on the terminal
    assert warning.startswith("the runs come from 2 versions of the code: 0.1.0 @ aaaaaaaaaaaa (") and moved in warning


def test_the_runs_table_names_the_cpu_a_run_needs_to_replay_bit_for_bit(tmp_path):
    """The same seed gives other numbers on a CPU with other vector instructions (docs/regress.md, "Determinism"):
    a run's device names its processor and torch's CPU capability, and a run that moved between two such machines
    says so; records from before the capability was written keep the plain label."""
    from hero_bench.run_environment import append_environment

    root = demo_runs(tmp_path / "runs", seeds=(0, 1), ablation=False, epochs=2)
    folders = sorted(p.parent for p in root.glob("*/*/seed*/config.json"))
    base = {"start": "new", "hero_bench": "0.1.0", "commit": "a" * 40, "dirty": False, "device": "cpu",
            "dtype": "fp32", "device_name": "AMD EPYC"}  # fmt: skip
    append_environment(folders[0], {**base, "cpu_capability": "AVX512"})
    append_environment(folders[0], {**base, "cpu_capability": "AVX2", "device_name": "Intel Xeon",
                                    "start": "resumed after epoch 1"})  # fmt: skip
    append_environment(folders[1], base)
    out = build_report([root], tmp_path / "report", "md", suite=MetricSuite())
    devices = pd.read_csv(out.parent / "tables" / "runs.csv").set_index("run_dir")["device"]
    assert devices[str(folders[0])] == "cpu fp32 (AMD EPYC, AVX512) -> cpu fp32 (Intel Xeon, AVX2)"
    assert devices[str(folders[1])] == "cpu fp32"


def test_one_seed_in_two_folders_is_refused_not_counted_twice(tmp_path):
    """Two roots that both ran a seed (under two judges, or two versions of the code): the tables averaged it in
    twice and paired differences paired rows at random. Refused, naming both folders."""
    a = demo_runs(tmp_path / "a", seeds=(0, 1), ablation=False, epochs=2)
    b = demo_runs(tmp_path / "b", seeds=(1, 2), ablation=False, epochs=2)
    with pytest.raises(HeroBenchError, match=r"seed 1 is in two run folders, .*/a/.* and .*/b/"):
        load_runs([a, b])
    runs = load_runs([a, b / "toy-blue-circle" / "hero" / "seed2"]).runs  # no seed twice: fine
    assert len([r for r in runs if not r.lora_only]) == 3 * 2 + 1
    r = subprocess.run([sys.executable, "-m", "hero_bench.cli", "report", str(a), str(b), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "is in two run folders" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "r").exists()


def test_methods_judged_differently_on_a_task_are_flagged(tmp_path):
    root = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=2)
    text = build_report([root], tmp_path / "same", "md", suite=MetricSuite()).read_text()
    assert "judged in" not in text
    config = root / "toy-blue-circle" / "d3po" / "seed0" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "judge": "clip", "judge_options": {"margin": 0.1}}))
    text = build_report([root], tmp_path / "mixed", "md", suite=MetricSuite()).read_text()
    assert '**toy-blue-circle was judged in 2 ways** (clip {"margin": 0.1}: d3po; simulated: ' in text
    r = subprocess.run([sys.executable, "-m", "hero_bench.cli", "report", str(root), "--out", str(tmp_path / "cli"),
                        "--format", "md"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0 and "report written to" in r.stdout, r.stderr
    warning = " ".join(r.stderr.split())
    assert 'warning: toy-blue-circle was judged in 2 ways (clip {"margin": 0.1}: d3po; simulated: ' in warning


def _edit_config(run: Path, **changes) -> None:
    config = run / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **changes}))


def test_methods_sampled_differently_or_given_other_budgets_are_flagged(tmp_path):
    """Folders merged into one report may hold a method run on another model, with other sampler settings, or with
    another feedback budget: the success table would set them side by side as if only the method differed."""
    root = demo_runs(tmp_path / "runs", seeds=(0, 1), ablation=False, epochs=2)
    task = root / "toy-blue-circle"
    for seed in (0, 1):  # the same settings written out in full on one method: no mix
        _edit_config(task / "hero" / f"seed{seed}", steps=None, model=None)
    # a learner-free method's budget and oracle mean nothing: not a mix
    _edit_config(task / "sd-pretrained" / "seed0", budget=4096, oracle="clip")
    text = build_report([root], tmp_path / "same", "md", suite=MetricSuite()).read_text()
    assert "sampled in" not in text and "feedback budgets" not in text and "oracles" not in text
    _edit_config(task / "d3po" / "seed1", model="runs/other-sd", steps=50)
    _edit_config(task / "hero" / "seed0", budget=4096)
    _edit_config(task / "d3po" / "seed0", oracle="clip", oracle_options={"margin": 0.1})
    text = build_report([root], tmp_path / "mixed", "md", suite=MetricSuite()).read_text()
    assert ('**the learners on toy-blue-circle were given feedback by 2 oracles** (clip {"margin": 0.1}: d3po; '
            "simulated: d3po, hero)") in text
    assert ("**toy-blue-circle was sampled in 2 ways** (model embedded toy model (weights not recorded), default "
            "steps, guidance ?, eta ?: d3po, hero, sd-pretrained; model runs/other-sd (weights not recorded), 50 "
            "steps, guidance ?, eta ?: d3po)") in text
    assert "**the learners on toy-blue-circle had 2 feedback budgets** (budget 32: d3po, hero; budget 4096: hero)" \
        in text
    r = subprocess.run([sys.executable, "-m", "hero_bench.cli", "report", str(root), "--out", str(tmp_path / "cli"),
                        "--format", "md"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    warning = " ".join(r.stderr.split())
    assert "warning: toy-blue-circle was sampled in 2 ways (" in warning
    assert "warning: the learners on toy-blue-circle had 2 feedback budgets (budget 32: d3po, hero; budget 4096" \
        in warning


def test_runs_of_the_default_model_on_other_weights_are_flagged(tmp_path):
    """`model: null` names whichever embedded default the code shipped when the run was made: two roots made
    before and after a retrained default agree in their configs, and only model.json tells them apart."""
    root = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=2)
    task = root / "toy-blue-circle"
    for method in ("hero", "d3po", "sd-pretrained"):
        (task / method / "seed0" / "model.json").write_text(json.dumps({"source": "tiny-sd", "fingerprint": "a" * 20}))
    text = build_report([root], tmp_path / "same", "md", suite=MetricSuite()).read_text()
    assert "sampled in" not in text
    (task / "d3po" / "seed0" / "model.json").write_text(json.dumps({"source": "tiny-sd", "fingerprint": "b" * 20}))
    text = build_report([root], tmp_path / "mixed", "md", suite=MetricSuite()).read_text()
    assert "**toy-blue-circle was sampled in 2 ways** (" in text
    assert "(weights bbbbbbbbbbbb), default steps, guidance ?, eta ?: d3po;" in text
    assert "(weights aaaaaaaaaaaa), default steps, guidance ?, eta ?: hero, sd-pretrained)" in text
    (task / "d3po" / "seed0" / "model.json").write_text("{cut short")  # damaged: named, not read as "not recorded"
    r = subprocess.run([sys.executable, "-m", "hero_bench.cli", "report", str(root), "--out", str(tmp_path / "cli"),
                        "--format", "md"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "d3po/seed0/model.json: not valid JSON" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "cli").exists()
