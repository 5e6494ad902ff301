"""Behind a reverse proxy (API.md "Running it"): `HUIMIN_TRUSTED_PROXIES` names the
proxies whose X-Forwarded-For and X-Forwarded-Proto are believed. The client is the
right-most X-Forwarded-For address that is not a trusted proxy, for rate limits,
audit rows and logs; a request from an untrusted peer is judged by its own address
whatever it sends. The peer is set as a real server sets it (httpx's ASGITransport
`client`)."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from core.logging import configure_logging
from core.settings import Settings
from services import audit
from tests.api.test_marriage_support import (
    book,
    citizen,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import create_org

PROXY, OTHER_PROXY, STRANGER = "10.0.0.5", "10.0.0.6", "192.0.2.1"
ALICE, BOB = "203.0.113.7", "198.51.100.9"


def _app(settings, **overrides):
    return create_app(settings.model_copy(update={"trusted_proxies": "10.0.0.0/24, 127.0.0.1",
                                                  **overrides}))


def _client(app, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api.example")


def _xff(*hops: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(hops)}


async def test_rate_limits_count_the_client_behind_a_trusted_proxy(settings):
    app = _app(settings, rate_limit_enabled=True, rate_limit_anonymous="2/minute")
    async with _client(app, PROXY) as proxy, _client(app, STRANGER) as stranger:
        async def me(c: httpx.AsyncClient, headers: dict[str, str]) -> int:
            return (await c.get("/v1/me", headers=headers)).status_code

        # Alice's budget, through the proxy.
        assert [await me(proxy, _xff(ALICE)) for _ in range(2)] == [401, 401]
        assert await me(proxy, _xff(ALICE)) == 429
        # Forged left-most entries change nothing: the proxy appended Alice's address.
        assert await me(proxy, _xff("1.2.3.4", ALICE)) == 429
        # Through two trusted proxies: still Alice.
        assert await me(proxy, _xff(ALICE, OTHER_PROXY)) == 429
        # Bob, through the same proxy, has a budget of his own.
        assert await me(proxy, _xff(BOB)) == 401
        # An untrusted peer is judged by its own address, whatever it claims.
        assert [await me(stranger, _xff(f"198.51.100.{i}")) for i in range(3)] == [
            401, 401, 429]
        assert await me(stranger, {}) == 429
    await app.state.db.dispose()


async def _audit_rows(app, peer: str, headers: dict[str, str], admin: dict[str, str]):
    async with _client(app, peer) as c:
        org = await create_org(c, {**admin, **headers}, "registration_office")
        r = await c.get("/v1/admin/audit-events", params={"object_id": org["id"]},
                        headers=admin)
        assert r.status_code == 200, r.text
        return r.json()["items"]


async def test_audit_rows_and_logs_record_the_client_not_the_proxy(settings, admin_headers):
    app = _app(settings)
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        through_proxy = await _audit_rows(app, PROXY, _xff("1.2.3.4", ALICE, OTHER_PROXY),
                                          admin_headers)
        from_stranger = await _audit_rows(app, STRANGER, _xff(ALICE), admin_headers)
    finally:
        configure_logging("WARNING")
    assert [row["client_addr"] for row in through_proxy] == [ALICE]
    assert [row["client_addr"] for row in from_stranger] == [STRANGER]
    requests = [json.loads(line) for line in stream.getvalue().splitlines()
                if '"event": "request"' in line or '"event":"request"' in line]
    posts = [e for e in requests if e["method"] == "POST"]
    assert [e["client_addr"] for e in posts] == [ALICE, STRANGER]
    # The address is in the chain, and the chain verifies.
    async with app.state.db.session() as session:
        report = await audit.verify(session)
    assert report.broken_at is None and report.rows >= 2
    await app.state.db.dispose()


async def test_without_trusted_proxies_forwarded_headers_are_ignored(settings, admin_headers):
    app = _app(settings, trusted_proxies="")
    rows = await _audit_rows(app, PROXY, _xff(ALICE), admin_headers)
    assert [row["client_addr"] for row in rows] == [PROXY]
    await app.state.db.dispose()


async def test_x_forwarded_proto_from_a_trusted_proxy_sets_the_scheme_of_urls_written(settings):
    app = _app(settings)
    async with _client(app, PROXY) as proxy, _client(app, STRANGER) as stranger:
        https = {**_xff(ALICE), "X-Forwarded-Proto": "https"}
        through_proxy = await proxy.get("/v1/me/", headers=https)
        from_stranger = await stranger.get("/v1/me/", headers=https)
    assert through_proxy.status_code == 307
    assert through_proxy.headers["location"] == "https://api.example/v1/me"
    assert from_stranger.headers["location"] == "http://api.example/v1/me"
    await app.state.db.dispose()


async def test_the_hot_booking_path_records_the_client_too(settings, admin_headers):
    app = _app(settings)
    set_china_time("2026-12-01")
    async with _client(app, PROXY) as c:
        office, _ = await office_with_schedule(c, admin_headers)
        r = await book(c, settings, slot_id(office["id"], "2026-12-08"),
                       headers={**citizen(settings), **_xff("1.2.3.4", ALICE)})
        assert r.status_code == 201, r.text
        rows = (await c.get("/v1/admin/audit-events", params={"object_id": r.json()["id"]},
                            headers=admin_headers)).json()["items"]
    assert [(row["action"], row["client_addr"]) for row in rows] == [
        ("marriage_appointment.create", ALICE)]
    await app.state.db.dispose()


def test_a_trusted_proxy_that_is_not_an_address_refuses_to_start():
    for bad in ("nginx", "10.0.0.0/33", "10.0.0.1, *"):
        with pytest.raises(ValidationError, match="HUIMIN_TRUSTED_PROXIES"):
            Settings(trusted_proxies=bad, _env_file=None)
    assert Settings(trusted_proxies=" 10.0.0.0/8 ,::1", _env_file=None).trusted_proxy_list == [
        "10.0.0.0/8", "::1"]
