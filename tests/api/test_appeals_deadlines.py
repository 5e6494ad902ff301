"""An appeal's `decide_by`: the 20th working day after the day of filing on the
official calendar (a loaded notice for 2027, its Spring Festival and a 调休 weekend
day), `overdue` computed on read from the stored date, and `appeal.overdue` written
once by the worker's job however many times, or on how many nodes at once, it runs."""

from __future__ import annotations

import asyncio
import datetime as dt

from core.clock import CHINA_TZ, clock
from services import appeals
from services.notifications.worker import Worker
from tests.api.test_appeals_support import appeal, appeal_events, decide, rejected_claim
from tests.factories import citizen_headers

# A 2027 notice as the State Council would publish it (the library does not know
# 2027): the Spring Festival (2027-02-06) from Friday 02-05 to Saturday 02-13, with
# Sunday 02-14 and Saturday 02-20 worked in exchange (调休).
NOTICE_2027 = {
    "holidays": ["2027-01-01", *(f"2027-02-{d:02d}" for d in range(5, 14))],
    "working_days": ["2027-02-14", "2027-02-20"],
    "notice": "国务院办公厅关于2027年部分节假日安排的通知（测试）",
}


def china(day: str, hhmm: str = "10:00") -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), tzinfo=CHINA_TZ)


def _subject(headers: dict) -> str:
    import jwt
    return jwt.decode(headers["Authorization"].removeprefix("Bearer "),
                      options={"verify_signature": False})["sub"]


async def test_decide_by_counts_working_days_across_the_spring_festival_and_tiaoxiu(
        client, settings, admin_headers):
    clock.set(china("2027-01-20"))
    claim, citizen, _b = await rejected_claim(client, settings, admin_headers)
    r = await client.put("/v1/official-calendar/2027", json=NOTICE_2027, headers=admin_headers)
    assert r.status_code == 200, r.text
    clock.set(china("2027-01-27"))  # a Wednesday
    a = await appeal(client, citizen_headers(settings, _subject(citizen)), "burial_claim",
                     claim["id"])
    # Thu 01-28 (1), Fri 01-29 (2), 02-01..02-04 (3-6), the holiday 02-05..02-13, Sun
    # 02-14 worked (7), 02-15..02-19 (8-12), Sat 02-20 worked (13), 02-22..02-26
    # (14-18), Mon 03-01 (19), Tue 03-02 (20).
    assert a["decide_by"] == "2027-03-02"
    assert a["filed_at"] == "2027-01-27T10:00:00+08:00"


async def test_an_undecided_appeal_is_overdue_after_its_decide_by_day(
        client, settings, admin_headers, db):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    done, citizen2, _ = await rejected_claim(client, settings, admin_headers, b)
    decided = await appeal(client, citizen2, "burial_claim", done["id"])
    last = dt.date.fromisoformat(a["decide_by"])
    clock.set(china(last.isoformat(), "23:59"))
    assert (await _read(client, settings, citizen, a))["overdue"] is False
    assert await _overdue_ids(client, b.reviewer) == []
    clock.set(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0, 0),
                                  tzinfo=CHINA_TZ))
    await decide(client, b.approver, decided["id"], "upheld")
    # Computed on read: overdue at once, although no job has run.
    assert (await _read(client, settings, citizen, a))["overdue"] is True
    assert await _overdue_ids(client, b.reviewer) == [a["id"]]
    r = await client.get("/v1/appeals", params={"overdue": "false"}, headers=b.reviewer)
    assert [x["id"] for x in r.json()["items"]] == [decided["id"]]
    assert await appeal_events(db, ".overdue") == []
    # The worker's job: once, however often it runs.
    async with Worker(db, settings) as w:
        await w.schedule()
        await w.schedule()
    [event] = await appeal_events(db, ".overdue")
    assert event.object_id == a["id"] and event.division_code == "110105"
    assert event.data["decide_by"] == a["decide_by"]
    # Decided late, it is no longer overdue.
    await decide(client, b.reviewer_as_approver, a["id"], "upheld", expect=403)
    r = await decide(client, b.approver, a["id"], "upheld")
    assert r["overdue"] is False


async def test_appeal_overdue_is_written_once_by_two_jobs_at_the_same_moment(
        client, settings, admin_headers, db):
    claim, citizen, _b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    clock.set(china(a["decide_by"]) + dt.timedelta(days=1))
    now = clock.now()
    # Two nodes' jobs (their locks aside): both read the appeal as due; the first
    # stamps it and has not committed when the second tries.
    async with db.session() as first, db.session() as second:
        assert await appeals.scheduled(first, settings, now) == 1
        late = asyncio.create_task(appeals.scheduled(second, settings, now))
        await asyncio.sleep(0.3)  # the second waits for the first's row lock
        await first.commit()
        assert await late == 0
        await second.commit()
    assert len(await appeal_events(db, ".overdue")) == 1


async def _read(client, settings, citizen: dict, a: dict) -> dict:
    r = await client.get(f"/v1/appeals/{a['id']}",
                         headers=citizen_headers(settings, _subject(citizen)))
    assert r.status_code == 200, r.text
    return r.json()


async def _overdue_ids(client, headers: dict) -> list[str]:
    r = await client.get("/v1/appeals", params={"overdue": "true"}, headers=headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


async def test_a_notice_loaded_after_filing_moves_the_deadline(client, settings,
                                                              admin_headers, db):
    """Filed while 2027 was only an estimate (no 调休 days, the Spring Festival by
    rule), the deadline is counted again once the notice is loaded, by the job."""
    clock.set(china("2027-01-27"))
    claim, citizen, _b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    # The estimate: the Spring Festival 02-05..02-10, no weekend worked.
    assert a["decide_by"] == "2027-03-02"
    # The notice: 02-05..02-13 off, only Sunday 02-14 worked in exchange; so 02-11 and
    # 02-12 no longer count and 02-14 does: one working day fewer by 03-02.
    notice = {**NOTICE_2027, "working_days": ["2027-02-14"]}
    r = await client.put("/v1/official-calendar/2027", json=notice, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert (await _read(client, settings, citizen, a))["decide_by"] == "2027-03-02"
    async with Worker(db, settings) as w:
        await w.schedule()
    again = await _read(client, settings, citizen, a)
    assert again["decide_by"] == "2027-03-03"
    assert again["overdue"] is False
