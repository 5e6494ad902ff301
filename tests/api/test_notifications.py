"""Notifications: the outbox, webhook subscriptions and `huimin worker`, through the
HTTP API and a real receiver that verifies every signature with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import jwt
import pytest
from sqlalchemy import func, select

from api.app import create_app
from core.clock import CHINA_TZ, clock
from core.db import Database
from core.settings import Settings
from schemas.notifications import OutboxEvent
from services.notifications.worker import Worker
from tests.api.test_marriage_support import book, citizen, couple, office_with_schedule, slot_id
from tests.api.webhook_receiver import next_weekday, receiver
from tests.factories import ISSUED_ID_NUMBERS, org_with_staff

SUBS = "/v1/webhook-subscriptions"
ROOT = Path(__file__).resolve().parents[2]


def worker_settings(settings: Settings, **changes) -> Settings:
    base = {"worker_schedule_seconds": 0.0, "webhook_timeout_seconds": 5.0,
            "webhook_backoff_base_seconds": 0.01, "webhook_backoff_max_seconds": 0.02,
            **changes}
    return settings.model_copy(update=base)


async def drain(db: Database, settings: Settings, *, until=None, seconds: float = 10.0,
                **changes) -> Worker:
    """Run worker passes (backoff set short) until `until()` holds or nothing is due."""
    async with Worker(db, worker_settings(settings, **changes)) as w:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            busy = await w.run_once()
            if until is not None and until():
                break
            if until is None and not busy:
                break
            await asyncio.sleep(0.02)
    return w


async def wait_until(condition, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


async def subscribe(client, headers, url, events=("*",), status=201):
    r = await client.post(SUBS, json={"url": url, "events": list(events)}, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def booked(client, admin_headers, settings, *, day=None, capacity=5):
    sessions = [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": capacity}
                for d in range(1, 6)]
    office, staff = await office_with_schedule(client, admin_headers, sessions=sessions)
    me = citizen(settings)
    day = day or next_weekday()
    r = await book(client, settings, slot_id(office["id"], day), headers=me)
    assert r.status_code == 201, r.text
    return office, staff, me, r.json(), day


def subject_of(headers) -> str:
    token = headers["Authorization"].split()[1]
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def assert_private(rec) -> None:
    for r in rec.received:
        text = r.body.decode().upper()
        assert not [n for n in ISSUED_ID_NUMBERS if n in text]
        assert "13800138000" not in text


# --- an office's cancellation reaches the frontends' subscription ---------------------------


async def test_office_cancellation_reaches_the_admin_subscription(client, admin_headers,
                                                                  settings, db, log_stream):
    with receiver() as rec, receiver() as office_rec, receiver() as other_rec:
        created = await subscribe(client, admin_headers, rec.url,
                                  ["marriage.appointment.cancelled"])
        assert created["secret"].startswith("whsec_")
        rec.secret = created["secret"]
        office, staff, me, appt, day = await booked(client, admin_headers, settings)
        office_sub = await subscribe(client, staff, office_rec.url, ["marriage.appointment.*"])
        office_rec.secret = office_sub["secret"]
        _other, other_staff = await org_with_staff(client, admin_headers, "registration_office")
        other_rec.secret = (await subscribe(client, other_staff, other_rec.url))["secret"]

        r = await client.post(f"/v1/marriage/offices/{office['id']}/closures", headers=staff,
                              json={"date": day, "reason": "停电", "cancel_affected": True})
        assert r.status_code == 201, r.text
        await drain(db, settings)

        [event] = rec.events()
        assert event["type"] == "marriage.appointment.cancelled"
        data = event["data"]
        assert data["appointment_id"] == appt["id"] and data["reason"] == "office_closed"
        assert data["cancelled_by"] == "office" and data["subject"] == subject_of(me)
        [hit] = rec.received
        assert hit.verified and hit.headers["webhook-id"] == event["id"]
        assert hit.headers["content-type"] == "application/json"
        # The office hears of its own appointments (booked before it subscribed: the
        # event was still waiting for the worker), another office of nothing.
        assert sorted(e["type"] for e in office_rec.events()) == [
            "marriage.appointment.booked", "marriage.appointment.cancelled"]
        assert all(x.verified for x in office_rec.received)
        assert other_rec.received == []
        assert_private(rec)
        assert_private(office_rec)
    # The worker logs each attempt, in the app's JSON format, with the event id.
    lines = [json.loads(x) for x in log_stream.getvalue().splitlines() if x.startswith("{")]
    attempts = [x for x in lines if x.get("event") == "webhook_attempt"]
    assert {x["event_id"] for x in attempts} >= {event["id"]}
    assert all(x["outcome"] == "delivered" for x in attempts)


async def test_a_citizen_cancellation_carries_the_citizen_reason(client, admin_headers,
                                                                 settings, db):
    with receiver() as rec:
        rec.secret = (await subscribe(client, admin_headers, rec.url))["secret"]
        _office, _staff, me, appt, _day = await booked(client, admin_headers, settings)
        r = await client.post(f"/v1/marriage/appointments/{appt['id']}/cancel", headers=me)
        assert r.status_code == 200
        await drain(db, settings)
        by_type = {e["type"]: e for e in rec.events()}
        assert set(by_type) == {"marriage.appointment.booked", "marriage.appointment.cancelled"}
        assert by_type["marriage.appointment.cancelled"]["data"]["reason"] == "citizen"
        assert by_type["marriage.appointment.cancelled"]["data"]["cancelled_by"] == "citizen"
        assert by_type["marriage.appointment.booked"]["data"]["subject"] == subject_of(me)
        assert_private(rec)


async def test_an_office_cancelling_one_appointment_sends_its_reason(client, admin_headers,
                                                                    settings, db):
    with receiver() as rec:
        rec.secret = (await subscribe(client, admin_headers, rec.url,
                                      ["marriage.appointment.cancelled"]))["secret"]
        _office, staff, me, appt, _day = await booked(client, admin_headers, settings)
        r = await client.post(f"/v1/marriage/appointments/{appt['id']}/cancel", headers=staff,
                              json={"reason": "登记员生病，窗口关闭"})
        assert r.status_code == 200, r.text
        await drain(db, settings)
        [event] = rec.events()
        assert event["data"]["reason"] == "登记员生病，窗口关闭"
        assert event["data"]["cancelled_by"] == "office"
        assert event["data"]["subject"] == subject_of(me)
        assert rec.received[0].verified


# --- retries -----------------------------------------------------------------------------


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
        client, admin_headers, settings, db):
    with receiver(fail_first=2) as rec:
        sub = await subscribe(client, admin_headers, rec.url, ["marriage.appointment.booked"])
        rec.secret = sub["secret"]
        await booked(client, admin_headers, settings)
        w = await drain(db, settings, until=lambda: len(rec.ids()) == 1)
        assert [r.answered for r in rec.received] == [503, 503, 200]
        assert len({r.headers["webhook-id"] for r in rec.received}) == 1
        assert all(r.verified for r in rec.received)
        assert rec.received[0].headers["webhook-id"] == rec.events()[0]["id"]
    [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
           ).json()["items"]
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["last_status_code"] == 200
    assert d["event_id"] == rec.events()[0]["id"] and d["next_attempt_at"] is None
    text = w.metrics.exposition().decode()
    assert 'huimin_webhook_attempts_total{outcome="retry"} 2.0' in text
    assert 'huimin_webhook_attempts_total{outcome="delivered"} 1.0' in text
    assert "huimin_webhook_delivery_latency_seconds_count 1.0" in text
    # The app's /metrics counts deliveries by status too (from the database).
    scraped = (await client.get("/metrics")).text
    assert 'huimin_webhook_deliveries{status="delivered"} 1.0' in scraped
    assert 'huimin_webhook_deliveries{status="pending"} 0.0' in scraped
    assert "huimin_webhook_oldest_pending_seconds 0.0" in scraped


async def test_backoff_waits_longer_after_each_failure_with_jitter(client, admin_headers,
                                                                   settings, db):
    with receiver(always_fail=True) as rec:
        sub = await subscribe(client, admin_headers, rec.url, ["marriage.appointment.booked"])
        await booked(client, admin_headers, settings)
        async with Worker(db, worker_settings(settings, webhook_backoff_base_seconds=600,
                                              webhook_backoff_max_seconds=7200)) as w:
            waits = []
            for _ in range(3):
                assert await w.run_once() == 1
                [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries",
                                        headers=admin_headers)).json()["items"]
                assert d["status"] == "pending" and d["last_status_code"] == 503
                due = dt.datetime.fromisoformat(d["next_attempt_at"])
                waits.append((due - clock.now()).total_seconds())
                clock.set(due)  # the next attempt is due
        assert 300 - 2 <= waits[0] <= 600 and 600 - 2 <= waits[1] <= 1200
        assert 1200 - 2 <= waits[2] <= 2400
        assert len(rec.received) == 3


async def test_a_receiver_slower_than_the_timeout_is_retried(client, admin_headers, settings,
                                                             db):
    with receiver(delay=1.5) as rec:
        sub = await subscribe(client, admin_headers, rec.url, ["marriage.appointment.booked"])
        await booked(client, admin_headers, settings)
        async with Worker(db, worker_settings(settings, webhook_timeout_seconds=0.3,
                                              webhook_backoff_base_seconds=600)) as w:
            await w.fan_out()
            [claimed] = await w.claim()
            started = time.monotonic()  # the sending alone (a loaded machine's queries aside)
            outcome = await w.send(claimed)
            assert time.monotonic() - started < 1.4  # it did not wait for the answer
            await w.finish([(claimed, outcome)])
        [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
               ).json()["items"]
        assert d["status"] == "pending" and d["last_error"] == "timeout"
        assert d["last_status_code"] is None and d["attempts"] == 1
        clock.advance(dt.timedelta(minutes=5))
        scraped = (await client.get("/metrics")).text
        assert 'huimin_webhook_deliveries{status="pending"} 1.0' in scraped
        age = next(float(x.split()[1]) for x in scraped.splitlines()
                   if x.startswith("huimin_webhook_oldest_pending_seconds "))
        assert 300 <= age < 400


async def test_a_failed_delivery_is_retried_through_the_api(client, admin_headers, settings,
                                                             db):
    with receiver(always_fail=True) as rec:
        sub = await subscribe(client, admin_headers, rec.url, ["marriage.appointment.booked"])
        rec.secret = sub["secret"]
        await booked(client, admin_headers, settings)
        # Giving up at once: the first failure is final.
        await drain(db, settings, webhook_give_up_hours=0)
        [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
               ).json()["items"]
        assert d["status"] == "failed" and d["attempts"] == 1
        url = f"{SUBS}/{sub['id']}/deliveries/{d['id']}/retry"
        r = await client.post(url, headers=admin_headers)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        r = await client.post(url, headers=admin_headers)
        assert r.status_code == 409 and r.json()["code"] == "invalid_state"
        rec.always_fail = False
        await drain(db, settings, webhook_give_up_hours=0)
        assert [r.answered for r in rec.received] == [503, 200]
        assert rec.received[0].headers["webhook-id"] == rec.received[1].headers["webhook-id"]
    d = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
         ).json()["items"][0]
    assert d["status"] == "delivered" and d["attempts"] == 2


# --- who sees what ------------------------------------------------------------------------


async def test_another_organisation_cannot_see_or_delete_a_subscription(client, admin_headers,
                                                                        settings):
    _office, staff = await org_with_staff(client, admin_headers, "registration_office")
    _other, other = await org_with_staff(client, admin_headers, "registration_office")
    sub = await subscribe(client, staff, "http://127.0.0.1:9/hooks", ["marriage.*"])
    assert (await client.get(SUBS, headers=other)).json()["items"] == []
    for method, path in (("DELETE", f"{SUBS}/{sub['id']}"),
                         ("GET", f"{SUBS}/{sub['id']}/deliveries"),
                         ("POST", f"{SUBS}/{sub['id']}/deliveries/whd_x/retry")):
        r = await client.request(method, path, headers=other)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, path)
    # An admin's subscriptions are the platform's, not an organisation's.
    assert [s["id"] for s in (await client.get(SUBS, headers=admin_headers)).json()["items"]
            ] == []
    listed = (await client.get(SUBS, headers=staff)).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert (await client.get(SUBS, headers=citizen(settings))).status_code == 403
    assert (await client.delete(f"{SUBS}/{sub['id']}", headers=staff)).status_code == 204
    assert (await client.get(SUBS, headers=staff)).json()["items"] == []


# --- receivers that are not allowed ---------------------------------------------------------


PROD = {"env": "production", "jwt_secret": "p" * 40,
        "id_encryption_key": "cHJvZHVjdGlvbi1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        "blind_index_key": "production-blind-index-key-0123456789"}


async def test_private_addresses_are_refused_in_production(settings, db_url):
    import httpx

    from schemas.organisation import ApiKeyCreate, Role
    from services import organisations
    prod = Settings(**{**settings.model_dump(), **PROD, "webhook_allowed_hosts": "hooks.internal"})
    app = create_app(prod)
    try:
        async with app.state.db.session() as session:
            key = (await organisations.create_api_key(
                session, None, None, ApiKeyCreate(role=Role.admin, name="a"))).key
            await session.commit()
        headers = {"X-API-Key": key}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for url, reason in (
                    ("https://127.0.0.1/hooks", "private_address"),
                    ("https://10.1.2.3/hooks", "private_address"),
                    ("https://192.168.0.10/hooks", "private_address"),
                    ("https://169.254.169.254/latest", "private_address"),
                    ("https://[::1]/hooks", "private_address"),
                    ("https://localhost/hooks", "private_address"),
                    ("http://93.184.216.34/hooks", "scheme"),
                    ("ftp://93.184.216.34/hooks", "scheme"),
                    # IPv6 forms that carry a loopback or link-local IPv4 address
                    # (issue 25's security check: these were let through).
                    ("https://[64:ff9b::7f00:1]/x", "private_address"),
                    ("https://[64:ff9b::a9fe:a9fe]/x", "private_address"),
                    ("https://[64:ff9b:1::7f00:1]/x", "private_address"),
                    ("https://[2002:7f00:1::]/x", "private_address"),
                    ("https://[::7f00:1]/x", "private_address"),
                    ("https://[::ffff:0:7f00:1]/x", "private_address"),
                    # Malformed: a 422 with its reason, never a 500.
                    ("https://example.com:99999/x", "malformed"),
                    ("http://1.1.1.1:-1/x", "malformed"),
                    ("http://[::1/x", "malformed"),
                    ("https://" + "a" * 64 + ".example.com/x", "malformed")):
                r = await c.post(SUBS, json={"url": url, "events": ["*"]}, headers=headers)
                assert r.status_code == 422, (url, r.text)
                assert r.json()["code"] == "webhook_url_not_allowed"
                assert r.json()["reason"] == reason, url
            # A public address over https (IPv4, and NAT64 of a public IPv4), and a
            # host the allow-list names.
            for url in ("https://93.184.216.34/hooks", "https://[64:ff9b::5db8:d822]/hooks",
                        "http://hooks.internal:8080/x"):
                r = await c.post(SUBS, json={"url": url, "events": ["*"]}, headers=headers)
                assert r.status_code == 201, (url, r.text)
    finally:
        await app.state.db.dispose()


async def test_delivery_checks_the_address_again_after_resolving(client, admin_headers,
                                                                 settings, db):
    with receiver() as rec:
        sub = await subscribe(client, admin_headers,
                              rec.url.replace("http://127.0.0.1", "https://localhost"),
                              ["marriage.appointment.booked"])
        await booked(client, admin_headers, settings)
        # The rules of production at delivery: localhost resolves to the host itself.
        await drain(db, settings, webhook_require_public=True, webhook_give_up_hours=0)
        assert rec.received == []
    [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
           ).json()["items"]
    assert d["status"] == "failed" and d["last_error"] == "url_not_allowed:private_address"


async def test_delivery_connects_to_the_address_it_checked_not_a_rebound_one(
        client, admin_headers, settings, db, monkeypatch):
    """DNS rebinding: the name answers a public address first and the host itself
    after. The delivery connects to the address it checked (here refused, as a
    public address is out of the tests' reach), never to the one answered later."""
    import socket
    import threading

    import httpcore

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[tuple] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, peer = listener.accept()
                accepted.append(peer)
                conn.close()

    threading.Thread(target=accept, daemon=True).start()
    answers = iter(["93.184.216.34"])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host not in ("rebind.example", b"rebind.example"):  # anyio passes bytes
            return real_getaddrinfo(host, *args, **kwargs)
        address = next(answers, "127.0.0.1")  # public once, then the host itself
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    connected_to: list[str] = []
    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self, host, port, *args, **kwargs):
        connected_to.append(host)
        if host == "93.184.216.34":  # no internet for the tests
            raise httpcore.ConnectError("unreachable in the tests")
        return await real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    try:
        sub = await subscribe(client, admin_headers, f"https://rebind.example:{port}/hooks",
                              ["marriage.appointment.booked"])
        await booked(client, admin_headers, settings)
        await drain(db, settings, webhook_require_public=True, webhook_give_up_hours=0)
    finally:
        listener.close()
    assert accepted == [] and "127.0.0.1" not in connected_to
    assert connected_to == ["93.184.216.34"]
    [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
           ).json()["items"]
    assert d["status"] == "failed" and d["last_error"] == "connection:ConnectError"


