"""`--address` joins a Ray cluster that `ray start --head` started (a real head on this machine, no mock), by its
GCS address and by Ray Client, when the cluster uses token authentication (Ray's default once a token exists:
any earlier local grid made one); and an address that does not answer is refused in one line at once instead
of after Ray's minutes of retries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray", reason="ray is a dependency of hero-bench (pip install -e .)")
pytestmark = pytest.mark.xdist_group("ray")  # Ray's session folder under /tmp/ray is shared: one at a time

CLI = [sys.executable, "-m", "hero_bench.cli"]
RAY = str(Path(sys.executable).with_name("ray"))
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


@pytest.fixture
def token_cluster(tmp_path):
    """A Ray head with token authentication in its own HOME (so the user's ~/.ray is left alone); yields the
    environment a user on that machine has (the token file in place, RAY_AUTH_MODE unset) and the two ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    Path(env["HOME"]).mkdir()
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=120)
    assert (Path(env["HOME"]) / ".ray" / "auth_token").is_file()
    gcs, client = _free_port(), _free_port()
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--port", str(gcs), "--ray-client-server-port", str(client),
         "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(gcs, head)
        _wait_for_port(client, head)
        processes = psutil.Process(head.pid).children(recursive=True)
        yield env, gcs, client
    finally:
        head.terminate()  # `ray start --block` stops what it started
        try:
            head.wait(120)
        except subprocess.TimeoutExpired:
            head.kill()
        for p in locals().get("processes", []):
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def test_a_grid_joins_a_token_cluster_by_address_and_by_ray_client(token_cluster, tmp_path):
    env, gcs, client = token_cluster
    for address in (f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}"):
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
        f"127.0.0.1:{closed}": "refused the connection",
        f"ray://127.0.0.1:{closed}": "refused the connection",
        "ray://no-such-host.invalid": "does not resolve",
        "head:port": "is not HOST:PORT, ray://HOST:PORT or auto",
    }
    for address, message in cases.items():  # Ray alone retries the first for minutes: the timeout fails it
        r = subprocess.run([*CLI, *TINY, "--address", address, "--out", str(tmp_path / "x")], env=env,
                           capture_output=True, text=True, timeout=90)  # fmt: skip
        assert r.returncode == 2, (address, r.stderr)
        assert r.stderr.startswith("error:") and "Traceback" not in r.stderr, (address, r.stderr)
        assert message in " ".join(r.stderr.split()), (address, r.stderr)
