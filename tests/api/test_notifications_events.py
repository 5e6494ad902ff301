"""Every event of API.md's list that exists today is written to the outbox by the
change it reports (through the API), routed to the subscriptions that may hear it,
and carries the citizen's `subject` and masked numbers only."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select

from core.clock import CHINA_TZ, clock
from core.db import Database
from schemas.notifications import OutboxEvent
from services import maintenance
from services.notifications.worker import Worker
from tests.api import test_beds_support as beds
from tests.api import test_burial_support as burial
from tests.api import test_home_care_support as hc
from tests.api.test_marriage_support import book as book_marriage
from tests.api.test_marriage_support import citizen, couple, office_with_schedule, slot_id
from tests.api.test_marriage_support import set_china_time as marriage_time
from tests.factories import ISSUED_ACCOUNT_NUMBERS, ISSUED_ID_NUMBERS, citizen_headers

SUBS = "/v1/webhook-subscriptions"
NOWHERE = "http://127.0.0.1:9/hooks"


async def events(db: Database, family: str | None = None) -> list[OutboxEvent]:
    async with db.session() as session:
        rows = list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))
                     ).scalars())
    return [e for e in rows if family is None or e.type.startswith(family)]


def assert_private(evts: list[OutboxEvent]) -> None:
    for e in evts:
        text = repr(e.data).upper()
        assert not [n for n in ISSUED_ID_NUMBERS | ISSUED_ACCOUNT_NUMBERS if n in text], e.type
        assert "13800138000" not in text, e.type


def worker(db, settings, **changes) -> Worker:
    return Worker(db, settings.model_copy(update={"worker_schedule_seconds": 0.0, **changes}))


async def delivered_types(client, headers, sub_id) -> Counter:
    items = (await client.get(f"{SUBS}/{sub_id}/deliveries", headers=headers,
                              params={"limit": 100})).json()["items"]
    return Counter(d["type"] for d in items)


async def test_bed_offer_expiring_and_expired_each_once(client, admin_headers, settings, db):
    beds.clock.set(dt.datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ))
    inst, staff = await beds.institution(client, admin_headers)
    await beds.add_bed(client, inst, staff, "101-1")
    sub = (await client.post(SUBS, headers=staff, json={"url": NOWHERE,
                                                          "events": ["bed_application.*"]})
           ).json()
    app, fam = await beds.waiting_applicant(client, settings, inst, staff)
    assert app["status"] == "offered"
    [offered] = await events(db, "bed_application")
    assert offered.type == "bed_application.offered" and offered.org_id == inst["id"]
    assert offered.data["application_id"] == app["id"] and offered.data["subject"]
    assert offered.data["elder"]["id_number_masked"].count("*") == 8
    async with worker(db, settings) as w:
        assert await w.schedule() == 0  # 72 hours to go
        clock.advance(dt.timedelta(hours=50))  # 22 hours to go: expiring
        assert await w.schedule() == 1
        assert await w.schedule() == 0
        clock.advance(dt.timedelta(hours=23))  # past it: expired
        assert await w.schedule() == 1
        # The pool settles the offer (the `expire` transition): still one `expired`.
        await maintenance.run_once(db, settings)
        assert await w.schedule() == 0
        await w.fan_out()
    types = [e.type for e in await events(db, "bed_application")]
    assert types == ["bed_application.offered", "bed_application.offer_expiring",
                     "bed_application.expired"]
    assert (await beds.read_app(client, fam, app["id"], settings))["status"] == "expired"
    assert await delivered_types(client, staff, sub["id"]) == Counter(types)
    assert_private(await events(db))


async def test_home_care_booked_cancelled_completed_and_reminder(client, admin_headers,
                                                                 settings, db):
    hc.set_china_time("2026-12-01")
    org, staff = await hc.provider(client, admin_headers, lat=31.23, lon=121.47)
    await hc.caregiver(client, staff, org["id"])
    family = citizen_headers(settings, "wx-family")
    visits = []
    for start in ("10:00", "14:00"):
        r = await hc.book(client, settings, org["id"], hc.at(hc.DAY, start), who=family)
        assert r.status_code == 201, r.text
        visits.append(r.json())
    r = await client.post(f"/v1/home-care/bookings/{visits[1]['id']}/cancel", headers=staff,
                          json={"reason": "护理员生病，请致电 13912345678"})
    assert r.status_code == 200, r.text
    async with worker(db, settings, reminder_hour=18) as w:
        hc.set_china_time("2026-12-07", "17:59")
        assert await w.schedule() == 0
        hc.set_china_time("2026-12-07", "18:00")
        assert await w.schedule() == 1  # the cancelled one is not reminded
        assert await w.schedule() == 0
    hc.set_china_time(hc.DAY, "10:00")
    home = {"lat": 31.235, "lon": 121.48}
    path = f"/v1/home-care/bookings/{visits[0]['id']}"
    assert (await client.post(f"{path}/check-in", json=home, headers=staff)).status_code == 200
    assert (await client.post(f"{path}/check-out", json=home, headers=staff)).status_code == 200
    evts = await events(db, "home_care")
    assert Counter(e.type for e in evts) == Counter({
        "home_care.booking.booked": 2, "home_care.booking.cancelled": 1,
        "home_care.booking.reminder": 1, "home_care.booking.completed": 1})
    cancelled = next(e for e in evts if e.type.endswith("cancelled"))
    # A number typed into the reason does not travel with the event.
    assert cancelled.data["reason"] == "护理员生病，请致电 [redacted]"
    assert cancelled.data["cancelled_by"] == "provider"
    assert cancelled.data["subject"] == "wx-family" and cancelled.org_id == org["id"]
    assert all(e.subject == "wx-family" for e in evts)
    assert_private(evts)


async def test_burial_events_reach_the_bureau_within_its_division(client, admin_headers,
                                                                  settings, db):
    await burial.policy(client, admin_headers)
    b = await burial.bureau(client, admin_headers)
    far = await burial.bureau(client, admin_headers, division="310101")
    mine = (await client.post(SUBS, headers=b.reviewer, json={"url": NOWHERE,
                                                                "events": ["burial.claim.*"]})
            ).json()
    theirs = (await client.post(SUBS, headers=far.reviewer, json={"url": NOWHERE,
                                                                    "events": ["*"]})).json()
    claim, _fam = await burial.file_claim(client, settings)
    url = f"/v1/burial/claims/{claim['id']}"
    r = await client.post(f"{url}/review", headers=b.reviewer, json={
        "decision": "return", "reason_code": "documents_incomplete", "note": "请补正"})
    assert r.status_code == 200
    paid, _ = await burial.approved_claim(client, settings, b)
    r = await client.post(f"/v1/burial/claims/{paid['id']}/mark-paid", headers=b.approver,
                          json={"payment_reference": "ICBC-20261210-000123"})
    assert r.status_code == 200
    rejected, _ = await burial.reviewed_claim(client, settings, b)
    r = await client.post(f"/v1/burial/claims/{rejected['id']}/reject", headers=b.approver,
                          json={"reason_code": "method_not_eligible", "note": "不符合条件"})
    assert r.status_code == 200, r.text
    evts = await events(db, "burial")
    assert Counter(e.type for e in evts) == Counter({
        "burial.claim.returned": 1, "burial.claim.approved": 1, "burial.claim.paid": 1,
        "burial.claim.rejected": 1})
    paid_event = next(e for e in evts if e.type == "burial.claim.paid")
    assert paid_event.data["payment_reference"] == "ICBC-20261210-000123"
    assert paid_event.data["account_no_masked"].startswith("6222 ****")
    assert_private(evts)
    async with worker(db, settings) as w:
        await w.fan_out()
    assert await delivered_types(client, b.reviewer, mine["id"]) == Counter(
        e.type for e in evts)
    assert await delivered_types(client, far.reviewer, theirs["id"]) == Counter()


async def test_divorce_cooling_off_ending_and_confirmation_deadline_nearing(
        client, admin_headers, settings, db):
    marriage_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    r = await book_marriage(client, settings, slot_id(office["id"], "2026-12-08"), couple(),
                            kind="divorce", headers=me)
    assert r.status_code == 201, r.text
    appt = r.json()
    marriage_time("2026-12-08", "09:10")
    assert (await client.post(f"/v1/marriage/appointments/{appt['id']}/check-in", headers=staff,
                              json={"check_in_code": appt["check_in_code"]})).status_code == 200
    assert (await client.post(f"/v1/marriage/appointments/{appt['id']}/complete",
                              headers=staff)).status_code == 200
    # Cooling-off ends 2027-01-07, the confirmation deadline is 2027-02-06; notices 3
    # days before each, written once even by a worker that was down on the day.
    async with worker(db, settings, divorce_notice_days=3) as w:
        marriage_time("2027-01-03")
        assert await w.schedule() == 0
        marriage_time("2027-01-05")
        assert await w.schedule() == 1
        assert await w.schedule() == 0
        marriage_time("2027-02-05")
        assert await w.schedule() == 1
        marriage_time("2027-02-06")
        assert await w.schedule() == 0
    evts = await events(db, "marriage.divorce_case")
    assert [e.type for e in evts] == ["marriage.divorce_case.cooling_off_ending",
                                      "marriage.divorce_case.confirmation_deadline_nearing"]
    assert evts[0].data["cooling_off_ends"] == "2027-01-07"
    assert evts[0].subject and evts[0].org_id == office["id"]
    assert_private(await events(db))
