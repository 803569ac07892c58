"""Where and with what code a run was made: one JSON line in its folder's environment.jsonl each time it starts or
resumes (hero-bench's version and git commit, the library versions, the device and dtype it ran on).

Why: a run's settings (config.json) say what was asked, not what computed the numbers. A grid reuses finished runs
and resumes stopped ones, possibly after the code changed or on another machine (`--resume DIR --device cpu`), so
a report can mix runs made by different code; these lines let it say so (hero_bench.reports.provenance).

Standard library only at import: the report reads these files without loading torch.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ENVIRONMENT = "environment.jsonl"
LIBRARIES = ("torch", "diffusers", "peft", "transformers")
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """hero-bench's version, and the git commit of its source when it runs from a checkout (an editable install),
    with `dirty` true when files under hero_bench/ differ from that commit. Cached: it cannot change while a
    process runs, and a grid starts many runs."""
    record: dict[str, Any] = {"hero_bench": _version("hero-bench"), "commit": None, "dirty": None}
    if not (_SOURCE_ROOT / ".git").exists():
        return record
    try:
        git = ["git", "-C", str(_SOURCE_ROOT)]
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", "hero_bench"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):  # no git on this machine, or not a usable checkout
        return record
    record.update(commit=head.stdout.strip(), dirty=bool(changed.stdout.strip()))
    return record


def library_versions() -> dict[str, str | None]:
    """Python's version and those of the libraries whose numbers a run's results depend on most."""
    return {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}}


def _device_name(device: Any) -> str:
    import torch  # the run loop has it loaded already

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_record(device: Any, dtype: str, resumed_at_epoch: int | None) -> dict[str, Any]:
    """This process's record for a run starting (`resumed_at_epoch` None) or resuming after that epoch."""
    import torch

    return {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "start": "new" if resumed_at_epoch is None else f"resumed after epoch {resumed_at_epoch}",
        **code_version(),
        **library_versions(),
        "device": str(device),
        "device_name": _device_name(device),
        # The vector instructions torch's CPU kernels use: with them the float rounding, so the same seed replays
        # bit for bit only on CPUs with the same capability (docs/regress.md, "Determinism").
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
    }


def cpu_record() -> dict[str, Any]:
    """This machine's CPU and the vector instructions torch's kernels use on it: what decides whether a seed
    replays bit for bit (a regression reference records it beside its curves)."""
    import torch

    return {"device_name": _device_name("cpu"), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def machine_note(reference: dict[str, Any] | None, current: dict[str, Any], failed: bool) -> str:
    """What to say about the machines behind a regression check: nothing when the reference was made on a CPU of
    this kind; that a fresh draw is expected when it was not; on a failure, that the reference's CPU is unknown."""
    here = f"{current.get('device_name') or '?'}, {current.get('cpu_capability') or '?'}"
    if reference is None:
        return f"the reference does not record the CPU it was made on; this machine: {here}" if failed else ""
    if all(reference.get(k) == current.get(k) for k in ("device_name", "cpu_capability")):
        return ""
    there = f"{reference.get('device_name') or '?'}, {reference.get('cpu_capability') or '?'}"
    return (
        f"the reference was made on {there}, this machine is {here}: seeds do not replay bit for bit across CPU "
        "kinds, so expect a fresh draw within the tolerances (docs/regress.md, Determinism)"
    )


def append_environment(folder: Path, record: dict[str, Any]) -> None:
    """One line more, synced: the record of a start is kept even if the run is killed right after."""
    with open(folder / ENVIRONMENT, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_environment(folder: Path) -> list[dict[str, Any]]:
    """The records of a run folder, oldest first; [] for a run made before they were written. A line cut short
    by a kill mid-write is skipped."""
    path = Path(folder) / ENVIRONMENT
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def code_label(record: dict[str, Any]) -> str:
    """How a report names the code of one record: `0.1.0 @ 6bfbefa1c2d3`, `+ local changes` when dirty."""
    label = str(record.get("hero_bench") or "?")
    if record.get("commit"):
        label += f" @ {str(record['commit'])[:12]}"
        if record.get("dirty"):
            label += " + local changes"
    return label


def device_label(record: dict[str, Any]) -> str:
    """`cpu fp32 (AMD EPYC, AVX512)`, `cuda:0 bf16 (NVIDIA H200)`; `cpu fp32` for a record from before the CPU's
    capability was written (its processor name alone says too little to tell two machines' numerics apart)."""
    label = f"{record.get('device', '?')} {record.get('dtype', '?')}"
    if str(record.get("device", "")).startswith("cuda") and record.get("device_name"):
        label += f" ({record['device_name']})"
    elif record.get("cpu_capability"):
        label += f" ({record.get('device_name') or '?'}, {record['cpu_capability']})"
    return label


def other_code(folder: Path) -> str:
    """`, made by other code: <label>` when the last start of the run in `folder` was by another hero-bench
    version or commit than this process runs, else "" (also when either is unknown). Said when a grid reuses a
    finished run: its numbers come from the code that made it, not from this one."""
    records = read_environment(folder)
    if not records:
        return ""
    made, now = records[-1], code_version()
    differs = made.get("hero_bench") != now["hero_bench"] or (
        made.get("commit") and now["commit"] and made["commit"] != now["commit"]
    )
    return f", made by other code: {code_label(made)}, this is {code_label(now)}" if differs else ""
