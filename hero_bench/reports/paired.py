"""Paired differences between two methods' final success, per task: the comparison a reviewer asks for.

Why paired: two methods run with the same seed share the seed's evaluation noises (N(0, I) draws) and its
oracle seed, so the seed-to-seed swing that both see cancels in their difference. Each bootstrap draw resamples
the seeds both methods ran (the same seeds for both, which is what makes it paired), then each drawn seed's
evaluation images:
- pairing "images": where both were evaluated on the same N(0, I) noises and their per-image verdicts are in
  the run folders, image i of one method and image i of the other start from the same noise, so the draw
  resamples image indices, the same for both. A fine-tuned model that flips a few verdicts of the model it
  started from then shows as the few flips it is, not as two independent coin-flip samples.
- pairing "seeds": otherwise (HERO on its own learned noise, or no verdicts on disk), each method's images as
  an independent binomial draw around its success rate, a conservative interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hero_bench.metrics.lora_only import LORA_ONLY
from hero_bench.reports import few_seeds, tables
from hero_bench.reports.content import Section, Table
from hero_bench.reports.runs import EvalBatch
from hero_bench.run_files import STD_NOISE_EVAL

BASELINES = ("sd-pretrained", "d3po-style")
HERO = "hero"


def default_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """Every HERO label (HERO, its variants and settings, each also as "LoRA only" on the baselines' N(0, I)
    noises) against the pretrained model and the online-DPO baseline, where they ran; and full HERO against each
    of its ablations (`hero-<name>`, the paper's Table 3: does each mechanism add to the whole?)."""
    present = {str(label) for label in labels}
    heroes = sorted(label for label in present if label.startswith("hero"))
    pairs = [(a, b) for a in heroes for b in BASELINES if b in present]
    if HERO in present:
        ablations = [h for h in heroes if h.startswith(HERO + "-") and "+" not in h and not h.endswith(LORA_ONLY)]
        pairs += [(HERO, ablation) for ablation in ablations]
    return pairs


def image_verdicts(row: pd.Series) -> np.ndarray | None:
    """A final-epoch row's per-image verdicts on the standard N(0, I) evaluation noises, from its run folder;
    None where the row was evaluated on a noise of its own or the verdicts are not on disk. Reads verdicts.json
    alone (`EvalBatch.verdicts_only`): archived runs keep verdicts without images."""
    run_dir = str(row.get("run_dir") or "")
    label = str(row.get("label", ""))
    own_noise = str(row.get("own_eval_noise", "")).lower() in ("true", "1", "1.0")
    if not run_dir or own_noise:
        return None
    folder = STD_NOISE_EVAL if label.endswith(LORA_ONLY) else "eval"
    path = Path(run_dir) / folder / f"epoch_{int(row['epoch']):03d}" / "verdicts.json"
    if not path.is_file() and folder == STD_NOISE_EVAL:  # epoch 0: one evaluation serves both noises
        path = Path(run_dir) / "eval" / f"epoch_{int(row['epoch']):03d}" / "verdicts.json"
    batch = EvalBatch.verdicts_only(path.parent)
    return np.asarray(batch.good, dtype=float) if batch is not None else None


def eval_noise_key(row: pd.Series) -> tuple[int, int] | None:
    """What a run's standard evaluation noises are drawn from (`eval_seed + seed`, `eval_n`: `runs.Run`), read
    from its config.json; None where that is not on disk. Two runs with different keys drew different noises,
    so their image i are not a pair even when they have as many images (a method run with another --eval-seed)."""
    run_dir = str(row.get("run_dir") or "")
    if not run_dir:
        return None
    config = Path(run_dir) / "config.json"
    try:
        data = json.loads(config.read_text())
        return int(data["eval_seed"]) + int(data["seed"]), int(data["eval_n"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _image_paired_draws(
    ra: pd.DataFrame, rb: pd.DataFrame, picks: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """Bootstrap draws of a - b that resample each drawn seed's image indices, the same for both methods;
    None unless every shared seed has per-image verdicts of both on the same noises."""
    per_seed = []
    for (_, a), (_, b) in zip(ra.iterrows(), rb.iterrows(), strict=True):
        va, vb = image_verdicts(a), image_verdicts(b)
        if va is None or vb is None or len(va) != len(vb) or eval_noise_key(a) != eval_noise_key(b):
            return None
        per_seed.append(va - vb)
    n_boot, n_seeds = picks.shape
    out = np.zeros(n_boot)
    for k in range(n_seeds):
        for s, d in enumerate(per_seed):
            rows = np.flatnonzero(picks[:, k] == s)
            if len(rows):
                out[rows] += d[rng.integers(0, len(d), size=(len(rows), len(d)))].mean(axis=1)
    return out / n_seeds


def _draws(p: np.ndarray, n: np.ndarray | None, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if n is None:
        return p[picks].mean(axis=1)
    return (rng.binomial(n[picks], p[picks]) / n[picks]).mean(axis=1)


def paired_interval(
    ra: pd.DataFrame, rb: pd.DataFrame, rng: np.random.Generator, n_boot: int = 4000
) -> tuple[float, float, str, bool]:
    """95% interval of mean(a) - mean(b) over rows `ra` and `rb` that share their seeds, row for row (results
    rows with `success_rate`, `n_eval`, and `run_dir` where per-image verdicts are on disk); the pairing used:
    "images" where both rows of every seed were judged on the same noises, else "seeds"; and whether the paired
    t-interval over the seeds' differences widened the bootstrap's (`few_seeds.widen`)."""
    pa, pb = ra["success_rate"].to_numpy(float), rb["success_rate"].to_numpy(float)
    na = ra["n_eval"].to_numpy(int) if "n_eval" in ra and ra["n_eval"].notna().all() else None
    nb = rb["n_eval"].to_numpy(int) if "n_eval" in rb and rb["n_eval"].notna().all() else None
    picks = rng.integers(0, len(ra), size=(n_boot, len(ra)))
    diffs = _image_paired_draws(ra, rb, picks, rng)
    pairing = "images"
    if diffs is None:
        diffs, pairing = _draws(pa, na, picks, rng) - _draws(pb, nb, picks, rng), "seeds"
    low, high = np.quantile(diffs, [0.025, 0.975])
    low, high, widened = few_seeds.widen(float(low), float(high), pa - pb, (-1.0, 1.0))
    return low, high, pairing, widened


def paired_differences(
    df: pd.DataFrame, pairs: Sequence[tuple[str, str]] | None = None, n_boot: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """Per task and pair (a, b) that both ran: mean over shared seeds of a's final success minus b's, with a
    95% paired bootstrap interval. `df` is a results table with a `label` column (the report's)."""
    fin = tables.final_rows(df)
    pairs = default_pairs(fin["label"].astype(str).tolist()) if pairs is None else pairs
    rng = np.random.default_rng(seed)
    rows = []
    for task, part in fin.groupby("task", sort=True):
        by_label = {str(k): g.set_index("seed") for k, g in part.groupby("label")}
        for a, b in pairs:
            if a not in by_label or b not in by_label:
                continue
            seeds = sorted(set(by_label[a].index) & set(by_label[b].index))
            if not seeds:
                continue
            ra, rb = by_label[a].loc[seeds], by_label[b].loc[seeds]
            pa, pb = ra["success_rate"].to_numpy(float), rb["success_rate"].to_numpy(float)
            low, high, pairing, widened = paired_interval(ra, rb, rng, n_boot)
            rows.append(
                {
                    "task": str(task),
                    "a": a,
                    "b": b,
                    "n_seeds": len(seeds),
                    "a_mean": float(pa.mean()),
                    "b_mean": float(pb.mean()),
                    "difference": float(pa.mean() - pb.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "verdict": "a above b" if low > 0 else "a below b" if high < 0 else "within noise",
                    "pairing": pairing,
                    "t_widened": widened,
                }
            )
    return pd.DataFrame(rows)


def report_differences(df: pd.DataFrame, stated: Sequence[tuple[str, str]], seed: int = 0) -> pd.DataFrame:
    """`paired_differences` for a report: the default pairs, then full HERO against every other method it ran
    beside (DreamBooth, DDPO with a reward model, ...) and any pair in `stated` (the answer's sentences), so that
    each sentence's interval is a paired one. The added pairs draw from their own stream (`seed + 1`), after
    the default pairs: the default pairs' intervals stay what they were before any pair was added."""
    labels = tables.final_rows(df)["label"].astype(str).tolist()
    pairs = default_pairs(labels)
    present = set(labels)
    others = [(HERO, b) for b in sorted(present) if HERO in present and not b.startswith(HERO) and b not in BASELINES]
    extra: list[tuple[str, str]] = []
    for a, b in [*others, *stated]:
        if not {(a, b), (b, a)} & {*pairs, *extra}:
            extra.append((a, b))
    diffs = paired_differences(df, pairs, seed=seed)
    added = paired_differences(df, extra, seed=seed + 1) if extra else pd.DataFrame()
    if added.empty:
        return diffs
    return pd.concat([diffs, added], ignore_index=True).sort_values("task", kind="stable", ignore_index=True)


def paired_section(diffs: pd.DataFrame, out: Path) -> Section | None:
    """The report's section of the `paired_differences` table, its CSV written under `out`/tables (None when no
    default pair ran on a shared seed)."""
    if diffs.empty:
        return None
    diffs.to_csv(out / "tables" / "paired_differences.csv", index=False)
    shown = diffs.assign(
        **{
            "a - b [95% CI]": [
                f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                for d, lo, hi in diffs[["difference", "ci_low", "ci_high"]].itertuples(index=False)
            ]
        }
    )[["task", "a", "b", "n_seeds", "a - b [95% CI]", "verdict", "pairing"]]
    sec = Section("paired", "Paired differences (same seeds)")
    sec.tables.append(
        Table(
            "paired-table",
            shown.set_index("task"),
            "Final success of a minus b over the seeds both ran; 95% paired bootstrap over seeds and evaluation "
            "images, widened where the paired t-interval over the seeds' differences is wider (few seeds; "
            "'t_widened' in the CSV). The baselines and HERO's LoRA-only rows use the same N(0, I) evaluation "
            "noises; HERO's own rows its learned noise. Pairing 'images': image i of both methods starts from the "
            "same noise and the bootstrap resamples image indices jointly; 'seeds': the two methods' images are "
            "drawn independently (wider). With one seed the interval holds only evaluation-image noise, not "
            "seed-to-seed spread. 'within noise': the interval spans 0.",
            "tables/paired_differences.csv",
        )
    )
    return sec