async def test_the_guarded_connection_refuses_any_private_address(settings):
    """`urls.GuardedBackend` under production rules: a name with one private address
    among public ones is refused before any connection; an allowed host and the
    development rules connect by name, as they did."""
    import httpcore

    from core.errors import WebhookUrlNotAllowed
    from services.notifications import urls

    class Inner(httpcore.AsyncNetworkBackend):
        def __init__(self):
            self.hosts = []

        async def connect_tcp(self, host, port, *args, **kwargs):
            self.hosts.append(host)
            raise httpcore.ConnectError("recorded")

    async def resolve(host, port):
        return {"mixed.example": ["93.184.216.34", "10.0.0.5"],
                "mapped.example": ["::ffff:127.0.0.1"],
                "two.example": ["93.184.216.34", "93.184.216.35"]}.get(host, ["10.9.9.9"])

    prod = settings.model_copy(update={"webhook_require_public": True,
                                       "webhook_allowed_hosts": "hooks.internal"})
    original = urls.resolve
    urls.resolve = resolve
    try:
        inner = Inner()
        backend = urls.GuardedBackend(prod, inner)
        for host in ("mixed.example", "mapped.example", "127.0.0.1", "::1"):
            with pytest.raises(WebhookUrlNotAllowed) as refused:
                await backend.connect_tcp(host, 443)
            assert refused.value.params["reason"] == "private_address", host
        assert inner.hosts == []
        with pytest.raises(httpcore.ConnectError):  # each public address tried in turn
            await backend.connect_tcp("two.example", 443)
        assert inner.hosts == ["93.184.216.34", "93.184.216.35"]
        inner.hosts.clear()
        with pytest.raises(httpcore.ConnectError):
            await backend.connect_tcp("hooks.internal", 8080)
        dev = urls.GuardedBackend(settings.model_copy(update={"webhook_require_public": False}),
                                  inner)
        with pytest.raises(httpcore.ConnectError):
            await dev.connect_tcp("localhost", 8080)
        assert inner.hosts == ["hooks.internal", "localhost"]
    finally:
        urls.resolve = original


