"""Small fake servers speaking the documented HTTP protocols of services that
cannot be reached from here. They run on 127.0.0.1 under tests.support.

FakeOpenAI: ``POST /v1/embeddings`` as OpenAI documents it — bearer auth,
``{"model", "input": [...]}`` in, ``{"object": "list", "data": [{"object":
"embedding", "index", "embedding"}], "model", "usage"}`` out. Vectors are a
deterministic hashed bag of words, so texts sharing words are similar.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FAKE_OPENAI_KEY = "sk-test-fake-openai-key"


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass
class FakeOpenAI:
    dimensions: int = 1536
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Each queued (status, headers) answers one request before normal service.
    queued_failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.queued_failures.extend([(status, headers or {})] * count)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self._embeddings, methods=["POST"])])

    async def _embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            self.requests.append({"authorization": request.headers.get("authorization"), "body": body})
            failure = self.queued_failures.pop(0) if self.queued_failures else None
            down = self.down
        if request.headers.get("authorization") != f"Bearer {FAKE_OPENAI_KEY}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, status_code=401
            )
        if down:
            return JSONResponse(
                {"error": {"message": "The server is overloaded", "type": "server_error"}}, status_code=503
            )
        if failure is not None:
            status, headers = failure
            return JSONResponse(
                {"error": {"message": "failure", "type": "server_error"}}, status_code=status, headers=headers
            )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text, self.dimensions)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
