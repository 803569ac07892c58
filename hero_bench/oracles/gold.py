"""A gold set: generated toy images labelled by a person, and a judge's agreement with those labels.

Why: the simulated judge is exact on *rendered* scenes, but every success rate is its verdict on *generated*
images, which are blurrier and off-palette in ways renders never are. Only labels given by looking at the
generated pictures tell whether the judge is right where it is used. The gold set is data shipped with the
package (PNGs + one CSV); `hero-bench calibrate --gold DIR` scores any oracle against it per task, with
Wilson intervals, on a dev half (where a parser may be tuned) and a held-out half (what is reported).

Layout of a gold folder:
    labels.csv            task,file,good,split[,second][,method][,note]  (split: dev | heldout, alternating by image
                          index; second: another labeller's independent label, blank where not re-labelled;
                          method: which model made the image, where a set mixes them)
    <task>/NNNN.png       the generated images (`hero-bench generate --task <task> --n 64 --seed S --out <task>`)
    tasks/<name>.yaml     task files for prompts that are not shipped tasks
    README.md             how the images were generated and labelled (commands)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from hero_bench.errors import HeroBenchError
from hero_bench.metrics.success import wilson_interval
from hero_bench.oracles.base import Oracle
from hero_bench.tasks.base import Task
from hero_bench.tasks.loader import load_task

GOLD_DIR = Path(__file__).resolve().parent.parent / "toyworld" / "assets" / "gold"
"""The gold set of the default model (toy world v2 with its 16,000-step UNet): 576 images labelled by a person."""
PREVIOUS_GOLD_DIR = GOLD_DIR.parent / "gold-v2b"
"""The gold set of the previous default (its 6,000-step UNet, `assets/tiny-sd-v2b`): where the parser was last tuned."""
FIRST_GOLD_DIR = GOLD_DIR.parent / "gold-v2-first"
"""The first gold set, from v2's first UNet; it holds a second labeller's labels of six held-out halves."""
TRAINED_GOLD_DIR = GOLD_DIR.parent / "gold-trained"
"""Fine-tuned models' images (HERO's and d3po-style's final LoRAs), where a policy could exploit the judge."""
LABELS = "labels.csv"
SECOND = "second"
METHOD = "method"
_GOOD = ("1", "true", "yes", "good")
_BAD = ("0", "false", "no", "bad")
SPLITS = ("dev", "heldout")


def split_of(index: int) -> str:
    """Alternate images between the dev half (parser tuning allowed) and the held-out half (reported)."""
    return SPLITS[index % 2]


def gold_task(folder: Path, name: str) -> Task:
    """A shipped task by name, or the gold folder's own task file `tasks/<name>.yaml`."""
    own = folder / "tasks" / f"{name}.yaml"
    return load_task(own if own.exists() else name)


def load_labels(folder: str | Path = GOLD_DIR) -> pd.DataFrame:
    """The labels table; a missing or malformed one is a one-line error naming the file."""
    path = Path(folder) / LABELS
    if not path.exists():
        raise HeroBenchError(f"{path} not found: a gold folder holds labels.csv (task,file,good,split)")
    table = pd.read_csv(path, dtype={SECOND: str})
    missing = {"task", "file", "good", "split"} - set(table.columns)
    if missing:
        raise HeroBenchError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    table["good"] = table["good"].astype(str).str.lower().isin(_GOOD)
    if SECOND in table.columns:
        raw = table[SECOND].fillna("").astype(str).str.strip().str.lower()
        unknown = sorted(set(raw) - {"", *_GOOD, *_BAD})
        if unknown:
            raise HeroBenchError(
                f"{path}: column {SECOND} holds {unknown[0]!r}; use 1 (good), 0 (bad) or leave it blank"
            )
        table[SECOND] = [None if v == "" else v in _GOOD for v in raw]
    return table


@dataclass(frozen=True)
class RaterAgreement:
    """How often two labellers, labelling the same images independently, gave the same label.

    Why: a judge can only be held to a person's labels as far as people agree with each other; where two
    labellers disagree the image is ambiguous, and a judge's "error" there is a coin toss."""

    task: str
    n: int
    agree: int
    agreement: float
    agreement_ci: tuple[float, float]
    kappa: float
    """Cohen's kappa: agreement beyond what the two labellers' base rates of "good" give by chance."""

    @classmethod
    def of(cls, task: str, first: Sequence[bool], second: Sequence[bool]) -> RaterAgreement:
        a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
        n, agree = len(a), int((a == b).sum())
        chance = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
        kappa = float("nan") if chance >= 1 else float((agree / n - chance) / (1 - chance))
        return cls(task, n, agree, agree / n, wilson_interval(agree, n), kappa)


