"""How the VLM judge is reached: one `ask(image, text) -> reply text` interface, two transports.

- `ChatCompletionsTransport`: any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, Ollama,
  llama.cpp, LM Studio...), the image inlined as a base64 PNG data URL, with timeouts and retries.
- `LocalVLMTransport`: a transformers image-text-to-text model from a folder (its chat template).
`make_transport` picks one from the arguments or the environment (HERO_VLM_BASE_URL, HERO_VLM_MODEL,
HERO_VLM_API_KEY; OPENAI_BASE_URL/OPENAI_API_KEY too).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from hero_bench.oracles.clip import OracleSetupError, load_local_or_hub
from hero_bench.oracles.vlm_cache import image_data_url
from hero_bench.oracles.vlm_reach import NO_JUDGE, START_THE_SERVER, endpoint_url, env_setting, no_model_name
from hero_bench.oracles.vlm_verdict import SYSTEM_PROMPT, MalformedVerdict, VLMReplyError, parse_verdict


class VLMEndpointError(OracleSetupError):
    """The endpoint is unreachable, rejects the key, or does not serve the model; names the fix."""


class Transport(Protocol):
    """Sends one image and the instructions to a judge model and returns its reply text."""

    judge_id: str
    max_concurrency: int

    def ask(self, image: Image.Image, text: str) -> str: ...


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
        self._client = httpx.Client(
            timeout=timeout, headers=headers, limits=httpx.Limits(max_connections=max_concurrency)
        )

    def request_body(self, image: Image.Image, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {"type": "image_url", "image_url": {"url": image_data_url(image)}},
                    ],
                },
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
        tries = "1 try" if self.max_retries == 0 else f"{self.max_retries + 1} tries"
        if kind == "malformed":
            raise VLMReplyError(
                f"the VLM {self.model!r} gave no valid verdict in {tries} (last: {failure}); use a model "
                "that follows JSON instructions, or on_malformed='bad' to count such images as bad"
            )
        if kind == "timeout":
            raise VLMEndpointError(
                f"the VLM endpoint {self.base_url} sent no reply within {self.timeout:g} s in {tries}: "
                "raise the timeout (timeout=...) or check that the server is not overloaded"
            )
        if kind == "unreachable":
            raise VLMEndpointError(
                f"cannot reach the VLM endpoint {self.base_url} ({failure}) after {tries}: {START_THE_SERVER}"
            )
        raise VLMEndpointError(f"the VLM endpoint {self.base_url} kept failing ({failure}) in {tries}")

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
        self.model = (
            load_local_or_hub(
                lambda s, **kw: AutoModelForImageTextToText.from_pretrained(s, dtype=torch.float32, **kw),
                model,
                "VLM weights",
                fix,
            )
            .to(self.device)
            .eval()
        )
        self.processor = load_local_or_hub(
            lambda s, **kw: AutoProcessor.from_pretrained(s, **kw), model, "VLM processor", fix
        )

    def ask(self, image: Image.Image, text: str) -> str:
        import torch

        messages = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
            {
                "role": "user",
                "content": [{"type": "image", "image": image.convert("RGB")}, {"type": "text", "text": text}],
            },
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


# The options each transport takes beyond what the vlm oracle passes it (`--oracle-option max_tokens=300`).
TRANSPORT_OPTIONS = {"endpoint": ("backoff", "json_mode", "max_tokens"), "local model": ("max_new_tokens",)}


def _only_options_of(kind: str, options: dict[str, Any]) -> None:
    """An option the chosen transport does not take is one line, not a TypeError from its constructor."""
    extra = sorted(set(options) - set(TRANSPORT_OPTIONS[kind]))
    if extra:
        raise VLMEndpointError(
            f"the vlm oracle's {kind} takes no option {', '.join(map(repr, extra))}; its own: "
            f"{', '.join(TRANSPORT_OPTIONS[kind])}"
        )


def make_transport(
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    timeout: float,
    max_retries: int,
    concurrency: int,
    device: str,
    options: dict[str, Any],
) -> Transport:
    """An endpoint when a base URL is given or set in the environment, else a local model folder."""
    base_url = base_url or endpoint_url({})
    if base_url:
        name = model or env_setting("HERO_VLM_MODEL")
        if not name:
            raise VLMEndpointError(no_model_name(base_url))
        key = api_key or env_setting("HERO_VLM_API_KEY", "OPENAI_API_KEY")
        _only_options_of("endpoint", options)
        return ChatCompletionsTransport(
            base_url, name, key, timeout=timeout, max_retries=max_retries, max_concurrency=concurrency, **options
        )
    if model:
        _only_options_of("local model", options)
        return LocalVLMTransport(model, device=device, max_retries=max_retries, **options)
    raise VLMEndpointError(NO_JUDGE)
