"""`HUIMIN_CITIZEN_IDENTITY_REQUIRED=true` (the production default): a citizen write
from an account no verifier has bound is 403 `identity_not_verified`, so knowing a
person's identity number is no longer enough to book in their name."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from core.clock import clock
from core.settings import Settings
from services import idempotency
from tests.api.test_beds_support import apply, institution
from tests.api.test_identity import account, bind, verifier
from tests.api.test_marriage_support import (
    book,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.conftest import TEST_JWT_MAX_TTL_MINUTES
from tests.factories import idem

APPT = "/v1/marriage/appointments"
ONE_SEAT = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env="test", database_url=db_url, rate_limit_enabled=False, log_level="INFO",
                    maintenance_interval_seconds=0, redis_url=None,
                    citizen_identity_required=True, _env_file=None,
                    jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES)


async def test_knowing_the_numbers_no_longer_books_in_their_name(client, admin_headers,
                                                                  settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _staff = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    groom, bride = person("male"), person("female")
    # An unbound account that knows both numbers.
    _s, stranger = account(settings)
    r = await book(client, settings, slot, [groom, bride], headers=stranger)
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified", r.text
    # A stranger verified as someone else: still not in the couple's name.
    stranger_subject, verified_stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    r = await book(client, settings, slot, [groom, bride], headers=verified_stranger)
    assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party"
    # Nobody took a seat or a hold in the couple's name: the groom books it himself.
    groom_subject, groom_account = account(settings)
    await bind(client, v, groom_subject, groom)
    r = await book(client, settings, slot, [groom, bride], headers=groom_account)
    assert r.status_code == 201, r.text


async def test_reads_still_work_and_other_writes_are_refused(client, admin_headers, settings):
    _s, me = account(settings)
    assert (await client.get(APPT, headers=me)).status_code == 200
    assert (await client.get("/v1/me", headers=me)).json()["identity"] is None
    inst, _staff = await institution(client, admin_headers)
    r, _ = await apply(client, settings, inst["id"], citizen=me, expect=403)
    assert r["code"] == "identity_not_verified"
    # Families still act for elders once their own account is verified.
    v = await verifier(client, admin_headers)
    subject, daughter = account(settings)
    await bind(client, v, subject, person("female", "1975-03-15"))
    app, _ = await apply(client, settings, inst["id"], citizen=daughter)
    assert app["status"] == "submitted"


def test_required_by_default_in_production_only():
    secrets = {"jwt_secret": "x" * 40, "id_encryption_key": "A" * 43 + "=",
               "blind_index_key": "k" * 40}
    assert Settings(env="production", _env_file=None, **secrets).identity_required is True
    assert Settings(env="development", _env_file=None).identity_required is False
    assert Settings(env="production", _env_file=None, citizen_identity_required=False,
                    **secrets).identity_required is False


async def _outcomes(db, subject: str) -> list[str]:
    async with db.session() as session:
        rows = await session.execute(
            text("SELECT outcome FROM audit_event WHERE actor_id = :s "
                 "AND object_type = 'request'"), {"s": subject})
        return sorted(r[0] for r in rows)


# A booking leaves the identity to its write (tests/api/test_identity_in_write.py):
# refused anywhere before it, the answer is still 403.
async def test_an_unverified_account_is_403_whatever_else_is_wrong(client, admin_headers,
                                                                  settings, db):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _ = await office_with_schedule(client, admin_headers, sessions=ONE_SEAT)
    slot = slot_id(office["id"], "2026-12-08")
    groom = person("male")
    groom_subject, groom_account = account(settings)
    await bind(client, v, groom_subject, groom)
    assert (await book(client, settings, slot, [groom, person("female")],
                       headers=groom_account)).status_code == 201
    # Refused by the write as full: this process now knows the session is full, and
    # refuses it from that memo, before any write (then the identity's two rules are
    # settled with the refusal's audit row: `command_refused`).
    other = person("male")
    other_subject, other_account = account(settings)
    await bind(client, v, other_subject, other)
    r = await book(client, settings, slot, [other, person("female")], headers=other_account)
    assert r.status_code == 409 and r.json()["code"] == "slot_full", r.text
    subject, unverified = account(settings)
    # A full session (read full, then from the memo), a body that fails
    # validation, a bad identity number, a free session: 403 every time, as if
    # the identity had been read before anything else.
    free = slot_id(office["id"], "2026-12-15")
    bad_number = [{**person("male"), "id_number": "110101199001011234"}, person("female")]
    for target, parties in ((slot, None), (slot, None), (slot, bad_number),
                            (free, None)):
        r = await book(client, settings, target, parties, headers=unverified)
        assert r.status_code == 403 and r.json()["code"] == "identity_not_verified", r.text
    r = await client.post(APPT, json={"slot_id": slot, "kind": "marriage", "parties": 7},
                          headers={**unverified, **idem()})
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified", r.text
    # A key with a stored answer (kept from before identity was required) is
    # not replayed to an account refused before its key would be looked at.
    # Refused before the write (a bad number; a full session, whose identity rules
    # are settled with its audit row), and by the write (a free session).
    for n, (target, parties) in enumerate(((free, bad_number), (slot, couple()),
                                           (free, couple()))):
        body = json.dumps({"slot_id": target, "kind": "marriage",
                           "parties": parties}).encode()
        scope, key = f"citizen:{subject}", f"kept-from-before-{n}"
        async with db.session() as session:
            await session.execute(text(
                "INSERT INTO idempotency_record (scope, key, request_hash, "
                "response_status, response_body, created_at, expires_at) "
                "VALUES (:s, :k, :h, 201, :b, :c, :e)"),
                {"s": scope, "k": key, "h": idempotency.fingerprint("POST", APPT, body),
                 "b": idempotency.seal(scope, key, '{"id": "mapt_kept"}'),
                 "c": clock.now(), "e": clock.now() + dt.timedelta(hours=24)})
            await session.commit()
        r = await client.post(APPT, content=body, headers={
            **unverified, "Idempotency-Key": key, "Content-Type": "application/json"})
        assert r.status_code == 403 and r.json()["code"] == "identity_not_verified", r.text
    # Audited as what the caller was told; nothing booked.
    assert await _outcomes(db, subject) == ["refused:identity_not_verified"] * 8
    assert (await client.get(APPT, headers=unverified)).json()["items"] == []
