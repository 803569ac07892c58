"""The VLM judge: a vision-language model reads the task's success condition and returns a JSON verdict.

Each image is sent with the prompt it was generated from and the success condition in words; the model
answers `{"good": true|false, "score": 1-10, "reason": "..."}`. Good/bad is the label, the score picks
the best among the good images.

Two transports, one `ask(image, text) -> reply text` interface:
- `ChatCompletionsTransport`: any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, Ollama,
  llama.cpp, LM Studio...), the image inlined as a base64 PNG data URL. Configured by arguments or the
  environment (HERO_VLM_BASE_URL, HERO_VLM_MODEL, HERO_VLM_API_KEY; OPENAI_BASE_URL/OPENAI_API_KEY too).
- `LocalVLMTransport`: a transformers image-text-to-text model from a folder (its chat template).

Why the on-disk cache: remote judges cost money and time, and runs crash. Every verdict is committed to
SQLite the moment it arrives, keyed by a hash of the image pixels, the task, the prompt and the judge
model, so re-running a crashed run (which regenerates the same images from the same seeds) never pays
for the same verdict twice.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.oracles.clip import OracleSetupError, load_local_or_hub
from hero_bench.tasks.base import Task

PROMPT_VERSION = 1
"""Bump when the instructions change: verdicts cached under another wording are not reused."""

DEFAULT_CACHE = Path("~/.cache/hero-bench/vlm_verdicts.sqlite")

SYSTEM_PROMPT = (
    "You are a strict, consistent judge of images made by a text-to-image model. You check one image "
    "against a success condition and reply with a single JSON object and nothing else."
)


class VLMEndpointError(OracleSetupError):
    """The endpoint is unreachable, rejects the key, or does not serve the model; names the fix."""


class VLMReplyError(HeroBenchError):
    """The judge kept replying with something that is not a valid verdict."""


class MalformedVerdict(ValueError):
    """One reply could not be read as a verdict (retried; see VLMReplyError)."""


# ------------------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one image."""

    good: bool
    score: float
    reason: str = ""


def verdict_instructions(task: Task, prompt: str) -> str:
    """The user-turn text sent with each image."""
    return (
        f'The image was generated from the prompt: "{prompt}"\n'
        f"Success condition: {task.success_condition}\n\n"
        "Decide whether the image satisfies the success condition. Then rate how well it does, counting "
        "image quality too, from 1 (worst) to 10 (best); a good image should score at least 6.\n"
        'Reply with only this JSON: {"good": true or false, "score": an integer from 1 to 10, '
        '"reason": "one short sentence"}'
    )


_BOOL_WORDS = {"true": True, "yes": True, "good": True, "false": False, "no": False, "bad": False}


def _first_json_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise MalformedVerdict(f"no JSON object in the reply: {text[:200]!r}")


def parse_verdict(text: str) -> Verdict:
    """Read a verdict from a model's reply: the first JSON object in it (code fences and chatter allowed).

    `good` must be a boolean (or "true"/"false"/"yes"/"no"); `score` a number from 1 to 10.
    """
    if not isinstance(text, str):
        raise MalformedVerdict(f"reply content is {type(text).__name__}, not text")
    obj = _first_json_object(text)
    good = obj.get("good")
    if isinstance(good, str) and good.strip().lower() in _BOOL_WORDS:
        good = _BOOL_WORDS[good.strip().lower()]
    if not isinstance(good, bool):
        raise MalformedVerdict(f'"good" must be true or false, got {obj.get("good")!r}')
    score = obj.get("score")
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            raise MalformedVerdict(f'"score" must be a number from 1 to 10, got {score!r}') from None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 10:
        raise MalformedVerdict(f'"score" must be a number from 1 to 10, got {obj.get("score")!r}')
    reason = obj.get("reason", "")
    return Verdict(good=good, score=float(score), reason=str(reason) if reason is not None else "")


# -------------------------------------------------------------------------------------- images, cache


def image_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_data_url(image: Image.Image) -> str:
    """The image as a `data:image/png;base64,...` URL, the form chat-completions APIs accept inline."""
    return "data:image/png;base64," + base64.b64encode(image_png(image)).decode("ascii")


