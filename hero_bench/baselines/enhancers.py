"""Prompt enhancers for `sd-enhanced`: the task's shipped enhanced prompt, or an LLM behind an
OpenAI-compatible chat-completions endpoint, with a JSON cache so a run never asks twice.

Why a cache in the run folder: an LLM's answer changes between calls, so the prompt a run evaluated with
must be recorded to reproduce or resume it, and re-running the comparison should not pay for the LLM
again. The paper asked GPT-4: "Enhance the following text prompt for Stable Diffusion image generation:
[prompt]"; that instruction is the default here.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from hero_bench.errors import HeroBenchError
from hero_bench.tasks.base import Task
from hero_bench.tasks.fit import task_text

INSTRUCTION = "Enhance the following text prompt for Stable Diffusion image generation: "
ENV_BASE_URL = "HERO_BENCH_LLM_BASE_URL"
ENV_MODEL = "HERO_BENCH_LLM_MODEL"
ENV_API_KEY = "OPENAI_API_KEY"  # read from the environment only, so it never lands in a run's config.json
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4"
CACHE_FILE = "enhanced_prompts.json"


class EnhancerError(HeroBenchError):
    """An enhancer could not produce a prompt (endpoint down, bad key, malformed answer); says the fix."""


class PromptEnhancer(Protocol):
    """Turns a prompt into an enhanced one; None when it has nothing for this prompt."""

    key: str
    """Identifies the enhancer (and model) in the cache, so answers of different LLMs never mix."""

    def enhance(self, prompt: str, task: Task) -> str | None: ...


class TaskTableEnhancer:
    """The enhanced prompt shipped with each task (the paper's GPT-4 answers for the real tasks)."""

    key = "task-table"

    def enhance(self, prompt: str, task: Task) -> str | None:
        return task_text(task, "sd-enhanced") if prompt == task.prompt else None


class OpenAIChatEnhancer:
    """POST {base_url}/chat/completions with one user message; the reply's text is the new prompt."""

    def __init__(self, base_url: str | None = None, model: str | None = None, timeout: float = 60.0,
                 temperature: float | None = None, instruction: str = INSTRUCTION) -> None:
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
        self.timeout = timeout
        self.temperature = temperature
        self.instruction = instruction
        self.key = f"openai-chat:{self.base_url}:{self.model}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _request(self, prompt: str) -> urllib.request.Request:
        message = {"role": "user", "content": self.instruction + prompt}
        body: dict[str, Any] = {"model": self.model, "messages": [message]}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api_key = os.environ.get(ENV_API_KEY)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")

    def enhance(self, prompt: str, task: Task) -> str:
        try:
            with urllib.request.urlopen(self._request(prompt), timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            hint = f" Check {ENV_API_KEY}." if e.code in (401, 403) else ""
            raise EnhancerError(f"LLM endpoint {self.url} answered HTTP {e.code}: {detail}.{hint}") from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise EnhancerError(
                f"cannot reach the LLM endpoint {self.url} ({reason}). Start the server, or point "
                f"method_options.base_url / {ENV_BASE_URL} at an OpenAI-compatible endpoint, or use "
                "method_options.enhancer='task' for the shipped enhanced prompts."
            ) from None
        return self._parse(payload)

    def _parse(self, payload: bytes) -> str:
        try:
            text = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EnhancerError(f"LLM endpoint {self.url} did not return a chat completion: "
                                f"{payload[:300].decode(errors='replace')}") from None
        text = str(text or "").strip().strip('"').strip()
        if not text:
            raise EnhancerError(f"LLM endpoint {self.url} returned an empty prompt (model {self.model})")
        return text


class EnhancerCache:
    """{enhancer key: {prompt: enhanced prompt}} in a JSON file (or in memory when `path` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, dict[str, str]] = {}
        if path is not None and path.is_file():
            try:
                self.data = json.loads(path.read_text())
            except ValueError as e:
                raise EnhancerError(f"enhanced-prompt cache {path} is not valid JSON ({e}); delete it") from None

    def get(self, key: str, prompt: str) -> str | None:
        return self.data.get(key, {}).get(prompt)

    def put(self, key: str, prompt: str, enhanced: str) -> None:
        self.data.setdefault(key, {})[prompt] = enhanced
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, self.path)


def enhance_cached(enhancer: PromptEnhancer, cache: EnhancerCache, prompt: str, task: Task) -> str | None:
    """The cached answer, else ask the enhancer once and store what it says."""
    hit = cache.get(enhancer.key, prompt)
    if hit is not None:
        return hit
    enhanced = enhancer.enhance(prompt, task)
    if enhanced is not None:
        cache.put(enhancer.key, prompt, enhanced)
    return enhanced
