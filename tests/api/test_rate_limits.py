"""Rate limits per identity, in memory and in Redis."""

from __future__ import annotations

import os
import socket
import uuid

import httpx
import pytest
import redis

from api.app import create_app
from core.logging import configure_logging
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


def _redis_url() -> str:
    """The Redis the tests share budgets through (CI's machine runs one). Absent, the
    tests that need it skip, except with TEST_REQUIRE_REDIS set (.ci/run sets it),
    where they fail."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("TEST_REQUIRE_REDIS"):
            pytest.fail(f"Redis at {url} is not reachable ({exc}) and TEST_REQUIRE_REDIS is set")
        pytest.skip(f"Redis at {url} is not reachable")
    return url


@pytest.fixture
def shared_redis():
    """Redis, and a key prefix of this test's own (removed afterwards)."""
    url = _redis_url()
    prefix = f"huimin-test-{uuid.uuid4().hex}"
    yield url, prefix
    r = redis.Redis.from_url(url)
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


async def test_two_app_instances_share_one_budget_in_redis(settings, shared_redis):
    """Two nodes with one Redis: a budget of N is N in total, not N per node, for an
    anonymous address and for a citizen alike."""
    url, prefix = shared_redis
    limits = {"rate_limit_citizen": "3/minute", "rate_limit_anonymous": "5/minute",
              "redis_url": url, "rate_limit_key_prefix": prefix}
    app1, c1 = await make_client(settings, **limits)
    app2, c2 = await make_client(settings, **limits)
    headers = citizen_headers(settings, random_subject("shared", 32))
    async with c1, c2:
        citizen = [(await c.get("/v1/me", headers=headers)).status_code
                    for c in (c1, c2, c1, c2, c1, c2)]
        anonymous = [(await c.get("/v1/me")).status_code for c in (c1, c2) * 4]
    assert citizen == [200, 200, 200, 429, 429, 429]
    assert anonymous == [401] * 5 + [429] * 3
    # The counts are in Redis, under this deployment's prefix.
    assert any(redis.Redis.from_url(url).scan_iter(f"{prefix}*"))
    await app1.state.db.dispose()
    await app2.state.db.dispose()


async def test_redis_down_fails_open_with_a_warning_and_a_metric(settings, log_stream):
    """Redis gone mid-run (here: nothing listens where REDIS_URL points): requests are
    served as within budget, each logged as a warning and counted in
    huimin_rate_limit_storage_errors_total."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    app, client = await make_client(settings, rate_limit_anonymous="2/minute",
                                    redis_url=f"redis://127.0.0.1:{port}/0")
    configure_logging("INFO", stream=log_stream)
    async with client:
        statuses = [(await client.get("/v1/me")).status_code for _ in range(3)]
        metrics = (await client.get("/metrics")).text
    assert statuses == [401, 401, 401]  # judged on their credentials, not refused
    assert "huimin_rate_limit_storage_errors_total 3.0" in metrics
    warnings = [line for line in log_stream.getvalue().splitlines()
                if "rate_limit_storage_unavailable" in line]
    assert len(warnings) == 3
    await app.state.db.dispose()
