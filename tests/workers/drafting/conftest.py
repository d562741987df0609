"""Fixtures: a fake OpenAI-compatible LLM server on loopback (the IU index fixtures are in
tests/workers/conftest.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.config import Settings

GOOD_ANSWER = "FINDINGS: The heart is enlarged. There is no pneumothorax or pleural effusion.\nIMPRESSION: Cardiomegaly."


class FakeLLM:
    """Answers /chat/completions according to `mode`; records every request it gets."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.content = GOOD_ANSWER
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                      "raw": body.decode(), "json": json.loads(body)})
                mode = fake.mode
                if mode == "flaky":
                    mode = "500" if len(fake.requests) == 1 else "ok"
                if mode == "slow":
                    time.sleep(1.0)
                    mode = "ok"
                if mode in ("500", "400"):
                    self._send(int(mode), b'{"error": "boom"}')
                elif mode == "garbage":
                    self._send(200, b"<html>definitely not json")
                elif mode == "no_choices":
                    self._send(200, b'{"object": "chat.completion", "choices": []}')
                else:
                    content = {"ok": fake.content, "empty": "", "no_format": "The heart looks big to me."}[mode]
                    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
                    self._send(200, json.dumps(answer).encode())

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def llm_settings() -> Callable[..., Settings]:
    """Settings that point the openai writer at a FakeLLM, with a short timeout and one retry."""
    def make(fake: FakeLLM, **overrides: Any) -> Settings:
        values = {"llm_base_url": fake.url, "llm_model": "test-model", "llm_api_key": "sk-test", "llm_timeout_s": 0.4,
                  "llm_retries": 1, "llm_max_tokens": 300, "draft_writer": "openai"}
        values.update(overrides)
        return Settings(**values)
    return make
