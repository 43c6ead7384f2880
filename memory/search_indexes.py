"""Vector index definitions shared by schema creation and the search query.

``embeddings.vector`` has no fixed dimension, so an HNSW index is built per
known model over ``(vector::vector(N))`` restricted to that model. The search
query must use the very same expression and predicate for the planner to pick
the index, which is why both come from here.
"""

from __future__ import annotations

# HNSW on the `vector` type supports at most 2,000 dimensions; larger models
# are still searchable, by exact search.
HNSW_MAX_DIMENSIONS = 2000

KNOWN_MODEL_DIMENSIONS: dict[str, int] = {
    "bge-small-en-v1.5": 384,
    "all-MiniLM-L6-v2": 384,
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}


def index_name(model: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in model.lower())
    return f"ix_embeddings_hnsw_{safe}"[:63]


def vector_expression(dimensions: int) -> str:
    return f"(vector::vector({dimensions}))"


def vector_index_statements() -> list[str]:
    statements = []
    for model, dimensions in KNOWN_MODEL_DIMENSIONS.items():
        if dimensions > HNSW_MAX_DIMENSIONS:
            continue
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {index_name(model)} ON embeddings USING hnsw "
            f"({vector_expression(dimensions)} vector_cosine_ops) WHERE model = '{model}'"
        )
    return statements
