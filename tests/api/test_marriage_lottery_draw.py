"""The draw: at entries_close_at, by itself, once, by API.md's seeded order; and its
verification from the public data alone."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from core.clock import clock
from schemas.audit import AuditEvent
from schemas.capacity import CapacitySlot
from schemas.marriage import MarriageAppointment, MarriagePartyHold
from schemas.marriage_lottery import MarriageLotteryEntry
from services import maintenance
from services.marriage import lottery_order
from tests.api.test_marriage_lottery_support import (
    LOTTERY_DAY,
    enter,
    lottery_office,
    public_entries,
    recompute,
    schedule_lottery,
)
from tests.api.test_marriage_support import (
    book,
    citizen,
    person,
    set_china_time,
    slot_id,
)

ROOT = Path(__file__).resolve().parents[2]
PREFS = (["09:00", "13:30"], ["13:30", "09:00"], ["09:00"], ["13:30"])


async def _open_lottery(client, admin_headers, settings, *, entries: int, morning=3,
                        afternoon=2):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers, morning=morning,
                                         afternoon=afternoon)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    who: dict[str, dict] = {}
    for n in range(entries):
        me = citizen(settings)
        r = await enter(client, settings, lot["id"], prefs=PREFS[n % len(PREFS)], headers=me)
        assert r.status_code == 201, r.text
        who[r.json()["id"]] = me
    return office, staff, lot, who


async def _count(db, model, *where) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))
                ).scalar_one()


async def test_a_draw_with_more_entries_than_seats(client, admin_headers, settings, db):
    office, staff, lot, who = await _open_lottery(client, admin_headers, settings, entries=14)
    # Before the close nothing is drawn, however often the sweep runs.
    set_china_time("2026-12-10", "17:59")
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 0
    set_china_time("2026-12-10", "18:00")
    assert (await client.get(f"/v1/marriage/lotteries/{lot['id']}")).json()["status"] == "closed"
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 1
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 0  # once
    view = (await client.get(f"/v1/marriage/lotteries/{lot['id']}")).json()
    assert view["status"] == "drawn" and view["drawn_at"]
    assert hashlib.sha256(bytes.fromhex(view["seed"])).hexdigest() == lot["seed_sha256"]
    assert view["entries"] == 14 and view["seats"] == 5 and view["winners"] == 5
    entries = await public_entries(client, lot["id"])
    assert len(entries) == 14 and {e["id"] for e in entries} == set(who)
    assert set(entries[0]) == {"id", "status", "session_preferences", "session",
                               "excluded_reason"}  # nobody in it
    # The outcome is API.md's order, recomputed here independently.
    expected = recompute(view["seed"], entries, {"09:00": 3, "13:30": 2})
    assert {e["id"]: e["session"] for e in entries} == expected
    assert Counter(e["status"] for e in entries) == {"won": 5, "not_drawn": 9}
    # Winners hold booked appointments on their session; the seats are all taken.
    for e in entries:
        mine = (await client.get(f"/v1/marriage/lottery-entries/{e['id']}",
                                 headers=who[e["id"]])).json()
        assert mine["status"] == e["status"]
        if e["status"] == "won":
            r = await client.get(f"/v1/marriage/appointments/{mine['appointment_id']}",
                                 headers=who[e["id"]])
            assert r.status_code == 200, r.text
            appt = r.json()
            assert appt["status"] == "booked" and appt["kind"] == "marriage"
            assert appt["slot"]["slot_id"] == slot_id(office["id"], LOTTERY_DAY, e["session"])
            assert len(appt["check_in_code"]) == 8
        else:
            assert mine["appointment_id"] is None
    async with db.session() as s:
        seats = dict((await s.execute(select(CapacitySlot.id, CapacitySlot.booked).where(
            CapacitySlot.id.like(f"ms_{office['id']}_20261220_%")))).all())
    assert seats == {slot_id(office["id"], LOTTERY_DAY): 3,
                     slot_id(office["id"], LOTTERY_DAY, "13:30"): 2}
    assert await _count(db, MarriagePartyHold) == 10
    assert await _count(db, AuditEvent, AuditEvent.action == "marriage_lottery.draw") == 1
    # After the draw the date is first-come again: what is left of it (nothing here).
    r = await book(client, settings, slot_id(office["id"], LOTTERY_DAY))
    assert r.status_code == 409 and r.json()["code"] == "slot_full"
    # A winner holds the one active appointment: booking elsewhere is refused.
    winner = next(e for e in entries if e["status"] == "won")
    r = await client.get(f"/v1/marriage/lottery-entries/{winner['id']}",
                         headers=who[winner["id"]])
    assert r.status_code == 200
    assert lottery_order.verify(view, entries).ok


async def test_fewer_entries_than_seats_all_win(client, admin_headers, settings, db):
    _, _, lot, _ = await _open_lottery(client, admin_headers, settings, entries=3, morning=5,
                                       afternoon=5)
    set_china_time("2026-12-11")
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 1
    entries = await public_entries(client, lot["id"])
    assert [e["status"] for e in entries] == ["won"] * 3


async def test_a_party_who_booked_elsewhere_since_entering_is_left_out(client, admin_headers,
                                                                     settings, db):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers, morning=5, afternoon=5)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    groom, bride = person("male"), person("female")
    r = await enter(client, settings, lot["id"], [groom, bride])
    assert r.status_code == 201
    left_out = r.json()["id"]
    for _ in range(3):
        assert (await enter(client, settings, lot["id"])).status_code == 201
    r = await book(client, settings, slot_id(office["id"], "2026-12-15"), [groom, person("female")])
    assert r.status_code == 201, r.text
    set_china_time("2026-12-11")
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 1
    entries = {e["id"]: e for e in await public_entries(client, lot["id"])}
    assert entries[left_out]["status"] == "not_drawn"
    assert entries[left_out]["excluded_reason"] == "party_has_active_appointment"
    assert Counter(e["status"] for e in entries.values()) == {"won": 3, "not_drawn": 1}
    view = (await client.get(f"/v1/marriage/lotteries/{lot['id']}")).json()
    assert lottery_order.verify(view, list(entries.values())).ok
    # Still one active appointment each: the groom's booking, not a second one.
    assert await _count(db, MarriageAppointment, MarriageAppointment.status == "booked") == 4


async def test_a_tampered_outcome_is_detected(client, admin_headers, settings, db):
    _, _, lot, _ = await _open_lottery(client, admin_headers, settings, entries=9)
    set_china_time("2026-12-11")
    await maintenance.run_once(db, settings)
    view = (await client.get(f"/v1/marriage/lotteries/{lot['id']}")).json()
    entries = await public_entries(client, lot["id"])
    assert lottery_order.verify(view, entries).ok
    assert _cli_verify(settings, lot["id"]).returncode == 0
    # Another seed than the committed one.
    forged = dict(view, seed="00" * 32)
    assert not lottery_order.verify(forged, entries).ok
    # A loser made a winner in the database: the published list no longer matches.
    loser = next(e for e in entries if e["status"] == "not_drawn")
    async with db.session() as s:
        await s.execute(update(MarriageLotteryEntry).where(MarriageLotteryEntry.id == loser["id"])
                        .values(status="won", session_start=loser["session_preferences"][0]))
        await s.commit()
    entries = await public_entries(client, lot["id"])
    verdict = lottery_order.verify(view, entries)
    assert not verdict.ok and any(loser["id"] in p for p in verdict.problems)
    done = _cli_verify(settings, lot["id"])
    assert done.returncode == 1, done.stdout
    assert "does NOT match" in done.stdout and loser["id"] in done.stdout


def _env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    env.update({"DATABASE_URL": settings.database_url, "HUIMIN_ENV": "test",
                "HUIMIN_LOG_LEVEL": "WARNING"})
    return env


def _cli_verify(settings, lottery_id: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "api.cli", "lottery", "verify", lottery_id], cwd=ROOT,
        env=_env(settings), capture_output=True, text=True, timeout=120, check=False)


async def test_two_processes_drawing_at_once_draw_once(client, admin_headers, settings, db):
    """Two `huimin sweep` processes started together at the close: one draws."""
    # Real time here: the processes read the operating system's clock.
    clock.reset()
    day = (clock.today() + timedelta(days=10)).isoformat()
    office, staff = await lottery_office(client, admin_headers, day=day, morning=4,
                                         afternoon=3)
    now = clock.now()
    r = await schedule_lottery(client, office, staff, day=day,
                               opens=(now - timedelta(minutes=1)).isoformat(),
                               closes=(now + timedelta(seconds=4)).isoformat())
    assert r.status_code == 201, r.text
    lot = r.json()
    results = await asyncio.gather(*(enter(client, settings, lot["id"], prefs=PREFS[n % 4])
                                     for n in range(16)))
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    await asyncio.sleep(max((now + timedelta(seconds=4.2) - clock.now()).total_seconds(), 0))
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "sweep", cwd=ROOT, env=_env(settings),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [(await asyncio.wait_for(p.communicate(), 180))[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    drawn = sorted(line for out in outs for line in out.splitlines()
                   if line.startswith("lotteries_drawn"))
    assert drawn == ["lotteries_drawn: 0", "lotteries_drawn: 1"], outs
    assert await _count(db, AuditEvent, AuditEvent.action == "marriage_lottery.draw") == 1
    assert await _count(db, MarriageAppointment, MarriageAppointment.status == "booked") == 7
    entries = await public_entries(client, lot["id"])
    assert Counter(e["status"] for e in entries) == {"won": 7, "not_drawn": 9}
    view = (await client.get(f"/v1/marriage/lotteries/{lot['id']}")).json()
    assert lottery_order.verify(view, entries).ok
