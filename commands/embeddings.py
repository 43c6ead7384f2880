"""``python server.py embeddings``: how far the stored vectors are from the
configured model, for an operator who changed it (or wonders why search is
by words only), and dropping the vectors of models no longer used."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from commands.database import database
from core.settings import Settings
from memory import indexing
from memory.embeddings import build_provider


def add_parser(commands: Any) -> None:
    status = commands.add_parser(
        "embeddings", help="show how many memories have a vector of the configured model, and of the others"
    )
    status.add_argument(
        "--drop-other-models",
        action="store_true",
        help="delete the vectors of every other model (frees space; switching back would embed everything again)",
    )


def embeddings_command(settings: Settings, args: argparse.Namespace) -> int:
    embedder = build_provider(settings)
    try:
        with database(settings) as connected, connected.session_scope() as session:
            memories = indexing.memory_count(session)
            if embedder.model is None:
                print(f"Model:    none (EMBEDDING_PROVIDER={settings.embedding_provider}): search is by words only")
            else:
                pending = indexing.pending_count(session, model=embedder.model)
                print(f"Model:    {embedder.model} ({embedder.name})")
                print(
                    f"Memories: {memories:,}, {memories - pending:,} with a vector of this model, {pending:,} pending"
                )
                if pending:
                    print(
                        "          a running server embeds pending memories in the background (its log shows how "
                        "far it is); until then search finds them by their words"
                    )
            stored = indexing.vectors_by_model(session)
            print("Vectors stored, by model:" if stored else "Vectors stored: none")
            for model, count in stored.items():
                print(f"  {model:<24} {count:>12,}" + ("  (the configured model)" if model == embedder.model else ""))
            if args.drop_other_models:
                if embedder.model is None:
                    print(
                        "error: no model is configured, so every vector is another model's; nothing dropped",
                        file=sys.stderr,
                    )
                    return 1
                dropped = indexing.drop_vectors_except(session, model=embedder.model)
                print(f"Dropped {dropped:,} vectors of other models.")
    finally:
        embedder.close()
    return 0
