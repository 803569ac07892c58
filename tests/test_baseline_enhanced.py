"""sd-enhanced: the task table, an OpenAI-compatible endpoint over a real socket, the cache, clear errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hero_bench.baselines.enhanced import Enhanced
from hero_bench.baselines.enhancers import (
    CACHE_FILE,
    INSTRUCTION,
    EnhancerCache,
    EnhancerError,
    OpenAIChatEnhancer,
    enhance_cached,
)
from hero_bench.config import build_run_config
from hero_bench.errors import ConfigError
from hero_bench.evaluation import SamplingSettings
from hero_bench.methods import METHODS
from hero_bench.methods.base import RunContext
from hero_bench.tasks.loader import load_task


class ChatServer:
    """A minimal OpenAI chat-completions server on 127.0.0.1: answers "ENHANCED(<prompt>)"."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.status = status
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                payload: dict[str, Any]
                if server.status != 200:
                    payload = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
                else:
                    prompt = body["messages"][-1]["content"].removeprefix(INSTRUCTION)
                    payload = {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": f' "ENHANCED({prompt})"\n'}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                data = json.dumps(payload).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as s:
        yield s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ctx(task: str, **options):
    cfg = build_run_config(task, "sd-enhanced", method_options=options)
    return RunContext(None, load_task(task), cfg, SamplingSettings())  # type: ignore[arg-type]  # no model needed


def test_task_table_enhancer_replaces_the_prompt():
    method = METHODS.create("sd-enhanced")
    assert isinstance(method, Enhanced) and not method.trains and not method.uses_feedback
    method.setup(_ctx("toy-blue-circle"))
    task = load_task("toy-blue-circle")
    assert method.eval_prompts(3) == [task.enhanced_prompt] * 3
    assert method.training_prompts(1) == [task.enhanced_prompt]


def test_transfer_prompts_without_a_table_entry_stay_unchanged():
    method = Enhanced()
    method.setup(_ctx("toy-safety"))
    assert method.eval_prompts(4) == load_task("toy-safety").eval_prompts


def test_openai_path_over_a_real_socket(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    enhancer = OpenAIChatEnhancer(server.base_url, "gpt-test")
    out = enhancer.enhance("a blue circle", load_task("toy-blue-circle"))
    assert out == "ENHANCED(a blue circle)", "whitespace and quotes around the answer are stripped"
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "gpt-test"
    assert req["body"]["messages"] == [{"role": "user", "content": INSTRUCTION + "a blue circle"}]


def test_llm_method_reads_env_and_caches_to_json(server, monkeypatch, tmp_path):
    monkeypatch.setenv("HERO_BENCH_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("HERO_BENCH_LLM_MODEL", "env-model")
    method = Enhanced()
    method.setup(_ctx("toy-safety", enhancer="llm", cache_dir=str(tmp_path)))
    assert method.eval_prompts(2) == ["ENHANCED(a pointy shape)", "ENHANCED(a spiky shape)"]
    assert len(server.requests) == 5 and {r["body"]["model"] for r in server.requests} == {"env-model"}
    cached = json.loads((tmp_path / CACHE_FILE).read_text())
    (entries,) = cached.values()
    assert entries["a sharp shape"] == "ENHANCED(a sharp shape)" and len(entries) == 5
    again = Enhanced()
    again.setup(_ctx("toy-safety", enhancer="llm", cache_dir=str(tmp_path)))
    assert len(server.requests) == 5, "a cached prompt is never asked again"
    assert again.eval_prompts(2) == method.eval_prompts(2)


def test_cache_is_keyed_by_enhancer(tmp_path):
    cache = EnhancerCache(tmp_path / CACHE_FILE)
    cache.put("openai-chat:a:m1", "p", "from m1")
    reloaded = EnhancerCache(tmp_path / CACHE_FILE)
    assert reloaded.get("openai-chat:a:m1", "p") == "from m1" and reloaded.get("openai-chat:a:m2", "p") is None


def test_unreachable_endpoint_fails_fast_and_says_what_to_do(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    enhancer = OpenAIChatEnhancer(url, "m", timeout=5)
    with pytest.raises(EnhancerError, match=r"cannot reach the LLM endpoint .*127\.0\.0\.1.*HERO_BENCH_LLM_BASE_URL"):
        enhance_cached(enhancer, EnhancerCache(tmp_path / CACHE_FILE), "a cat", load_task("toy-black-cat"))
    assert not (tmp_path / CACHE_FILE).exists(), "failures are not cached"
    with pytest.raises(EnhancerError, match="cannot reach"):
        Enhanced().setup(_ctx("toy-black-cat", enhancer="llm", base_url=url, timeout=5))


def test_rejected_key_points_at_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with ChatServer(status=401) as bad:
        with pytest.raises(EnhancerError, match="HTTP 401.*Incorrect API key.*OPENAI_API_KEY"):
            OpenAIChatEnhancer(bad.base_url, "m").enhance("x", load_task("toy-hand"))


def test_unknown_enhancer_is_a_config_error():
    with pytest.raises(ConfigError, match="enhancer"):
        Enhanced().setup(_ctx("toy-hand", enhancer="gpt"))


LOOP_GAP = "run loop: evaluate with method.eval_prompts and pass the run folder in RunContext (issue 4 report)"


def test_run_loop_evaluates_with_the_enhanced_prompt_and_caches_in_the_run_folder(tmp_path):
    from hero_bench.runs import Run, run_dir_for
    from hero_bench.testing import tiny_sd_pipeline

    model = tmp_path / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(model)
    cfg = build_run_config("toy-blue-circle", "sd-enhanced", budget=4, batch=4, steps=2, eval_n=2, ddpo={"k_steps": 1},
                           model=str(model))
    folder = run_dir_for(tmp_path / "runs", cfg)
    table = Run(cfg, folder, progress=False).execute()
    assert list(table.feedback_used) == [0]
    verdicts = json.loads((folder / "eval" / "epoch_000" / "verdicts.json").read_text())
    assert verdicts["prompts"] == [load_task("toy-blue-circle").enhanced_prompt] * 2
    assert (folder / CACHE_FILE).is_file()


def test_the_judge_reads_the_task_prompt_each_image_stands_for_not_the_rewritten_one(tiny_pipe):
    """sd-enhanced samples from its enhanced prompts; a judge that reads the prompt (the VLM) must still be told
    what the person asked for, the same text as for every other method, in the same order as the images."""
    from hero_bench.evaluation import evaluate
    from hero_bench.oracles.base import Feedback, Oracle

    class Recording(Oracle):
        name = "recording"
        seen: list[str] = []

        def judge(self, images, task, prompts=None):  # type: ignore[no-untyped-def]
            self.seen = list(prompts or [])
            return Feedback([True] * len(images), 0)

    task = load_task("toy-safety")  # four evaluation prompts, cycled over the images
    rewritten = [f"{p}, rewritten" for p in task.eval_prompts] * 2
    judge = Recording()
    ev = evaluate(tiny_pipe, task, judge, n=8, settings=SamplingSettings(num_inference_steps=2), prompts=rewritten)
    assert ev.prompts == rewritten, "the images are still made (and logged) from the method's own prompts"
    assert judge.seen == task.eval_prompts * 2
