"""GET /metrics (API.md "Running it"): in production 404 unless HUIMIN_METRICS_TOKEN is
set, and then only to `Authorization: Bearer <that token>`; in development open, unless
a token is set (then it is required there too)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from core.settings import Settings

TOKEN = "metrics-" + "k" * 40


def _settings(db_url: str, env: str, token: str | None) -> Settings:
    return Settings(
        env=env, database_url=db_url, metrics_token=token, rate_limit_enabled=False,
        maintenance_interval_seconds=0, redis_url=None, _env_file=None,
        jwt_secret=secrets.token_hex(32), blind_index_key=secrets.token_hex(32),
        id_encryption_key=base64.b64encode(secrets.token_bytes(32)).decode())


@pytest.fixture
def serving(db_url: str) -> Callable[..., object]:
    @asynccontextmanager
    async def serve(env: str, token: str | None) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(_settings(db_url, env, token))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c
        finally:
            await app.state.db.dispose()
    return serve


def _shape(r: httpx.Response) -> tuple:
    """A response without what differs between any two requests (the request id, the
    path named in `instance`, the request id in the body)."""
    body = r.json()
    body.pop("instance", None)
    body.pop("request_id", None)
    headers = {k: v for k, v in r.headers.items() if k not in ("x-request-id", "content-length")}
    return r.status_code, headers, body


async def test_production_without_a_token_has_no_metrics_path(serving):
    async with serving("production", None) as c:
        for method in ("GET", "HEAD", "POST", "OPTIONS"):
            metrics = await c.request(method, "/metrics")
            unknown = await c.request(method, "/metricz")
            assert metrics.status_code == 404, (method, metrics.text)
            if method != "HEAD":
                assert _shape(metrics) == _shape(unknown), method
        assert (await c.get("/metrics", headers={"Authorization": "Bearer x"})).status_code == 404
        doc = (await c.get("/openapi.json")).json()
        assert "/metrics" not in doc["paths"]
        assert (await c.get("/healthz")).status_code == 200


@pytest.mark.parametrize("env", ["production", "development"])
async def test_with_a_token_only_that_bearer_token_gets_the_metrics(serving, env):
    async with serving(env, TOKEN) as c:
        ok = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, ok.text
        assert ok.headers["content-type"].startswith("text/plain")
        assert "huimin_http_requests_total" in ok.text

        refusals = {
            "unauthenticated": [{}, {"X-API-Key": "hm_anything"}],
            "invalid_token": [{"Authorization": f"Bearer {TOKEN}x"},
                              {"Authorization": f"Bearer {TOKEN[:-1]}"},
                              {"Authorization": "Bearer " + "k" * len(TOKEN)}],
            "malformed_credentials": [{"Authorization": f"Basic {TOKEN}"},
                                      {"Authorization": TOKEN},
                                      {"Authorization": "Bearer"}],
        }
        for code, cases in refusals.items():
            for headers in cases:
                r = await c.get("/metrics", headers=headers)
                assert r.status_code == 401, (headers, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["code"] == code, (headers, r.json())
                assert "huimin_http" not in r.text
        twice = await c.get("/metrics", headers=[("Authorization", f"Bearer {TOKEN}"),
                                                 ("Authorization", f"Bearer {TOKEN}")])
        assert twice.status_code == 401 and twice.json()["code"] == "malformed_credentials"
        # the documented refusals are the ones served
        doc = (await c.get("/openapi.json")).json()
        documented = doc["paths"]["/metrics"]["get"]["responses"]["401"]
        assert set(documented["content"]["application/problem+json"]["examples"]) == set(
            refusals)


async def test_development_without_a_token_is_open(serving):
    async with serving("development", None) as c:
        r = await c.get("/metrics")
        assert r.status_code == 200 and "huimin_http_requests_total" in r.text
        # credentials of any kind are not looked at
        r = await c.get("/metrics", headers={"Authorization": "Bearer whatever"})
        assert r.status_code == 200


def test_a_short_token_is_refused_in_production_and_an_empty_one_is_unset(db_url):
    with pytest.raises(ValidationError, match="HUIMIN_METRICS_TOKEN"):
        _settings(db_url, "production", "short")
    assert _settings(db_url, "production", "").metrics_served is False
    assert _settings(db_url, "development", "").metrics_served is True
