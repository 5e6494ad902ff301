"""Lottery entries racing, and the draw by the server processes themselves: real
concurrent requests (in process on the test database; and against a live `huimin
serve` with two workers on a database of its own)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.security import issue_citizen_token
from core.settings import Settings
from schemas.marriage_lottery import MarriageLotteryEntrant, MarriageLotteryEntry
from services import maintenance
from tests.api.test_marriage_lottery_support import enter, lottery_office, schedule_lottery
from tests.api.test_marriage_support import WEEKDAY_SESSIONS, couple, person, set_china_time
from tests.factories import idem, random_subject
from tests.live import huimin_serve

ROOT = Path(__file__).resolve().parents[2]


async def test_entries_race_and_each_person_enters_once(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    groom = person("male")
    same = [[groom, person("female")] for _ in range(6)]
    others = [couple() for _ in range(24)]
    results = await asyncio.gather(*(enter(client, settings, lot["id"], parties)
                                     for parties in [*same, *others]))
    mine = Counter(r.status_code for r in results[:6])
    assert mine == {201: 1, 409: 5}, [r.text for r in results[:6]]
    assert {r.json()["code"] for r in results[:6] if r.status_code == 409} == {"duplicate_entry"}
    assert all(r.status_code == 201 for r in results[6:]), [r.text for r in results[6:]]
    # Every acknowledged entry is there with its two people; no refused one left a row.
    async with db.session() as s:
        entries = (await s.execute(select(func.count()).select_from(MarriageLotteryEntry))
                   ).scalar_one()
        people = (await s.execute(select(func.count()).select_from(MarriageLotteryEntrant))
                  ).scalar_one()
    assert (entries, people) == (25, 50)
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}")
    assert r.json()["entries"] == 25


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args],  # noqa: S603 - our CLI
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_live_two_workers_race_entries_and_draw_by_themselves_once(tmp_path, fresh_db_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    env.update({"DATABASE_URL": fresh_db_url, "HUIMIN_ENV": "test",
                "HUIMIN_LOG_LEVEL": "WARNING"})
    with huimin_serve(tmp_path, fresh_db_url, workers=2,
                      env={"HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "1"}) as base:
        admin = {"X-API-Key": _cli(env, "apikey", "create", "--role", "admin", "--name",
                                   "t").stdout.strip().splitlines()[-1]}
        settings = Settings(env="test", _env_file=None)
        with httpx.Client(base_url=base, timeout=60) as http:
            r = http.post("/v1/admin/organisations", headers=admin, json={
                "kind": "registration_office", "name": "朝阳区婚姻登记处",
                "division_code": "110105", "address": "北京市朝阳区", "phone": "010-65099999",
                "lat": 39.93, "lon": 116.447})
            assert r.status_code == 201, r.text
            office = r.json()["id"]
            r = http.post(f"/v1/admin/organisations/{office}/api-keys", headers=admin,
                          json={"role": "office", "name": "staff"})
            staff = {"X-API-Key": r.json()["key"]}
            r = http.put(f"/v1/marriage/offices/{office}/weekly-schedule", headers=staff,
                         json={"sessions": WEEKDAY_SESSIONS})
            assert r.status_code == 200, r.text
            day = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date() \
                + dt.timedelta(days=10)
            r = http.post(f"/v1/marriage/offices/{office}/special-days", headers=staff,
                          json={"date": day.isoformat(), "sessions": [
                              {"start": "09:00", "end": "12:00", "capacity": 6},
                              {"start": "13:30", "end": "17:00", "capacity": 4}]})
            assert r.status_code == 201, r.text
            now = dt.datetime.now(dt.UTC)
            close = now + dt.timedelta(seconds=8)
            r = http.post(f"/v1/marriage/offices/{office}/lotteries", headers=staff, json={
                "date": day.isoformat(),
                "entries_open_at": (now - dt.timedelta(minutes=1)).isoformat(),
                "entries_close_at": close.isoformat()})
            assert r.status_code == 201, r.text
            lot = r.json()["id"]
            groom = person("male")
            bodies = [[groom, person("female")] for _ in range(5)] + \
                [couple() for _ in range(35)]

            def one(parties):
                token = issue_citizen_token(settings, random_subject("c", 10),
                                            dt.timedelta(hours=1))
                # A connection of its own each, so both workers take some.
                with httpx.Client(base_url=base, timeout=60,
                                  headers={"Connection": "close"}) as c:
                    return c.post(f"/v1/marriage/lotteries/{lot}/entries",
                                  headers={"Authorization": f"Bearer {token}", **idem()},
                                  json={"kind": "marriage", "parties": parties,
                                        "session_preferences": ["09:00", "13:30"]})

            with ThreadPoolExecutor(max_workers=12) as pool:
                results = list(pool.map(one, bodies))
            assert dt.datetime.now(dt.UTC) < close, "entries took longer than the window"
            assert Counter(r.status_code for r in results[:5]) == {201: 1, 409: 4}
            assert all(r.status_code == 201 for r in results[5:]), \
                [r.text for r in results[5:] if r.status_code != 201]
            # Nobody asks for the draw: the workers' own sweeps run it, within seconds.
            deadline = time.monotonic() + 60
            while (view := http.get(f"/v1/marriage/lotteries/{lot}").json())["status"] \
                    != "drawn":
                assert time.monotonic() < deadline, view
                time.sleep(0.5)
            assert view["entries"] == 36 and view["seats"] == 10 and view["winners"] == 10
            done = _cli(env, "lottery", "verify", lot, "--base-url", base)
            assert done.returncode == 0, done.stdout + done.stderr
        log = (tmp_path / "serve.log").read_text(errors="replace")
    # Drawn once: one draw audited, ten appointments.
    check = _cli(env, "lottery", "verify", lot)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Traceback" not in log, log[-3000:]
    assert asyncio.run(_draws_and_booked(fresh_db_url)) == (1, 10)


async def _draws_and_booked(database_url: str) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            draws = (await conn.execute(text(
                "SELECT count(*) FROM audit_event WHERE action = 'marriage_lottery.draw'"))
            ).scalar_one()
            booked = (await conn.execute(text(
                "SELECT count(*) FROM marriage_appointment WHERE status = 'booked'"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return draws, booked


# An entry is one call of `marriage_lottery_enter`, which holds the
# lottery's lock shared; the draw takes it exclusive before it changes the status
# (services.marriage.lottery). Each side is played here by hand, held open, to see
# the other wait.
_LOCK = "SELECT pg_advisory_xact_lock{kind}(hashtextextended('marriage_lottery:' || :id, 0))"


async def test_an_entry_in_flight_when_the_draw_begins_waits_and_is_then_refused(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    assert (await enter(client, settings, lot["id"])).status_code == 201
    async with db.session() as s:  # the draw's first step, not committed yet
        await s.execute(text(_LOCK.format(kind="")), {"id": lot["id"]})
        await s.execute(text("UPDATE marriage_lottery SET status = 'drawn' WHERE id = :id"),
                        {"id": lot["id"]})
        late = asyncio.create_task(enter(client, settings, lot["id"]))
        await asyncio.sleep(0.5)
        assert not late.done(), (await late).text
        await s.commit()
    r = await asyncio.wait_for(late, 30)
    # Not an entry the draw never saw: refused as an entry after the draw is.
    assert r.status_code == 409 and r.json()["code"] == "invalid_state", r.text
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(MarriageLotteryEntry))
                ).scalar_one() == 1


async def test_the_draw_waits_for_an_entry_in_flight(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    assert (await enter(client, settings, lot["id"])).status_code == 201
    set_china_time("2026-12-11")  # entries closed: the draw is due
    async with db.session() as s:  # an entry's call, not committed yet
        await s.execute(text(_LOCK.format(kind="_shared")), {"id": lot["id"]})
        sweep = asyncio.create_task(maintenance.run_once(db, settings))
        await asyncio.sleep(0.5)
        assert not sweep.done(), await sweep
        await s.commit()
    assert (await asyncio.wait_for(sweep, 30))["lotteries_drawn"] == 1
