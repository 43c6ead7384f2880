"""Embedding providers: OpenAI over HTTP, the bundled local model, or none.

``build_provider(settings)`` picks one from EMBEDDING_PROVIDER:
``auto`` uses OpenAI when OPENAI_API_KEY is set, else the local model
(LOCAL_EMBEDDING_MODEL) when its package is installed, else none
(keyword-only search). Memories are embedded with ``embed``, queries with
``embed_query`` (some models are trained to see a query differently).
Providers are synchronous and thread-safe; callers run them off the event
loop.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import httpx
from threadpoolctl import threadpool_limits

from core.errors import EmbeddingUnavailable
from core.settings import Settings
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS, SEMANTIC_WEIGHT, ConflictBar, LocalModel

log = logging.getLogger("memorygate.embeddings")

OPENAI_BATCH_SIZE = 256
# Texts the local model embeds per turn in background work (see EmbeddingSlots).
BACKGROUND_PIECE = 4
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
# OpenAI's embeddings put unrelated short texts below ~0.2 and related ones
# above ~0.3, much as all-MiniLM-L6-v2 does.
OPENAI_MIN_SIMILARITY = 0.25
# For the same reason, all-MiniLM-L6-v2's bar for possible conflicts (not
# measured with OpenAI's models here: no network).
OPENAI_CONFLICT_BAR = LOCAL_MODELS["all-MiniLM-L6-v2"].conflict_bar


class EmbeddingProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def dimensions(self) -> int | None: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def min_similarity(self) -> float:
        """Search's default relevance floor for this model's cosines."""
        ...

    @property
    def semantic_weight(self) -> float:
        """The share of a search hit's score its similarity makes (search_fusion.fuse)."""
        ...

    @property
    def conflict_bar(self) -> ConflictBar | None:
        """Where this model's cosines make a current observation a possible conflict (memory/conflicts.py)."""
        ...

    def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        """Vectors for memories' ``texts``; ``background`` work (the backfill)
        yields to requests where the provider shares a limited resource."""
        ...

    def embed_query(self, query: str) -> list[float]:
        """The vector a search compares memories' vectors with."""
        ...

    def close(self) -> None: ...


class NoEmbeddings:
    """Keyword-only mode: nothing is embedded, search uses full text."""

    name = "none"
    model = None
    dimensions = None
    enabled = False
    min_similarity = 0.0
    semantic_weight = SEMANTIC_WEIGHT
    conflict_bar = None

    def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        raise EmbeddingUnavailable("no embedding provider is configured")

    def embed_query(self, query: str) -> list[float]:
        raise EmbeddingUnavailable("no embedding provider is configured")

    def close(self) -> None:
        pass


class LocalEmbeddings:
    name = "local"
    enabled = True

    def __init__(self, model: LocalModel | None = None, *, concurrency: int | None = None) -> None:
        spec = model or LOCAL_MODELS[DEFAULT_MODEL]
        self.model = spec.name
        self.dimensions = spec.dimensions
        self.min_similarity = spec.min_similarity
        self.semantic_weight = spec.semantic_weight
        self.conflict_bar = spec.conflict_bar
        self._query_instruction = spec.query_instruction
        self._model = spec.load()
        # One BLAS thread per call: the server already runs one call per
        # worker thread, and OpenBLAS's own thread per core made concurrent
        # calls fight over the CPU (8 concurrent embeddings on 2 cores:
        # 90/s and p95 177 ms with them, 139/s and p95 94 ms without).
        threadpool_limits(limits=1, user_api="blas")
        # And no more calls at once than this process has cores: more only
        # take turns on the same cores (and on Python's lock), each slower.
        self._slots = EmbeddingSlots(concurrency or os.cpu_count() or 1)

    def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        if not background:
            with self._slots.hold():
                return self._model.encode(texts).tolist()
        # In small pieces, each waiting for the requests, so a search waits
        # at most one piece (~30 ms) for the backfill, not a whole batch.
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BACKGROUND_PIECE):
            with self._slots.hold(background=True):
                vectors += self._model.encode(texts[start : start + BACKGROUND_PIECE]).tolist()
        return vectors

    def embed_query(self, query: str) -> list[float]:
        return self.embed([self._query_instruction + query])[0]

    def close(self) -> None:
        pass


