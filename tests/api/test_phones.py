"""Phones are personal data (PIPL art. 28): stored encrypted like identity numbers,
never in clear in a stored idempotent response, masked in logs (database errors
included), in full only to the organisation that must call the person."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core.logging import get_logger
from schemas.common import metadata
from schemas.idempotency import IdempotencyRecord
from tests.api.test_beds_support import apply, institution
from tests.api.test_burial_support import claim_body, file_claim, policy
from tests.api.test_home_care_support import DAY as HOME_CARE_DAY
from tests.api.test_home_care_support import at, caregiver, provider
from tests.api.test_home_care_support import book as home_care_book
from tests.api.test_home_care_support import elder as home_care_elder
from tests.api.test_marriage_support import (
    citizen,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.conftest import _leaks
from tests.factories import idem, make_phone

APPT = "/v1/marriage/appointments"


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


async def _appointment(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    parties = [person("male"), person("female")]
    me = citizen(settings)
    body = {"slot_id": slot_id(office["id"], "2026-12-08"), "kind": "marriage",
            "parties": parties}
    key = idem()
    r = await client.post(APPT, json=body, headers={**me, **key})
    assert r.status_code == 201, r.text
    return r.json(), parties, me, staff, (body, key)


async def _everything_stored(db) -> list[str]:
    """Every value of every row of every table, as text."""
    out: list[str] = []
    async with db.session() as s:
        for table in metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                out.append(" ".join(str(v) for v in row))
    return out


async def test_no_phone_is_stored_in_clear(client, admin_headers, settings, db):
    _appt, parties, *_ = await _appointment(client, admin_headers, settings)
    inst, staff = await institution(client, admin_headers)
    app, _ = await apply(client, settings, inst["id"])
    await policy(client, admin_headers)
    claim = claim_body()
    await file_claim(client, settings, claim)
    # The institution reads the elder's phone back (it is stored, encrypted).
    elder_phone = (await client.get(f"/v1/bed-applications/{app['id']}", headers=staff)
                   ).json()["elder"]["phone"]
    assert masked(elder_phone) == app["elder"]["phone_masked"]
    phones = {p["phone"] for p in parties} | {claim["claimant"]["phone"], elder_phone}
    assert _leaks(phones, await _everything_stored(db)) == set()


async def test_the_office_sees_the_couples_phones_and_the_couple_sees_them_masked(
        client, admin_headers, settings):
    appt, parties, me, staff, _ = await _appointment(client, admin_headers, settings)
    for shown, given in zip(appt["parties"], parties, strict=True):
        assert shown["phone"] is None and shown["phone_masked"] == masked(given["phone"])
    r = await client.get(f"{APPT}/{appt['id']}", headers=me)
    assert [p["phone"] for p in r.json()["parties"]] == [None, None]
    r = await client.get(f"{APPT}/{appt['id']}", headers=staff)
    assert r.status_code == 200
    assert [p["phone"] for p in r.json()["parties"]] == [p["phone"] for p in parties]
    r = await client.get(APPT, headers=staff)
    assert [p["phone"] for p in r.json()["items"][0]["parties"]] == [p["phone"] for p in parties]
    r = await client.get(APPT, headers=me)
    assert [p["phone_masked"] for p in r.json()["items"][0]["parties"]] == [
        masked(p["phone"]) for p in parties]
    assert [p["phone"] for p in r.json()["items"][0]["parties"]] == [None, None]


async def test_a_party_without_a_phone_has_none(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    groom, bride = person("male"), person("female")
    del bride["phone"]
    r = await client.post(APPT, json={"slot_id": slot_id(office["id"], "2026-12-08"),
                                      "kind": "marriage", "parties": [groom, bride]},
                          headers={**citizen(settings), **idem()})
    assert r.status_code == 201, r.text
    r = await client.get(f"{APPT}/{r.json()['id']}", headers=staff)
    assert [p["phone"] for p in r.json()["parties"]] == [groom["phone"], None]


async def test_the_institution_sees_the_elders_phone_and_the_family_sees_it_masked(
        client, admin_headers, settings):
    inst, staff = await institution(client, admin_headers)
    phone = make_phone()
    r = await client.post("/v1/bed-applications", headers={**citizen(settings), **idem()},
                          json={"institution_id": inst["id"], "category": "full_care",
                                "elder": {"name": "张秀英", "id_number": person(
                                    "female", "1945-05-05")["id_number"], "phone": phone}})
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["elder"]["phone"] is None and app["elder"]["phone_masked"] == masked(phone)
    r = await client.get(f"/v1/bed-applications/{app['id']}", headers=staff)
    assert r.json()["elder"]["phone"] == phone
    r = await client.get("/v1/bed-applications", headers=staff)
    assert r.json()["items"][0]["elder"]["phone"] == phone
    # Another institution does not see the application at all.
    _other, other_staff = await institution(client, admin_headers)
    assert (await client.get(f"/v1/bed-applications/{app['id']}", headers=other_staff)
            ).status_code == 404


async def test_a_stored_idempotent_response_is_encrypted_and_still_replays(
        client, admin_headers, settings, db):
    appt, parties, me, _staff, (body, key) = await _appointment(client, admin_headers, settings)
    async with db.session() as s:
        stored = (await s.execute(select(IdempotencyRecord.response_body))).scalars().all()
    assert len(stored) == 1
    for clear in (appt["id"], appt["check_in_code"], parties[0]["name"],
                  appt["parties"][0]["phone_masked"], appt["parties"][0]["id_number_masked"]):
        assert clear not in stored[0]
    r = await client.post(APPT, json=body, headers={**me, **key})
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
    assert r.json() == appt


async def test_a_phone_in_a_log_line_or_a_database_error_is_masked(client, log_stream):
    phone = make_phone()
    log = get_logger("test")
    log.warning("someone logged", value=f"call {phone} or +86 {phone[:3]}-{phone[3:7]}-"
                                        f"{phone[7:]}")
    try:
        raise IntegrityError("INSERT INTO marriage_party (phone) VALUES (?)", (phone,),
                             Exception(f"UNIQUE constraint failed: {phone}"))
    except IntegrityError:
        log.exception("database_error")
    await client.get("/healthz")
    written = log_stream.getvalue()
    assert phone not in written and phone[3:7] not in written
    assert masked(phone) in written


async def test_the_migration_left_no_clear_phone_column(db):
    async with db.session() as s:
        rows = (await s.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_name IN ('marriage_party', 'bed_application')"))).all()
        cols = {t: {c for tt, c in rows if tt == t}
                for t in ("marriage_party", "bed_application")}
    assert "phone" not in cols["marriage_party"] and "phone_encrypted" in cols["marriage_party"]
    assert "elder_phone" not in cols["bed_application"]
    assert "elder_phone_encrypted" in cols["bed_application"]


async def test_the_provider_sees_the_elders_phone_and_the_family_sees_it_masked(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    phone = make_phone()
    me = citizen(settings)
    r = await home_care_book(client, settings, org["id"], at(HOME_CARE_DAY, "09:00"), who=me,
                             elder_=home_care_elder(phone=phone))
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["elder"]["phone"] is None and visit["elder"]["phone_masked"] == masked(phone)
    r = await client.get(f"/v1/home-care/bookings/{visit['id']}", headers=staff)
    assert r.json()["elder"]["phone"] == phone
    r = await client.get("/v1/home-care/bookings", headers=staff)
    assert [b["elder"]["phone"] for b in r.json()["items"]] == [phone]
    r = await client.get(f"/v1/home-care/bookings/{visit['id']}", headers=me)
    assert r.json()["elder"]["phone"] is None
