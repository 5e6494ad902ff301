"""Rate limits per identity, in memory and in Redis."""

from __future__ import annotations

import os

import httpx
import pytest

from api.app import create_app
from tests.factories import citizen_headers, random_subject


async def make_client(settings, **overrides):
    s = settings.model_copy(update={"rate_limit_enabled": True, **overrides})
    app = create_app(s)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return app, httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_anonymous_callers_are_limited_by_address_with_retry_after(settings):
    app, client = await make_client(settings, rate_limit_anonymous="3/minute")
    async with client:
        statuses = [(await client.get("/v1/me")).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        r = await client.get("/v1/me")
        assert r.status_code == 429
        assert r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
    await app.state.db.dispose()


async def test_probes_are_never_rate_limited(settings):
    app, client = await make_client(settings, rate_limit_anonymous="1/minute")
    async with client:
        for path in ("/healthz", "/readyz", "/metrics", "/healthz"):
            assert (await client.get(path)).status_code == 200
    await app.state.db.dispose()


async def test_each_citizen_has_a_budget_of_their_own(settings):
    app, client = await make_client(settings, rate_limit_citizen="2/minute")
    alice, bob = citizen_headers(settings, "alice"), citizen_headers(settings, "bob")
    async with client:
        assert [(await client.get("/v1/me", headers=alice)).status_code for _ in range(3)] == [
            200, 200, 429]
        assert (await client.get("/v1/me", headers=bob)).status_code == 200
    await app.state.db.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
                    reason="no Redis")
async def test_redis_storage_is_shared_between_app_instances(settings):
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("Redis is not reachable")
    subject = random_subject("shared", 32)
    headers = citizen_headers(settings, subject)
    app1, c1 = await make_client(settings, rate_limit_citizen="3/minute", redis_url=url)
    app2, c2 = await make_client(settings, rate_limit_citizen="3/minute", redis_url=url)
    async with c1, c2:
        got = [(await c.get("/v1/me", headers=headers)).status_code for c in (c1, c2, c1, c2)]
    assert got == [200, 200, 200, 429]
    await app1.state.db.dispose()
    await app2.state.db.dispose()