class EmbeddingSlots:
    """At most ``count`` embeddings at once: requests before background
    work, and each in the order it came.

    With one slot per process (two workers on two cores), a backfill batch
    held it for half a second at a time and every search waited behind it.
    Background work now takes a slot only when no request is waiting for one.
    Waiters queue: letting every waiter race for a freed slot left some
    searches losing race after race (worst call 1.6–2.2 s at 16 clients
    against p50 0.2 s).
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._queues: dict[str, deque[object]] = {"request": deque(), "background": deque()}
        self._changed = threading.Condition()

    @property
    def waiting(self) -> dict[str, int]:
        return {kind: len(queue) for kind, queue in self._queues.items()}

    @contextmanager
    def hold(self, *, background: bool = False) -> Iterator[None]:
        queue = self._queues["background" if background else "request"]
        me = object()
        with self._changed:
            queue.append(me)
            try:
                self._changed.wait_for(
                    lambda: self._free > 0 and queue[0] is me and not (background and self._queues["request"])
                )
            finally:
                queue.remove(me)
                self._changed.notify_all()  # the next in line may go too
            self._free -= 1
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until ``condition`` (read under the slots' lock) holds, or the timeout passes."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)


class OpenAIEmbeddings:
    """The /embeddings endpoint, batched, with retry and backoff on 429/5xx."""

    name = "openai"
    enabled = True
    min_similarity = OPENAI_MIN_SIMILARITY
    semantic_weight = SEMANTIC_WEIGHT
    conflict_bar = OPENAI_CONFLICT_BAR

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        timeout_seconds: float,
        max_retries: int,
        backoff_base_seconds: float = 0.5,
    ) -> None:
        self.model = model
        self.dimensions = OPENAI_DIMENSIONS.get(model)
        self._max_retries = max_retries
        self._backoff_base = backoff_base_seconds
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        )

    def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_BATCH_SIZE):
            vectors.extend(self._embed_batch(texts[start : start + OPENAI_BATCH_SIZE]))
        return vectors

    def embed_query(self, query: str) -> list[float]:
        return self._embed_batch([query])[0]

    def close(self) -> None:
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        for attempt in range(self._max_retries + 1):
            try:
                response = self._client.post("/embeddings", json={"model": self.model, "input": texts})
            except httpx.HTTPError as exc:
                failure = f"request failed: {type(exc).__name__}"
                retry_after = None
            else:
                if response.status_code == 200:
                    return self._parse(response, len(texts))
                if response.status_code not in RETRYABLE_STATUS:
                    raise EmbeddingUnavailable(f"OpenAI embeddings answered HTTP {response.status_code}")
                failure = f"HTTP {response.status_code}"
                retry_after = _retry_after_seconds(response)
            if attempt == self._max_retries:
                raise EmbeddingUnavailable(f"OpenAI embeddings failed after {attempt + 1} attempts ({failure})")
            delay = retry_after if retry_after is not None else self._backoff_base * 2**attempt
            delay = min(delay, 30.0) * (1 + random.random() * 0.1)
            log.warning("embedding request %s; retrying in %.2fs", failure, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _parse(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError):
            raise EmbeddingUnavailable("OpenAI embeddings returned an unreadable body") from None
        if len(vectors) != expected:
            raise EmbeddingUnavailable(f"OpenAI embeddings returned {len(vectors)} vectors for {expected} inputs")
        if self.dimensions is None and vectors:
            self.dimensions = len(vectors[0])
        return vectors


def _retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def build_provider(settings: Settings) -> EmbeddingProvider:
    choice = settings.embedding_provider
    local_model = LOCAL_MODELS[settings.local_embedding_model]
    if choice == "auto":
        if settings.openai_api_key:
            choice = "openai"
        elif local_model.is_available():
            choice = "local"
        else:
            choice = "none"
    if choice == "openai":
        if not settings.openai_api_key:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        return OpenAIEmbeddings(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.openai_embedding_model,
            timeout_seconds=settings.openai_timeout_seconds,
            max_retries=settings.openai_max_retries,
        )
    if choice == "local":
        if not local_model.is_available():
            raise ValueError(
                f"EMBEDDING_PROVIDER=local with {local_model.name} needs the {local_model.package} package "
                "(requirements-model.txt)"
            )
        # The machine's cores, shared by the server's processes.
        return LocalEmbeddings(local_model, concurrency=max(1, (os.cpu_count() or 1) // settings.process_count))
    return NoEmbeddings()
