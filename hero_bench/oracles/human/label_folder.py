"""Label a folder of generated images on the project's labelling page and export them as gold labels.

Why: a gold set (`hero_bench/oracles/gold.py`) is only as good as the looking behind it. The same page and
label store that a human-in-the-loop run uses show the task's success condition beside each batch, never the
judge's verdict, and keep every submitted batch durable: stopping half-way and rerunning the same command
resumes at the first unlabelled batch. The export is gold `labels.csv` rows (task, file, good, split), merged
into an existing file task by task, so a gold folder can be built one prompt at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.gold import split_of
from hero_bench.oracles.human.oracle import DEFAULT_PORT, DEFAULT_STORE, HumanOracle
from hero_bench.oracles.human.serve import LOOPBACK
from hero_bench.tasks.loader import load_task

LABEL_COLUMNS = ["task", "file", "good", "split"]
CONTACT_SHEET = "contact_sheet"


def folder_images(folder: str | Path) -> list[Path]:
    """The folder's PNGs in name order (the order `hero-bench generate` numbers them), less the contact sheet
    that `generate` writes beside them (it shows the judge's verdicts)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HeroBenchError(f"{folder} is not a folder: pass --folder with the images to label")
    files = sorted(p for p in folder.glob("*.png") if not p.name.startswith(CONTACT_SHEET))
    if not files:
        raise HeroBenchError(f"{folder} holds no .png images: generate some with `hero-bench generate --out {folder}`")
    return files


def _load(path: Path) -> Image.Image:
    with Image.open(path) as im:  # closes the file: a 512-image folder would otherwise hold 512 handles
        return im.convert("RGB")


def merge_labels(export: Path, rows: pd.DataFrame, task: str) -> None:
    """Write `rows` into `export`, replacing that task's earlier rows and keeping every other task's."""
    if export.exists():
        old = pd.read_csv(export)
        rows = pd.concat([old[old["task"] != task], rows], ignore_index=True)
    export.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(export, index=False)


def label_folder(
    folder: str | Path,
    task: str,
    export: str | Path,
    batch_size: int = 16,
    store: str | Path = DEFAULT_STORE,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] = print,
    timeout: float | None = None,
) -> pd.DataFrame:
    """Ask a person to label every image of `folder` against `task`, batch by batch; return (and write to
    `export` after every batch) the labels as gold rows."""
    files = folder_images(folder)
    t = load_task(task)
    folder = Path(folder).resolve()
    oracle = HumanOracle(
        run_id=f"gold-{t.name}-{folder.name}",
        store=store,
        host=host,
        port=port,
        budget=len(files),
        timeout=timeout,
        announce=announce,
    )
    rows: list[dict[str, object]] = []
    try:
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            fb = oracle.judge([_load(p) for p in chunk], t)
            rows += [
                {"task": t.name, "file": p.name, "good": int(g), "split": split_of(start + i)}
                for i, (p, g) in enumerate(zip(chunk, fb.good, strict=True))
            ]
            merge_labels(Path(export), pd.DataFrame(rows, columns=LABEL_COLUMNS), t.name)
            source = "from the store" if oracle.last_from_store else "labelled"
            announce(f"images {start + 1}-{start + len(chunk)} of {len(files)} {source}: {sum(fb.good)} good")
    finally:
        oracle.close()
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)
