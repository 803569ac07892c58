"""`hero-bench label --folder`: a person labels generated images on the real page (HTTP API over a real
socket here; the browser flow is tests/test_human_browser.py) and the labels are exported as gold rows."""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.gold import load_labels
from hero_bench.oracles.human.label_folder import folder_images, label_folder


def _folder(tmp_path, n=5):
    folder = tmp_path / "gold" / "toy-hand"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    Image.new("RGB", (8, 8)).save(folder / "contact_sheet.png")  # written by `hero-bench generate`: not labelled
    return folder


def test_labels_posted_on_the_page_become_gold_rows_and_a_rerun_resumes_from_the_store(tmp_path):
    folder, store = _folder(tmp_path), tmp_path / "labels.sqlite"
    export = folder.parent / "labels.csv"
    pd.DataFrame([{"task": "other", "file": "0000.png", "good": 1, "split": "dev"}]).to_csv(export, index=False)
    urls: list[str] = []
    result: dict = {}

    def announce(line: str) -> None:
        if " at http" in line:
            urls.append(line.split(" at ", 1)[1].strip())

    def work() -> None:
        result["rows"] = label_folder(folder, "toy-hand", export, batch_size=3, store=store, port=0, announce=announce)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    answers = [[True, False, True], [False, True]]
    for answer in answers:
        for _ in range(500):
            if urls:
                break
            threading.Event().wait(0.02)
        base, token = urls[0].split("/?token=")
        client = httpx.Client(base_url=base, params={"token": token}, timeout=5)
        batch = None
        for _ in range(500):
            state = client.get("/api/state").json()
            if state["batch"] and state["batch"]["n_images"] == len(answer):
                batch = state["batch"]
                break
            threading.Event().wait(0.02)
        assert batch is not None
        best = answer.index(True)
        assert client.post("/api/labels", json={"batch_id": batch["batch_id"], "good": answer, "best": best}).is_success
        if answer is answers[0]:
            for _ in range(500):  # the next batch is on offer once the first is stored
                state = client.get("/api/state").json()
                if state["batch"] and state["batch"]["batch_id"] != batch["batch_id"]:
                    break
                threading.Event().wait(0.02)
    thread.join(20)
    assert not thread.is_alive()

    labels = load_labels(folder.parent)
    mine = labels[labels.task == "toy-hand"]
    assert mine.file.tolist() == [f"{i:04d}.png" for i in range(5)]
    assert mine.good.tolist() == [True, False, True, False, True]
    assert mine.split.tolist() == ["dev", "heldout", "dev", "heldout", "dev"]
    assert (labels.task == "other").sum() == 1, "another task's rows are kept"

    # rerun: every batch comes from the store, nothing is asked, the export is rewritten identically
    again = label_folder(folder, "toy-hand", export, batch_size=3, store=store, port=0, announce=lambda s: None)
    assert again.good.tolist() == [1, 0, 1, 0, 1]


def test_a_folder_without_images_is_a_clear_error(tmp_path):
    with pytest.raises(HeroBenchError, match="no .png images"):
        folder_images(tmp_path)
