"""A grid on a Ray cluster that `ray start` started (real heads and nodes on this machine, no mock): `--address`
joins it by its GCS address and by Ray Client when it uses token authentication (Ray's default once a token
exists: any earlier local grid made one); a second node that dies mid-run (its raylet and workers SIGKILLed)
costs no label, its run resuming elsewhere; a node that cannot write `--out`, or writes where this machine does
not look, stops the grid before any run; Ctrl-C stops the runs in the cluster; and an address that does not
answer is refused in one line at once instead of after Ray's minutes of retries."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from hero_bench.config import build_run_config
from hero_bench.runs import run_dir_for, run_many
from tests.run_records import comparable, rows_written

pytest.importorskip("ray", reason="ray is a dependency of hero-bench (pip install -e .)")
pytestmark = pytest.mark.xdist_group("ray")  # Ray's session folder under /tmp/ray is shared: one at a time

CLI = [sys.executable, "-m", "hero_bench.cli"]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command of the Python running the tests
TINY = ["run", "--task", "toy-hand", "--method", "sd-pretrained", "--budget", "4", "--batch", "4", "--eval-n", "4",
        "--steps", "4", "--executor", "ray"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, head: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if head.poll() is not None:
                raise AssertionError(f"`ray start --head` exited with {head.returncode}") from None
            if time.time() > deadline:
                raise AssertionError(f"the Ray head did not open port {port} within {timeout:g} s") from None
            time.sleep(0.2)


class RayProcesses:
    """`ray start ... --block` processes, each in its own session; stopping one stops what it started."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.procs = env, []

    def start(self, *args: str, own_mount: str | None = None, read_only: bool = False) -> subprocess.Popen:
        """`own_mount`: the node sees its own empty tmpfs at that path (a private mount namespace), as a node
        whose disk is not the shared one would."""
        cmd = [*RAY, "start", *args, "--disable-usage-stats", "--block"]
        if own_mount:
            tmpfs = f"mount -t tmpfs {'-o ro ' if read_only else ''}none {shlex.quote(own_mount)}"
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", f"{tmpfs} && exec {shlex.join(cmd)}"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def head(self, *args: str) -> int:
        gcs = _free_port()
        head = self.start("--head", "--port", str(gcs), "--include-dashboard", "false", *args)
        _wait_for_port(gcs, head)
        return gcs

    def stop(self) -> None:
        for proc in reversed(self.procs):
            tree = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
            proc.terminate()  # `ray start --block` stops what it started
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
            for p in tree:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass


