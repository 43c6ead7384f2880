"""Schemathesis against the HTTP API's own OpenAPI schema: no 5xx, no
response that contradicts the schema, unauthenticated calls included.

(Driven through Schemathesis's programmatic API: its pytest plugin does not
support this pytest version.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support import PROOF_COUNTS, user_with_key

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 40


def test_api_honours_its_schema_and_never_fails(auth_server):
    schema = schemathesis.openapi.from_url(auth_server.url + "/openapi.json")
    # The memory API is also driven signed in (its handlers, not only its 401s).
    _, key = user_with_key("fuzz")
    signed_in = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    calls = server_errors = 0
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def exercise(case):
            nonlocal calls, server_errors
            headers = signed_in if case.path.startswith("/api/") and calls % 2 else None
            response = case.call(allow_redirects=False, timeout=30, headers=headers)
            calls += 1
            server_errors += response.status_code >= 500
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)
            # Signed in, the memory API checks rules a JSON Schema cannot state (no NUL
            # characters or whitespace-only text, times Python reads back), refusing
            # such schema-valid values with 400: every other check still applies.
            excluded = [positive_data_acceptance] if headers else None
            case.validate_response(response, excluded_checks=excluded)

        exercise()
    PROOF_COUNTS["schemathesis (OpenAPI /auth, /api and /)"] = {
        "calls": calls,
        "5xx": server_errors,
        "schema violations": 0,
    }
    assert server_errors == 0
