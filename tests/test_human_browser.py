"""The human oracle end to end in real headless Chromium: a person labels by keyboard, the run is killed,
restarted, resumes at the first unlabelled batch, and the person labels the next batch by mouse.

The "run" is `python -m hero_bench.oracles.human.practice` (toy renders, the real oracle, page and store)
in a child process, killed with SIGKILL between batches. Needs Debian's `chromium` and the `playwright`
package (its own browser download is never used). Screenshots go to /tmp/hero-bench-artifacts/ (or
$HERO_BENCH_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from hero_bench.oracles.human import LabelStore
from hero_bench.oracles.human.serve import bind_socket
from tests.browser import artifacts_dir as _artifacts

TIMEOUT_MS = 15_000




class PracticeRun:
    """The child process running the labelling loop; its output lines are read on a thread (bounded waits)."""

    def __init__(self, store: Path, log: Path, port: int) -> None:
        cmd = [sys.executable, "-m", "hero_bench.oracles.human.practice", "--task", "toy-blue-circle",
               "--batches", "2", "--batch-size", "4", "--seed", "5", "--run-id", "e2e", "--store", str(store),
               "--port", str(port), "--log", str(log)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"child never printed {text!r}; output:\n{''.join(self.output)}") from None
            if text in line:
                return line

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


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
