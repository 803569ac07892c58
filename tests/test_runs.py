"""The shared run loop on the embedded toy model: run folder contents, budget accounting, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hero_bench.config import build_run_config
from hero_bench.errors import ConfigError, UnknownNameError
from hero_bench.methods import METHODS
from hero_bench.runs import CHECKPOINT, Run, run_dir_for
from tests.run_records import comparable

SMALL = dict(budget=8, batch=4, eval_n=4, steps=6, sample_batch_size=8)
SMALL_FLAGS = ["--budget", "8", "--batch", "4", "--eval-n", "4", "--steps", "6"]
CLI = [sys.executable, "-m", "hero_bench.cli"]


def _cfg(method="hero", **kw):
    return build_run_config("toy-hand", method, ddpo={"k_steps": 2}, hero={"embedding_epochs": 3}, **{**SMALL, **kw})


def test_run_writes_the_folder_and_counts_feedback(tmp_path):
    cfg = _cfg()
    folder = run_dir_for(tmp_path, cfg)
    table = Run(cfg, folder, progress=False).execute()
    assert list(table.epoch) == [0, 1, 2]
    assert list(table.feedback_used) == [0, 4, 8]
    assert table.success_rate.between(0, 1).all()
    assert not (folder / CHECKPOINT).exists(), "a finished run keeps no bulky checkpoint"
    for name in (
        "config.json",
        "results.csv",
        "feedback.jsonl",
        "done.json",
        "final/lora",
        "final/noise.safetensors",
        "grids/epoch_001_train.png",
        "eval/epoch_002/verdicts.json",
    ):
        assert (folder / name).exists(), name
    labels = [json.loads(line) for line in (folder / "feedback.jsonl").read_text().splitlines()]
    assert len(labels) == 8 and {lab["epoch"] for lab in labels} == {1, 2}
    assert json.loads((folder / "config.json").read_text())["method"] == "hero"
    # per-stage wall times of every epoch (issue 15); HERO's update is split into its parts (a batch with no
    # good image skips the DDPO update and fits nothing, so those parts may be absent or ~0)
    saved = pd.read_csv(folder / "results.csv")
    trained = saved[saved.epoch > 0]
    outer = ["sampling", "decoding", "judging", "update", "evaluation"]
    for stage in [*outer, "checkpoint"]:
        assert (trained[f"time_{stage}_s"] > 0).all(), stage
    assert saved.time_evaluation_s[0] > 0 and saved.time_checkpoint_s[0] > 0 and pd.isna(saved.time_sampling_s[0])
    parts = [c for c in ("time_embedding_fit_s", "time_reward_s", "time_ddpo_update_s") if c in saved]
    assert {"time_embedding_fit_s", "time_reward_s"} <= set(parts)
    assert (trained[parts].sum(axis=1) <= trained.time_update_s + 0.005).all()
    assert (trained[[f"time_{s}_s" for s in outer]].sum(axis=1) <= trained.wall_time_s + 0.01).all()
    _sample_draws_from_the_finished_run(folder, tmp_path)


def _sample_draws_from_the_finished_run(folder: Path, tmp_path: Path) -> None:
    """`hero-bench sample --run`: PNGs and a contact sheet from the run's LoRA and, for HERO, its learned noise;
    the same seed gives the same pictures, and --random-noise leaves the learned noise out."""
    from hero_bench.cli.images import sample_cmd
    from hero_bench.hero.noise import HeroNoiseSampler

    def draw(name: str, random_noise: bool = False) -> list[bytes]:
        sample_cmd(run=folder, out=tmp_path / name, n=3, seed=5, prompt=None, random_noise=random_noise)
        assert (tmp_path / name / "contact_sheet.png").is_file()
        return [p.read_bytes() for p in sorted((tmp_path / name).glob("0*.png"))]

    first = draw("a")
    assert len(first) == 3 and draw("b") == first
    assert HeroNoiseSampler.load(folder / "final" / "noise.safetensors").has_mixture  # this seed's run learned one
    assert draw("plain", random_noise=True) != first


def test_feedback_free_methods_use_no_budget(tmp_path):
    cfg = _cfg("sd-pretrained")
    table = Run(cfg, run_dir_for(tmp_path, cfg), progress=False).execute()
    assert list(table.feedback_used) == [0]


def test_a_finished_folder_is_not_overwritten(tmp_path):
    cfg = _cfg("sd-pretrained")
    Run(cfg, run_dir_for(tmp_path, cfg), progress=False).execute()
    with pytest.raises(FileExistsError, match="--resume"):
        Run(cfg, run_dir_for(tmp_path, cfg), progress=False).execute()


def test_a_comparison_reuses_finished_runs_with_the_same_settings(tmp_path):
    """Adding a method to a root re-runs nothing that is already there with identical settings."""
    from hero_bench.runs import run_many

    cfg = _cfg("sd-pretrained", command="first")
    run_many([cfg], tmp_path, progress=False)
    folder = run_dir_for(tmp_path, cfg)
    stamp = (folder / "results.csv").stat().st_mtime_ns
    table = run_many([_cfg("sd-pretrained", command="second")], tmp_path, progress=False)
    assert (folder / "results.csv").stat().st_mtime_ns == stamp
    assert list(table.method) == ["sd-pretrained"]
    with pytest.raises(FileExistsError, match="--resume"):  # other settings in the same folder: no silent reuse
        run_many([_cfg("sd-pretrained", eval_n=5)], tmp_path, progress=False)
    _reusing_a_run_of_other_code_says_so(cfg, folder)


def _reusing_a_run_of_other_code_says_so(cfg, folder: Path) -> None:
    """A finished run made by another commit is still reused (same settings), but the note names its code."""
    from hero_bench.run_environment import ENVIRONMENT, code_label, code_version, read_environment
    from hero_bench.runs import run_one

    notes: list[str] = []
    run_one(cfg, folder, note=notes.append)
    assert notes == [f"reusing the finished run {folder} (same settings)"]  # made by this code
    made = read_environment(folder)[-1]
    older = {**made, "hero_bench": "0.0.9", "commit": "c" * 40, "dirty": False}
    (folder / ENVIRONMENT).write_text(json.dumps(older) + "\n")
    notes.clear()
    run_one(cfg, folder, note=notes.append)
    assert notes == [f"reusing the finished run {folder} (same settings, made by other code: 0.0.9 @ cccccccccccc, "
                     f"this is {code_label(code_version())})"]  # fmt: skip
    import torch

    from hero_bench.executors.work import execute_one  # what a Ray worker runs: its "done" line says so too

    outcome = execute_one(cfg.model_dump(mode="json"), str(folder), False, torch.get_num_threads())
    assert outcome.how.startswith("reused, made by other code: 0.0.9 @ cccccccccccc"), outcome
    assert outcome.line().endswith(f"({outcome.how})"), outcome.line()


def test_a_finished_ablation_run_is_reused_not_refused(tmp_path):
    """An ablation's name implies HERO settings (hero-random-noise: noise=random) that its folder saves; the
    same request again must find them equal, not fail with "already holds this run" (a re-issued grid did)."""
    from hero_bench.runs import run_many

    cfg = _cfg("hero-random-noise", budget=4)
    run_many([cfg], tmp_path, progress=False)
    folder = run_dir_for(tmp_path, cfg)
    assert json.loads((folder / "config.json").read_text())["hero"]["noise"] == "random"
    stamp = (folder / "results.csv").stat().st_mtime_ns
    run_many([_cfg("hero-random-noise", budget=4)], tmp_path, progress=False)
    assert (folder / "results.csv").stat().st_mtime_ns == stamp


def test_an_edited_task_file_is_not_answered_with_old_results(tmp_path):
    """The run folder keeps the task definition it was made with; a changed task file is a new setting."""
    import hero_bench.tasks
    from hero_bench.runs import run_many

    task_file = tmp_path / "my-hand.yaml"
    shipped = Path(hero_bench.tasks.__file__).parent / "data" / "toy-hand.yaml"
    task_file.write_text(shipped.read_text().replace("name: toy-hand", "name: my-hand"))
    cfg = build_run_config(str(task_file), "sd-pretrained", **SMALL)
    run_many([cfg], tmp_path / "runs", progress=False)
    saved = json.loads((run_dir_for(tmp_path / "runs", cfg) / "task.json").read_text())
    assert saved["name"] == "my-hand" and saved["prompt"] == "a yellow square"
    run_many([cfg], tmp_path / "runs", progress=False)  # unchanged: reused
    task_file.write_text(task_file.read_text().replace('prompt: "a yellow square"', 'prompt: "one yellow square"'))
    with pytest.raises(FileExistsError, match="--resume"):
        run_many([cfg], tmp_path / "runs", progress=False)


def test_cli_method_options_go_to_their_method(tmp_path):
    flags = ["run", "--task", "toy-hand", "--method", "sd-enhanced,sd-pretrained", *SMALL_FLAGS, "--out", str(tmp_path)]
    r = subprocess.run([*CLI, *flags, "--method-option", "sd-enhanced.enhancr=table"], capture_output=True, text=True)
    assert r.returncode == 2 and "enhancr" in r.stderr, r.stderr
    r = subprocess.run([*CLI, *flags, "--method-option", "d3p0.beta=1"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown method 'd3p0'" in r.stderr and "d3po-style" in r.stderr
    r = subprocess.run([*CLI, *flags, "--method-option", "sd-enhanced.enhancer=task"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "toy-hand" / "sd-pretrained" / "seed0" / "config.json").read_text())
    assert saved["method_options"] == {"sd-enhanced": {"enhancer": "task"}}


def test_bad_hyper_parameters_are_named():
    with pytest.raises(ConfigError, match="best_ratio"):
        build_run_config("toy-hand", hero={"best_ratio": 1.5})
    with pytest.raises(ConfigError, match="k_steps"):
        build_run_config("toy-hand", steps=4, ddpo={"k_steps": 5})
    with pytest.raises(ConfigError, match="budget"):
        build_run_config("toy-hand", budget=8, batch=16)
    with pytest.raises(UnknownNameError, match="hero-binary"):
        METHODS.get("hero-bianry")


def test_cli_unknown_method_lists_valid_ones(tmp_path):
    r = subprocess.run(
        [*CLI, "run", "--task", "toy-hand", "--method", "heroo", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "valid methods" in r.stderr and "hero-random-noise" in r.stderr


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path):
    flags = ["run", "--task", "toy-hand", "--method", "hero", "--k-steps", "2", *SMALL_FLAGS, "--budget", "12"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run([*CLI, *flags, "--out", str(whole)], check=True, env=env, capture_output=True)

    proc = subprocess.Popen(
        [*CLI, *flags, "--out", str(broken)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    results = broken / "toy-hand" / "hero" / "seed0" / "results.csv"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill as soon as epoch 1 is checkpointed: epoch 2 is then under way
        if results.exists() and len(pd.read_csv(results)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(pd.read_csv(results)) < 4, "the run finished before it could be killed"

    subprocess.run([*CLI, "run", "--resume", str(broken)], check=True, env=env, capture_output=True)
    run_whole, run_broken = whole / "toy-hand" / "hero" / "seed0", broken / "toy-hand" / "hero" / "seed0"
    (t1, log1), (t2, log2) = comparable(run_whole), comparable(run_broken)
    pd.testing.assert_frame_equal(t1, t2)
    assert log1 == log2


def test_summary_counts_feedback_or_epochs_to_target_per_seed():
    """Feedback to target averages the seeds that reach it and says how many did; a method that trains
    without feedback gets the epoch instead of a meaningless '0 feedback'."""
    from hero_bench.runs import summarise

    rows = []
    for seed, curve in enumerate([(0.2, 0.4, 0.6), (0.2, 0.6, 0.7), (0.1, 0.2, 0.3)]):
        for epoch, rate in enumerate(curve):
            rows.append(dict(task="t", method="hero", seed=seed, epoch=epoch, feedback_used=64 * epoch,
                             success_rate=rate, uses_feedback=True, wall_time_s=1.0))
            rows.append(dict(task="t", method="ddpo-reward", seed=seed, epoch=epoch, feedback_used=0,
                             success_rate=rate, uses_feedback=False, wall_time_s=1.0))
    s = summarise(pd.DataFrame(rows), target=0.5).set_index("method")
    assert s.loc["hero", "feedback_to_target"] == 96.0 and s.loc["hero", "seeds_reaching"] == 2
    assert s.loc["hero", "final_success_mean"] == pytest.approx(0.5333, abs=1e-3)
    assert not s.loc["ddpo-reward", "uses_feedback"] and s.loc["ddpo-reward", "epochs_to_target"] == 1.5


def test_a_comparison_continues_an_interrupted_run_with_the_same_settings(tmp_path, crash_runs_at_epoch):
    """Re-issuing the same command after a crash picks the run up at its last checkpoint (no --resume), also
    when the crash cut a label line short."""
    from hero_bench.runs import run_many

    cfg = _cfg("hero")
    whole = run_many([cfg], tmp_path / "whole", progress=False)
    crash_runs_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run_many([cfg], tmp_path / "broken", progress=False)
    folder = run_dir_for(tmp_path / "broken", cfg)
    assert (folder / CHECKPOINT).exists() and not (folder / "done.json").exists()
    with open(folder / "feedback.jsonl", "a") as log:  # stopped while appending epoch 2's labels
        log.write('{"epoch": 2, "index": 0, "prom')
    crash_runs_at_epoch(None)
    again = run_many([cfg], tmp_path / "broken", progress=False)
    cols = ["epoch", "feedback_used", "success_rate", "train_good_fraction"]
    pd.testing.assert_frame_equal(whole[cols], again[cols])
    whole_log = (run_dir_for(tmp_path / "whole", cfg) / "feedback.jsonl").read_text()
    assert (folder / "feedback.jsonl").read_text() == whole_log  # the cut line dropped, no label twice
    _each_start_is_recorded(run_dir_for(tmp_path / "whole", cfg), folder)


def _each_start_is_recorded(whole: Path, resumed: Path) -> None:
    """environment.jsonl: one record per start or resume, naming the code, libraries and device that ran it."""
    import torch

    from hero_bench.run_environment import read_environment

    assert [e["start"] for e in read_environment(whole)] == ["new"]
    records = read_environment(resumed)
    assert [e["start"] for e in records] == ["new", "resumed after epoch 1"]
    for e in records:
        assert (e["device"], e["dtype"], e["threads"]) == ("cpu", "fp32", torch.get_num_threads())
        assert e["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
        assert e["torch"] == torch.__version__.split("+")[0] or e["torch"] == torch.__version__
        assert e["hero_bench"] and e["diffusers"] and e["peft"]
    repo = Path(__file__).resolve().parent.parent
    if (repo / ".git").exists():  # a checkout (CI's clean clone): the commit the code came from
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert records[0]["commit"] == head.stdout.strip() and isinstance(records[0]["dirty"], bool)


def test_run_and_report_share_the_default_target():
    """A user who omits --target gets the same 'feedback to target' column from `run` and `report`."""
    import inspect

    import typer.main

    from hero_bench import cli
    from hero_bench.reports import build_report
    from hero_bench.runs import summarise

    defaults = {
        name: next(p.default for p in typer.main.get_command(cli.app).commands[name].params if p.name == "target")
        for name in ("run", "report")
    }
    assert defaults == {"run": cli.DEFAULT_TARGET, "report": cli.DEFAULT_TARGET}
    assert inspect.signature(build_report).parameters["target"].default == cli.DEFAULT_TARGET
    assert inspect.signature(summarise).parameters["target"].default == cli.DEFAULT_TARGET


def test_the_grid_table_leaves_out_runs_in_progress(tmp_path):
    """<out>/results.csv and the printed summary hold finished runs only: a run with a checkpoint and no done.json
    (another grid's under the same --out, or one stopped earlier) would pass its last epoch off as its final one."""
    from hero_bench.run_folders import runs_in_progress, write_results_table

    header = "task,method,seed,epoch,feedback_used,success_rate\n"
    for seed, state in ((0, "done.json"), (1, "checkpoint.pt")):
        run = tmp_path / "toy-hand" / "hero" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "results.csv").write_text(header + f"toy-hand,hero,{seed},0,0,0.5\n")
        (run / state).write_text("{}")
    assert list(write_results_table(tmp_path).seed) == [0]
    assert list(pd.read_csv(tmp_path / "results.csv").seed) == [0]
    assert runs_in_progress(tmp_path) == [tmp_path / "toy-hand" / "hero" / "seed1"]