async def test_events_past_retention_are_purged_unless_a_delivery_pends(
        client, admin_headers, settings, db):
    """The maintenance sweep deletes an event and its deliveries once it is older
    than `outbox_retention_days` and none of its deliveries is pending; an event
    still being retried, or younger, is kept."""
    from services import maintenance
    with receiver() as ok, receiver(always_fail=True) as failing:
        ok_sub = await subscribe(client, admin_headers, ok.url)
        fail_sub = await subscribe(client, admin_headers, failing.url,
                                   ["marriage.appointment.cancelled"])
        _office, _staff, me, appt, _day = await booked(client, admin_headers, settings)
        r = await client.post(f"/v1/marriage/appointments/{appt['id']}/cancel", headers=me)
        assert r.status_code == 200
        await drain(db, settings, webhook_backoff_base_seconds=3600,
                    webhook_backoff_max_seconds=3600)
    assert {e["type"] for e in ok.events()} == {"marriage.appointment.booked",
                                                "marriage.appointment.cancelled"}

    async def deliveries(sub):
        r = await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
        return {d["type"]: d["status"] for d in r.json()["items"]}

    assert await deliveries(ok_sub) == {"marriage.appointment.booked": "delivered",
                                        "marriage.appointment.cancelled": "delivered"}
    assert await deliveries(fail_sub) == {"marriage.appointment.cancelled": "pending"}
    kept = settings.model_copy(update={"outbox_retention_days": 90})
    start = clock.now()
    clock.set(start + dt.timedelta(days=89))
    assert (await maintenance.run_once(db, kept))["outbox_events_purged"] == 0
    clock.set(start + dt.timedelta(days=91))
    forever = settings.model_copy(update={"outbox_retention_days": 0})
    assert (await maintenance.run_once(db, forever))["outbox_events_purged"] == 0
    assert (await maintenance.run_once(db, kept))["outbox_events_purged"] == 1
    assert [e.type for e in await _events(db)] == ["marriage.appointment.cancelled"]
    assert await deliveries(ok_sub) == {"marriage.appointment.cancelled": "delivered"}
    assert await deliveries(fail_sub) == {"marriage.appointment.cancelled": "pending"}