def rater_agreement(labels: pd.DataFrame) -> list[RaterAgreement]:
    """Per task (and 'all') over the images that carry a second label; [] when the set has none."""
    if SECOND not in labels.columns:
        return []
    both = labels[labels[SECOND].notna()]
    out = [
        RaterAgreement.of(str(t), r["good"].tolist(), r[SECOND].astype(bool).tolist()) for t, r in both.groupby("task")
    ]
    if out:
        out.append(RaterAgreement.of("all", both["good"].tolist(), both[SECOND].astype(bool).tolist()))
    return out


@dataclass(frozen=True)
class GoldScore:
    """Agreement, precision and recall of "good" of one oracle on one task's gold images (one split)."""

    task: str
    split: str
    n: int
    gold_good: int
    judged_good: int
    agreement: float
    agreement_ci: tuple[float, float]
    precision: float
    recall: float
    recall_ci: tuple[float, float]

    @classmethod
    def of(cls, task: str, split: str, gold: Sequence[bool], judged: Sequence[bool]) -> GoldScore:
        g, j = np.asarray(gold, dtype=bool), np.asarray(judged, dtype=bool)
        agree, tp = int((g == j).sum()), int((g & j).sum())
        return cls(
            task=task,
            split=split,
            n=len(g),
            gold_good=int(g.sum()),
            judged_good=int(j.sum()),
            agreement=agree / len(g),
            agreement_ci=wilson_interval(agree, len(g)),
            precision=tp / j.sum() if j.sum() else float("nan"),
            recall=tp / g.sum() if g.sum() else float("nan"),
            recall_ci=wilson_interval(tp, int(g.sum())) if g.sum() else (float("nan"), float("nan")),
        )


def judge_gold(oracle: Oracle, folder: str | Path = GOLD_DIR) -> pd.DataFrame:
    """The labels table with the oracle's verdict beside each gold label (column `judged`).

    labels.csv does not record each image's prompt, so every image is judged against the task's first evaluation
    prompt: the simulated judge ignores prompts, but a VLM judge on a multi-prompt task (toy-safety) sees that one."""
    folder = Path(folder)
    table = load_labels(folder)
    parts = []
    for name, rows in table.groupby("task", sort=True):
        task = gold_task(folder, str(name))
        images = [Image.open(folder / str(name) / f).convert("RGB") for f in rows["file"]]
        fb = oracle.judge(images, task, [task.eval_prompts[0]] * len(images))
        parts.append(rows.assign(judged=list(fb.good)))
    return pd.concat(parts, ignore_index=True)


def gold_scores(judged: pd.DataFrame) -> list[GoldScore]:
    """One score per task and split, plus the split 'all'."""
    out = []
    for name, rows in judged.groupby("task", sort=True):
        for split in (*SPLITS, "all"):
            part = rows if split == "all" else rows[rows["split"] == split]
            if len(part):
                out.append(GoldScore.of(str(name), split, part["good"].tolist(), part["judged"].tolist()))
    return out


@dataclass(frozen=True)
class SuccessGap:
    """A person's and the judge's success rate on one model's images of one task.

    Why: agreement says how often the judge is right; what a comparison of methods needs is whether its errors
    lean one way for one method. A policy trained on the judge's own feedback can learn what the judge wrongly
    passes, which would inflate that method's success rate and no other's."""

    task: str
    method: str
    n: int
    person: float
    judge: float
    judge_only: int
    """Images the judge passes and the person fails."""
    person_only: int
    """Images the person passes and the judge fails."""

    @property
    def gap(self) -> float:
        return self.judge - self.person


def success_gaps(judged: pd.DataFrame) -> list[SuccessGap]:
    """One gap per task and method (the `method` column of labels.csv); [] when the set has no such column."""
    if METHOD not in judged.columns:
        return []
    out = []
    for (task, method), rows in judged.groupby(["task", METHOD], sort=True):
        g, j = rows["good"].to_numpy(dtype=bool), rows["judged"].to_numpy(dtype=bool)
        out.append(SuccessGap(str(task), str(method), len(g), float(g.mean()), float(j.mean()),
                              int((j & ~g).sum()), int((g & ~j).sum())))  # fmt: skip
    return out


def scores_frame(scores: Sequence[GoldScore]) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) for s in scores])


def labelling_sheet(images: Sequence[Image.Image], cols: int = 8, scale: int = 3) -> Image.Image:
    """A numbered grid of images with no verdicts on it: what a person labels from, unbiased by the judge."""
    w, h = images[0].size
    cell_w, cell_h = w * scale + 4, h * scale + 16
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (90, 90, 90))
    draw = ImageDraw.Draw(sheet)
    for i, img in enumerate(images):
        x, y = (i % cols) * cell_w, (i // cols) * cell_h
        sheet.paste(img.resize((w * scale, h * scale), Image.Resampling.NEAREST), (x + 2, y + 14))
        draw.text((x + 3, y + 1), str(i), fill=(255, 255, 255))
    return sheet