def test_a_run_that_is_not_resumable_writes_no_checkpoint(tmp_path, monkeypatch):
    """`resumable=False` (the regression check's runs in a temporary folder) saves no checkpoint at any epoch,
    while its results table is written as usual; a resumable run saves one at every epoch."""
    import hero_bench.runs as runs

    saved: list = []
    real_snapshot = runs.live_snapshot
    monkeypatch.setattr(runs, "live_snapshot", lambda state: (saved.append(state), real_snapshot(state))[1])
    cfg = _cfg("sd-enhanced")
    Run(cfg, tmp_path / "kept", progress=False).execute()
    assert saved, "a resumable run saved no checkpoint"
    saved.clear()
    Run(cfg, tmp_path / "temporary", progress=False, resumable=False).execute()
    assert saved == [] and not (tmp_path / "temporary" / CHECKPOINT).exists()
    assert (tmp_path / "temporary" / "results.csv").exists() and (tmp_path / "temporary" / "done.json").exists()


def test_a_run_resumed_by_other_code_says_so_and_the_report_shows_both(tmp_path, crash_runs_at_epoch, capsys):
    """A grid re-issued after the code changed continues its stopped runs under the new code: each way of
    continuing says so (the re-issued grid's note, `--resume`, a Ray worker's done line), and the report's runs
    table shows the run's code as "old -> new"."""
    import torch

    from hero_bench.executors.work import execute_one
    from hero_bench.reports.provenance import provenance
    from hero_bench.reports.runs import load_runs
    from hero_bench.run_environment import ENVIRONMENT, code_label, code_version, read_environment
    from hero_bench.runs import resume_all, run_many, run_one

    cfg = _cfg("hero")
    now = code_label(code_version())
    said = f"made by other code: 0.1.0 @ dddddddddddd, this is {now}"

    def stopped_by_older_code(root: Path) -> Path:
        crash_runs_at_epoch(2)
        with pytest.raises(KeyboardInterrupt):
            run_many([cfg], root, progress=False)
        crash_runs_at_epoch(None)
        folder = run_dir_for(root, cfg)
        (made,) = read_environment(folder)
        (folder / ENVIRONMENT).write_text(json.dumps({**made, "commit": "d" * 40, "dirty": False}) + "\n")
        return folder

    folder = stopped_by_older_code(tmp_path / "again")
    notes: list[str] = []
    run_one(cfg, folder, progress=False, note=notes.append)
    assert notes == [f"resuming the interrupted run {folder} (same settings, {said})"]
    (row,) = provenance(load_runs([tmp_path / "again"])).query("method == 'hero'").to_dict("records")
    assert row["code"] == f"0.1.0 @ dddddddddddd -> {now}"

    folder = stopped_by_older_code(tmp_path / "ray")
    outcome = execute_one(cfg.model_dump(mode="json"), str(folder), True, torch.get_num_threads())
    assert outcome.how == f"resumed, {said}", outcome

    folder = stopped_by_older_code(tmp_path / "resume")
    capsys.readouterr()
    resume_all(tmp_path / "resume")
    assert f"resuming {folder}, {said}" in capsys.readouterr().out
