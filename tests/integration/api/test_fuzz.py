"""Property-based fuzz of the whole API from its OpenAPI document: no 5xx, responses as documented.

Every operation gets a bounded number of generated requests (valid and invalid bodies,
queries, paths) against the real server, with the admin key and with a tenant key.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tasksched.api import create_app
from tasksched.settings import Settings
from tests.integration.api.conftest import ACME_KEY, ADMIN_KEY, API_KEYS, ServedApi

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


# The document the app serves (built without touching Redis); requests go to the real server.
schema = schemathesis.openapi.from_dict(create_app(Settings(api_keys=API_KEYS)).openapi())


_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _call(case: Any, api: ServedApi, key: str) -> None:
    response = case.call(base_url=api.url, headers={"Authorization": f"Bearer {key}"})
    case.validate_response(response, checks=CHECKS)


@pytest.mark.timeout(120)
@schema.parametrize()
@_SETTINGS
def test_fuzz_as_admin(case: Any, api: ServedApi) -> None:
    _call(case, api, ADMIN_KEY)


@pytest.mark.timeout(120)
@schema.parametrize()
@_SETTINGS
def test_fuzz_as_tenant(case: Any, api: ServedApi) -> None:
    _call(case, api, ACME_KEY)
