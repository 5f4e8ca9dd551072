"""Property-based run of the admin API's own OpenAPI spec: no input makes it answer a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-schemathesis-0123"


def test_no_input_makes_the_admin_api_answer_a_5xx(
    make_gateway: Callable[[str], GatewayServer], tmp_path: Path
) -> None:
    server = make_gateway(
        f"store: {{url: 'sqlite:///{tmp_path / 'st.db'}'}}\nadmin: {{api_key: {ADMIN_KEY}}}\n"
    )
    schema = schemathesis.openapi.from_url(server.url + "/admin/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18  # every admin route is in the spec
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_KEY}"}
            response = case.call(timeout=10)
            case.validate_response(response, checks=(not_a_server_error,))

        no_server_error()
