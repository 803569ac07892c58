"""Executors: the grid on a real local Ray cluster (started by `hero-bench run --executor ray`, no mock) gives
the local executor's results, survives a SIGKILLed worker and Ctrl-C without losing or repeating a label, and
reports a failing run while the others finish; plus the clean restart of a run killed before its first
checkpoint, and the one-line refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import psutil
import pytest

from hero_bench.config import build_run_config
from hero_bench.errors import HeroBenchError
from hero_bench.run_environment import read_environment
from hero_bench.runs import CHECKPOINT, Run, resume_all, run_dir_for, run_many
from tests.run_records import comparable, rows_written

pytest.importorskip("ray", reason="ray is a dependency of hero-bench (pip install -e .)")
# One xdist worker runs these in turn: the kill test finds its Ray worker by task name, which a grid started by
# a test on another worker could also carry.
pytestmark = pytest.mark.xdist_group("ray")

CLI = [sys.executable, "-m", "hero_bench.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
SMALL = dict(budget=8, batch=4, eval_n=4, steps=6)
SMALL_FLAGS = ["--budget", "8", "--batch", "4", "--eval-n", "4", "--steps", "6", "--k-steps", "2"]


def _cfg(task: str, method: str, **kw):
    return build_run_config(task, method, ddpo={"k_steps": 2}, **{**SMALL, **kw})


def _ray_grid(out: Path, tasks: str, methods: str, *extra: str) -> list[str]:
    """`hero-bench run` of tiny runs on a Ray started on this machine."""
    grid = ["run", "--task", tasks, "--method", methods, *SMALL_FLAGS, *extra]
    return [*CLI, *grid, "--out", str(out), "--executor", "ray"]


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE  # an exited child the container's init has not reaped yet
    except psutil.NoSuchProcess:
        return False


def _wait_for(condition, what: str, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_ray_grid_gives_the_local_executors_results(tmp_path):
    """A 2 x 2 grid through Ray, runs in parallel on this machine's cores, one torch thread each: the same
    folders and the same results.csv and feedback.jsonl as the local executor (one thread) makes."""
    tasks, methods = ("toy-hand", "toy-mountain"), ("hero", "sd-pretrained")
    cfgs = [_cfg(t, m) for t in tasks for m in methods]
    run_many(cfgs, tmp_path / "local", progress=False)  # the local executor (conftest: one torch thread)

    command = _ray_grid(tmp_path / "ray", ",".join(tasks), ",".join(methods))
    r = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "WARNING" not in r.stderr, r.stderr[-3000:]  # Ray's notices about its own private instance stay out
    for cfg in cfgs:
        (t_local, log_local), (t_ray, log_ray) = (
            comparable(run_dir_for(tmp_path / side, cfg)) for side in ("local", "ray")
        )
        pd.testing.assert_frame_equal(t_local, t_ray)
        assert log_local == log_ray
        assert read_environment(run_dir_for(tmp_path / "ray", cfg))[-1]["threads"] == 1  # one thread per run
        final = t_ray.sort_values("epoch").success_rate.iloc[-1]
        line = f"done   {cfg.task} {cfg.method} seed0: final success {final:.3f}"
        assert sum(line in x for x in r.stdout.splitlines()) == 1, (line, r.stdout)
    last = f"results table: {tmp_path / 'ray' / 'results.csv'};"  # as the local executor ends (the console folds)
    assert "".join(last.split()) in "".join(r.stdout.split()), r.stdout
    whole = pd.read_csv(tmp_path / "ray" / "results.csv")
    assert set(zip(whole.task, whole.base_method, strict=True)) == {(t, m) for t in tasks for m in methods}
    # in parallel: some two runs were under way at the same time (config.json is written first, done.json last)
    spans = sorted(
        ((f / "config.json").stat().st_mtime, (f / "done.json").stat().st_mtime)
        for f in (run_dir_for(tmp_path / "ray", c) for c in cfgs)
    )
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans


class _FailingEndpoint(BaseHTTPRequestHandler):
    """A VLM server that accepts connections and answers every request 503 (overloaded)."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path):
    """HERO's VLM endpoint answers 503 to every request and the run fails; SD-pretrained needs no feedback and
    finishes. The command names the failed run's folder and error, and exits 1 after the others are done.
    (An endpoint that accepts no connection at all is refused before the grid starts: test_oracle_vlm_reach.)"""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    vlm = f"--oracle vlm --oracle-option base_url=http://127.0.0.1:{port}/v1 --oracle-option model=judge"
    options = [*vlm.split(), "--oracle-option", "max_retries=0", "--oracle-option", "cache=false"]
    command = _ray_grid(tmp_path, "toy-hand", "hero,sd-pretrained", "--budget", "4", *options)
    try:
        r = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    finally:
        server.shutdown()
    assert r.returncode == 1, r.stderr[-3000:]
    hero = tmp_path / "toy-hand" / "hero" / "seed0"
    failed = [x for x in r.stderr.splitlines() if x.strip().startswith("failed toy-hand hero seed0")]
    assert len(failed) == 1 and str(hero) in failed[0] and "VLMEndpointError" in failed[0], r.stderr
    assert "1 of 2 runs failed" in r.stderr and "Traceback" not in r.stderr
    assert "kept failing (HTTP 503" in (hero / "error.log").read_text()
    assert (tmp_path / "toy-hand" / "sd-pretrained" / "seed0" / "done.json").exists()
    assert "done   toy-hand sd-pretrained seed0" in r.stdout


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_killed_worker_and_ctrl_c_lose_no_label(tmp_path):
    """SIGKILL the worker running HERO after its first checkpoint: Ray retries the run, which resumes. Then
    Ctrl-C the command: it cancels HERO, keeps the finished SD-pretrained run, and exits 130. Re-issuing the
    command reuses SD-pretrained and finishes HERO; its table and feedback.jsonl equal an uninterrupted run's."""
    hero_cfg = _cfg("toy-hand", "hero", budget=32)  # 8 epochs: after the retry's checkpoint, several remain
    run_many([hero_cfg], tmp_path / "whole", progress=False)

    out = tmp_path / "grid"
    command = _ray_grid(out, "toy-hand", "hero,sd-pretrained", "--budget", "32")
    hero, pretrained = out / "toy-hand" / "hero" / "seed0", out / "toy-hand" / "sd-pretrained" / "seed0"
    with open(tmp_path / "stderr.txt", "w") as err:
        # as typed in a terminal: a suite started in the background (nohup ... &) hands its children SIGINT
        # ignored, and Python then never turns Ctrl-C into KeyboardInterrupt
        proc = subprocess.Popen(
            command, env=ENV, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_ctrl_c_as_in_a_terminal
        )
        try:
            _wait_for(lambda: rows_written(hero / "results.csv") >= 2, "HERO's first checkpoint")
            workers = [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if "ray::hero-bench toy-hand/hero/seed0" in " ".join(p.cmdline())
            ]
            assert len(workers) == 1, workers
            workers[0].send_signal(signal.SIGKILL)
            assert rows_written(hero / "results.csv") < 5, "HERO finished before it could be killed"

            _wait_for(
                lambda: rows_written(hero / "results.csv") >= 3 and (pretrained / "done.json").exists(),
                "the retried HERO run to checkpoint again",
            )
            cluster = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=120) == 130
        finally:
            proc.kill()
    assert "cancelled: 1 unfinished run(s) stopped, 1 finished run(s) kept" in (tmp_path / "stderr.txt").read_text()
    assert not (hero / "done.json").exists() and (hero / CHECKPOINT).exists()
    _, alive = psutil.wait_procs(cluster, timeout=60)
    assert not [p for p in alive if _running(p)], "Ray processes outlived Ctrl-C"

    r = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "toy-hand sd-pretrained seed0: final success" in r.stdout and "(reused)" in r.stdout
    assert "toy-hand hero seed0: final success" in r.stdout and "(resumed)" in r.stdout
    (t_whole, log_whole), (t_grid, log_grid) = comparable(run_dir_for(tmp_path / "whole", hero_cfg)), comparable(hero)
    pd.testing.assert_frame_equal(t_whole, t_grid)
    assert log_whole == log_grid
    labels = [json.loads(x) for x in log_grid.splitlines()]
    assert sorted((x["epoch"], x["index"]) for x in labels) == [(e, i) for e in range(1, 9) for i in range(4)]


