"""A booking on PostgreSQL leaves the account's real-name identity to its write
and so does a lottery entry (`api.hotpath.HotOptions.identity_in_write`, migration
0017): the answers are the ones a request that read the identity first would get,
whichever check refuses it and wherever (the write itself, this process's memo of
a full session, the body's validation). On SQLite the identity is read first, as
before: the same tests hold."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from core.clock import clock
from core.settings import Settings
from services import idempotency
from tests.api.test_identity import account, bind, verifier
from tests.api.test_marriage_lottery_support import enter, lottery_office, schedule_lottery
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


async def _outcomes(db, subject: str) -> list[str]:
    async with db.session(write=False) as session:
        rows = await session.execute(
            text("SELECT outcome FROM audit_event WHERE actor_id = :s "
                 "AND object_type = 'request'"), {"s": subject})
        return sorted(r[0] for r in rows)


async def test_the_applicant_rule_comes_before_a_full_session(client, admin_headers, settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _ = await office_with_schedule(client, admin_headers, sessions=ONE_SEAT)
    slot = slot_id(office["id"], "2026-12-08")
    assert (await book(client, settings, slot)).status_code == 201
    # The account's own person: the session is full (and this process now knows).
    me = person("male")
    subject, mine = account(settings)
    await bind(client, v, subject, me)
    for _ in range(2):
        r = await book(client, settings, slot, [me, person("female")], headers=mine)
        assert r.status_code == 409 and r.json()["code"] == "slot_full", r.text
    stranger_subject, stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    # Full (this process's memo of it), and not the stranger's person: the
    # applicant rule answers, as it does before a session's seats are looked at.
    for _ in range(2):
        r = await book(client, settings, slot, couple(), headers=stranger)
        assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text


async def test_the_applicant_rule_comes_first_in_a_lottery_too(client, admin_headers,
                                                                settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    stranger_subject, stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    # Refused by the write (everything else is right), and before it (a session
    # the day has not, a person who entered already): the applicant rule each time.
    taken = couple()
    assert (await enter(client, settings, lot["id"], taken)).status_code == 201
    for parties, prefs in ((couple(), ("09:00",)), (couple(), ("07:00",)),
                           (taken, ("09:00",))):
        r = await enter(client, settings, lot["id"], parties, prefs, headers=stranger)
        assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text
    me = person("male")
    subject, mine = account(settings)
    await bind(client, v, subject, me)
    r = await enter(client, settings, lot["id"], [me, person("female")], ("07:00",),
                    headers=mine)
    assert r.status_code == 422 and r.json()["code"] == "invalid_session_preferences", r.text
    r = await enter(client, settings, lot["id"], [me, person("female")], headers=mine)
    assert r.status_code == 201, r.text


class TestRequired:
    @pytest.fixture
    def settings(self, db_url: str) -> Settings:
        return Settings(env="test", database_url=db_url, rate_limit_enabled=False,
                        log_level="INFO", maintenance_interval_seconds=0, redis_url=None,
                        citizen_identity_required=True, _env_file=None,
                        jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES)

    async def test_an_unverified_account_is_403_whatever_else_is_wrong(
            self, client, admin_headers, settings, db):
        set_china_time("2026-12-01")
        v = await verifier(client, admin_headers)
        office, _ = await office_with_schedule(client, admin_headers, sessions=ONE_SEAT)
        slot = slot_id(office["id"], "2026-12-08")
        groom = person("male")
        groom_subject, groom_account = account(settings)
        await bind(client, v, groom_subject, groom)
        assert (await book(client, settings, slot, [groom, person("female")],
                           headers=groom_account)).status_code == 201
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
        # Refused before the write (a bad number), and by the write (a free session).
        for n, parties in enumerate((bad_number, couple())):
            body = json.dumps({"slot_id": free, "kind": "marriage",
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
        assert await _outcomes(db, subject) == ["refused:identity_not_verified"] * 7
        assert (await client.get(APPT, headers=unverified)).json()["items"] == []
