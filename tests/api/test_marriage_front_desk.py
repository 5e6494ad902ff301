"""The front desk: finding a couple's appointment by an identity number, and
checking them in with the QR code's whole payload."""

from __future__ import annotations

from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)

APPT = "/v1/marriage/appointments"
LOOKUP = f"{APPT}/lookup"


async def test_the_desk_finds_a_persons_appointments_at_its_own_office(client, admin_headers,
                                                                       settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    other, other_staff = await office_with_schedule(client, admin_headers)
    groom, bride = couple()
    me = citizen(settings)
    # He booked at the other office first, cancelled, then booked here.
    r = await book(client, settings, slot_id(other["id"], "2026-12-08"), [groom, bride],
                   headers=me)
    elsewhere = r.json()
    assert (await client.post(f"{APPT}/{elsewhere['id']}/cancel", headers=me)).status_code == 200
    r = await book(client, settings, slot_id(office["id"], "2026-12-09"), [groom, bride],
                   headers=me)
    here = r.json()
    # Someone else's booking here is not his.
    await book(client, settings, slot_id(office["id"], "2026-12-09"))

    r = await client.post(LOOKUP, headers=staff, json={"id_number": bride["id_number"]})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [a["id"] for a in page["items"]] == [here["id"]] and page["next_cursor"] is None
    found = page["items"][0]
    assert "check_in_code" not in found
    assert [p["id_number_masked"] for p in found["parties"]] == [
        p["id_number"][:6] + "********" + p["id_number"][-4:] for p in (groom, bride)]
    # The other office finds only its own (cancelled) one.
    r = await client.post(LOOKUP, headers=other_staff, json={"id_number": groom["id_number"]})
    assert [(a["id"], a["status"]) for a in r.json()["items"]] == [(elsewhere["id"],
                                                                     "cancelled")]
    # Narrowed by date and status; a stranger's number finds nothing.
    for narrow, ids in (({"date": "2026-12-09"}, [here["id"]]), ({"date": "2026-12-08"}, []),
                        ({"status": "booked"}, [here["id"]]), ({"status": "cancelled"}, [])):
        r = await client.post(LOOKUP, headers=staff,
                              json={"id_number": groom["id_number"], **narrow})
        assert [a["id"] for a in r.json()["items"]] == ids, narrow
    r = await client.post(LOOKUP, headers=staff, json={"id_number": person("male")["id_number"]})
    assert r.status_code == 200 and r.json()["items"] == []


async def test_lookups_are_audited(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    parties = couple()
    await book(client, settings, slot_id(office["id"], "2026-12-08"), parties)
    for _ in range(2):
        r = await client.post(LOOKUP, headers=staff, json={"id_number": parties[0]["id_number"]})
        assert r.status_code == 200 and len(r.json()["items"]) == 1
    events = (await client.get("/v1/admin/audit-events", headers=admin_headers, params={
        "action": "marriage_appointment.lookup", "limit": 100})).json()["items"]
    assert len(events) == 2
    assert {(e["org_id"], e["actor_role"], e["outcome"]) for e in events} == {
        (office["id"], "office", "success")}


async def test_the_identity_number_is_validated(client, admin_headers, settings):
    set_china_time("2026-12-01")
    _office, staff = await office_with_schedule(client, admin_headers)
    good = person("female")["id_number"]
    bad_checksum = good[:-1] + ("0" if good[-1] != "0" else "1")
    for number, reason in ((bad_checksum, "checksum"), ("12345", "length"),
                           ("11010520991231001X", "birth_date")):
        r = await client.post(LOOKUP, headers=staff, json={"id_number": number})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_id_number" and r.json()["reason"] == reason
        assert number not in r.text
    for body in ({}, {"id_number": good, "extra": 1}, {"id_number": good, "date": "2026-13-01"}):
        r = await client.post(LOOKUP, headers=staff, json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_only_office_staff_look_up(client, admin_headers, settings):
    set_china_time("2026-12-01")
    number = person("male")["id_number"]
    r = await client.post(LOOKUP, headers=citizen(settings), json={"id_number": number})
    assert r.status_code == 403
    r = await client.post(LOOKUP, json={"id_number": number})
    assert r.status_code == 401


async def test_lookup_pages_with_a_cursor(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    groom = person("male")
    ids = []
    for day in ("2026-12-08", "2026-12-09", "2026-12-10"):
        r = await book(client, settings, slot_id(office["id"], day), [groom, person("female")],
                       headers=me)
        ids.append(r.json()["id"])
        assert (await client.post(f"{APPT}/{ids[-1]}/cancel", headers=me)).status_code == 200
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.post(LOOKUP, headers=staff, params=params,
                              json={"id_number": groom["id_number"]})
        assert r.status_code == 200, r.text
        seen += [a["id"] for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # by session time
    r = await client.post(LOOKUP, headers=staff, params={"cursor": "nope"},
                          json={"id_number": groom["id_number"]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


# --- check-in with the QR code's payload ---------------------------------------------


def _payload(appt: dict, code: str | None = None) -> str:
    """What the QR code of `GET .../check-in-qr.svg` holds (README, API docs)."""
    return f"huimin-marriage:{appt['id']}:{code or appt['check_in_code']}"


async def test_check_in_takes_the_qr_payload_or_the_bare_code(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    a = (await book(client, settings, slot_id(office["id"], "2026-12-08"))).json()
    b = (await book(client, settings, slot_id(office["id"], "2026-12-08"))).json()
    set_china_time("2026-12-08", "09:05")
    r = await client.post(f"{APPT}/{a['id']}/check-in", headers=staff,
                          json={"check_in_code": _payload(a)})
    assert r.status_code == 200 and r.json()["status"] == "checked_in", r.text
    r = await client.post(f"{APPT}/{b['id']}/check-in", headers=staff,
                          json={"check_in_code": b["check_in_code"]})
    assert r.status_code == 200 and r.json()["status"] == "checked_in"


async def test_a_payload_for_another_appointment_or_altered_is_refused(client, admin_headers,
                                                                      settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    other, _other_staff = await office_with_schedule(client, admin_headers)
    mine = (await book(client, settings, slot_id(office["id"], "2026-12-08"))).json()
    neighbour = (await book(client, settings, slot_id(office["id"], "2026-12-08"))).json()
    theirs = (await book(client, settings, slot_id(other["id"], "2026-12-08"))).json()
    set_china_time("2026-12-08", "09:05")
    wrong = "0" * 8 if mine["check_in_code"] != "0" * 8 else "1" * 8
    for scanned in (
        _payload(theirs),  # another office's couple
        _payload(neighbour),  # another couple of this office
        _payload(theirs, mine["check_in_code"]),  # this code under another id
        _payload(mine, wrong),  # altered code
        _payload(mine) + "0",
        f"huimin-marriage:{mine['check_in_code']}",
        f"huimin-marriage:{mine['id']}x:{mine['check_in_code']}",
        f"huimin-marriage::{mine['id']}:{mine['check_in_code']}",
        _payload(mine).replace("huimin-marriage", "huimin-wedding"),
    ):
        r = await client.post(f"{APPT}/{mine['id']}/check-in", headers=staff,
                              json={"check_in_code": scanned})
        assert r.status_code == 422 and r.json()["code"] == "invalid_check_in_code", scanned
    r = await client.get(f"{APPT}/{mine['id']}", headers=staff)
    assert r.json()["status"] == "booked"
    r = await client.post(f"{APPT}/{mine['id']}/check-in", headers=staff,
                          json={"check_in_code": _payload(mine)})
    assert r.status_code == 200
