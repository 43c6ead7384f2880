"""The best open peer, measured in the same run: mcp-memory-service-lite.

``measure(conversations, protocol, mode)`` (and ``run`` for any of our
scripts written for it, e.g. bench/peer_conflicts.py) installs the pinned release into
its own virtual environment (bench/.peer-venv, once; it is never a
dependency of MemoryGate), serves MemoryGate's bundled all-MiniLM-L6-v2 as an
OpenAI-compatible embeddings endpoint on loopback (the peer's own default
model, which it would otherwise download), and runs bench/peer_locomo.py
there. Returns, per conversation, per question, the result texts in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from common import ROOT, ServedApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from memory.embeddings import LocalEmbeddings
from memory.local_models import LOCAL_MODELS

PACKAGE = "mcp-memory-service-lite==12.4.0"
VENV = ROOT / "bench" / ".peer-venv"
MODEL = "all-MiniLM-L6-v2"


LOADS_EXTENSIONS = "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)"


def _interpreter() -> str:
    """A Python whose sqlite3 loads extensions (the peer's sqlite-vec needs
    it; pyenv builds often cannot, Debian's python3 can)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if (
            os.path.exists(candidate)
            and subprocess.run([candidate, "-c", LOADS_EXTENSIONS], capture_output=True).returncode == 0
        ):
            return candidate
    raise SystemExit("the peer needs a Python whose sqlite3 can load extensions (Debian: apt install python3-venv)")


def _python() -> str:
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    if not marker.exists() or marker.read_text() != PACKAGE:
        print(f"installing {PACKAGE} into {VENV} ...", flush=True)
        subprocess.run([_interpreter(), "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PACKAGE], check=True)
        marker.write_text(PACKAGE)
    return str(python)


def embeddings_app(embedder: LocalEmbeddings) -> Starlette:
    async def embed(request: Request) -> JSONResponse:
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = embedder.embed(texts)
        data = [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)]
        return JSONResponse({"object": "list", "model": MODEL, "data": data})

    return Starlette(routes=[Route("/v1/embeddings", embed, methods=["POST"])])


def measure(jobs: list[dict[str, Any]], mode: str, results: int = 10) -> dict[str, Any]:
    """``jobs``: [{"memories": [...], "questions": [...]}] per conversation;
    each question's first ``results`` texts."""
    return run("peer_locomo.py", {"mode": mode, "conversations": jobs, "results": results})


def run(script: str, job: dict[str, Any]) -> dict[str, Any]:
    """One of our scripts run in the peer's environment, given ``job`` as
    JSON on stdin; what it writes to stdout, as JSON."""
    python = _python()
    # Its own default, whatever MemoryGate's is: the peer as people run it.
    served = ServedApp(embeddings_app(LocalEmbeddings(LOCAL_MODELS[MODEL])))
    try:
        env = {
            **os.environ,
            "MCP_EXTERNAL_EMBEDDING_URL": served.url + "/v1/embeddings",
            "MCP_EXTERNAL_EMBEDDING_MODEL": MODEL,
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": "",
        }
        finished = subprocess.run(
            [python, str(ROOT / "bench" / script)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        served.stop()
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr[-4000:])
        raise SystemExit(f"the peer failed (exit {finished.returncode})")
    return json.loads(finished.stdout)