def image_hash(image: Image.Image) -> str:
    """sha256 of the RGB pixels and size: the same picture gives the same key whatever its file format."""
    rgb = image.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def cache_key(image: Image.Image, task: Task, prompt: str, judge_id: str) -> str:
    """Image hash + task (name, success condition) + prompt + judge model + instruction version."""
    parts = [f"v{PROMPT_VERSION}", judge_id, task.name, task.success_condition, prompt, image_hash(image)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class VerdictCache:
    """Verdicts on disk (SQLite, one commit per verdict) so that a crashed run never pays twice."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, judge TEXT, task TEXT, good INTEGER,"
                " score REAL, reason TEXT, raw TEXT, created REAL)"
            )

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            row = self._conn.execute("SELECT good, score, reason FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else Verdict(good=bool(row[0]), score=float(row[1]), reason=row[2] or "")

    def put(self, key: str, verdict: Verdict, judge: str, task: str, raw: str) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, judge, task, int(verdict.good), verdict.score, verdict.reason, raw, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# ------------------------------------------------------------------------------------------ transports


class Transport(Protocol):
    """Sends one image and the instructions to a judge model and returns its reply text."""

    judge_id: str
    max_concurrency: int

    def ask(self, image: Image.Image, text: str) -> str: ...


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class ChatCompletionsTransport:
    """An OpenAI-compatible chat-completions endpoint over HTTP, with timeouts and retries.

    Retried: connection failures, timeouts, HTTP 429 and 5xx (honouring Retry-After), and replies that
    are not a valid verdict. Not retried: 401/403 (the key) and 404 (the URL or model), which need a fix.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_concurrency: int = 4,
        json_mode: bool = True,
        max_tokens: int = 200,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.judge_id = f"chat:{model}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        self.json_mode = json_mode
        self.max_tokens = max_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers,
                                    limits=httpx.Limits(max_connections=max_concurrency))

    def request_body(self, image: Image.Image, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": image_data_url(image)}},
                ]},
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        try:
            delay = float(retry_after) if retry_after else self.backoff * 2**attempt
        except ValueError:
            delay = self.backoff * 2**attempt
        time.sleep(min(delay, 30.0) * (0.75 + 0.5 * random.random()))

    def ask(self, image: Image.Image, text: str) -> str:
        """The reply text of the first attempt whose content parses as a verdict."""
        import httpx

        body = self.request_body(image, text)
        failure, kind = "", ""
        retry_after: str | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep(attempt - 1, retry_after)
            retry_after = None
            try:
                resp = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                kind, failure = "timeout", f"no reply within {self.timeout:g} s"
                continue
            except httpx.TransportError as e:
                kind, failure = "unreachable", f"{type(e).__name__}: {e}"
                continue
            if resp.status_code in (401, 403):
                raise VLMEndpointError(
                    f"the VLM endpoint {self.base_url} rejected the API key (HTTP {resp.status_code}: "
                    f"{_error_message(resp)}): set HERO_VLM_API_KEY (or OPENAI_API_KEY) to a valid key"
                )
            if resp.status_code == 404:
                raise VLMEndpointError(
                    f"{self.url} answered 404 ({_error_message(resp)}): check the base URL (it usually ends in "
                    f"/v1) and that the server serves model {self.model!r} (HERO_VLM_BASE_URL, HERO_VLM_MODEL)"
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                kind, failure = "server", f"HTTP {resp.status_code}: {_error_message(resp)}"
                retry_after = resp.headers.get("retry-after")
                continue
            if resp.status_code >= 400:
                raise VLMEndpointError(
                    f"the VLM endpoint refused the request (HTTP {resp.status_code}: {_error_message(resp)}); "
                    f"check that model {self.model!r} accepts images (or try json_mode=False)"
                )
            try:
                content = _reply_content(resp.json())
                parse_verdict(content)
                return content
            except (ValueError, KeyError, IndexError, TypeError) as e:
                kind, failure = "malformed", str(e)
        tries = self.max_retries + 1
        if kind == "malformed":
            raise VLMReplyError(
                f"the VLM {self.model!r} gave no valid verdict in {tries} tries (last: {failure}); use a model "
                "that follows JSON instructions, or on_malformed='bad' to count such images as bad"
            )
        if kind == "timeout":
            raise VLMEndpointError(
                f"the VLM endpoint {self.base_url} sent no reply within {self.timeout:g} s in {tries} tries: "
                "raise the timeout (timeout=...) or check that the server is not overloaded"
            )
        if kind == "unreachable":
            raise VLMEndpointError(
                f"cannot reach the VLM endpoint {self.base_url} ({failure}) after {tries} tries: start the server "
                "or set HERO_VLM_BASE_URL to a reachable OpenAI-compatible URL"
            )
        raise VLMEndpointError(f"the VLM endpoint {self.base_url} kept failing ({failure}) in {tries} tries")

    def close(self) -> None:
        self._client.close()


def _reply_content(payload: Any) -> str:
    """choices[0].message.content, also when a server returns it as a list of text parts."""
    content = payload["choices"][0]["message"]["content"]
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise MalformedVerdict(f"message content is {type(content).__name__}, not text")
    return content


def _error_message(resp: Any) -> str:
    try:
        err = resp.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    except (ValueError, AttributeError):
        pass
    return resp.text[:300] or resp.reason_phrase


class LocalVLMTransport:
    """A transformers image-text-to-text model (LLaVA, Qwen-VL, Idefics, ...) from a folder or hub id.

    The model's own chat template formats the image and the instructions; decoding is greedy. Replies
    that are not a verdict are retried with sampling (a greedy retry would repeat itself).
    """

    max_concurrency = 1

    def __init__(self, model: str | Path, device: str = "cpu", max_new_tokens: int = 96, max_retries: int = 2) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        fix = "Pass a local vision-language model folder, or use an endpoint (HERO_VLM_BASE_URL)."
        self.judge_id = f"local:{Path(str(model)).name}"
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        self.max_retries = max_retries
        self.model = load_local_or_hub(
            lambda s, **kw: AutoModelForImageTextToText.from_pretrained(s, dtype=torch.float32, **kw),
            model, "VLM weights", fix,
        ).to(self.device).eval()
        self.processor = load_local_or_hub(lambda s, **kw: AutoProcessor.from_pretrained(s, **kw), model,
                                           "VLM processor", fix)

    def ask(self, image: Image.Image, text: str) -> str:
        import torch

        messages = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
            {"role": "user", "content": [{"type": "image", "image": image.convert("RGB")},
                                         {"type": "text", "text": text}]},
        ]
        inputs = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        ).to(self.device)
        reply = ""
        for attempt in range(self.max_retries + 1):
            with torch.no_grad():
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=attempt > 0)
            reply = self.processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            try:
                parse_verdict(reply)
                return reply
            except MalformedVerdict:
                continue
        raise VLMReplyError(
            f"the local VLM gave no valid verdict in {self.max_retries + 1} tries (last: {reply[:200]!r}); use a "
            "model that follows JSON instructions, or on_malformed='bad' to count such images as bad"
        )


