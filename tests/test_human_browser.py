"""The human oracle end to end in real headless Chromium: a person labels by keyboard, the run is killed,
restarted, resumes at the first unlabelled batch, and the person labels the next batch by mouse.

Two "runs", each a child process killed with SIGKILL: `python -m hero_bench.oracles.human.practice` (toy
renders, the real oracle, page and store; seconds), and a real `hero-bench run --method hero --oracle human`
on the embedded toy model (CPU-sized: two epochs of four images), killed once just before and once just
after an epoch's checkpoint. Needs Debian's `chromium` and the `playwright` package (its own browser
download is never used). Screenshots go to /tmp/hero-bench-artifacts/ (or $HERO_BENCH_ARTIFACTS).
"""

from __future__ import annotations

import csv
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from hero_bench.oracles.human import LabelStore
from hero_bench.oracles.human.serve import bind_socket
from tests.browser import artifacts_dir as _artifacts

TIMEOUT_MS = 15_000


class Child:
    """A child process (a run); its output lines are read on a thread, so every wait is bounded."""

    def __init__(self, cmd: list[str], cwd: Path | None = None) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
               "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     cwd=cwd)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The next output line containing `text`, or a failure showing the output after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"child never printed {text!r} in {timeout:g} s (exit code "
                                     f"{self.proc.poll()}); output:\n{''.join(self.output)}") from None
            if text in line:
                return line

    def exit_code(self, timeout: float) -> int:
        """Wait for the child to end by itself; a failure showing its output if it does not in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"child still running after {timeout:g} s; output:\n{''.join(self.output)}") from None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class PracticeRun(Child):
    """The practice labelling loop (toy renders, the real oracle, page and store)."""

    def __init__(self, store: Path, log: Path, port: int) -> None:
        super().__init__([sys.executable, "-m", "hero_bench.oracles.human.practice", "--task", "toy-blue-circle",
                          "--batches", "2", "--batch-size", "4", "--seed", "5", "--run-id", "e2e",
                          "--store", str(store), "--port", str(port), "--log", str(log)])


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_label_by_keyboard_and_mouse_across_a_killed_and_restarted_run(browser, tmp_path) -> None:
    store, log = tmp_path / "labels.sqlite", tmp_path / "log.jsonl"
    probe = bind_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    shots = _artifacts()

    run = PracticeRun(store, log, port)
    try:
        url = run.wait_for("label the images at").split(" at ", 1)[1].strip()
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#card-3")
        assert " ".join(page.inner_text("#progress").split()) == "Batch 1 of 2 · feedback used 0 of 8"
        assert "exactly one circle" in page.inner_text("#condition")
        assert page.eval_on_selector_all(".card img", "els => els.every(e => e.complete && e.naturalWidth === 64)")

        # --- batch 1 by keyboard; the page refuses incomplete labels before anything is posted
        page.keyboard.press("Enter")
        assert "Label every image first" in page.inner_text("#status")
        for key in ["g", "b", "g", "b"]:  # each mark moves to the next image
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        assert "Pick one best" in page.inner_text("#status")
        assert LabelStore(store).batches("e2e") == []
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("s")
        assert set(page.get_attribute("#card-2", "class").split()) == {"card", "good", "best", "focused"}
        assert "ready to submit" in page.inner_text("#status")
        page.screenshot(path=str(shots / "human_batch1_keyboard.png"), full_page=True)
        page.keyboard.press("Enter")
        run.wait_for("batch 1/2 labelled")
        page.wait_for_function("document.querySelector('#batch-index')?.textContent.trim() === '2'")
        assert records(log)[0]["good"] == [True, False, True, False] and records(log)[0]["best"] == 2
        page.wait_for_function("document.querySelector('#chart').dataset.points === '1'")

        # --- the run dies while batch 2 is on screen; the page notices
        batch2 = page.get_attribute("body", "data-batch-id")
        run.kill()
        page.wait_for_selector("#connection", state="visible")
    finally:
        run.kill()

    # --- restarted: batch 1 comes from the store, the page reconnects by itself to batch 2
    run = PracticeRun(store, log, port)
    try:
        run.wait_for("batch 1/2 from the store")
        page.wait_for_selector("#connection", state="hidden")
        assert page.get_attribute("body", "data-batch-id") == batch2
        assert "feedback used 4 of 8" in page.inner_text("#progress")

        # --- batch 2 by mouse
        page.click("#card-0 .mark-bad")
        page.click("#card-1 .mark-best")
        page.click("#submit")
        assert "Label every image first" in page.inner_text("#status")
        page.click("#card-1 .mark-bad")  # un-bests it
        page.click("#card-2 .mark-good")
        page.click("#card-3 .mark-good")
        page.click("#submit")
        assert "Pick one best" in page.inner_text("#status")
        page.click("#card-3 .mark-best")
        page.screenshot(path=str(shots / "human_batch2_mouse.png"), full_page=True)
        page.click("#submit")
        run.wait_for("batch 2/2 labelled")
        assert run.proc.wait(20) == 0
        page.wait_for_function("document.body.innerText.includes('The run has finished')")
    finally:
        run.kill()

    got = records(log)
    assert [(r["batch"], r["from_store"]) for r in got] == [(1, False), (1, True), (2, False)]
    assert got[1]["good"] == got[0]["good"] and got[1]["best"] == got[0]["best"]  # nothing lost
    assert got[2]["good"] == [False, False, True, True] and got[2]["best"] == 3
    stored = LabelStore(store).batches("e2e")
    assert [(b.epoch, b.good, b.best) for b in stored] == [(0, [True, False, True, False], 2),
                                                           (1, [False, False, True, True], 3)]  # nothing repeated
    assert (shots / "human_batch1_keyboard.png").stat().st_size > 10_000


# ------------------------------------------------------------------------ a real `hero-bench run --oracle human`

URL = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+")
RUN_ID = "toy-blue-circle/hero/seed0"
CHILD_S = 240.0  # generous bound for a child step (start-up, one epoch) on a busy 2-core machine


class HeroRun(Child):
    """`hero-bench run --method hero --oracle human` on the embedded toy model, CPU-sized: 2 epochs of 4 images."""

    def __init__(self, out: Path, port: int, resume: bool = False) -> None:
        args = ["--resume", str(out)] if resume else [
            "--task", "toy-blue-circle", "--method", "hero", "--oracle", "human", "--oracle-option", f"port={port}",
            "--budget", "8", "--batch", "4", "--eval-n", "4", "--steps", "6", "--k-steps", "2", "--out", str(out)]
        super().__init__([sys.executable, "-m", "hero_bench.cli", "run", *args], cwd=out.parent)

    def url(self) -> str:
        """The labelling URL the run prints once a batch needs a person."""
        match = URL.search(self.wait_for("label the images at", CHILD_S))
        assert match, f"no 127.0.0.1 URL with a token in the run's output:\n{''.join(self.output)}"
        return match.group(0)


def free_port() -> int:
    probe = bind_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    return port


def progress_line(page) -> str:
    return " ".join(page.inner_text("#progress").split())


def evaluated_epochs(folder: Path) -> list[int]:
    """Epochs in results.csv, which is rewritten with each checkpoint."""
    with open(folder / "results.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_a_real_hero_run_labelled_in_the_browser_survives_kills_before_and_after_a_checkpoint(
    browser, tmp_path
) -> None:
    """Run 1 is killed just after batch 1's labels are acknowledged (before the epoch's checkpoint), run 2
    (resumed) gets batch 1 from the store and is killed while batch 2 is on screen (after the checkpoint),
    run 3 gets batch 2 labelled by mouse and finishes: every label is logged once, with the person's values."""
    port, out = free_port(), tmp_path / "runs"
    folder = out / "toy-blue-circle" / "hero" / "seed0"
    shots = _artifacts()
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.set_default_timeout(TIMEOUT_MS)

    # --- run 1: batch 1 by keyboard, SIGKILL as soon as the page says the labels are saved
    run = HeroRun(out, port)
    try:
        url = run.url()
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        page.goto(url)
        page.wait_for_selector("#card-3")
        assert progress_line(page) == "Batch 1 of 2 · feedback used 0 of 8"
        page.wait_for_function("document.querySelector('#chart').dataset.points === '1'")  # pretrained rate
        batch1 = page.get_attribute("body", "data-batch-id")
        for key in ["g", "b", "g", "b", "ArrowLeft", "s"]:
            page.keyboard.press(key)
        assert "ready to submit" in page.inner_text("#status")
        page.screenshot(path=str(shots / "human_run_batch1_keyboard.png"), full_page=True)
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('Saved')")
        run.kill()
    finally:
        run.kill()
    assert evaluated_epochs(folder) == [0], "run 1 reached its epoch-1 checkpoint before the kill; this step " \
                                            "needs the kill before it"
    store = LabelStore(folder / "human_labels.sqlite")
    assert [(b.epoch, b.good, b.best) for b in store.batches(RUN_ID)] == [(0, [True, False, True, False], 2)]
    page.wait_for_selector("#connection", state="visible")

    # --- run 2 (resumed from epoch 0): batch 1 is answered by the store, the page moves on to batch 2
    run = HeroRun(out, port, resume=True)
    try:
        assert run.url() == url, "a resumed run must keep its URL token"
        page.wait_for_function(f"document.body.dataset.batchId !== {json.dumps(batch1)}")
        assert page.inner_text("#batch-index") == "2", "the resumed run asked for batch 1 again"
        page.wait_for_selector("#connection", state="hidden")
        assert progress_line(page) == "Batch 2 of 2 · feedback used 4 of 8"
        page.wait_for_function("document.querySelector('#chart').dataset.points === '2'")
        bad = browser.new_page()
        answer = bad.goto(url.split("?")[0] + "?token=wrong")
        assert answer is not None and answer.status == 403
        assert "open the exact URL hero-bench printed" in bad.inner_text("body")
        bad.close()
        batch2 = page.get_attribute("body", "data-batch-id")
        run.kill()
    finally:
        run.kill()
    assert evaluated_epochs(folder) == [0, 1]
    assert len(store.batches(RUN_ID)) == 1, "batch 1 was stored twice"
    page.wait_for_selector("#connection", state="visible")

    # --- run 3 (resumed from epoch 1): the same batch 2 is asked for; labelled by mouse; the run finishes
    run = HeroRun(out, port, resume=True)
    try:
        assert run.url() == url
        page.wait_for_selector("#connection", state="hidden")
        assert page.get_attribute("body", "data-batch-id") == batch2
        page.click("#card-0 .mark-bad")
        page.click("#card-1 .mark-best")
        page.click("#card-2 .mark-good")
        page.click("#card-3 .mark-bad")
        page.screenshot(path=str(shots / "human_run_batch2_mouse.png"), full_page=True)
        page.click("#submit")
        assert run.exit_code(CHILD_S) == 0, "".join(run.output)
        page.wait_for_function("document.body.innerText.includes('The run has finished')")
    finally:
        run.kill()

    assert json.loads((folder / "done.json").read_text()) == {"epochs": 2, "feedback_used": 8}
    assert evaluated_epochs(folder) == [0, 1, 2]
    logged = [json.loads(line) for line in (folder / "feedback.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["index"]) for r in logged] == [(e, i) for e in (1, 2) for i in range(4)]  # each once
    assert [r["good"] for r in logged] == [True, False, True, False, False, True, True, False]
    assert [i for i, r in enumerate(logged) if r["best"]] == [2, 5]
    assert [(b.epoch, b.good, b.best) for b in store.batches(RUN_ID)] == [
        (0, [True, False, True, False], 2), (1, [False, True, True, False], 1)]
    for shot in ("human_run_batch1_keyboard.png", "human_run_batch2_mouse.png"):
        assert (shots / shot).stat().st_size > 10_000
