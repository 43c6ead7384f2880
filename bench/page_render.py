"""How fast the account page's memory views render for an owner with
100,000 memories, measured in Chromium as a person loads them.

    python bench/page_render.py              # 100,000 memories (seeded once, kept in bench/.data)
    python bench/page_render.py --memories 10000

Seeds (or reuses) the owner bench/search_latency.py seeds, signs them in
with a session of their own, starts `python server.py` on the same database
and loads each page ROUNDS times in headless Chromium: the browser's list
(newest first), the browser with a filter, a search, one memory's page, the
timeline and the account page. The figure is the navigation's load event (request to
everything drawn, styles and script included), p50 and p95, after a warm-up
load of each. The concept graph is timed to when its script has drawn it
(its data fetched and laid out), with GRAPH_CONCEPTS concepts and twice as
many relationships added to the owner once (and their vectors made before
timing starts, so the background pass does not share the machine).
"""

from __future__ import annotations

import argparse
import time
import uuid

from common import DATABASE, database_url, machine, percentile, start_server
from search_latency import seed_owner
from sqlalchemy import select, text

from core import db
from identity import accounts
from memory import indexing
from memory.embeddings import LocalEmbeddings
from memory.local_models import DEFAULT_MODEL
from models import Observation

ROUNDS = 20
GRAPH_CONCEPTS = 3_000
CHROMIUM = "/usr/bin/chromium"
LOAD_MS = "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"


def pages_of(owner_id: uuid.UUID) -> dict[str, str]:
    with DATABASE.session_scope() as session:
        newest = session.scalar(
            select(Observation.id).where(Observation.owner_id == owner_id).order_by(Observation.id.desc()).limit(1)
        )
    return {
        "memory browser, newest first": "/dashboard/memories",
        "memory browser, one domain, older page": "/dashboard/memories?domain=bench&page=40",
        "memory browser, a search": "/dashboard/memories?q=what+did+they+cook+for+dinner",
        "one memory's page": f"/dashboard/memories/observation:{newest}",
        "timeline, by type": "/dashboard/timeline",
        "account page": "/dashboard",
    }


def seed_graph(owner_id: uuid.UUID) -> None:
    """GRAPH_CONCEPTS concepts, each related to two others, unless there already."""
    with DATABASE.session_scope() as session:
        held = session.execute(text("SELECT count(*) FROM concepts WHERE owner_id = :o"), {"o": owner_id}).scalar_one()
        if held >= GRAPH_CONCEPTS:
            return
        session.execute(
            text(
                "INSERT INTO concepts (owner_id, name, type, description) SELECT :o, 'topic ' || n, 'topic', "
                "'Bench topic number ' || n FROM generate_series(1, :n) AS n"
            ),
            {"o": owner_id, "n": GRAPH_CONCEPTS},
        )
        session.execute(
            text(
                "WITH c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM concepts WHERE owner_id = :o) "
                "INSERT INTO concept_relationships (owner_id, from_concept_id, to_concept_id, rel_type) "
                "SELECT :o, a.id, b.id, 'related_to' FROM c AS a JOIN c AS b "
                "ON b.i = (a.i * 7 + 1) % :n OR b.i = (a.i * 13 + 5) % :n WHERE a.id <> b.id ON CONFLICT DO NOTHING"
            ),
            {"o": owner_id, "n": GRAPH_CONCEPTS},
        )


def wait_for_vectors(owner_id: uuid.UUID, model: str) -> None:
    """The server embeds the new concepts in the background: timing starts once it is done."""
    for _ in range(600):
        with DATABASE.session_scope() as session:
            if indexing.pending_count(session, model=model, owner_id=owner_id) == 0:
                return
        time.sleep(1)
    raise SystemExit("the concepts were not embedded within 10 minutes")


def time_graph(server_url: str, session_token: str) -> list[float]:
    """Navigation start to the graph drawn, as graph.js records it."""
    from playwright.sync_api import sync_playwright

    drawn = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": accounts.SESSION_COOKIE, "value": session_token, "url": server_url}])
        page = context.new_page()
        for round_number in range(ROUNDS + 1):
            page.goto(server_url + "/dashboard/graph")
            page.wait_for_selector("body[data-graph-drawn-ms]", timeout=60_000)
            if round_number:  # the first load warms the caches
                drawn.append(float(page.get_attribute("body", "data-graph-drawn-ms") or "nan"))
        browser.close()
    return drawn


def measure(server_url: str, session_token: str, paths: dict[str, str]) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    timings: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([{"name": accounts.SESSION_COOKIE, "value": session_token, "url": server_url}])
        page = context.new_page()
        for label, path in paths.items():
            page.goto(server_url + path)  # warm
            assert "Sign in" not in page.title(), "the bench session was not accepted"
            timings[label] = []
            for _ in range(ROUNDS):
                page.goto(server_url + path, wait_until="load")
                timings[label].append(page.evaluate(LOAD_MS))
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    args = parser.parse_args()
    url, embedded = database_url(None)
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        owner_id = seed_owner(args.memories, LocalEmbeddings())
        with DATABASE.session_scope() as session:
            user = accounts.get_user(session, owner_id)
            assert user is not None
            token = accounts.create_session(session, user=user, max_age_seconds=3600, ip=None, user_agent="bench")
        paths = pages_of(owner_id)
        seed_graph(owner_id)
        server = start_server(None)
        try:
            wait_for_vectors(owner_id, DEFAULT_MODEL)
            timings = measure(server.url, token, paths)
            timings[f"concept graph, {GRAPH_CONCEPTS:,} concepts (drawn)"] = time_graph(server.url, token)
        finally:
            server.stop()
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    print(f"\nmachine: {machine()}")
    print(f"{args.memories:,} memories for one owner, {ROUNDS} loads of each page in headless Chromium")
    for label, values in timings.items():
        print(f"  {label:40} p50 {percentile(values, 0.5):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms")


if __name__ == "__main__":
    main()
