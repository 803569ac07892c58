"""The human oracle without a browser: label store, submission rules, and the HTTP API over a real socket."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles import ORACLES, describe_oracles
from hero_bench.oracles.base import Feedback
from hero_bench.oracles.human import HumanOracle, HumanTimeoutError, LabelStore, batch_hash
from hero_bench.oracles.human.serve import ServerStartError, bind_socket
from hero_bench.oracles.human.session import SubmissionError, validate_submission
from hero_bench.oracles.human.store import AlreadyLabelled
from hero_bench.tasks import load_task

TASK = load_task("toy-blue-circle")


def images(seed: int, n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


class Judging:
    """`oracle.judge` running in a thread, as the run loop would call it, with its result or error."""

    def __init__(self, oracle: HumanOracle, imgs: list[Image.Image], prompts: list[str] | None = None) -> None:
        self.result: Feedback | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(oracle, imgs, prompts), daemon=True)
        self.thread.start()

    def _run(self, oracle: HumanOracle, imgs: list[Image.Image], prompts: list[str] | None) -> None:
        try:
            self.result = oracle.judge(imgs, TASK, prompts)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e

    def join(self) -> Feedback:
        self.thread.join(10)
        assert not self.thread.is_alive(), "judge() did not return"
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result


def wait_for_batch(client: httpx.Client, batch_id: str | None = None) -> dict:
    """Poll /api/state (bounded) until a batch (other than `batch_id`) is on offer."""
    for _ in range(200):
        state = client.get("/api/state").json()
        if state["batch"] and state["batch"]["batch_id"] != batch_id:
            return state["batch"]
        threading.Event().wait(0.02)
    raise AssertionError("no batch was offered")


@pytest.fixture
def oracle(tmp_path) -> Iterator[HumanOracle]:
    o = HumanOracle(run_id="run-1", store=tmp_path / "labels.sqlite", port=0, budget=9, announce=lambda s: None,
                    finish_grace=0)
    yield o
    o.close()


def client_for(o: HumanOracle, token: str | None = None) -> httpx.Client:
    base = o.url.split("/?")[0]
    return httpx.Client(base_url=base, params={"token": token or o.session.token}, timeout=5)


# -------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(("payload", "message"), [
    ([], "JSON object"),
    ({"batch_id": "x", "good": [True, False], "best": 0, "extra": 1}, "unknown field"),
    ({"batch_id": "x", "good": "yes", "best": 0}, "one true/false label per image"),
    ({"batch_id": "x", "good": [True, False], "best": 0}, "3 images but 2 labels"),
    ({"batch_id": "x", "good": [True, None, None], "best": 0}, "image(s) 2, 3 not labelled"),
    ({"batch_id": "x", "good": [True, 1, False], "best": 0}, "true or false"),
    ({"batch_id": "x", "good": [True, False, False]}, '"best" is missing'),
    ({"batch_id": "x", "good": [True, False, False], "best": None}, "pick one best"),
    ({"batch_id": "x", "good": [True, False, False], "best": 1}, "#2) must be one of the good"),
    ({"batch_id": "x", "good": [True, False, False], "best": 3}, "from 0 to 2"),
    ({"batch_id": "x", "good": [True, False, False], "best": True}, "index or null"),
])
def test_invalid_submissions_are_rejected_with_a_reason(payload, message) -> None:
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        validate_submission(payload, 3)
    assert e.value.status == 422


def test_valid_submissions() -> None:
    assert validate_submission({"batch_id": "x", "good": [False, True, True], "best": 2}, 3) == ([False, True, True], 2)
    assert validate_submission({"batch_id": "x", "good": [False] * 3, "best": None}, 3) == ([False] * 3, None)


def test_store_is_durable_refuses_replays_and_keeps_the_token(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    store = LabelStore(path)
    token = store.token_for("r")
    store.save("r", 0, "h0", [True, False], 0)
    with pytest.raises(AlreadyLabelled):
        store.save("r", 0, "h0", [False, True], 1)
    reopened = LabelStore(path)  # as after a crash
    assert reopened.token_for("r") == token and reopened.token_for("other") != token
    stored = reopened.lookup("r", 0, "h0")
    assert stored is not None and stored.good == [True, False] and stored.best == 0
    assert reopened.lookup("r", 1, "h0") is None and reopened.lookup("r", 0, "h1") is None
    reopened.record_progress("r", 1, 2, 10, 0.5)
    assert LabelStore(path).progress("r") == [{"epoch": 1, "feedback_used": 2, "budget": 10, "success_rate": 0.5}]


def test_batch_hash_depends_on_every_pixel_and_the_order() -> None:
    a = images(0)
    b = [im.copy() for im in a]
    assert batch_hash(a) == batch_hash(b)
    b[2].putpixel((5, 5), (0, 0, 0) if a[2].getpixel((5, 5)) != (0, 0, 0) else (1, 1, 1))
    assert batch_hash(a) != batch_hash(b)
    assert batch_hash(a) != batch_hash(a[::-1])


# -------------------------------------------------------------------------------------- over HTTP


def test_labels_posted_to_the_api_are_returned_by_judge(oracle) -> None:
    imgs = images(1)
    job = Judging(oracle, imgs, ["p1", "p2", "p3"])
    for _ in range(200):
        if oracle.session is not None and oracle._server is not None:
            break
        threading.Event().wait(0.02)
    c = client_for(oracle)
    batch = wait_for_batch(c)
    assert batch["index"] == 1 and batch["n_batches"] == 3 and batch["n_images"] == 3

    png = c.get(f"/image/{batch['batch_id']}/1.png")
    assert png.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png.content))), np.asarray(imgs[1]))
    page = c.get("/")
    assert TASK.success_condition in page.text and "p2" in page.text  # per-image prompts when they differ

    bad = c.post("/api/labels", json={"batch_id": batch["batch_id"], "good": [True, False, True], "best": 1})
    assert bad.status_code == 422 and "must be one of the good" in bad.json()["error"]
    assert c.post("/api/labels", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert c.post("/api/labels", content=b"good=1", headers={"content-type": "text/plain"}).status_code == 415
    stale = c.post("/api/labels", json={"batch_id": "0-deadbeef", "good": [True] * 3, "best": 0})
    assert stale.status_code == 409 and "not the batch being labelled" in stale.json()["error"]

    ok = c.post("/api/labels", json={"batch_id": batch["batch_id"], "good": [True, False, True], "best": 2})
    assert ok.status_code == 200 and ok.json()["ok"]
    assert job.join() == Feedback(good=[True, False, True], best=2)
    assert oracle.last_from_store is False

    replay = c.post("/api/labels", json={"batch_id": batch["batch_id"], "good": [False] * 3, "best": None})
    assert replay.status_code == 409 and "already labelled" in replay.json()["error"]
    stored = oracle.store.lookup("run-1", 0, batch_hash(imgs))
    assert stored.good == [True, False, True] and stored.best == 2  # the replay changed nothing

    # The same images at the next epoch are a new batch: asked again.
    job = Judging(oracle, imgs)
    again = wait_for_batch(c, batch["batch_id"])
    assert again["epoch"] == 1 and again["index"] == 2
    assert c.post("/api/labels", json={"batch_id": again["batch_id"], "good": [False] * 3, "best": None}).is_success
    assert job.join() == Feedback(good=[False] * 3, best=None)


def test_token_is_required_everywhere(oracle) -> None:
    oracle.start(TASK)
    for token in ("wrong", ""):
        c = client_for(oracle, token=token or "x")
        if not token:
            c.params = httpx.QueryParams()
        assert c.get("/api/state").status_code == 403
        assert "open the exact URL" in c.get("/api/state").json()["error"]
        page = c.get("/")
        assert page.status_code == 403 and "?token=" in page.text
        assert c.post("/api/labels", json={"batch_id": "x", "good": [], "best": None}).status_code == 403
    header = httpx.get(oracle.url.split("/?")[0] + "/api/state", headers={"X-Hero-Token": oracle.session.token})
    assert header.status_code == 200


def test_a_restarted_run_gets_stored_labels_without_asking(tmp_path) -> None:
    path, imgs = tmp_path / "labels.sqlite", images(2)
    first = HumanOracle(run_id="r", store=path, port=0, announce=lambda s: None, finish_grace=0)
    job = Judging(first, imgs)
    for _ in range(200):
        if first._server is not None:
            break
        threading.Event().wait(0.02)
    c = client_for(first)
    b = wait_for_batch(c)
    c.post("/api/labels", json={"batch_id": b["batch_id"], "good": [False, True, False], "best": 1})
    fb = job.join()
    first.close()

    second = HumanOracle(run_id="r", store=path, port=0, announce=lambda s: None)
    assert second.judge(imgs, TASK) == fb and second.last_from_store  # returns at once, no page needed
    assert second.state_dict()["epoch"] == 1
    resumed = HumanOracle(run_id="r", store=path, port=0, announce=lambda s: None)
    resumed.load_state_dict(first.state_dict())  # a run resumed from its checkpoint continues the count
    assert resumed.epoch == 1
    second.close()
    resumed.close()


def test_progress_is_posted_and_shown(oracle) -> None:
    oracle.start(TASK)
    c = client_for(oracle)
    assert c.post("/api/progress", json={"epoch": 1, "feedback_used": 3, "budget": 9, "success_rate": 0.25}).is_success
    oracle.report_progress(2, 6, 9, 0.5)
    state = c.get("/api/state").json()
    assert state["progress"] == {"epoch": 2, "feedback_used": 6, "budget": 9}
    assert [h["success_rate"] for h in state["history"]] == [0.25, 0.5]
    bad = c.post("/api/progress", json={"epoch": 1, "feedback_used": 3, "success_rate": 3})
    assert bad.status_code == 422 and "from 0 to 1" in bad.json()["error"]


def test_timeout_and_taken_port_name_the_fix(tmp_path) -> None:
    o = HumanOracle(run_id="t", store=tmp_path / "l.sqlite", port=0, timeout=0.2, announce=lambda s: None)
    with pytest.raises(HumanTimeoutError, match="resuming the run asks only for the rest"):
        o.judge(images(3), TASK)
    o.close()
    taken = bind_socket("127.0.0.1", 0)
    try:
        busy = HumanOracle(run_id="t", store=tmp_path / "l.sqlite", port=taken.getsockname()[1],
                           announce=lambda s: None)
        with pytest.raises(ServerStartError, match="pass another --port"):
            busy.start(TASK)
    finally:
        taken.close()
    assert issubclass(ServerStartError, HeroBenchError)


def test_a_port_out_of_range_is_a_one_line_error_not_an_overflow(tmp_path) -> None:
    oracle = HumanOracle(run_id="p", store=tmp_path / "l.sqlite", port=99999, announce=lambda s: None)
    with pytest.raises(ServerStartError, match="port 99999 is not a TCP port \\(0-65535"):
        oracle.start(TASK)


def test_host_exposes_the_page_deliberately_and_says_so(tmp_path) -> None:
    said: list[str] = []
    local = HumanOracle(run_id="h", store=tmp_path / "l.sqlite", port=0, announce=said.append, finish_grace=0)
    local.start(TASK)
    local.close()
    assert said[0] == f"hero-bench: labels are saved to {tmp_path / 'l.sqlite'} as each batch is submitted"
    assert len(said) == 2 and said[1].startswith("hero-bench: label the images at http://127.0.0.1:")
    said.clear()
    exposed = HumanOracle(run_id="h", store=tmp_path / "l.sqlite", host="0.0.0.0", port=0, announce=said.append,
                          finish_grace=0)
    try:
        url = exposed.start(TASK)
        assert "exposed on 0.0.0.0" in said[0] and "this machine's address" in said[0] and url in said[-1]
        assert httpx.get(url.replace("0.0.0.0", "127.0.0.1", 1).replace("/?", "/api/state?")).status_code == 200
    finally:
        exposed.close()


def test_registry_and_listing(tmp_path) -> None:
    rows = {r["name"]: r for r in describe_oracles()}
    assert {"simulated", "clip", "blip-vqa", "vlm", "human"} <= set(rows)
    assert rows["human"]["needs"] == "person" and rows["vlm"]["needs"] == "endpoint"
    assert "port=" in rows["human"]["detail"] and "host=" in rows["human"]["detail"]  # how to set them
    assert rows["clip"]["needs"] == rows["blip-vqa"]["needs"] == "weights"
    assert all(r["description"] for r in rows.values())
    assert isinstance(ORACLES.create("human", seed=4, port=0, store=tmp_path / "l.sqlite"), HumanOracle)