def test_a_run_killed_before_its_first_checkpoint_restarts_cleanly(tmp_path, monkeypatch):
    """Killed while evaluating epoch 0 (config.json written, no checkpoint yet): re-issuing the command,
    or `--resume`, starts it afresh instead of failing, and it ends as an uninterrupted run does."""
    cfg = _cfg("toy-hand", "hero")
    run_many([cfg], tmp_path / "whole", progress=False)
    original = Run._checkpoint

    def killed(self):
        raise KeyboardInterrupt("killed during the first evaluation")

    for again in (
        lambda: run_many([cfg], tmp_path / "broken", progress=False),  # the same command again
        lambda: resume_all(tmp_path / "broken", progress=False),
    ):  # `hero-bench run --resume`
        monkeypatch.setattr(Run, "_checkpoint", killed)
        with pytest.raises(KeyboardInterrupt):
            run_many([cfg], tmp_path / "broken", progress=False)
        folder = run_dir_for(tmp_path / "broken", cfg)
        assert (folder / "config.json").exists() and not (folder / CHECKPOINT).exists()
        monkeypatch.setattr(Run, "_checkpoint", original)
        again()
        (t1, log1), (t2, log2) = comparable(run_dir_for(tmp_path / "whole", cfg)), comparable(folder)
        pd.testing.assert_frame_equal(t1, t2)
        assert log1 == log2
        assert [e["start"] for e in read_environment(folder)] == ["new"]  # the killed start left no record
        for name in ("done.json", "config.json", "results.csv"):
            (folder / name).unlink()  # as if never run, for the second way of re-issuing


