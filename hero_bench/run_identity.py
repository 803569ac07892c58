"""Whether a run folder holds the run a config asks for: same settings, task definition and weights. Why its
own module: every way into a folder (a fresh run, a re-issued command, a comparison reusing finished runs)
decides with these, and the run loop itself is big enough."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hero_bench.config import RunConfig
from hero_bench.errors import RunFolderError
from hero_bench.methods import UNTRAINED, method_overrides, settings_read
from hero_bench.model_identity import recorded_model, same_model
from hero_bench.model_source import DEFAULT_MODEL
from hero_bench.run_files import CONFIG, DONE, RESULTS, TASK
from hero_bench.run_folders import read_results, read_run_json
from hero_bench.tasks.loader import load_task


def with_method_overrides(cfg: RunConfig) -> RunConfig:
    """`cfg` with the HERO settings its method name implies (hero-random-noise: noise=random), as a run saves it;
    comparing a requested config with a saved one goes through here too, or a finished ablation is never reused."""
    overrides = method_overrides(cfg.method)
    return cfg.model_copy(update={"hero": cfg.hero.model_copy(update=overrides)}) if overrides else cfg


def same_settings(folder: Path, cfg: RunConfig) -> bool:
    """Whether `folder` holds a run made with exactly `cfg`'s settings on the same task definition and model
    weights. Aside: the command line that launched it, the device it ran on, and the HERO, DDPO or LoRA settings
    its method does not read (a `--best-ratio` given beside sd-pretrained changes nothing it does). An edited task
    file (prompt, success rule, enhanced prompt) or a new default model must not silently reuse results made under
    the old one. Folders from before task.json are compared by config alone (before model.json:
    `model_identity.same_model`)."""
    path = Path(folder) / CONFIG
    if not path.exists():
        return False
    data = read_run_json(path)  # a damaged file is named, not mistaken for other settings
    try:  # through the model: a field added since (with its default) is no difference
        saved = RunConfig(**data).model_dump(mode="json")
    except ValueError:
        return False
    wanted = with_method_overrides(cfg).model_dump(mode="json")
    for where_or_how_launched in ("command", "device"):  # a run may resume on another GPU or on the CPU
        saved.pop(where_or_how_launched, None), wanted.pop(where_or_how_launched, None)
    unread = {"hero", "ddpo"} - set(settings_read(cfg.method))  # e.g. sd-pretrained made beside a HERO sweep
    unread |= {"preset"} if "hero" in unread else set()
    unread |= {"lora_rank", "lora_targets"} if cfg.method in UNTRAINED else set()
    for section in unread:
        saved.pop(section, None), wanted.pop(section, None)
    if recorded_model(folder) is not None:  # the weights decide, not the name they were loaded by
        saved.pop("model", None), wanted.pop("model", None)
    if saved != wanted or not same_model(folder, cfg.model, DEFAULT_MODEL):
        return False
    task_path = Path(folder) / TASK
    return not task_path.exists() or read_run_json(task_path) == load_task(cfg.task).model_dump(mode="json")


def finished_result(folder: Path, cfg: RunConfig) -> pd.DataFrame | None:
    """The results of a finished run in `folder` made with the same settings as `cfg`, else None. Lets a
    comparison add methods to a root without redoing the runs it already holds; a different setting in
    the same folder stays an error."""
    folder = Path(folder)
    if not ((folder / DONE).exists() and (folder / RESULTS).exists() and same_settings(folder, cfg)):
        return None
    return read_results(folder / RESULTS)


def folder_taken(folder: Path, same: bool) -> RunFolderError:
    """The refusal of a fresh run in a folder that already holds one: the run loop's, and the grid's check before
    any run starts (`hero-bench run`), in the same words."""
    which = "this run" if same else "a run with other settings or weights"
    return RunFolderError(f"{folder} already holds {which}; pass --resume to continue it or choose another --out")
