"""The VLM judge over HTTP, against a local server that speaks the OpenAI chat-completions protocol.

The server is a real FastAPI app on a real socket. It checks the bearer key and the model name like a
hosted API, decodes the base64 PNG it was sent, and judges it by colour (more blue than red = good, the
bluer the higher the score), so the oracle's labels can be checked. Tests script its misbehaviour per
request: malformed or fenced replies, slow replies (timeouts), 5xx and 429 answers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from hero_bench.oracles import ORACLES
from hero_bench.oracles.human.serve import BackgroundServer
from hero_bench.oracles.vlm import (
    MalformedVerdict,
    VerdictCache,
    VLMEndpointError,
    VLMOracle,
    VLMReplyError,
    image_hash,
    parse_verdict,
)
from hero_bench.tasks import load_task

KEY, MODEL = "sk-test-123", "judge-1"


@dataclass
class FakeAPI:
    """What the server will do with the next requests, and what it has seen."""

    plan: list[str] = field(default_factory=list)  # consumed one per request; then `default`
    default: str = "ok"
    slow_seconds: float = 1.0
    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default


def colour_verdict(image: Image.Image) -> dict:
    arr = np.asarray(image.convert("RGB"), dtype=float)
    red, blue = arr[..., 0].mean(), arr[..., 2].mean()
    reason = f"blue {blue:.0f} red {red:.0f}"
    return {"good": bool(blue > red), "score": int(1 + round(9 * blue / 255)), "reason": reason}


def make_app(api: FakeAPI) -> FastAPI:
    app = FastAPI()

    def error(status: int, message: str, code: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": code}}, status)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return error(401, "Incorrect API key provided.", "invalid_api_key")
        body = await request.json()
        if body.get("model") != MODEL:
            return error(404, f"The model `{body.get('model')}` does not exist.", "model_not_found")
        parts = body["messages"][-1]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        text = next(p["text"] for p in parts if p["type"] == "text")
        assert url.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        behaviour = api.next_behaviour()
        with api.lock:
            api.requests.append({"body": body, "text": text, "image": image_hash(image), "behaviour": behaviour})
            api.in_flight += 1
            api.max_in_flight = max(api.max_in_flight, api.in_flight)
        try:
            await asyncio.sleep(api.slow_seconds if behaviour == "slow" else 0.05)
            if behaviour == "500":
                return error(500, "The server is overloaded.", "server_error")
            if behaviour == "429":
                return JSONResponse({"error": {"message": "Rate limit reached."}}, 429, headers={"retry-after": "0"})
            verdict = colour_verdict(image)
            content = {
                "ok": json.dumps(verdict),
                "slow": json.dumps(verdict),
                "fenced": "Here is my verdict:\n```json\n" + json.dumps(verdict) + "\n```",
                "malformed": "The image looks lovely, very blue!",
                "bad-score": json.dumps({**verdict, "score": 42}),
            }[behaviour]
            return {
                "id": f"chatcmpl-{len(api.requests)}", "object": "chat.completion", "created": int(time.time()),
                "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        finally:
            with api.lock:
                api.in_flight -= 1

    return app


@pytest.fixture
def api() -> Iterator[tuple[FakeAPI, str]]:
    state = FakeAPI()
    with BackgroundServer(make_app(state), port=0) as server:
        yield state, server.base_url + "/v1"


@pytest.fixture
def task():
    return load_task("toy-blue-circle")


def solid(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (64, 64), rgb)


BATCH = [solid((200, 0, 40)), solid((0, 0, 120)), solid((10, 10, 250)), solid((90, 90, 60)), solid((20, 0, 180))]
TRUTH = [colour_verdict(im) for im in BATCH]


def oracle(url: str, tmp_path, **kw) -> VLMOracle:
    kw = {"model": MODEL, "api_key": KEY, "cache": tmp_path / "cache.sqlite", "backoff": 0.01, **kw}
    return VLMOracle(base_url=url, **kw)


def test_judges_each_image_over_the_protocol_and_picks_the_top_score(api, task, tmp_path) -> None:
    state, url = api
    fb = oracle(url, tmp_path).judge(BATCH, task)
    assert fb.good == [t["good"] for t in TRUTH] == [False, True, True, False, True]
    assert fb.best == 2 and fb.scores == [float(t["score"]) for t in TRUTH]
    assert fb.reasons[0] == [TRUTH[0]["reason"]] and fb.reasons[1] == []
    assert sorted(r["image"] for r in state.requests) == sorted(image_hash(im) for im in BATCH)
    sent = state.requests[0]
    assert task.success_condition in sent["text"] and task.prompt in sent["text"]
    assert sent["body"]["response_format"] == {"type": "json_object"} and sent["body"]["temperature"] == 0


def test_cache_on_disk_means_no_verdict_is_paid_twice(api, task, tmp_path) -> None:
    state, url = api
    first = oracle(url, tmp_path)
    first.judge(BATCH, task)
    assert len(state.requests) == 5 and first.requests_sent == 5
    again = oracle(url, tmp_path)  # a restarted run: new oracle, same cache file
    assert again.judge(BATCH, task) == first.judge(BATCH, task)
    assert len(state.requests) == 5 and again.requests_sent == 0
    oracle(url, tmp_path).judge([BATCH[1], BATCH[1].copy()], load_task("toy-hand"))  # other task: asked anew
    assert len(state.requests) == 6  # two identical images in one batch cost one request
    assert len(VerdictCache(tmp_path / "cache.sqlite")) == 6


def test_a_crash_mid_batch_keeps_the_verdicts_already_paid_for(api, task, tmp_path) -> None:
    state, url = api
    state.plan = ["ok", "ok", "500"]
    state.default = "500"
    with pytest.raises(VLMEndpointError, match="HTTP 500"):
        oracle(url, tmp_path, concurrency=1, max_retries=1).judge(BATCH, task)
    assert len(state.requests) == 4  # two verdicts, then a 500 retried once
    state.default = "ok"
    resumed = oracle(url, tmp_path, concurrency=1)
    fb = resumed.judge(BATCH, task)
    assert resumed.requests_sent == 3 and fb.good == [t["good"] for t in TRUTH]


def test_bounded_concurrency(api, task, tmp_path) -> None:
    state, url = api
    state.default, state.slow_seconds = "slow", 0.3
    images = [solid((i, 0, 200)) for i in range(6)]
    oracle(url, tmp_path, concurrency=2, timeout=5).judge(images, task)
    assert state.max_in_flight == 2


def test_malformed_replies_are_retried_then_reported(api, task, tmp_path) -> None:
    state, url = api
    state.plan = ["malformed", "bad-score", "fenced"]
    fb = oracle(url, tmp_path, concurrency=1).judge(BATCH[:1], task)
    assert fb.good == [False] and len(state.requests) == 3

    state.default = "malformed"
    with pytest.raises(VLMReplyError, match="no valid verdict in 3 tries.*on_malformed='bad'"):
        oracle(url, tmp_path, max_retries=2).judge(BATCH[1:2], task)
    fb = oracle(url, tmp_path, max_retries=0, on_malformed="bad").judge(BATCH[1:3], task)
    assert fb.good == [False, False] and "malformed reply" in fb.reasons[0][0]
    assert len(VerdictCache(tmp_path / "cache.sqlite")) == 1  # a malformed reply is never cached


def test_timeouts_are_retried_then_name_the_fix(api, task, tmp_path) -> None:
    state, url = api
    state.plan, state.slow_seconds = ["slow"], 1.5
    t0 = time.monotonic()
    fb = oracle(url, tmp_path, timeout=0.3, max_retries=1).judge(BATCH[2:3], task)
    assert fb.good == [True] and time.monotonic() - t0 < 1.4  # did not wait for the slow reply
    state.default = "slow"
    with pytest.raises(VLMEndpointError, match=r"no reply within 0.3 s in 2 tries: raise the timeout"):
        oracle(url, tmp_path, timeout=0.3, max_retries=1).judge(BATCH[:1], task)


def test_rate_limits_are_retried(api, task, tmp_path) -> None:
    state, url = api
    state.plan = ["429", "429"]
    assert oracle(url, tmp_path, max_retries=2).judge(BATCH[1:2], task).good == [True]
    assert [r["behaviour"] for r in state.requests] == ["429", "429", "ok"]


def test_bad_key_wrong_model_and_unreachable_endpoint_name_the_fix(api, task, tmp_path) -> None:
    state, url = api
    with pytest.raises(VLMEndpointError, match="rejected the API key.*Incorrect API key.*HERO_VLM_API_KEY"):
        oracle(url, tmp_path, api_key="sk-wrong").judge(BATCH[:1], task)
    with pytest.raises(VLMEndpointError, match="404.*does not exist.*HERO_VLM_MODEL"):
        oracle(url, tmp_path, model="no-such-model").judge(BATCH[:1], task)
    assert state.requests == []  # rejected before the image was judged, and never retried
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(VLMEndpointError, match="cannot reach the VLM endpoint.*HERO_VLM_BASE_URL"):
        oracle(closed, tmp_path, max_retries=1).judge(BATCH[:1], task)


def test_configured_from_the_environment(api, task, tmp_path, monkeypatch) -> None:
    state, url = api
    for name in ("HERO_VLM_BASE_URL", "OPENAI_BASE_URL", "HERO_VLM_MODEL", "HERO_VLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(VLMEndpointError, match="HERO_VLM_BASE_URL"):
        ORACLES.create("vlm", seed=0)
    monkeypatch.setenv("HERO_VLM_BASE_URL", url)
    with pytest.raises(VLMEndpointError, match="HERO_VLM_MODEL"):
        ORACLES.create("vlm", seed=0)
    monkeypatch.setenv("HERO_VLM_MODEL", MODEL)
    monkeypatch.setenv("HERO_VLM_API_KEY", KEY)
    monkeypatch.setenv("HERO_VLM_CACHE", str(tmp_path / "env-cache.sqlite"))
    fb = ORACLES.create("vlm", seed=0).judge(BATCH[:2], task)
    assert fb.good == [False, True] and (tmp_path / "env-cache.sqlite").is_file()


def test_parse_verdict_accepts_chatter_and_rejects_nonsense() -> None:
    assert parse_verdict('Sure! {"good": true, "score": 8, "reason": "ok"} Hope that helps.').score == 8.0
    assert parse_verdict('```json\n{"good": "no", "score": "3"}\n```').good is False
    assert parse_verdict('{"note": {"x": 1}, "good": false, "score": 1}').good is False
    for bad in ["no json here", '{"good": 1, "score": 5}', '{"good": true, "score": 0}', '{"good": true}',
                '{"good": true, "score": true}', '{"good": true, "score": "high"}', "[1, 2]"]:
        with pytest.raises(MalformedVerdict):
            parse_verdict(bad)
