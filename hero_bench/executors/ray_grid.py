"""The `ray` executor: every run of the grid is one Ray task with declared resources.

Without an address Ray starts on this machine and uses its cores; with one (`auto`, `ray://host:port`) the grid
joins that cluster. Ray does the scheduling, placement and retries: a task whose worker dies (SIGKILL, out of
memory, a lost node) is retried, and the retry resumes its run from the last checkpoint (`work.execute_one`
goes through `runs.run_one`). This module only checks what can be checked before any work starts, submits the
runs, reports each as it ends, and cancels what is left on Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hero_bench.errors import HeroBenchError
from hero_bench.executors.progress import GridProgress
from hero_bench.executors.work import RunOutcome, RunTracker, execute_one, one_line, probe_folder, run_label
from hero_bench.reach import why_unreachable

if TYPE_CHECKING:
    from hero_bench.config import RunConfig

RETRIES = 3
"""Ray retries a run whose worker died this many times (Ray's own default, stated); each retry resumes it."""

PROBE_TIMEOUT_S = 120.0

REACH_TIMEOUT_S = 10.0
"""How long the driver waits for a TCP answer from `--address` before Ray is asked to join it: Ray itself retries an
unreachable head for minutes (a GCS address) or 30 s (Ray Client) while printing C++ warnings."""

RAY_CLIENT_PORT = 10001

CLIENT_TRIES = 2
"""Ray Client connections tried before a join fails: the head's per-client server can die at start (`_join`)."""

TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
"""Ray (2.59+) warns on every new local cluster that it turned token authentication on: a Ray that this command
starts for itself and stops at its end is private to it, so the warning only adds a line to every local grid."""

TOKEN_FILE = Path.home() / ".ray" / "auth_token"  # where `ray start` and `ray get-auth-token --generate` keep it


@dataclass(frozen=True)
class RayOptions:
    """`--address`, `--run-cpus`, `--run-gpus` (None: as `_gpus_per_run` decides from the runs and the nodes)."""

    address: str | None = None
    run_cpus: float = 1.0
    run_gpus: float | None = None


class GridCancelled(Exception):
    """Ctrl-C stopped the grid; the runs not finished were cancelled and can be resumed."""

    def __init__(self, unfinished: int, finished: int) -> None:
        super().__init__(
            f"cancelled: {unfinished} unfinished run(s) stopped, {finished} finished run(s) kept; "
            "re-issue the same command to continue them from their last checkpoints"
        )


def refuse_undistributable(cfgs: list[RunConfig]) -> None:
    """Oracles that cannot be spread over workers; checked before Ray starts."""
    for role in ("oracle", "judge"):
        if any(getattr(cfg, role) == "human" for cfg in cfgs):
            raise HeroBenchError(
                f"--{role} human cannot run with --executor ray: one person labels one batch at a time on one page; "
                "run it with --executor local (the default)"
            )


def run_grid(jobs: list[tuple[RunConfig, Path]], resume: bool, options: RayOptions, bar: bool = True) -> GridProgress:
    """Run every (config, folder) as a Ray task; returns the progress record with every run's outcome.
    Raises GridCancelled on Ctrl-C and HeroBenchError for a problem found before any run started. A caller
    that has already called `ray.init` keeps its Ray (and `options.address` is not used)."""
    refuse_undistributable([cfg for cfg, _ in jobs])
    if options.address and "ray" not in sys.modules:
        _send_cluster_token()  # read once, when Ray's config is first loaded
    import ray

    jobs = [(cfg, Path(folder).resolve()) for cfg, folder in jobs]  # workers have their own working directory
    owned = not ray.is_initialized()
    if owned:
        _connect(options.address)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus = _gpus_per_run(jobs, options, nodes)
        jobs = _placed_on_reserved_devices(jobs, gpus)
        _check_fits(options.run_cpus, gpus, nodes, joined=options.address is not None)
        _check_shared(Path(os.path.commonpath([str(folder) for _, folder in jobs])), nodes)
        return _submit_and_watch(jobs, resume, options.run_cpus, gpus, bar)
    finally:
        if owned:
            ray.shutdown()


def _connect(address: str | None) -> None:
    import ray

    if address:
        _check_reachable(address)

    quiet = dict(log_to_driver=False, logging_level=logging.WARNING)  # each run's outcome comes back as a value
    try:
        if address:
            _join(address, quiet)
        else:  # a new Ray on this machine, on all its cores (never silently an unrelated running cluster)
            with _quiet_logger(TOKEN_NOTICE_LOGGER):
                ray.init(address="local", include_dashboard=False, **quiet)  # type: ignore[arg-type]
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        token = (
            "; a cluster with token authentication (Ray's default since 2.59) needs its token here: "
            "RAY_AUTH_TOKEN=$(ray get-auth-token) from its head node"
            if address and address != "auto"
            else ""
        )
        raise HeroBenchError(
            f"cannot start or join {where}: {one_line(e)[:300]}; for a cluster, run `ray start --head` on its "
            f"head node and pass --address auto there (or ray://HOST:10001 from elsewhere){token}"
        ) from None


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Silence one of Ray's loggers below ERROR while Ray starts."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _join(address: str, kwargs: dict[str, Any], tries: int = CLIENT_TRIES) -> None:
    """`ray.init(address)`, with one more try for Ray Client when the head's server for this client died while
    starting: Ray 2.60's proxier forks it while gRPC threads run, and now and then the child dies at once
    ("SpecificServer startup failed" in the head's ray_client_server.err; seen once in the test suite under
    load); the client then gets ConnectionAbortedError, and a new connection gets a new server."""
    import ray

    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, **kwargs)
            return
        except ConnectionAbortedError:
            if not address.startswith("ray://") or attempt == tries:
                raise
            ray.shutdown()


