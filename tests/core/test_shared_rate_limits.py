"""RATE_LIMIT_STORAGE_URI=database: two instances enforce one limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from core import rate_limits
from server import create_app
from tests.support import TEST_DATABASE, serve, session_scope, user_with_key

SHARED = {"rate_limit_storage_uri": "database"}


def _tools_list(server, key: str) -> httpx.Response:
    return httpx.post(
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {key}"},
    )


def _forget_counters() -> None:
    with session_scope() as db:
        db.execute(text("DELETE FROM rate_limit_counters"))


def test_two_instances_share_one_request_limit_per_credential():
    _forget_counters()
    # A day's window: the test cannot straddle two windows and see a weighted count.
    with (
        serve(create_app, **SHARED, mcp_rate_limit="5/day") as a,
        serve(create_app, **SHARED, mcp_rate_limit="5/day") as b,
    ):
        _, key = user_with_key()
        statuses = [_tools_list(server, key).status_code for server in (a, b, a, b, a)]
        assert statuses == [200] * 5
        refused = [_tools_list(server, key) for server in (b, a)]
        assert [r.status_code for r in refused] == [429, 429]
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        _, other = user_with_key()
        assert _tools_list(b, other).status_code == 200  # counted per credential
    with session_scope() as db:  # the counters are rows of the shared database
        assert db.execute(text("SELECT count(*) FROM rate_limit_counters WHERE key LIKE '%mcp:%'")).scalar() >= 2


def test_failed_authentications_are_throttled_across_instances():
    _forget_counters()
    limits = {**SHARED, "auth_failure_limit": 3, "auth_failure_window_seconds": 86400}
    with serve(create_app, **limits) as a, serve(create_app, **limits) as b:
        _, key = user_with_key()
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert [_tools_list(s, forged).status_code for s in (a, b, a)] == [401, 401, 401]
        assert _tools_list(b, forged).status_code == 429  # B knows what A counted
    _forget_counters()


def test_expired_counters_are_pruned():
    from core import rate_limit_store
    from tests.support import TEST_DATABASE

    _forget_counters()
    with session_scope() as db:
        db.execute(text("INSERT INTO rate_limit_counters VALUES ('old', 3, 1.0), ('live', 1, 4102444800.0)"))
    assert rate_limit_store.prune(TEST_DATABASE.engine) == 1
    with session_scope() as db:
        assert db.execute(text("SELECT key FROM rate_limit_counters")).scalars().all() == ["live"]
    _forget_counters()


def test_a_burst_across_two_instances_gets_no_more_bcrypt_than_the_limit():
    """Attempts in flight are reserved in the shared store, not per process."""
    _forget_counters()
    limits = {**SHARED, "auth_failure_limit": 10, "auth_failure_window_seconds": 86400, "bcrypt_rounds": 12}
    with serve(create_app, **limits) as a, serve(create_app, **limits) as b:
        _, key = user_with_key()
        near = (key[:11] + f"{n:02d}" + key[13:] for n in range(41))
        forged = [candidate for candidate in near if candidate != key][:40]
        gates = [server.app.state.auth_state.bcrypt_gate for server in (a, b)]
        before = sum(gate.admitted_total for gate in gates)
        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(lambda n: _tools_list((a, b)[n % 2], forged[n]).status_code, range(40)))
        assert sum(gate.admitted_total for gate in gates) - before <= 10
        assert set(statuses) <= {401, 429} and statuses.count(401) <= 10
    _forget_counters()


@pytest.mark.parametrize("storage", ["memory://", "database"])
def test_an_attempt_that_succeeds_is_given_back_and_one_that_fails_is_kept(storage):
    _forget_counters()
    limiter = rate_limits.Limiter(storage, engine=lambda: TEST_DATABASE.engine)
    throttle = rate_limits.FailureThrottle(limiter, limit=3, window_seconds=86400)
    key = f"prefix:{storage}"
    for _ in range(5):  # right keys, verified: nothing is used up
        assert throttle.reserve([key]) is None
        assert throttle.settle([key], failed=False) == []
    assert throttle.reserve([key]) is None and throttle.reserve([key]) is None  # two in flight at once
    assert throttle.settle([key], failed=True) == [] and throttle.settle([key], failed=True) == []
    assert throttle.reserve([key]) is None
    assert throttle.settle([key], failed=True) == [key]  # the third failure used the allowance up
    assert throttle.reserve([key]) is not None and throttle.retry_after(key) is not None
    _forget_counters()