# --- the outbox is the transaction's ------------------------------------------------------


async def _events(db: Database) -> list[OutboxEvent]:
    async with db.session() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))
                     ).scalars())


async def test_a_rolled_back_change_leaves_no_event(client, admin_headers, settings, db):
    office, _ = await office_with_schedule(client, admin_headers)
    day = next_weekday()
    parties = couple()
    r = await book(client, settings, slot_id(office["id"], day), parties)
    assert r.status_code == 201
    appt = r.json()
    assert [e.type for e in await _events(db)] == ["marriage.appointment.booked"]
    # The same couple again: the booking's statements (its event row included) ran,
    # then the held parties refused it and the whole transaction rolled back.
    r = await book(client, settings, slot_id(office["id"], day), parties)
    assert r.status_code == 409 and r.json()["code"] == "party_has_active_appointment"
    [e] = await _events(db)
    assert e.type == "marriage.appointment.booked" and e.object_id == appt["id"]
    assert e.org_id == office["id"]


# --- scheduled events ---------------------------------------------------------------------


async def test_reminders_are_written_once_from_stored_dates(client, admin_headers, settings,
                                                            db):
    clock.set(dt.datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ))
    sub = await subscribe(client, admin_headers, "http://127.0.0.1:9/hooks",
                          ["marriage.appointment.reminder"])
    _office, _staff, me, appt, _day = await booked(client, admin_headers, settings,
                                                   day="2026-12-04")
    settings_ = worker_settings(settings, reminder_hour=9)
    async with Worker(db, settings_) as w:
        await w.schedule()
        assert [e.type for e in await _events(db)] == ["marriage.appointment.booked"]
        # 2026-12-03 09:00 China time: the day before, at the hour. A worker that was
        # down then catches up later that day, once, however often it looks.
        clock.set(dt.datetime(2026, 12, 3, 15, 0, tzinfo=CHINA_TZ))
        assert await w.schedule() == 1
        assert await w.schedule() == 0
        # Once it has started, nothing more is due.
        clock.set(dt.datetime(2026, 12, 4, 9, 30, tzinfo=CHINA_TZ))
        assert await w.schedule() == 0
    reminders = [e for e in await _events(db) if e.type == "marriage.appointment.reminder"]
    assert len(reminders) == 1 and reminders[0].data["subject"] == subject_of(me)
    assert reminders[0].data["appointment_id"] == appt["id"]
    async with Worker(db, settings_) as w:
        await w.fan_out()
    [d] = (await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers)
           ).json()["items"]
    assert d["type"] == "marriage.appointment.reminder" and d["event_id"] == reminders[0].id


