"""The VLM judge: a vision-language model reads the task's success condition and returns a JSON verdict.

Each image is sent with the prompt it was generated from and the success condition in words; the model
answers `{"good": true|false, "score": 1-10, "reason": "..."}`. Good/bad is the label, the score picks
the best among the good images.

The pieces, one module each: what is asked and how a reply is read (`vlm_verdict`), the on-disk verdict
cache (`vlm_cache`), and the transports to an OpenAI-compatible endpoint or a local model
(`vlm_transport`). This module is the oracle that ties them together; it re-exports their public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.oracles.vlm_cache import DEFAULT_CACHE, VerdictCache, cache_key, image_data_url, image_hash
from hero_bench.oracles.vlm_reach import env_setting
from hero_bench.oracles.vlm_transport import (
    ChatCompletionsTransport,
    LocalVLMTransport,
    Transport,
    VLMEndpointError,
    make_transport,
)
from hero_bench.oracles.vlm_verdict import (
    PROMPT_VERSION,
    MalformedVerdict,
    Verdict,
    VLMReplyError,
    parse_verdict,
    verdict_instructions,
)
from hero_bench.tasks.base import Task

__all__ = [
    "DEFAULT_CACHE",
    "PROMPT_VERSION",
    "ChatCompletionsTransport",
    "LocalVLMTransport",
    "MalformedVerdict",
    "Transport",
    "VLMEndpointError",
    "VLMOracle",
    "VLMReplyError",
    "Verdict",
    "VerdictCache",
    "cache_key",
    "image_data_url",
    "image_hash",
    "parse_verdict",
    "verdict_instructions",
]


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
        self.transport: Transport = transport or make_transport(
            model, base_url, api_key, timeout, max_retries, concurrency, device, transport_options
        )
        self.concurrency = max(1, min(concurrency, self.transport.max_concurrency))
        if cache is True:
            cache = env_setting("HERO_VLM_CACHE") or DEFAULT_CACHE
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

    def _ask_all(
        self, todo: dict[str, int], images: Sequence[Image.Image], prompts: Sequence[str], task: Task
    ) -> dict[str, Verdict]:
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

    def judge(self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None) -> Feedback:
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