# ---------------------------------------------------------------------------------------------- oracle


class VLMOracle(Oracle):
    """Asks a vision-language model whether each image meets the task's success condition."""

    name = "vlm"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 4,
        cache: str | Path | bool = True,
        on_malformed: Literal["raise", "bad"] = "raise",
        device: str = "cpu",
        seed: int = 0,
        transport: Transport | None = None,
        **transport_options: Any,
    ) -> None:
        """With a base URL (argument, HERO_VLM_BASE_URL or OPENAI_BASE_URL) `model` is the served model name
        (default HERO_VLM_MODEL); without one, `model` is a local VLM folder. `cache`: True for
        ~/.cache/hero-bench/vlm_verdicts.sqlite (or HERO_VLM_CACHE), a path, or False for none.
        `seed` is accepted for a uniform oracle interface (requests use temperature 0).
        """
        if on_malformed not in ("raise", "bad"):
            raise ValueError(f"on_malformed must be 'raise' or 'bad', got {on_malformed!r}")
        self.seed = seed
        self.on_malformed = on_malformed
        self.transport: Transport = transport or _make_transport(
            model, base_url, api_key, timeout, max_retries, concurrency, device, transport_options
        )
        self.concurrency = max(1, min(concurrency, self.transport.max_concurrency))
        if cache is True:
            cache = _env("HERO_VLM_CACHE") or DEFAULT_CACHE
        self.cache = VerdictCache(cache) if cache else None
        self.requests_sent = 0
        """Verdicts asked of the model (cache hits excluded): what the run actually paid for."""

    def verdicts(self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str]) -> list[Verdict]:
        """One verdict per image: from the cache, else asked (concurrently) and cached as each arrives."""
        judge_id = self.transport.judge_id
        keys = [cache_key(im, task, p, judge_id) for im, p in zip(images, prompts, strict=True)]
        found: dict[str, Verdict] = {}
        if self.cache is not None:
            for k in dict.fromkeys(keys):
                v = self.cache.get(k)
                if v is not None:
                    found[k] = v
        todo = {k: i for i, k in enumerate(keys) if k not in found}  # one request per distinct image
        if todo:
            found.update(self._ask_all(todo, images, prompts, task))
        return [found[k] for k in keys]

    def _ask_all(self, todo: dict[str, int], images: Sequence[Image.Image], prompts: Sequence[str],
                 task: Task) -> dict[str, Verdict]:
        """At most `concurrency` requests in flight; a new one starts only when one finishes, so that after
        a failure no further request is sent (and paid for)."""
        out: dict[str, Verdict] = {}
        queue = list(todo.items())
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="hero-vlm") as pool:
            futures: dict[Future[str], str] = {}

            pending: set[Future[str]] = set()

            def submit_next() -> None:
                if queue:
                    k, i = queue.pop(0)
                    fut = pool.submit(self.transport.ask, images[i], verdict_instructions(task, prompts[i]))
                    futures[fut] = k
                    pending.add(fut)

            for _ in range(self.concurrency):
                submit_next()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.discard(fut)
                    key = futures[fut]
                    try:
                        raw = fut.result()
                    except VLMReplyError as e:
                        if self.on_malformed == "raise":
                            raise  # finished verdicts are already cached: a rerun pays only for the rest
                        out[key] = Verdict(good=False, score=1.0, reason=f"malformed reply: {e}")
                    else:
                        verdict = parse_verdict(raw)
                        self.requests_sent += 1
                        if self.cache is not None:
                            self.cache.put(key, verdict, self.transport.judge_id, task.name, raw)
                        out[key] = verdict
                    submit_next()
        return out

    def judge(
        self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None
    ) -> Feedback:
        """Label each image by the VLM's verdict; best = highest score among the good (ties: first)."""
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        if prompts is None:
            prompts = [task.prompt] * len(images)
        if len(prompts) != len(images):
            raise ValueError(f"got {len(prompts)} prompts for {len(images)} images")
        vs = self.verdicts(images, task, prompts)
        good = [v.good for v in vs]
        good_idx = [i for i, g in enumerate(good) if g]
        best = max(good_idx, key=lambda i: (vs[i].score, -i)) if good_idx else None
        reasons = [[] if v.good else [v.reason or "judged bad"] for v in vs]
        return Feedback(good=good, best=best, scores=[v.score for v in vs], reasons=reasons)

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()
        if self.cache is not None:
            self.cache.close()

    def state_dict(self) -> dict[str, Any]:
        return {"requests_sent": self.requests_sent}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.requests_sent = int(state.get("requests_sent", 0))


def _make_transport(model: str | None, base_url: str | None, api_key: str | None, timeout: float,
                    max_retries: int, concurrency: int, device: str, options: dict[str, Any]) -> Transport:
    base_url = base_url or _env("HERO_VLM_BASE_URL", "OPENAI_BASE_URL")
    if base_url:
        name = model or _env("HERO_VLM_MODEL")
        if not name:
            raise VLMEndpointError(
                f"no model name for the VLM endpoint {base_url}: set HERO_VLM_MODEL (or pass model=...), e.g. "
                "the name your server lists at /v1/models"
            )
        key = api_key or _env("HERO_VLM_API_KEY", "OPENAI_API_KEY")
        return ChatCompletionsTransport(base_url, name, key, timeout=timeout, max_retries=max_retries,
                                        max_concurrency=concurrency, **options)
    if model:
        return LocalVLMTransport(model, device=device, max_retries=max_retries, **options)
    raise VLMEndpointError(
        "the vlm oracle needs a judge: set HERO_VLM_BASE_URL (an OpenAI-compatible URL such as "
        "http://127.0.0.1:8000/v1), HERO_VLM_MODEL and, if the server wants one, HERO_VLM_API_KEY; or pass a "
        "local vision-language model folder as the oracle model"
    )