# --- a worker killed mid-batch --------------------------------------------------------------


def _worker_process(db_url: str, log: Path, **env) -> subprocess.Popen:  # noqa: ANN003
    child = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    child.update({"DATABASE_URL": db_url, "HUIMIN_ENV": "test", "HUIMIN_LOG_LEVEL": "INFO",
                  "HUIMIN_WORKER_POLL_SECONDS": "0.1", **env})
    return subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=child,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def test_a_worker_killed_mid_batch_and_started_again_delivers_every_event(
        client, admin_headers, settings, db_url, tmp_path):
    with receiver(delay=0.3) as rec:
        sub = await subscribe(client, admin_headers, rec.url, ["marriage.appointment.booked"])
        rec.secret = sub["secret"]
        sessions = [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": 50}
                    for d in range(1, 6)]
        office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
        day = next_weekday()
        ids = set()
        for _ in range(12):
            r = await book(client, settings, slot_id(office["id"], day))
            assert r.status_code == 201
            ids.add(r.json()["id"])
        env = {"HUIMIN_WEBHOOK_LEASE_SECONDS": "3", "HUIMIN_WORKER_BATCH_SIZE": "4"}
        proc = _worker_process(db_url, tmp_path / "w1.log", **env)
        # SIGKILL when the 6th request arrives: the second batch is in flight (its
        # requests reached the receiver, their answers never reach the worker's books).
        rec.on_arrival = lambda n: os.killpg(proc.pid, signal.SIGKILL) if n == 6 else None
        try:
            await wait_until(lambda: proc.poll() is not None, 90)
            assert proc.poll() == -signal.SIGKILL, (tmp_path / "w1.log").read_text()[-2000:]
        finally:
            _kill(proc)
        rec.on_arrival = None
        assert len(rec.ids()) < 12
        proc = _worker_process(db_url, tmp_path / "w2.log", **env)
        try:
            # Until huimin's own books say every delivery is delivered (the receiver
            # has seen some whose answers the killed worker never recorded).
            for _ in range(900):
                r = await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin_headers,
                                     params={"status": "delivered", "limit": 100})
                if len(r.json()["items"]) == 12:
                    break
                await asyncio.sleep(0.1)
        finally:
            _kill(proc)
        got = {e["data"]["appointment_id"] for e in rec.events()}
        assert got == ids, (tmp_path / "w2.log").read_text()[-2000:]
        # What was in flight at the kill went out again, under the same webhook-id.
        sent = Counter(r.headers["webhook-id"] for r in rec.received)
        assert any(n > 1 for n in sent.values()) and len(sent) == 12
        # A request cut off by the kill may arrive truncated (and fail verification);
        # every whole one verifies.
        whole = [r for r in rec.received if _is_json(r.body)]
        assert len(whole) >= 12 and all(r.verified for r in whole)
        log_lines = [json.loads(x) for x in (tmp_path / "w2.log").read_text().splitlines()
                     if x.startswith("{")]
        assert any(x.get("event") == "webhook_attempt" and x.get("event_id")
                   for x in log_lines)