def _send_cluster_token() -> None:
    """Ray starts clusters with token authentication by default (2.59+) and `ray start` keeps the token in
    ~/.ray/auth_token. A driver that joins with `auto` finds it; one that joins by HOST:PORT or ray:// sends it
    only when RAY_AUTH_MODE=token, and otherwise retries for 20-30 s and fails. So a token at hand is sent
    unless the user set the mode; a cluster without authentication ignores it."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or TOKEN_FILE.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def head_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) that `--address` names, or None for what Ray resolves itself (`auto`, `local`, other
    schemes)."""
    text = address.strip()
    client = text.startswith("ray://")
    if client:
        text = text[len("ray://") :]
    elif "://" in text:  # another client scheme Ray may know (anyscale://...): Ray checks it
        return None
    host, sep, port = text.rpartition(":")
    if not sep:  # `auto`, `local`, or a bare Ray Client host
        return (text, RAY_CLIENT_PORT) if client and text else None
    if not port.isdigit() or not host:
        raise HeroBenchError(
            f"--address {address!r} is not HOST:PORT, ray://HOST:PORT or auto; e.g. --address auto on a cluster "
            "node or --address ray://HEAD_IP:10001 from elsewhere (docs/scale-out.md)"
        )
    return host.strip("[]"), int(port)


def _check_reachable(address: str) -> None:
    """One line and exit 2 for a head that does not answer, instead of Ray's minutes of retries."""
    endpoint = head_endpoint(address)
    why = None if endpoint is None else why_unreachable(*endpoint, timeout=REACH_TIMEOUT_S)
    if why is None:
        return
    raise HeroBenchError(
        f"cannot reach the Ray cluster at {address!r} ({why}); is `ray start --head` running there? Pass the "
        "head's HOST:6379 from a cluster node (or auto) and ray://HOST:10001 from elsewhere (docs/scale-out.md)"
    )


def _gpus_per_run(jobs: list[tuple[RunConfig, Path]], options: RayOptions, nodes: list[dict]) -> float:
    """--run-gpus, else 1 for a run asked onto CUDA (`--device cuda`) or for a real SD at `--device auto` on a
    cluster with GPUs (the embedded toy model stays on the CPU: devices.choose_device), else 0."""
    if options.run_gpus is not None:
        return options.run_gpus
    if any(cfg.device.startswith("cuda") for cfg, _ in jobs):
        return 1.0
    real_model = any(cfg.model is not None and cfg.device == "auto" for cfg, _ in jobs)
    has_gpu = any(n.get("Resources", {}).get("GPU", 0) > 0 for n in nodes)
    return 1.0 if real_model and has_gpu else 0.0


def _placed_on_reserved_devices(jobs: list[tuple[RunConfig, Path]], gpus: float) -> list[tuple[RunConfig, Path]]:
    """Runs that reserve no GPU run on the CPU, even where a worker could see a GPU: two runs must not land
    on a card Ray did not give them. `--device cuda` with `--run-gpus 0` is refused."""
    if gpus > 0:
        return jobs
    if any(cfg.device.startswith("cuda") for cfg, _ in jobs):
        raise HeroBenchError(
            "--device cuda with --run-gpus 0: a run on Ray uses the GPUs Ray reserves for it, and this reserves "
            "none; give --run-gpus 1 (or a fraction such as 0.5 to share a card), or --device cpu"
        )
    return [(cfg.model_copy(update={"device": "cpu"}) if cfg.device == "auto" else cfg, f) for cfg, f in jobs]