@pytest.fixture
def ray_env(tmp_path):
    """A user's environment on this machine with HOME in tmp_path (the user's ~/.ray is left alone), and a way to
    start Ray heads and nodes in it that the test's end stops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    Path(env["HOME"]).mkdir()
    processes = RayProcesses(env)
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture
def token_cluster(ray_env):
    """A Ray head with token authentication; the user's environment has the token file, RAY_AUTH_MODE unset."""
    subprocess.run([*RAY, "get-auth-token", "--generate"], env=ray_env.env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    assert (Path(ray_env.env["HOME"]) / ".ray" / "auth_token").is_file()
    client = _free_port()
    gcs = ray_env.head("--ray-client-server-port", str(client), "--num-cpus", "2")
    _wait_for_port(client, ray_env.procs[-1])
    return ray_env.env, gcs, client


def test_a_grid_joins_a_token_cluster_by_auto_by_address_and_by_ray_client(token_cluster, tmp_path):
    env, gcs, client = token_cluster
    for address in ("auto", f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}"):  # auto: the newest `ray start` here
        out = tmp_path / address.replace(":", "-").replace("/", "")
        r = subprocess.run([*CLI, *TINY, "--address", address, "--out", str(out)], env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
        assert r.returncode == 0, (address, r.stderr[-2000:])
        assert (out / "toy-hand" / "sd-pretrained" / "seed0" / "done.json").is_file(), address
        assert "done   toy-hand sd-pretrained seed0" in r.stdout + r.stderr, address


def test_an_address_that_does_not_answer_is_one_line_at_once(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    closed = _free_port()  # nothing listens there once the probe socket is closed
    cases = {
        f"127.0.0.1:{closed}": "(Connection refused)",
        f"ray://127.0.0.1:{closed}": "(Connection refused)",
        "ray://no-such-host.invalid": "does not resolve",
        "head:port": "is not HOST:PORT, ray://HOST:PORT or auto",
    }
    for address, message in cases.items():  # Ray alone retries the first for minutes: the timeout fails it
        r = subprocess.run([*CLI, *TINY, "--address", address, "--out", str(tmp_path / "x")], env=env,
                           capture_output=True, text=True, timeout=90)  # fmt: skip
        assert r.returncode == 2, (address, r.stderr)
        assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, (address, r.stderr)
        assert message in " ".join(r.stderr.split()), (address, r.stderr)


def _hero(seed: int):
    return build_run_config("toy-hand", "hero", seed=seed, budget=32, batch=4, eval_n=4, steps=4,
                            ddpo={"k_steps": 2})  # fmt: skip


def test_a_lost_nodes_run_resumes_on_another_node_with_no_label_lost(ray_env, tmp_path):
    """Two nodes of one CPU, two HERO runs: SIGKILL the second node (raylet and workers) once its run has
    checkpointed. Ray marks the node dead and retries the task on the head, where it resumes; the grid ends
    with exit 0 and that run's table and labels equal an uninterrupted run's."""
    ray_env.env.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3")
    gcs = ray_env.head("--num-cpus", "1")
    node = ray_env.start("--address", f"127.0.0.1:{gcs}", "--num-cpus", "1")
    out = tmp_path / "grid"
    grid = [*CLI, "run", "--task", "toy-hand", "--method", "hero", "--seeds", "2", "--budget", "32", "--batch", "4",
            "--eval-n", "4", "--steps", "4", "--k-steps", "2", "--executor", "ray", "--address", f"127.0.0.1:{gcs}",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(grid, env=ray_env.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not (on_node := [p for p in psutil.Process(node.pid).children(recursive=True)
                               if "ray::hero-bench toy-hand/hero/seed" in " ".join(p.cmdline())]):  # fmt: skip
            assert proc.poll() is None and time.time() < deadline, "no run reached the second node"
            time.sleep(0.1)
        seed = int(" ".join(on_node[0].cmdline()).split("toy-hand/hero/seed")[1].split()[0])
        folder = out / "toy-hand" / "hero" / f"seed{seed}"
        while rows_written(folder / "results.csv") < 2:  # epoch 0 and the first checkpointed epoch
            assert proc.poll() is None and time.time() < deadline, "the second node's run never checkpointed"
            time.sleep(0.05)
        for p in [psutil.Process(node.pid), *psutil.Process(node.pid).children(recursive=True)]:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        assert rows_written(folder / "results.csv") < 9, "the run finished before its node was killed"
        output, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    assert f"toy-hand hero seed{seed}: final success" in output and "(resumed)" in output, output[-3000:]

    run_many([_hero(seed)], tmp_path / "whole", progress=False)
    whole = run_dir_for(tmp_path / "whole", _hero(seed))
    (table_whole, log_whole), (table, log) = comparable(whole), comparable(folder)
    pd.testing.assert_frame_equal(table_whole, table)
    assert log_whole == log
    labels = [json.loads(x) for x in (folder / "feedback.jsonl").read_text().splitlines()]
    assert sorted((x["epoch"], x["index"]) for x in labels) == [(e, i) for e in range(1, 9) for i in range(4)]


def test_which_addresses_are_checked_before_ray_joins_them():
    """HOST:PORT and ray:// (port 10001 by default) are probed; what Ray resolves itself is left to it."""
    from hero_bench.errors import HeroBenchError
    from hero_bench.executors.ray_grid import head_endpoint

    assert head_endpoint("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert head_endpoint("ray://head") == ("head", 10001)
    assert head_endpoint("ray://head:20001") == ("head", 20001)
    assert head_endpoint("[::1]:6379") == ("::1", 6379)
    for address in ("auto", "local", "anyscale://my-cluster"):
        assert head_endpoint(address) is None, address
    with pytest.raises(HeroBenchError, match="is not HOST:PORT"):
        head_endpoint("head:port")


def _alive_nodes(env: dict[str, str], gcs: int) -> int:
    code = (
        f"import logging, ray; ray.init(address='127.0.0.1:{gcs}', logging_level=logging.ERROR); "
        "print(sum(bool(n['Alive']) for n in ray.nodes()))"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return int(r.stdout.split()[-1]) if r.returncode == 0 and r.stdout.split() else 0


def _can_unshare_mounts() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(
    not _can_unshare_mounts(), reason="needs `unshare -m` (root or CAP_SYS_ADMIN) to give a node its own disk"
)
@pytest.mark.parametrize(
    ("read_only", "message"),
    [(True, "cannot write --out"), (False, "is not shared: a file that a worker on")],
    ids=["read-only", "not-shared"],
)
def test_a_node_without_the_shared_out_folder_stops_the_grid_before_any_run(ray_env, tmp_path, read_only, message):
    """A second node whose `--out` is its own tmpfs: read-only (the worker cannot write there) or writable (this
    machine never sees what it wrote). Either way: one line naming the problem, exit 2, no run started."""
    out = tmp_path / "shared"
    out.mkdir()
    gcs = ray_env.head("--num-cpus", "1")
    ray_env.start("--address", f"127.0.0.1:{gcs}", "--num-cpus", "1", own_mount=str(out), read_only=read_only)
    deadline = time.time() + 120
    while _alive_nodes(ray_env.env, gcs) < 2:
        assert time.time() < deadline, "the second node did not join"
        time.sleep(0.5)
    r = subprocess.run([*CLI, *TINY, "--address", f"127.0.0.1:{gcs}", "--out", str(out)], env=ray_env.env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert message in " ".join(r.stderr.split()), r.stderr[-2000:]
    assert not (out / "toy-hand" / "sd-pretrained" / "seed0" / "config.json").exists()
    assert not list(out.glob(".hero-bench-probe-*")), "a marker this machine wrote was left behind"


def test_a_ray_client_join_is_tried_again_when_the_heads_server_for_it_dies_at_start(monkeypatch):
    """The failure comes from the head (its per-client server dying as it forks, seen once under load) and
    cannot be provoked, so `ray.init` stands in for it here: Ray Client gets a second try, a GCS address and a
    second failure do not."""
    import ray

    from hero_bench.executors import ray_grid

    calls: list[str] = []
    failing = {"times": 1}

    def init(address, **kwargs):
        calls.append(address)
        if len([c for c in calls if c != "shutdown"]) <= failing["times"]:
            raise ConnectionAbortedError("Initialization failure from server: SpecificServer startup failed")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    ray_grid._join("ray://head:10001", {})
    assert calls == ["ray://head:10001", "shutdown", "ray://head:10001"]
    for address, times, expected in (("head:6379", 1, 1), ("ray://head:10001", 2, 2)):
        calls.clear()
        failing["times"] = times
        with pytest.raises(ConnectionAbortedError):
            ray_grid._join(address, {})
        assert [c for c in calls if c != "shutdown"] == [address] * expected, address


def test_ctrl_c_on_a_joined_cluster_stops_the_runs_on_it(ray_env, tmp_path):
    """The runs live in the cluster's workers, not in the command: Ctrl-C must still stop them (exit 130), so
    that nothing goes on writing into run folders that a re-issued command would then find locked."""
    gcs = ray_env.head("--num-cpus", "2")
    grid = [*CLI, "run", "--task", "toy-hand", "--method", "hero", "--seeds", "2", "--budget", "32", "--batch", "4",
            "--eval-n", "4", "--steps", "4", "--k-steps", "2", "--executor", "ray", "--address", f"127.0.0.1:{gcs}",
            "--out", str(tmp_path / "grid")]  # fmt: skip
    head = psutil.Process(ray_env.procs[0].pid)

    def runs() -> list[psutil.Process]:
        return [p for p in head.children(recursive=True) if "ray::hero-bench toy-hand/hero" in " ".join(p.cmdline())]

    proc = subprocess.Popen(grid, env=ray_env.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.time() + 300
        while len(runs()) < 2:
            assert proc.poll() is None and time.time() < deadline, "the two runs did not start on the cluster"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "cancelled: 2 unfinished run(s) stopped" in " ".join(err.split()), err[-2000:]
    deadline = time.time() + 60
    while runs():
        assert time.time() < deadline, "runs went on in the cluster after Ctrl-C"
        time.sleep(0.2)
