"""Marriage lotteries through the HTTP API: API.md "Fair release of peak dates"."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import text

from tests.api.test_marriage_lottery_support import (
    LOTTERY_DAY,
    enter,
    lottery_office,
    schedule_lottery,
)
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)


async def test_a_lottery_holds_its_date_against_first_come_booking(client, admin_headers,
                                                                  settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    r = await schedule_lottery(client, office, staff)
    assert r.status_code == 201, r.text
    lot = r.json()
    assert r.headers["location"] == f"/v1/marriage/lotteries/{lot['id']}"
    assert lot["status"] == "scheduled" and lot["date"] == LOTTERY_DAY
    assert re.fullmatch(r"[0-9a-f]{64}", lot["seed_sha256"])
    assert lot["seed"] is None
    assert lot["entries"] == 0 and lot["seats"] == 5
    assert [(s["start"], s["seats"]) for s in lot["sessions"]] == [("09:00", 3), ("13:30", 2)]
    # First-come booking of the date is refused, every session of it; other dates not.
    r = await book(client, settings, slot_id(office["id"], LOTTERY_DAY))
    assert r.status_code == 422 and r.json()["code"] == "date_in_lottery", r.text
    assert r.json()["lottery_id"] == lot["id"]
    r = await book(client, settings, slot_id(office["id"], LOTTERY_DAY, "13:30"))
    assert r.status_code == 422 and r.json()["code"] == "date_in_lottery"
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2026-12-18", "to": LOTTERY_DAY})
    by_date = {(s["date"], s["bookable"]) for s in r.json()["items"]}
    assert (LOTTERY_DAY, True) not in by_date and (LOTTERY_DAY, False) in by_date
    assert ("2026-12-18", True) in by_date
    # The public view, without credentials.
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.status_code == 200 and r.json()["seed"] is None
    # The office's own list.
    r = await client.get(f"/v1/marriage/offices/{office['id']}/lotteries", headers=staff)
    assert [x["id"] for x in r.json()["items"]] == [lot["id"]]


async def test_what_a_lottery_may_be(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    # Beyond the booking window (30 days), or today.
    r = await schedule_lottery(client, office, staff, day="2027-01-05",
                               closes="2026-12-20T18:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window", r.text
    r = await schedule_lottery(client, office, staff, day="2026-12-01",
                               opens="2026-12-01T10:30:00+08:00",
                               closes="2026-12-01T11:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window", r.text
    # Entries must close by the first session's booking deadline (2 h before 09:00).
    r = await schedule_lottery(client, office, staff, closes="2026-12-20T07:30:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "invalid_lottery"
    r = await schedule_lottery(client, office, staff, opens="2026-11-20T09:00:00+08:00",
                               closes="2026-11-30T09:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "invalid_lottery"
    # Close before open is a field error; a date without sessions is refused.
    r = await schedule_lottery(client, office, staff, opens="2026-12-10T18:00:00+08:00",
                               closes="2026-12-05T09:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await schedule_lottery(client, office, staff, day="2026-12-19",
                               closes="2026-12-10T18:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "invalid_lottery"
    # One per office and date.
    assert (await schedule_lottery(client, office, staff)).status_code == 201
    r = await schedule_lottery(client, office, staff)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_lottery"


async def test_another_office_and_other_roles(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    other, other_staff = await office_with_schedule(client, admin_headers)
    r = await schedule_lottery(client, office, other_staff)
    assert r.status_code == 404
    r = await schedule_lottery(client, office, citizen(settings))
    assert r.status_code == 403
    lot = (await schedule_lottery(client, office, staff)).json()
    r = await client.post(f"/v1/marriage/lotteries/{lot['id']}/cancel", headers=other_staff)
    assert r.status_code == 404
    r = await client.get(f"/v1/marriage/offices/{office['id']}/lotteries", headers=other_staff)
    assert r.status_code == 404
    r = await client.post(f"/v1/marriage/lotteries/{lot['id']}/cancel",
                          headers=citizen(settings))
    assert r.status_code == 403
    # A citizen's entry is theirs alone.
    set_china_time("2026-12-06")
    mine, theirs = citizen(settings), citizen(settings)
    r = await enter(client, settings, lot["id"], headers=mine)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["status"] == "entered"
    assert r.headers["location"] == f"/v1/marriage/lottery-entries/{entry['id']}"
    r = await client.get(f"/v1/marriage/lottery-entries/{entry['id']}", headers=mine)
    assert r.status_code == 200 and r.json()["status"] == "entered"
    assert all("id_number" not in p for p in r.json()["parties"])
    r = await client.get(f"/v1/marriage/lottery-entries/{entry['id']}", headers=theirs)
    assert r.status_code == 404
    r = await client.get(f"/v1/marriage/lottery-entries/{entry['id']}", headers=staff)
    assert r.status_code == 403
    # Entries are not public before the draw.
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}/entries")
    assert r.status_code == 409 and r.json()["code"] == "lottery_not_drawn"


async def test_the_office_cancels_before_entries_open_only(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    r = await client.post(f"/v1/marriage/lotteries/{lot['id']}/cancel", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelled_at"]
    # The date is bookable first-come again; a new lottery may take it.
    r = await book(client, settings, slot_id(office["id"], LOTTERY_DAY))
    assert r.status_code == 201, r.text
    again = await schedule_lottery(client, office, staff)
    assert again.status_code == 201, again.text
    set_china_time("2026-12-05", "09:00")  # open now
    r = await client.post(f"/v1/marriage/lotteries/{again.json()['id']}/cancel", headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert r.json()["current_status"] == "open"
    r = await enter(client, settings, lot["id"])
    assert r.status_code == 409 and r.json()["current_status"] == "cancelled"


async def test_entries_only_while_open(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    r = await enter(client, settings, lot["id"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert r.json()["current_status"] == "scheduled"
    set_china_time("2026-12-05", "09:00")
    r = await enter(client, settings, lot["id"])
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.json()["status"] == "open" and r.json()["entries"] == 1
    set_china_time("2026-12-10", "18:00")
    r = await enter(client, settings, lot["id"])
    assert r.status_code == 409 and r.json()["current_status"] == "closed"
    r = await enter(client, settings, "mlot_nope")
    assert r.status_code == 404


async def test_entries_are_checked_by_the_booking_rules(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    # Ages on the lottery's date: 22 on 2026-12-20 is enough, 22 on 2026-12-21 is not.
    r = await enter(client, settings, lot["id"], couple("2004-12-20", "2000-01-01"))
    assert r.status_code == 201, r.text
    r = await enter(client, settings, lot["id"], couple("2004-12-21", "2000-01-01"))
    assert r.status_code == 422 and r.json()["code"] == "underage"
    from tests.api.test_marriage_support import person
    r = await enter(client, settings, lot["id"], [person("male"), person("male")])
    assert r.status_code == 422 and r.json()["code"] == "invalid_parties"
    r = await enter(client, settings, lot["id"], [person("male")])
    assert r.status_code == 422 and r.json()["code"] == "invalid_parties"
    r = await enter(client, settings, lot["id"], [person("male")], kind="reissue")
    assert r.status_code == 201, r.text
    r = await enter(client, settings, lot["id"], kind="divorce_confirmation")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    bad = [{"name": "张伟", "id_number": "110105199001011230"}, person("female")]
    r = await enter(client, settings, lot["id"], bad)
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"
    r = await enter(client, settings, lot["id"], prefs=["10:00"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_session_preferences"
    r = await enter(client, settings, lot["id"], prefs=["09:00", "09:00"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_session_preferences"
    # One active appointment per person: who holds one may not enter.
    groom = person("male")
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"),
                   [groom, person("female")])
    assert r.status_code == 201
    r = await enter(client, settings, lot["id"], [person("female"), groom])
    assert r.status_code == 409 and r.json()["code"] == "party_has_active_appointment"
    assert r.json()["party_index"] == 1


async def test_one_entry_per_person_and_idempotent_entries(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    from tests.api.test_marriage_support import person
    from tests.factories import idem
    me = citizen(settings)
    parties = couple()
    r = await client.post(f"/v1/marriage/lotteries/{lot['id']}/entries", headers=me,
                          json={"kind": "marriage", "parties": parties,
                                "session_preferences": ["09:00"]})
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    key = idem()
    first = await enter(client, settings, lot["id"], parties, headers=me, key=key)
    again = await enter(client, settings, lot["id"], parties, headers=me, key=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    r = await enter(client, settings, lot["id"], parties, prefs=["13:30"], headers=me, key=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    # The same bride with another groom, from another account: refused.
    r = await enter(client, settings, lot["id"], [person("male"), parties[1]])
    assert r.status_code == 409 and r.json()["code"] == "duplicate_entry"
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.json()["entries"] == 1


async def test_a_suspended_person_cannot_enter(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    from tests.api.test_marriage_support import person
    groom = person("male")
    for day in ("2026-12-01", "2026-12-02"):
        set_china_time(day, "06:00")
        r = await book(client, settings, slot_id(office["id"], day), [groom, person("female")])
        assert r.status_code == 201, r.text
        set_china_time(day, "12:30")
        r = await client.post(f"/v1/marriage/appointments/{r.json()['id']}/no-show",
                              headers=staff)
        assert r.status_code == 200, r.text
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    r = await enter(client, settings, lot["id"], [groom, person("female")])
    assert r.status_code == 422 and r.json()["code"] == "booking_suspended"
    r = await enter(client, settings, lot["id"], [person("male"), person("female")])
    assert r.status_code == 201


async def test_one_no_show_does_not_keep_a_person_from_entering(client, admin_headers,
                                                                settings):
    # On PostgreSQL the entry's write finds the no-show (HMNS1); not suspended by
    # one, the person is counted and the same write runs again without the check.
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    from tests.api.test_marriage_support import person
    groom = person("male")
    set_china_time("2026-12-01", "06:00")
    r = await book(client, settings, slot_id(office["id"], "2026-12-01"), [groom, person("female")])
    assert r.status_code == 201, r.text
    set_china_time("2026-12-01", "12:30")
    r = await client.post(f"/v1/marriage/appointments/{r.json()['id']}/no-show", headers=staff)
    assert r.status_code == 200, r.text
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    r = await enter(client, settings, lot["id"], [groom, person("female")])
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.json()["entries"] == 1


async def test_a_day_changed_by_another_process_is_read_afresh(client, admin_headers,
                                                               settings, db):
    # Each process keeps its read of a lottery (PostgreSQL); the entry's write
    # checks it under the schedule's lock. Here the lottery's day is closed and
    # opened again behind this process's back, as another process would do it.
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    assert (await enter(client, settings, lot["id"])).status_code == 201  # read and kept
    async with db.session() as s:
        await s.execute(text(
            "INSERT INTO marriage_closure (id, office_id, closure_date, reason, created_at) "
            "VALUES ('mcl_behind', :office, :day, 'burst pipe', :now)"),
            {"office": office["id"], "day": dt.date.fromisoformat(LOTTERY_DAY),
             "now": dt.datetime.now(dt.UTC)})
        await s.commit()
    r = await enter(client, settings, lot["id"], prefs=["09:00"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_session_preferences", r.text
    async with db.session() as s:
        await s.execute(text("DELETE FROM marriage_closure WHERE id = 'mcl_behind'"))
        await s.commit()
    r = await enter(client, settings, lot["id"], prefs=["13:30"])
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.json()["entries"] == 2


def test_seed_sha256_is_of_the_seed_bytes():
    seed = bytes(range(32))
    from services.marriage import lottery_order
    assert lottery_order.seed_digest(seed) == hashlib.sha256(seed).hexdigest()
