"""Schemathesis over the whole OpenAPI document, in-process: no server error,
and every response (status, content type, headers, body) matches the document.
The full fuzz, every check and three credential sets against a served instance,
is bench/fuzz.py."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from bench.fuzz_hooks import schema_valid_request_is_well_formed, sent_headers_are_documented
from core.db import Database
from schemas.organisation import ApiKeyCreate, Role
from services import organisations

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance,
          # huimin's own (bench/fuzz_hooks.py): a request the document calls valid is
          # never refused as malformed, and every ETag/Location sent is documented.
          schema_valid_request_is_well_formed, sent_headers_are_documented]


@pytest.fixture
def fuzz_app(settings):
    async def admin_key() -> str:
        db = Database.from_settings(settings)
        try:
            async with db.session() as s:
                created = await organisations.create_api_key(
                    s, None, None, ApiKeyCreate(role=Role.admin, name="fuzz"))
                await s.commit()
                return created.key
        finally:
            await db.dispose()

    app = create_app(settings)
    app.state.fuzz_admin_key = asyncio.run(admin_key())
    return app


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hsettings(max_examples=6, deadline=None, derandomize=True,
           suppress_health_check=list(HealthCheck))
def test_no_server_error_and_responses_match_the_document(case, fuzz_app):
    case.call_and_validate(headers={"X-API-Key": fuzz_app.state.fuzz_admin_key},
                           checks=CHECKS)
