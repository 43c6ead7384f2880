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
load of each.
"""

from __future__ import annotations

import argparse
import uuid

from common import DATABASE, database_url, machine, percentile, start_server
from search_latency import seed_owner
from sqlalchemy import select

from core import db
from identity import accounts
from memory.embeddings import LocalEmbeddings
from models import Observation

ROUNDS = 20
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
        server = start_server(None)
        try:
            timings = measure(server.url, token, paths)
        finally:
            server.stop()
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    print(f"\nmachine: {machine()}")
    print(f"{args.memories:,} memories for one owner, {ROUNDS} loads of each page in headless Chromium (load event)")
    for label, values in timings.items():
        print(f"  {label:40} p50 {percentile(values, 0.5):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms")


if __name__ == "__main__":
    main()