def test_anticipated_errors_are_one_line_with_exit_code_2(tmp_path):
    """A person (as oracle or judge) on Ray, Ray-only flags without Ray, an unknown executor, a target outside
    (0, 1]: exit 2 with one message, before any run. Other settings in an existing run folder raise a
    HeroBenchError, which the command turns into the same."""
    cfg = _cfg("toy-hand", "sd-pretrained")
    run_many([cfg], tmp_path, progress=False)
    with pytest.raises(HeroBenchError, match="already holds a run with other settings"):
        run_many([_cfg("toy-hand", "sd-pretrained", eval_n=5)], tmp_path, progress=False)
    base = [*CLI, "run", "--task", "toy-hand", "--method", "sd-pretrained", *SMALL_FLAGS, "--out", str(tmp_path)]
    cases = {
        "--oracle human cannot run with --executor ray": ["--oracle", "human", "--executor", "ray"],
        "--judge human cannot run with --executor ray": ["--judge", "human", "--executor", "ray"],
        "--target is a success rate in (0, 1], got 2.0": ["--target", "2"],
        "add --executor ray": ["--run-cpus", "2"],
        "--executor must be one of local, ray": ["--executor", "dask"],
    }
    for message, extra in cases.items():
        r = subprocess.run([*base, *extra], env=ENV, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, (extra, r.stderr)
        assert message in " ".join(r.stderr.split()), (extra, r.stderr)  # the console wraps long lines


def test_a_ray_grid_with_fewer_runs_than_cores_says_how_to_use_them(tmp_path, capsys):
    """One torch thread per run is the default (runs outnumber cores in a grid); with fewer runs left to do than
    cores, the command says how many stay idle and which --run-cpus uses them. Finished runs do not count."""
    from hero_bench.cli.grid import idle_cores_hint

    folders = [tmp_path / f"seed{k}" for k in range(3)]
    for folder in folders:
        folder.mkdir()
    (folders[0] / "done.json").write_text("{}")
    jobs = [(None, folder) for folder in folders]
    idle_cores_hint(jobs, cores=8)
    err = " ".join(capsys.readouterr().err.split())
    assert err == ("note: 2 run(s) to do on 8 cores at one torch thread each (--run-cpus 1): 6 core(s) stay idle; "
                   "--run-cpus 4 gives each run 4")  # fmt: skip
    idle_cores_hint(jobs, cores=2)  # as many runs as cores: nothing to say
    idle_cores_hint([(None, folders[0])], cores=8)  # nothing left to do
    assert capsys.readouterr().err == ""