def _check_fits(cpus: float, gpus: float, nodes: list[dict], joined: bool) -> None:
    """A run that no node can hold would wait forever on a machine that cannot grow: refuse it. A joined
    cluster may add nodes (an autoscaler), so there it is a warning."""
    most_cpus = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
    problems = []
    if cpus > most_cpus:
        problems.append(f"{cpus:g} CPUs per run (--run-cpus) but the largest node has {most_cpus:g}")
    if gpus > most_gpus:
        problems.append(f"{gpus:g} GPUs per run (--run-gpus, or 1 for --device cuda) but the largest node has "
                        f"{most_gpus:g}")
    if not problems:
        return
    if not joined:
        raise HeroBenchError("no run fits on this machine: " + "; ".join(problems))
    print("warning: " + "; ".join(problems) + "; the runs wait until the cluster adds such a node", file=sys.stderr)


def _check_shared(root: Path, nodes: list[dict]) -> None:
    """Every node must be able to write the runs' root, and this machine must see what it wrote: the
    summary, the report and a later resume read the run folders from here."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(probe_folder)
    pending = {}
    for node in nodes:
        name = f".hero-bench-probe-{uuid.uuid4().hex[:12]}"
        placed = probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
        pending[placed.remote(str(root), name)] = (root, name)
    try:
        answers = ray.get(list(pending), timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise HeroBenchError(
            f"a Ray node did not answer within {PROBE_TIMEOUT_S:g} s when asked to write under --out; "
            "check the cluster with `ray status`"
        ) from None
    for (root, name), (host, error) in zip(pending.values(), answers, strict=True):
        if error is not None:
            raise HeroBenchError(
                f"a Ray worker on {host} cannot write --out {root} ({error}); pass a folder that every node "
                "can write (a shared filesystem, docs/scale-out.md)"
            )
        marker = root / name
        if not marker.exists():
            raise HeroBenchError(
                f"--out {root} is not shared: a file that a worker on {host} wrote there is not visible on this "
                "machine; put --out on storage that every node and this machine mount (docs/scale-out.md)"
            )
        marker.unlink()


def _submit_and_watch(
    jobs: list[tuple[RunConfig, Path]], resume: bool, cpus: float, gpus: float, bar: bool
) -> GridProgress:
    import ray

    tracker: Any = ray.remote(num_cpus=0)(RunTracker).remote()  # type: ignore[attr-defined]
    task = ray.remote(execute_one)
    threads = max(1, int(cpus))  # one torch thread per declared CPU: runs do not fight over cores
    refs: dict[Any, tuple[dict, str]] = {}
    for cfg, folder in jobs:
        data = cfg.model_dump(mode="json")
        task_name, method, seed = run_label(data)
        placed = task.options(
            num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES, name=f"hero-bench {task_name}/{method}/seed{seed}"
        )
        refs[placed.remote(data, str(folder), resume, threads, tracker)] = (data, str(folder))
    progress = GridProgress(len(jobs), bar=bar)
    pending = set(refs)
    started: set[str] = set()
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                pending.discard(ref)
                progress.finished(_outcome(ref, *refs[ref]))
            try:
                started = set(ray.get(tracker.snapshot.remote(), timeout=10))
            except ray.exceptions.RayError:
                pass  # the count is cosmetic; the runs' outcomes come from their own tasks
            progress.running(len(started & {refs[r][1] for r in pending}))
    except KeyboardInterrupt:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - the local Ray may already be going down with the same Ctrl-C
                pass
        progress.close()
        raise GridCancelled(len(pending), progress.done) from None
    progress.close()
    return progress


def _outcome(ref: Any, data: dict, folder: str) -> RunOutcome:
    """The task's own record, or one made here when its worker died more often than Ray retries."""
    import ray

    task, method, seed = run_label(data)
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:  # raised outside the run itself, e.g. hero-bench missing on a node
        cause = e.cause if isinstance(e.cause, BaseException) else e
        error = f"{one_line(cause)[:300]} (is hero-bench installed on every node, as on this one?)"
    except ray.exceptions.RayError as e:  # the worker process or its node died, more often than Ray retries
        error = (
            f"its worker died {RETRIES + 1} times ({type(e).__name__}: {one_line(e)[:200]}); "
            "re-issue the command to resume it from its last checkpoint"
        )
    return RunOutcome(task, method, seed, folder, 0.0, error=error)