# --- two workers ---------------------------------------------------------------


async def test_two_workers_never_deliver_one_event_twice_at_once(
        client, admin_headers, settings, db):
    with receiver(delay=0.05) as rec:
        rec.secret = (await subscribe(client, admin_headers, rec.url,
                                      ["marriage.appointment.booked"]))["secret"]
        sessions = [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": 50}
                    for d in range(1, 6)]
        office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
        day = next_weekday()
        for _ in range(30):
            assert (await book(client, settings, slot_id(office["id"], day))).status_code == 201
        ws = worker_settings(settings, worker_batch_size=5)
        dbs = [Database.from_settings(ws) for _ in range(2)]
        try:
            async def run(d: Database) -> None:
                async with Worker(d, ws) as w:
                    for _ in range(200):
                        if len(rec.ids()) >= 30:
                            return
                        await w.run_once()
            await asyncio.gather(*(run(d) for d in dbs))
        finally:
            for d in dbs:
                await d.dispose()
        assert len(rec.ids()) == 30
        assert max(rec.max_in_flight.values()) == 1
        assert len(rec.received) == 30  # each event once: nothing was sent twice


async def test_outbox_switch_off_writes_no_event(settings, admin_headers):
    """The benchmark's switch (HUIMIN_OUTBOX_ENABLED=false): bookings write no event."""
    import httpx
    app = create_app(settings.model_copy(update={"outbox_enabled": False}))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await booked(c, admin_headers, settings)
        async with app.state.db.session() as session:
            n = (await session.execute(select(func.count()).select_from(OutboxEvent))
                 ).scalar_one()
        assert n == 0
    finally:
        from services import outbox
        outbox.configure(enabled=True)
        await app.state.db.dispose()
