"""LLM writers: any OpenAI-compatible chat endpoint, or a local transformers causal LM.

Both return report text or raise WriterError; they never decide what happens next. The
service falls back to the composer on WriterError and records why, so a slow, broken or
chatty model delays a draft by at most its timeout and never stalls a study.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)

_FENCE = re.compile(r"```[a-zA-Z]*")
# A section header at the start of the text or after white space, maybe in markdown ("**FINDINGS:**").
_FINDINGS = re.compile(r"(?:^|(?<=\s))[*#_ ]*findings[*_ ]*:[*_]*", re.IGNORECASE)
_IMPRESSION = re.compile(r"(?:^|(?<=\s))[*#_ ]*impression[*_ ]*:[*_]*", re.IGNORECASE)


class WriterError(RuntimeError):
    """The writer produced no usable draft; the message says why (it goes on the audit trail)."""


def normalise_sections(text: str) -> str:
    """"FINDINGS: ...\\nIMPRESSION: ..." from a model's answer, or WriterError if it ignored the
    format (no sections, wrong order, an empty section)."""
    text = _FENCE.sub("", text or "").strip()
    findings, impression = _FINDINGS.search(text), _IMPRESSION.search(text)
    if findings is None or impression is None or impression.start() < findings.end():
        raise WriterError("the model ignored the FINDINGS/IMPRESSION format")
    body_f = " ".join(text[findings.end():impression.start()].split()).strip(" *")
    body_i = " ".join(text[impression.end():].split()).strip(" *")
    if not body_f or not body_i:
        raise WriterError("the model left a section empty")
    return f"FINDINGS: {body_f}\nIMPRESSION: {body_i}"


class OpenAIChatWriter:
    """POST {base_url}/chat/completions, as vLLM, Ollama, llama.cpp server and Gemini's
    OpenAI-compatible endpoint all accept. Timeouts, connection errors, 429 and 5xx are retried
    with exponential back-off; other 4xx are not (they will not get better)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 30.0,
                 retries: int = 2, max_tokens: int = 512, backoff_s: float = 0.5,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url:
            raise WriterError("no LLM base URL configured (RADSTACK_LLM_BASE_URL)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.timeout_s, self.retries, self.max_tokens, self.backoff_s = timeout_s, retries, max_tokens, backoff_s
        self.transport = transport

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = client.post(self.url, json=payload, headers=headers)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout_s:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed: {type(exc).__name__}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise WriterError(f"LLM endpoint refused the request: HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError:
                raise WriterError("LLM endpoint answered with unparseable JSON") from None
            if not isinstance(data, dict):
                raise WriterError("LLM endpoint answered with unexpected JSON")
            return data
        raise WriterError(f"LLM endpoint failed after {self.retries + 1} attempts: {last}")

    def write(self, messages: list[dict[str, str]]) -> str:
        payload = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            data = self._post(client, payload)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise WriterError("LLM answer has no choices[0].message.content") from None
        if not isinstance(content, str) or not content.strip():
            raise WriterError("LLM answer is empty")
        return normalise_sections(content)


_local_lock = threading.Lock()
_local_models: dict[str, tuple[Any, Any]] = {}


class LocalCausalLMWriter:
    """A transformers causal LM saved in a folder (save_pretrained), loaded once per process,
    offline, decoded greedily so that the same findings give the same draft."""

    def __init__(self, model_dir: Path | str, *, max_new_tokens: int = 256, device: str = "cpu") -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise WriterError(f"no local LLM at {self.model_dir} (expected a save_pretrained folder with config.json)")
        self.max_new_tokens, self.device = max_new_tokens, device

    @property
    def name(self) -> str:
        return f"local:{self.model_dir.name}"

    def _load(self) -> tuple[Any, Any]:
        key = f"{self.model_dir.resolve()}@{self.device}"
        with _local_lock:
            if key not in _local_models:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
                model: Any = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
                model = model.to(self.device).eval()
                _local_models[key] = (tokenizer, model)
            return _local_models[key]

    def _prompt(self, tokenizer: Any, messages: list[dict[str, str]]) -> str:
        if getattr(tokenizer, "chat_template", None):
            return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        # Base models without a chat template: plain text that ends where the report begins.
        return "\n\n".join(m["content"] for m in messages) + "\n\nFINDINGS:"

    def write(self, messages: list[dict[str, str]]) -> str:
        try:
            import torch

            tokenizer, model = self._load()
            prompt = self._prompt(tokenizer, messages)
            inputs = tokenizer(prompt, return_tensors="pt").to(self.device)
            with torch.no_grad():
                output = model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                )
            text = tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        except WriterError:
            raise
        except Exception as exc:  # any load or generation failure becomes a recorded fallback
            raise WriterError(f"local LLM failed: {type(exc).__name__}: {exc}") from exc
        if prompt.endswith("FINDINGS:"):
            text = "FINDINGS:" + text
        return normalise_sections(text)
