"""Schemathesis against the HTTP API's own OpenAPI schema: no 5xx, no
response that contradicts the schema, unauthenticated calls included.

(Driven through Schemathesis's programmatic API: its pytest plugin does not
support this pytest version.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support import PROOF_COUNTS

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 40


def test_api_honours_its_schema_and_never_fails(auth_server):
    schema = schemathesis.openapi.from_url(auth_server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    calls = server_errors = 0
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def exercise(case):
            nonlocal calls, server_errors
            response = case.call(allow_redirects=False, timeout=30)
            calls += 1
            server_errors += response.status_code >= 500
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)
            case.validate_response(response)

        exercise()
    PROOF_COUNTS["schemathesis (OpenAPI /auth and /)"] = {"calls": calls, "5xx": server_errors, "schema violations": 0}
    assert server_errors == 0
