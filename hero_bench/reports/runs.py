"""Find and read run folders: the only input of a report.

A report is built from files alone so that it can be regenerated anywhere from what `hero-bench run`
wrote: `results.csv` (tidy, one row per epoch), `config.json` (the run's settings and command) and
`eval/epoch_XXX/` (the judged evaluation images). A path may be a run root holding many
`<task>/<method>/seed<k>/` folders, or one such folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.metrics.lora_only import lora_only_rows
from hero_bench.run_files import STD_NOISE_EVAL, TASK
from hero_bench.run_folders import read_results, read_run_json, run_in_progress
from hero_bench.tasks.base import spread_prompts

RESULT_COLUMNS = ["method", "task", "seed", "epoch", "feedback_used", "success_rate"]


@dataclass
class Run:
    """One seed of one method on one task: its folder, config and per-epoch results. A HERO run appears twice:
    as itself, and as its LoRA-only pseudo-run (`lora_only`), evaluated on N(0, I) noises."""

    path: Path
    config: dict
    results: pd.DataFrame
    lora_only: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        r = self.results.iloc[0]
        return (str(r["task"]), str(r["method"]), int(r["seed"]))

    @property
    def best_ratio(self) -> float | None:
        if self.lora_only:  # the noise's beta does not act on N(0, I) noises: keep it out of the beta sweep
            return None
        hero = self.config.get("hero") or {}
        value = hero.get("best_ratio") if isinstance(hero, dict) else None
        return float(value) if value is not None else None

    def eval_epochs(self) -> list[Path]:
        found = {p.name: p for p in (self.path / "eval").glob("epoch_*") if p.is_dir()}
        if self.lora_only:  # where HERO's noise was N(0, I) anyway (no mixture yet) there is one batch only
            found.update({p.name: p for p in (self.path / STD_NOISE_EVAL).glob("epoch_*") if p.is_dir()})
        return [found[name] for name in sorted(found)]

    def final_eval(self) -> EvalBatch | None:
        """The judged images of the last evaluated epoch, or None if the run kept none."""
        epochs = self.eval_epochs()
        return self.eval_batch(epochs[-1]) if epochs else None

    def eval_batch(self, folder: Path) -> EvalBatch | None:
        """One evaluation folder's images, each with the prompt it was made from and the task's evaluation
        prompt it stands for (from the run's task.json; absent in folders written before it existed)."""
        batch = EvalBatch.read(folder)
        return self.with_requested(batch) if batch is not None else None

    def with_requested(self, batch: EvalBatch) -> EvalBatch:
        """`batch` with the task's evaluation prompt each image stands for, when the run's task.json has them."""
        task_file = self.path / TASK
        if task_file.exists():
            asked = read_run_json(task_file).get("eval_prompts") or []
            if asked:
                batch.requested = spread_prompts([str(p) for p in asked], len(batch.files))
        return batch


@dataclass
class EvalBatch:
    """Evaluation images of one epoch with the judge's verdicts and the prompt of each image."""

    folder: Path
    files: list[Path]
    good: list[bool]
    prompts: list[str]
    best: int | None = None
    requested: list[str] | None = None
    """The task's evaluation prompt each image stands for (from the run's task.json); it differs from `prompts`
    where a method sampled from a rewritten one (sd-enhanced's enhanced prompt, DreamBooth's [V] prompt)."""

    @property
    def metric_prompts(self) -> list[str]:
        """What alignment metrics compare each image with: what the person asked for (the task's evaluation
        prompt), so that a method that rewrites its prompt is scored on the same text as the others."""
        return self.requested if self.requested is not None else self.prompts

    @classmethod
    def read(cls, folder: Path) -> EvalBatch | None:
        """The folder's images with their verdicts (None when either is missing)."""
        files = sorted(folder.glob("[0-9]*.png"))
        batch = cls.verdicts_only(folder) if files else None
        if batch is None:
            return None
        n = min(len(files), len(batch.good))
        return cls(folder, files[:n], batch.good[:n], batch.prompts[:n], batch.best)

    @classmethod
    def verdicts_only(cls, folder: Path) -> EvalBatch | None:
        """The folder's verdicts and prompts without its images (an archived run keeps only these); `files`
        name where the images were."""
        verdicts_path = folder / "verdicts.json"
        if not verdicts_path.exists():
            return None
        v = read_run_json(verdicts_path)  # a damaged file names itself in one line
        good = [bool(g) for g in v.get("good", [])]
        prompts = ([str(p) for p in v.get("prompts", [])] + [""] * len(good))[:len(good)]
        return cls(folder, [folder / f"{i:04d}.png" for i in range(len(good))], good, prompts, v.get("best"))

    def images(self, indices: Iterable[int] | None = None) -> list[Image.Image]:
        idx = range(len(self.files)) if indices is None else indices
        out = []
        for i in idx:
            with Image.open(self.files[i]) as img:
                out.append(img.convert("RGB"))
        return out


@dataclass
class RunSet:
    """All runs found, their concatenated results and (if any) rows that came without a run folder."""

    runs: list[Run] = field(default_factory=list)
    orphan_results: pd.DataFrame | None = None
    in_progress: list[Path] = field(default_factory=list)  # left out: their last epoch is not their final one

    @property
    def results(self) -> pd.DataFrame:
        frames = [r.results.assign(run_dir=str(r.path)) for r in self.runs]
        if self.orphan_results is not None:
            frames.append(self.orphan_results.assign(run_dir=""))
        if not frames:
            return pd.DataFrame(columns=RESULT_COLUMNS)
        df = pd.concat(frames, ignore_index=True)
        return df.drop_duplicates(subset=["task", "method", "seed", "epoch", "label"], keep="first")


def _read_results(path: Path) -> pd.DataFrame:
    df = read_results(path)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise HeroBenchError(f"{path}: results table lacks columns {missing} (has {list(df.columns)})")
    if "uses_feedback" not in df.columns:
        df["uses_feedback"] = df.groupby(["task", "method", "seed"])["feedback_used"].transform("max") > 0
    else:
        df["uses_feedback"] = df["uses_feedback"].astype(str).str.lower().isin(["true", "1", "yes"])
    return df


def _label_variants(runs: list[Run]) -> None:
    """Give runs of one method that differ in best ratio distinct labels ("hero β=0.5"), others their method.

    Tables group by this label, so a beta sweep is never averaged into a single "hero" row.
    """
    ratios: dict[tuple[str, str], set] = {}
    for r in runs:
        task, method, _ = r.key
        ratios.setdefault((task, method), set()).add(r.best_ratio)
    for r in runs:
        task, method, _ = r.key
        label = method
        if len(ratios[(task, method)]) > 1:
            label = f"{method} β={r.best_ratio:g}" if r.best_ratio is not None else f"{method} β=?"
        r.results["label"] = label
        r.results["best_ratio"] = r.best_ratio


def _refuse_repeated_seeds(runs: list[Run]) -> None:
    """One seed of one method on one task in two folders (two roots that both ran it, say under two judges or two
    versions of the code): every table would count that seed twice as if it were two, and paired differences
    would pair the wrong rows. Refused, naming both folders."""
    seen: dict[tuple[str, str, int], Path] = {}
    for r in runs:
        task, _, seed = r.key
        key = (task, str(r.results["label"].iloc[0]), seed)
        if key in seen:
            raise HeroBenchError(
                f"{task} {key[1]} seed {seed} is in two run folders, {seen[key]} and {r.path}: a report counts each "
                "seed once; report the two roots separately, or pass only the folders to compare"
            )
        seen[key] = r.path


def _lora_only_runs(runs: list[Run]) -> list[Run]:
    """The LoRA-only pseudo-run of every run evaluated on its own noise and on N(0, I) (HERO's)."""
    out = []
    for r in runs:
        rows = lora_only_rows(r.results, ("method", "label"))
        if len(rows):
            out.append(Run(r.path, r.config, rows.assign(best_ratio=None).reset_index(drop=True), lora_only=True))
    return out


def results_files(path: str | Path) -> list[Path]:
    """The results.csv files under a run root or run folder (or the file itself); HeroBenchError if none.
    Light on purpose: `hero-bench report` calls it before importing what builds the report."""
    p = Path(path)
    if not p.exists():
        raise HeroBenchError(f"run folder {p} does not exist")
    found = sorted(p.rglob("results.csv")) if p.is_dir() else [p]
    if not found:
        raise HeroBenchError(f"no results.csv under {p}: is it the --out folder of `hero-bench run`?")
    return found


def load_runs(paths: Sequence[str | Path]) -> RunSet:
    """Every run under `paths` (found by their results.csv); a root results.csv is used only without runs."""
    runs: dict[Path, Run] = {}
    orphans: list[pd.DataFrame] = []
    in_progress: list[Path] = []
    for p in map(Path, paths):
        found = results_files(p)
        with_config = [f for f in found if (f.parent / "config.json").exists()]
        for f in with_config:
            folder = f.parent.resolve()
            if run_in_progress(folder):
                if folder not in in_progress:
                    in_progress.append(folder)
                continue
            if folder not in runs:
                results = _read_results(f)
                if results.empty:
                    continue
                config = read_run_json(f.parent / "config.json")  # unvalidated: reports read old runs too
                runs[folder] = Run(folder, config, results)
        if not with_config:
            orphans.extend(_read_results(f) for f in found)
    rs = RunSet(sorted(runs.values(), key=lambda r: r.key), in_progress=sorted(in_progress))
    _label_variants(rs.runs)
    _refuse_repeated_seeds(rs.runs)
    rs.runs += _lora_only_runs(rs.runs)
    if orphans:
        df = pd.concat(orphans, ignore_index=True)
        df["label"] = df["method"]
        df["best_ratio"] = None
        rs.orphan_results = df
    if not rs.runs and rs.orphan_results is None:
        busy = (
            f" ({len(in_progress)} still in progress, with a checkpoint and no done.json: report them once they have "
            "finished)" if in_progress else ""
        )
        raise HeroBenchError(f"no finished runs with results found under {', '.join(map(str, paths))}{busy}")
    return rs
