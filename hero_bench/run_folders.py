"""Where runs live under `--out` and how their tables are gathered, without torch.

Why a module of its own: a Ray grid's driver only places runs in folders, waits, and gathers their
results.csv files; importing the run loop (`hero_bench.runs`: torch, diffusers) there cost several seconds of
the driver's start on every grid, on a machine whose cores the runs need.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hero_bench.errors import ConfigError, HeroBenchError, NoRunsError
from hero_bench.run_files import CHECKPOINT, CONFIG, DONE, RESULTS, atomic_write

if TYPE_CHECKING:
    from hero_bench.config import RunConfig


def run_dir_for(root: Path, cfg: RunConfig) -> Path:
    """<root>/<task>/<method>[+<variant>]/seed<k>: one folder per (task, method, setting, seed)."""
    task_name = Path(cfg.task).stem if cfg.task.endswith((".yaml", ".yml")) else cfg.task
    return Path(root) / task_name / cfg.label / f"seed{cfg.seed}"


def runs_under(folder: Path) -> list[tuple[RunConfig, Path]]:
    """(config, folder) of every run under `folder` (a single run folder or a root of many)."""
    configs = sorted(Path(folder).glob(f"**/{CONFIG}"))
    if not configs:
        raise NoRunsError(f"no run found under {folder} (expected {CONFIG} files written by hero-bench run)")
    return [(read_run_config(c), c.parent) for c in configs]


def read_run_config(path: Path) -> RunConfig:
    """A run's config.json as a RunConfig; a file that is not one (cut short by a copy, edited by hand) is a
    one-line error naming it instead of a JSON or validation traceback."""
    from pydantic import ValidationError

    from hero_bench.config import RunConfig

    data = read_run_json(path)
    try:
        return RunConfig(**data)
    except ValidationError as e:  # e.g. written by a newer hero-bench, or edited
        raise ConfigError.from_validation(path, e, RunConfig) from e


def read_run_json(path: Path) -> dict:
    """One of a run's JSON records (config.json, task.json, model.json) as a dict; a damaged one names itself."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise HeroBenchError(f"{path}: not valid JSON ({e}); restore it from where the run was made, or remove the "
                             "run's folder") from e
    if not isinstance(data, dict):
        raise HeroBenchError(f"{path}: expected a JSON object; restore it from where the run was made, or remove "
                             "the run's folder")
    return data


def read_results(path: Path) -> pd.DataFrame:
    """A run's results.csv; an empty or unreadable file (a copy cut short) is a one-line error naming it."""
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise HeroBenchError(f"{path}: not a readable results table ({str(e).strip()}); restore it from where the "
                             "run was made, or remove the run's folder") from e


def run_in_progress(folder: Path) -> bool:
    """A run with a checkpoint and no done.json is still going (another process, or a grid sharing --out) or
    was stopped and will continue: its last epoch is not its final one, so no table may take it as such."""
    return (folder / CHECKPOINT).exists() and not (folder / DONE).exists()


def _results_files(root: Path) -> list[Path]:
    """Every run's results.csv under a runs root (<root>/<task>/<method>/seed<k>/)."""
    return sorted(Path(root).glob(f"*/*/seed*/{RESULTS}"))


def runs_in_progress(root: Path) -> list[Path]:
    return [p.parent for p in _results_files(root) if run_in_progress(p.parent)]


def collect_results(root: Path) -> pd.DataFrame:
    """The results tables of the finished runs under root (so that separate invocations add up); runs in
    progress are left out, as the report leaves them out (their last epoch would pass for a final one)."""
    frames = [read_results(p) for p in _results_files(root) if not run_in_progress(p.parent)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_results_table(root: Path) -> pd.DataFrame:
    """Gather every run's results.csv under `root` into `root`/results.csv (rewritten atomically)."""
    combined = collect_results(root)
    atomic_write(Path(root) / RESULTS, lambda p: combined.to_csv(p, index=False), shared=True)
    return combined


def labels_through_epoch(path: Path, epoch: int) -> list[str]:
    """The lines of a run's feedback.jsonl for epochs up to `epoch` (its last checkpoint), in order.

    Why the last line is special: a run stopped while appending an epoch's labels leaves that line cut short,
    and the epoch is not checkpointed yet, so it is dropped with the rest of that epoch. A damaged line before
    it cannot come from a stop, and is named instead of guessed at."""
    lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line]
    kept = []
    for number, line in enumerate(lines, start=1):
        try:
            line_epoch = int(json.loads(line)["epoch"])
        except (ValueError, KeyError, TypeError) as e:
            if number == len(lines):
                break
            raise HeroBenchError(f"{path}: line {number} is not a label record ({e}); restore the file from where the "
                                 "run was made, or remove the run's folder") from e
        if line_epoch <= epoch:
            kept.append(line)
    return kept
