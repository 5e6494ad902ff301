"""Marriage registration benchmark: huimin beside the peer reference app, in one run.

    .venv/bin/python bench/marriage.py [--db embedded|machine|both] [--workers 1 2]
                                       [--pg postgresql://postgres@127.0.0.1:5432]
                                       [--duration 15] [--connections 32] [--profile]
                                       [--loads slots book hot refusals peer]

For each PostgreSQL server (`embedded`: the PostgreSQL 18 of core/embedded.py,
started by this script in var/bench/embedded/pg and stopped at the end; `machine`:
the server named by --pg) and worker count it starts huimin on a fresh database of
that server, seeds an office through the HTTP API, drives two loads with wrk (the
office's slots for 30 days; bookings by distinct couples with distinct
Idempotency-Keys), then starts `../shared/bench/reference_app.py` on another fresh
database of the same server and drives its `GET /hello` and `POST /book/{id}` the
same way. Between them, a hot session (one fresh session's 1000 seats booked by
1000 distinct couples at once) and 10,000 refusals of that full session (all 409
slot_full). It prints requests/s, p50, p99 and CPU per request of each, the ratios
against the targets, and SQL checks that no session is overbooked. Every server it
starts is stopped and every database it creates is dropped, also on Ctrl-C and
SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from machine import (  # bench/ is on sys.path when run as a script
    HOST,
    REFERENCE_APP,
    ROOT,
    VENV_BIN,
    Owned,
    PgServer,
    Result,
    add_server_options,
    bench_lock,
    cli_last_line,
    expect,
    free_port,
    http,
    huimin_env,
    id_number,
    log,
    pg_server,
    pin_plan,
    postgres_pinned,
    raise_interrupt,
    run_wrk,
    server_kinds,
    start_reference,
    wait_quiet,
    wait_ready,
)

VAR = ROOT / "var" / "bench"


CHINA = ZoneInfo("Asia/Shanghai")

# The targets, 32 connections, huimin and the peer on the same PostgreSQL server:
# huimin's booking against the peer's, with huimin's booking p99; a hot session
# against the spread bookings, never oversold (the SQL check); the 30-day slot
# listing against the peer's GET /hello. The refusals of a full session have no
# target: their rate against the bookings is printed all the same.
TARGET_BOOK_RATIO = 2.3
TARGET_BOOK_P99_MS = 100.0
TARGET_HOT_RATIO = 0.80
TARGET_SLOTS_RATIO = 0.25

# The loads a run can drive (--loads); "peer" is both of the reference app's.
LOADS = ("slots", "book", "hot", "refusals", "hello", "ref_book")
LOAD_ALIASES = {"peer": ("hello", "ref_book"), "all": LOADS}

# The office's week: 10 one-hour sessions on all 7 weekdays (the schedule's
# maximum is 70 sessions), each of the largest capacity the API takes.
SESSION_HOURS = [(h, h + 1) for h in range(8, 18)]
SESSION_CAPACITY = 1000
SLOT_DAYS = 30
# Pre-generated bookings: enough for this many requests/s over the whole run, so
# no thread runs out (a run that does says so, loudly).
MAX_BOOKINGS_PER_SECOND = 2500




# --- test data ------------------------------------------------------------------------



def person(index: int, sex: str) -> str:
    """The index-th distinct man or woman: 499 sequence numbers per birth date.

    Men are born from 1960-01-01 on, women from 1962-01-01 on, one date per 499
    people: even index 5,000,000 is born before 1988, far above the legal ages (22
    and 20) on any date, and no two people share a number."""
    day, seq = divmod(index, 499)
    base = dt.date(1960, 1, 1) if sex == "male" else dt.date(1962, 1, 1)
    order = 2 * seq + (1 if sex == "male" else 2)  # 1..997 odd, 2..998 even
    return id_number(base + dt.timedelta(days=day), order)


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def write_bodies(path: Path, slot_ids: list[str], first: int, count: int) -> None:
    """`count` bookings by couples `first`..`first+count-1`, round-robin over the slots.

    One line per request: "<Idempotency-Key>\\t<JSON body>"."""
    with path.open("w", encoding="utf-8") as f:
        for n in range(first, first + count):
            body = {
                "slot_id": slot_ids[n % len(slot_ids)],
                "kind": "marriage",
                "parties": [
                    {"name": SURNAMES[n % 20] + GIVEN[n % 23], "id_number": person(n, "male"),
                     "phone": f"138{n % 10**8:08d}"},
                    {"name": SURNAMES[(n // 20) % 20] + GIVEN[(n // 7) % 23],
                     "id_number": person(n, "female"), "phone": f"139{n % 10**8:08d}"},
                ],
            }
            f.write(f"bench-{uuid.uuid4().hex}\t{json.dumps(body, ensure_ascii=False)}\n")


# --- wrk ----------------------------------------------------------------------------------




# --- huimin ------------------------------------------------------------------------------


@dataclass
class Seeded:
    office_id: str
    token: str
    slot_ids: list[str]  # the spread loads' slots: every bookable one but the hot one
    date_from: dt.date
    date_to: dt.date
    hot_slot: str  # the last bookable session, left to the hot-session load
    hot_date: dt.date



def seed(base: str, env: dict[str, str]) -> Seeded:
    admin = cli_last_line(["apikey", "create", "--role", "admin", "--name", "bench-admin"], env)
    admin_h = {"X-API-Key": admin}
    status, _, org = http("POST", f"{base}/v1/admin/organisations", {
        "kind": "registration_office", "name": "基准测试婚姻登记处", "division_code": "110105",
        "address": "北京市朝阳区工体东路 20 号", "phone": "010-65099999",
        "lat": 39.93, "lon": 116.447}, admin_h)
    expect(status, org, 201, "create office")
    office_id = org["id"]  # type: ignore[index]
    status, _, key = http("POST", f"{base}/v1/admin/organisations/{office_id}/api-keys",
                          {"role": "office", "name": "bench-desk"}, admin_h)
    expect(status, key, 201, "office key")
    staff_h = {"X-API-Key": key["key"]}  # type: ignore[index]
    sessions = [{"weekday": d, "start": f"{a:02d}:00", "end": f"{b:02d}:00",
                 "capacity": SESSION_CAPACITY}
                for d in range(1, 8) for a, b in SESSION_HOURS]
    status, _, sched = http("PUT", f"{base}/v1/marriage/offices/{office_id}/weekly-schedule", {
        "sessions": sessions, "booking_opens_days_ahead": SLOT_DAYS + 30,
        "min_notice_hours": 0, "cancel_deadline_hours": 24}, staff_h)
    expect(status, sched, 200, "weekly schedule")
    token = cli_last_line(["token", "citizen", "--subject", "bench-citizen"], env)
    # Tomorrow (China time) and the 29 days after: 30 days, all inside the window.
    date_from = dt.datetime.now(CHINA).date() + dt.timedelta(days=1)
    date_to = date_from + dt.timedelta(days=SLOT_DAYS - 1)
    status, _, slots = http("GET", f"{base}/v1/marriage/offices/{office_id}/slots"
                            f"?from={date_from}&to={date_to}")
    expect(status, slots, 200, "slots")
    items = slots["items"]  # type: ignore[index]
    bookable = [s for s in items if s["bookable"] and s["remaining"] > 0]
    if len(bookable) < 2:
        raise RuntimeError(f"fewer than 2 bookable slots between {date_from} and {date_to}: "
                           f"{items[:3]}")
    hot = bookable[-1]
    if hot["remaining"] != SESSION_CAPACITY:
        raise RuntimeError(f"the hot session {hot['slot_id']} is not fresh: {hot}")
    log(f"  seeded office {office_id}: {len(items)} sessions in {SLOT_DAYS} days, "
        f"{len(bookable)} bookable; hot session {hot['slot_id']}")
    return Seeded(office_id, token, [s["slot_id"] for s in bookable[:-1]], date_from, date_to,
                  hot["slot_id"], dt.date.fromisoformat(hot["date"]))


def remaining_of(base: str, seeded: Seeded) -> int:
    """The hot session's remaining capacity, as the public listing shows it."""
    status, _, slots = http("GET", f"{base}/v1/marriage/offices/{seeded.office_id}/slots"
                            f"?from={seeded.hot_date}&to={seeded.hot_date}")
    expect(status, slots, 200, "slots of the hot session's day")
    for s in slots["items"]:  # type: ignore[index]
        if s["slot_id"] == seeded.hot_slot:
            return int(s["remaining"])
    raise RuntimeError(f"hot session {seeded.hot_slot} not listed on {seeded.hot_date}")


# --- a fixed number of bookings (hot session, refusals) ---------------------------


@dataclass
class Fixed:
    """A wrk_book_fixed.lua run: every body sent once, the run ended when all were
    answered; `active_us` is the time from its first request to its last response."""

    result: Result
    bodies: int
    expect: str
    active_us: int = 0
    sent: int = 0
    unexpected: int = 0

    @property
    def answered(self) -> int:
        return self.result.requests

    @property
    def complete(self) -> bool:
        return self.answered == self.bodies and self.sent == self.bodies

    @property
    def rps(self) -> float:
        return self.answered / (self.active_us / 1e6) if self.active_us else 0.0

    @property
    def ok(self) -> bool:
        return (not self.result.failed and self.complete and not self.unexpected
                and not self.result.socket_errors)

    def describe(self) -> str:
        if self.result.failed:
            return f"FAILED: {self.result.failed}"
        want = "201" if self.expect == "201" else self.expect.replace(":", " ")
        text = (f"{self.bodies} requests (distinct couples and keys), {self.answered} "
                f"answered in {self.active_us / 1e6:.2f} s (first request to last "
                f"response), {self.answered - self.unexpected} of them {want} as expected")
        if self.unexpected:
            text += f", {self.unexpected} UNEXPECTED (statuses {self.result.statuses})"
        if self.result.socket_errors:
            text += f", {self.result.socket_errors} SOCKET ERRORS"
        if not self.complete:
            text += (f", INCOMPLETE: {self.sent} sent, {self.answered} answered before the "
                     f"{self.result.duration_us / 1e6:.0f} s cap")
        return text


def run_fixed(name: str, url: str, bodies: Path, count: int, token: str, expect_: str,
              opts: argparse.Namespace, out_dir: Path, cpu_of: int | None = None,
              pg_db: str | None = None) -> Fixed:
    """Send the `count` lines of `bodies` once each with wrk_book_fixed.lua; every
    answer should be `expect_` ("201" or "409:slot_full")."""
    slug = name.replace(" ", "_").replace("/", "_")
    done_file = out_dir / f"done-{slug}.txt"
    done_file.unlink(missing_ok=True)
    r = run_wrk(name, url, "wrk_book_fixed.lua",
                [str(bodies), token, str(opts.threads), expect_, str(done_file)], opts,
                opts.fixed_cap, out_dir, cpu_of=cpu_of, pg_db=pg_db)
    done_file.unlink(missing_ok=True)
    fixed = Fixed(r, count, expect_)
    try:
        text = (out_dir / f"wrk-{slug}.txt").read_text()
    except OSError:
        text = ""
    line = next((x for x in text.splitlines() if x.startswith("BENCH_FIXED ")), None)
    if line and not r.failed:
        data = json.loads(line.removeprefix("BENCH_FIXED "))
        fixed.active_us, fixed.sent, fixed.unexpected = (
            int(data["active_us"]), int(data["sent"]), int(data["unexpected"]))
    elif not r.failed:
        r.failed = "no BENCH_FIXED line in wrk's output"
    return fixed


# --- the overbooking check ------------------------------------------------------------

OVERBOOK_SQL = """
SELECT s.id, s.capacity, s.booked, COALESCE(a.n, 0)
FROM capacity_slot s
LEFT JOIN (SELECT slot_id, COUNT(*) AS n FROM marriage_appointment
           WHERE status = 'booked' GROUP BY slot_id) a ON a.slot_id = s.id
WHERE s.booked > s.capacity OR s.booked <> COALESCE(a.n, 0)
"""
TOTALS_SQL = """
SELECT (SELECT COUNT(*) FROM capacity_slot),
       (SELECT COALESCE(SUM(booked), 0) FROM capacity_slot),
       (SELECT COUNT(*) FROM marriage_appointment WHERE status = 'booked'),
       (SELECT COUNT(*) FROM marriage_appointment a
        WHERE NOT EXISTS (SELECT 1 FROM capacity_slot s WHERE s.id = a.slot_id)),
       (SELECT COUNT(*) FROM marriage_party_hold)
"""


@dataclass
class Check:
    slots: int = 0
    booked_sum: int = 0
    appointments: int = 0
    orphans: int = 0
    holds: int = 0
    bad: list[tuple] = field(default_factory=list)
    created: int = 0  # 201s that wrk saw
    error: str | None = None

    in_flight: int = 0  # at most this many requests were still running when wrk stopped

    @property
    def ok(self) -> bool:
        # wrk stops with up to `connections` requests in flight per run: the server
        # completes them, wrk never sees their 201. Hence a bounded excess.
        return (self.error is None and not self.bad and not self.orphans
                and self.appointments == self.booked_sum
                and self.created <= self.appointments <= self.created + self.in_flight
                and self.holds == 2 * self.appointments)

    def describe(self) -> str:
        if self.error:
            return f"CHECK FAILED TO RUN: {self.error}"
        verdict = "OK, no session overbooked" if self.ok else "MISMATCH"
        text = (f"{verdict}: {self.slots} capacity_slot rows, sum(booked)={self.booked_sum}, "
                f"booked appointments={self.appointments}, 201s seen by wrk={self.created} "
                f"(+ at most {self.in_flight} in flight at wrk's ends), "
                f"person holds={self.holds}, rows with booked>capacity or booked!=count: "
                f"{len(self.bad)}, appointments without a slot row: {self.orphans}")
        if self.bad:
            text += f"; first: {self.bad[:5]}"
        return text


HOT_SQL = """
SELECT s.capacity, s.booked,
       (SELECT COUNT(*) FROM marriage_appointment a
        WHERE a.slot_id = s.id AND a.status = 'booked')
FROM capacity_slot s WHERE s.id = %s
"""


@dataclass
class HotCheck:
    """The hot session after its loads: never oversold, and full."""

    slot_id: str
    created: int  # 201s wrk saw for it (hot load, any top-up, refusals)
    in_flight: int  # requests that may have been unanswered when a run stopped
    capacity: int = 0
    booked: int = 0
    appointments: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (self.error is None and self.booked <= self.capacity
                and self.booked == self.appointments
                and self.created <= self.appointments <= self.created + self.in_flight)

    def describe(self) -> str:
        if self.error:
            return f"CHECK FAILED TO RUN: {self.error}"
        verdict = "OK, not oversold" if self.ok else "MISMATCH"
        full = "full" if self.booked == self.capacity else "NOT FULL"
        return (f"{verdict} ({full}): session {self.slot_id} capacity={self.capacity}, "
                f"booked={self.booked}, booked appointments={self.appointments}, "
                f"201s seen by wrk={self.created}"
                + (f" (+ at most {self.in_flight} in flight)" if self.in_flight else ""))


def hot_check(target: str, slot_id: str, created: int, in_flight: int) -> HotCheck:
    """`target`: the libpq URL of huimin's database."""
    check = HotCheck(slot_id, created, in_flight)
    try:
        import psycopg

        with psycopg.connect(target, connect_timeout=10) as conn:
            row = conn.execute(HOT_SQL, (slot_id,)).fetchone()
        if row is None:
            check.error = f"no capacity_slot row for {slot_id}"
        else:
            check.capacity, check.booked, check.appointments = (int(x) for x in row)
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        check.error = str(exc)
    return check


def overbooking_check(target: str, created: int, in_flight: int) -> Check:
    """`target`: the libpq URL of huimin's database."""
    check = Check(created=created, in_flight=in_flight)
    try:
        import psycopg

        with psycopg.connect(target, connect_timeout=10) as conn:
            check.bad = [tuple(r) for r in conn.execute(OVERBOOK_SQL).fetchall()]
            totals = conn.execute(TOTALS_SQL).fetchone()
        (check.slots, check.booked_sum, check.appointments, check.orphans,
         check.holds) = (int(x) for x in totals)
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        check.error = str(exc)
    return check


# --- one PostgreSQL server, one worker count ----------------------------------------------


@dataclass
class Combo:
    db: str  # the server's kind: "embedded" or "machine"
    workers: int
    results: dict[str, Result] = field(default_factory=dict)
    fixed: dict[str, Fixed] = field(default_factory=dict)  # "hot", "refusals"
    check: Check | None = None
    hot: HotCheck | None = None
    error: str | None = None
    busy_before: float | None = None  # CPU share others used just before the run


def run_combo(combo: Combo, server: PgServer, opts: argparse.Namespace, owned: Owned,
              out_dir: Path, person_offset: int) -> None:
    """huimin, then the peer, each on a fresh database of `server`. Fills `combo` as
    it goes, so a failure keeps what was measured before it."""
    db, workers = combo.db, combo.workers
    loads = opts.loads
    tag = f"{db}-w{workers}"
    run_id = f"{os.getpid()}_{workers}"
    hm_name, ref_name = f"bench_huimin_{run_id}", f"bench_reference_{run_id}"
    if loads & {"slots", "book", "hot", "refusals"}:
        run_huimin(combo, server, opts, owned, out_dir, person_offset, tag, hm_name)
    if loads & {"hello", "ref_book"}:
        run_reference(combo, server, opts, owned, out_dir, tag, ref_name)


def run_huimin(combo: Combo, server: PgServer, opts: argparse.Namespace, owned: Owned,
               out_dir: Path, person_offset: int, tag: str, hm_name: str) -> None:
    workers, loads = combo.workers, opts.loads
    owned.create_db(server, hm_name)
    hm_url = server.url(hm_name, "asyncpg")
    hm_check_target = server.url(hm_name)
    pg_db = hm_name
    env = huimin_env(hm_url)
    port = free_port()
    base = f"http://{HOST}:{port}"
    hm_log = out_dir / f"huimin-{tag}.log"
    log(f"{tag}: starting huimin ({workers} worker(s)) on {base}, {hm_url}")
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port),
                        "--workers", str(workers)], env=env, log_path=hm_log)
    created = 0  # 201s wrk saw, over every booking run
    in_flight = 0  # requests that can have been unanswered when a run stopped
    hot_created = hot_in_flight = 0
    seeded: Seeded | None = None
    next_person = person_offset

    def bodies(what: str, slot_ids: list[str], count: int) -> Path:
        nonlocal next_person
        path = out_dir / f"bodies-{tag}-{what}.tsv"
        write_bodies(path, slot_ids, next_person, count)
        next_person += count
        return path

    try:
        wait_ready(base, "/readyz", proc, hm_log)
        seeded = seed(base, env)
        slots_url = (f"{base}/v1/marriage/offices/{seeded.office_id}/slots"
                     f"?from={seeded.date_from}&to={seeded.date_to}")
        book_url = f"{base}/v1/marriage/appointments"
        book_args = [seeded.token, str(opts.threads)]
        if "slots" in loads:
            if opts.warmup:
                run_wrk("warmup slots", slots_url, "wrk_get.lua", [], opts, opts.warmup,
                        out_dir)
            log(f"{tag}: wrk GET slots ({SLOT_DAYS} days), {opts.duration}s")
            combo.results["slots"] = run_wrk(f"{tag} huimin slots", slots_url,
                                             "wrk_get.lua", [], opts, opts.duration, out_dir,
                                             cpu_of=proc.pid)
        if opts.warmup and loads & {"book", "hot", "refusals"}:
            wfile = bodies("warmup", seeded.slot_ids, MAX_BOOKINGS_PER_SECOND * opts.warmup)
            r = run_wrk(f"{tag} warmup booking", book_url, "wrk_book.lua",
                        [str(wfile), *book_args], opts, opts.warmup, out_dir)
            created += r.ok
            in_flight += opts.connections
        if "book" in loads:
            n = MAX_BOOKINGS_PER_SECOND * opts.duration
            bfile = bodies("spread", seeded.slot_ids, n)
            log(f"{tag}: wrk POST appointments ({n} distinct couples ready, "
                f"{len(seeded.slot_ids)} sessions), {opts.duration}s")
            r = run_wrk(f"{tag} huimin booking", book_url, "wrk_book.lua",
                        [str(bfile), *book_args], opts, opts.duration, out_dir,
                        cpu_of=proc.pid, pg_db=pg_db)
            combo.results["book"] = r
            created += r.ok
            in_flight += opts.connections

        if loads & {"hot", "refusals"}:
            # One fresh session, exactly its capacity of distinct couples.
            hfile = bodies("hot", [seeded.hot_slot], SESSION_CAPACITY)
            log(f"{tag}: wrk POST appointments, hot session: {SESSION_CAPACITY} distinct "
                f"couples for {seeded.hot_slot} (capacity {SESSION_CAPACITY})")
            hot = run_fixed(f"{tag} huimin hot session", book_url, hfile, SESSION_CAPACITY,
                            seeded.token, "201", opts, out_dir, cpu_of=proc.pid, pg_db=pg_db)
            combo.fixed["hot"] = hot
            hot_created += hot.result.ok
            hot_in_flight += 0 if hot.complete else opts.connections
            log(f"{tag}: hot session: {hot.describe()}")
            left = remaining_of(base, seeded)
            if left:  # the hot load did not fill it: fill it (unmeasured) for the refusals
                log(f"{tag}: hot session still has {left} seats; filling them")
                ffile = bodies("fill", [seeded.hot_slot], left)
                fill = run_fixed(f"{tag} fill hot session", book_url, ffile, left,
                                 seeded.token, "201", opts, out_dir)
                hot_created += fill.result.ok
                hot_in_flight += 0 if fill.complete else opts.connections
        if "refusals" in loads:
            n = opts.refusals
            rfile = bodies("refusals", [seeded.hot_slot], n)
            log(f"{tag}: wrk POST appointments, full session: {n} distinct couples for "
                f"{seeded.hot_slot}, all to be refused 409 slot_full")
            ref = run_fixed(f"{tag} huimin full-session refusals", book_url, rfile, n,
                            seeded.token, "409:slot_full", opts, out_dir, cpu_of=proc.pid,
                            pg_db=pg_db)
            combo.fixed["refusals"] = ref
            hot_created += ref.result.ok  # a 201 here is an oversold seat
            hot_in_flight += 0 if ref.complete else opts.connections
            log(f"{tag}: refusals: {ref.describe()}")
        created += hot_created
        in_flight += hot_in_flight

        if opts.profile and workers == 1 and "book" in loads:
            pfile = bodies("profile", seeded.slot_ids,
                           MAX_BOOKINGS_PER_SECOND * opts.profile_duration)
            r = profile_load(tag, "booking", proc.pid, book_url, "wrk_book.lua",
                             [str(pfile), *book_args], opts, out_dir)
            created += r.ok
            in_flight += opts.connections
            if "slots" in loads:
                profile_load(tag, "slots", proc.pid, slots_url, "wrk_get.lua", [], opts,
                             out_dir)
    finally:
        owned.stop(proc)
        if not opts.keep:
            for f in out_dir.glob(f"bodies-{tag}*.tsv"):
                f.unlink()
    # After every load, with the server stopped: all sessions, then the hot one.
    combo.check = overbooking_check(hm_check_target, created, in_flight)
    log(f"{tag}: overbooking check: {combo.check.describe()}")
    if seeded is not None and loads & {"hot", "refusals"}:
        combo.hot = hot_check(hm_check_target, seeded.hot_slot, hot_created,
                              hot_in_flight)
        log(f"{tag}: hot session check: {combo.hot.describe()}")
    owned.drop_db(server, hm_name)


def run_reference(combo: Combo, server: PgServer, opts: argparse.Namespace, owned: Owned,
                  out_dir: Path, tag: str, ref_name: str) -> None:
    """The reference app on a fresh database of the same server (psycopg)."""
    workers = combo.workers
    owned.create_db(server, ref_name)
    ref_url = server.url(ref_name, "psycopg")
    rproc, rbase = start_reference(owned, ref_url, workers, out_dir, tag)
    try:
        if "hello" in opts.loads:
            if opts.warmup:
                run_wrk("warmup hello", f"{rbase}/hello", "wrk_get.lua", [], opts,
                        opts.warmup, out_dir)
            log(f"{tag}: wrk reference GET /hello, {opts.duration}s")
            combo.results["hello"] = run_wrk(f"{tag} reference hello", f"{rbase}/hello",
                                             "wrk_get.lua", [], opts, opts.duration, out_dir,
                                             cpu_of=rproc.pid)
        if "ref_book" in opts.loads:
            if opts.warmup:
                run_wrk("warmup ref book", f"{rbase}/book/1", "wrk_ref_book.lua", [], opts,
                        opts.warmup, out_dir)
            log(f"{tag}: wrk reference POST /book/{{1..1000}}, {opts.duration}s")
            combo.results["ref_book"] = run_wrk(
                f"{tag} reference book", f"{rbase}/book/1", "wrk_ref_book.lua", [], opts,
                opts.duration, out_dir, cpu_of=rproc.pid, pg_db=ref_name)
    finally:
        owned.stop(rproc)
    owned.drop_db(server, ref_name)


# --- profiling -------------------------------------------------------------------------


def profile_load(tag: str, what: str, pid: int, url: str, script: str, args: list[str],
                 opts: argparse.Namespace, out_dir: Path) -> Result:
    """An extra, unmeasured load while py-spy samples the (single) huimin process.

    Writes var/bench/profile-<tag>-<what>.speedscope.json (open it in
    https://www.speedscope.app) and, beside it, the summary of profile_summary.py."""
    out = VAR / f"profile-{tag}-{what}.speedscope.json"
    argv = [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
            str(opts.profile_duration), "--rate", "200",
            "--format", "speedscope", "--output", str(out)] + (
                # py-spy reads C frames only with the process paused at each sample
                ["--native"] if opts.profile_native else ["--nonblocking"])
    log(f"{tag}: profiling {what} with py-spy for {opts.profile_duration}s -> {out}")
    spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    output = b""
    try:
        time.sleep(0.5)
        r = run_wrk(f"{tag} profiled {what}", url, script, args, opts, opts.profile_duration,
                    out_dir)
        try:
            output, _ = spy.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(spy.pid, signal.SIGINT)
            output, _ = spy.communicate(timeout=10)
    finally:
        if spy.poll() is None:
            os.killpg(spy.pid, signal.SIGKILL)
            spy.wait(timeout=5)
    log(f"{tag}: profiled {what}: {r.rps:.0f} req/s under py-spy "
        f"({output.decode(errors='replace').strip().splitlines()[-1:] or ''})")
    if out.exists():
        from profile_summary import summarise  # bench/ is on sys.path

        text = summarise(out, top=opts.profile_top, seconds=opts.profile_duration)
        out.with_name(out.name.replace(".speedscope.json", ".summary.txt")).write_text(text)
        print(text, flush=True)
    return r


# --- the report ----------------------------------------------------------------------------

LABELS = {"slots": "huimin GET slots (30 days)", "book": "huimin POST appointments",
          "hot": "huimin booking, hot session", "refusals": "huimin full-session refusals",
          "hello": "reference GET /hello", "ref_book": "reference POST /book/{id}"}


def fmt_ms(us: int) -> str:
    return f"{us / 1000:.1f}"


def fmt_cpu(ms: float | None) -> str:
    return f"{ms:.2f} ms" if ms is not None else "-"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def verdict(value: float | None, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return "-"
    return "yes" if (value <= target if at_most else value >= target) else "NO"


def result_lines(c: Combo, key: str) -> list[str]:
    """The main table's line of one load (and any lines explaining its errors)."""
    fixed = c.fixed.get(key)
    r = fixed.result if fixed else c.results.get(key)
    if r is None:
        return []
    head = f"{c.db:<9}{c.workers:>7}  {LABELS[key]:<30}"
    if r.failed:
        return [f"{head}FAILED: {r.failed}"]
    if fixed:
        rps, bad = fixed.rps, fixed.unexpected
        flag = "" if fixed.ok else "  <-- ERRORS"
    else:
        rps, bad = r.rps, r.non2xx
        flag = "  <-- ERRORS" if r.has_errors else ""
    cpu = r.cpu_ms_per_request
    cpu_text = f"{cpu:>11.2f}" if cpu is not None else f"{'-':>11}"
    load = r.load_cpu_ms_per_request
    cpu_text += f"{load:>11.2f}" if load is not None else f"{'-':>11}"
    lines = [f"{head}{rps:>9.0f}{fmt_ms(r.p50_us):>9}{fmt_ms(r.p99_us):>9}{r.requests:>10}"
             f"{bad:>12}{r.socket_errors:>9}{cpu_text}{flag}"]
    if fixed:
        lines.append(f"{'':<18}{fixed.describe()}")
    if r.statuses and (bad if fixed else r.non2xx):
        lines.append(f"{'':<18}statuses: {r.statuses}")
        for code, body in r.samples.items():
            lines.append(f"{'':<18}{code}: {body[:200]}")
    if r.exhausted and not fixed:
        lines.append(f"{'':<18}ran out of pre-generated bodies ({r.exhausted} asks): "
                     f"raise MAX_BOOKINGS_PER_SECOND")
    return lines


def report(combos: list[Combo], opts: argparse.Namespace) -> str:
    lines = []
    lines.append(f"wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s --latency, "
                 f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M %Z')}; loads: "
                 + ", ".join(k for k in LOADS if k in opts.loads))
    lines.append(opts.placement)
    for about in opts.servers:
        lines.append(f"PostgreSQL server {about}")
    lines.append("hot session: one fresh session, exactly its capacity "
                 f"({SESSION_CAPACITY}) of distinct couples; refusals: {opts.refusals} distinct "
                 "couples for that session once full; both sent once each, req/s = answers / "
                 "(last response - first request)")
    lines.append("")
    head = (f"{'server':<9}{'workers':>7}  {'endpoint':<30}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'requests':>10}{'unexpected':>12}{'sock err':>9}{'cpu ms/req':>11}"
            f"{'wrk ms/req':>11}")
    lines.append(head)
    lines.append("-" * len(head))
    for c in combos:
        if c.error:
            lines.append(f"{c.db:<9}{c.workers:>7}  RUN FAILED: {c.error}")
        for key in LOADS:
            lines.extend(result_lines(c, key))
    lines.append("unexpected: non-2xx answers; for the refusals, answers other than 409 "
                 "slot_full")

    def rps_of(c: Combo, key: str) -> float | None:
        fixed = c.fixed.get(key)
        r = fixed.result if fixed else c.results.get(key)
        if r is None or r.failed:
            return None
        return fixed.rps if fixed else r.rps

    def cpu_of(c: Combo, key: str) -> float | None:
        fixed = c.fixed.get(key)
        r = fixed.result if fixed else c.results.get(key)
        return None if r is None or r.failed else r.cpu_ms_per_request

    def db_cpu_of(c: Combo, key: str) -> float | None:
        fixed = c.fixed.get(key)
        r = fixed.result if fixed else c.results.get(key)
        return None if r is None or r.failed else r.db_cpu_ms_per_request

    lines.append("")
    lines.append(f"Targets, {opts.connections} connections, huimin and the peer on the same "
                 "PostgreSQL server:")
    head = (f"{'server':<9}{'workers':>7}  {'booking/ref book':>17}"
            f"{f'(>={TARGET_BOOK_RATIO:g}x)':>9}{'booking p99':>13}"
            f"{f'(<={TARGET_BOOK_P99_MS:g}ms)':>10}{'slots/hello':>13}"
            f"{f'(>={TARGET_SLOTS_RATIO:.0%})':>9}{'cpu/booking':>13}{'ref cpu/book':>14}")
    lines.append(head)
    lines.append("-" * len(head))
    for c in combos:
        book_ratio = ratio(rps_of(c, "book"), rps_of(c, "ref_book"))
        slots_ratio = ratio(rps_of(c, "slots"), rps_of(c, "hello"))
        book = c.results.get("book")
        p99 = book.p99_us / 1000 if book and not book.failed else None
        db_cpu, ref_db_cpu = db_cpu_of(c, "book"), db_cpu_of(c, "ref_book")
        lines.append(
            f"{c.db:<9}{c.workers:>7}  "
            f"{(f'{book_ratio:.2f}x' if book_ratio is not None else '-'):>17}"
            f"{verdict(book_ratio, TARGET_BOOK_RATIO):>9}"
            f"{(f'{p99:.1f} ms' if p99 is not None else '-'):>13}"
            f"{verdict(p99, TARGET_BOOK_P99_MS, at_most=True):>10}"
            f"{(f'{slots_ratio:.1%}' if slots_ratio is not None else '-'):>13}"
            f"{verdict(slots_ratio, TARGET_SLOTS_RATIO):>9}"
            f"{fmt_cpu(cpu_of(c, 'book')):>13}{fmt_cpu(cpu_of(c, 'ref_book')):>14}"
            + (f"   PostgreSQL backends: {db_cpu:.2f} ms vs {ref_db_cpu:.2f} ms"
               if db_cpu is not None and ref_db_cpu is not None else ""))
    head = (f"{'server':<9}{'workers':>7}  {'hot req/s':>10}{'hot/spread':>12}"
            f"{f'(>={TARGET_HOT_RATIO:g}x, not oversold)':>28}{'hot cpu/req':>13}"
            f"{'refusals/s':>12}{'refusals/book':>15}{'refusal cpu/req':>17}")
    lines.append("")
    lines.append(head)
    lines.append("-" * len(head))
    for c in combos:
        hot_rps, ref_rps, book_rps = rps_of(c, "hot"), rps_of(c, "refusals"), rps_of(c, "book")
        hot_ratio, ref_ratio = ratio(hot_rps, book_rps), ratio(ref_rps, book_rps)
        hot_verdict = verdict(hot_ratio, TARGET_HOT_RATIO)
        if c.hot is None or c.hot.error:
            hot_verdict += ", unchecked" if hot_verdict != "-" else ""
        elif not c.hot.ok:
            hot_verdict = "NO (check failed)"
        db_parts = [f"{what} {ms:.2f} ms" for what, ms in
                    (("spread", db_cpu_of(c, "book")), ("hot", db_cpu_of(c, "hot")),
                     ("refusal", db_cpu_of(c, "refusals"))) if ms is not None]
        lines.append(
            f"{c.db:<9}{c.workers:>7}  "
            f"{(f'{hot_rps:.0f}' if hot_rps is not None else '-'):>10}"
            f"{(f'{hot_ratio:.2f}x' if hot_ratio is not None else '-'):>12}"
            f"{hot_verdict:>28}{fmt_cpu(cpu_of(c, 'hot')):>13}"
            f"{(f'{ref_rps:.0f}' if ref_rps is not None else '-'):>12}"
            f"{(f'{ref_ratio:.2f}x' if ref_ratio is not None else '-'):>15}"
            f"{fmt_cpu(cpu_of(c, 'refusals')):>17}"
            + (f"   PostgreSQL backends per request: {', '.join(db_parts)}"
               if db_parts else ""))
    lines.append("refusals/book: no target, for information")
    lines.append("cpu/...: user+system CPU seconds of the server's processes (all its "
                 "workers) during the measured run / its requests")
    lines.append("")
    lines.append("CPU busy with other work just before each run (skews absolute figures): "
                 + ", ".join(f"{c.db} w{c.workers} {c.busy_before:.0%}" for c in combos
                             if c.busy_before is not None))
    lines.append("")
    lines.append("Overbooking check (SQL on huimin's database after all its loads):")
    for c in combos:
        if c.check:
            lines.append(f"  {c.db} w{c.workers}: {c.check.describe()}")
        if c.hot:
            lines.append(f"  {c.db} w{c.workers} hot session: {c.hot.describe()}")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(p)
    p.add_argument("--workers", type=int, nargs="+", default=[1],
                   help="huimin's (and the peer's) uvicorn workers, one run each "
                        "(default 1; e.g. --workers 1 2)")
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--loads", nargs="+", default=["all"], metavar="LOAD",
                   help="the loads to drive, of: " + ", ".join(LOADS) + "; 'peer' for "
                        "hello and ref_book, 'all' (default) for every one; commas work too "
                        "(e.g. --loads book,peer); refusals bring the hot load with them "
                        "(it fills the session they are refused)")
    p.add_argument("--refusals", type=int, default=10_000,
                   help="booking requests sent to the full hot session (all must be 409)")
    p.add_argument("--fixed-cap", type=int, default=300,
                   help="at most this many seconds for the hot-session and refusal runs "
                        "(they end as soon as every request is answered)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of unmeasured load before each measured run (0: none)")
    p.add_argument("--wrk-timeout", type=int, default=10,
                   help="wrk's per-request timeout in seconds (slower ones count as errors)")
    p.add_argument("--profile", action="store_true",
                   help="also profile huimin (1 worker) with py-spy under a booking load")
    p.add_argument("--profile-duration", type=int, default=10)
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--profile-native", action="store_true",
                   help="py-spy --native: C and Cython frames too (asyncpg's protocol); "
                        "it pauses the server at each sample, so figures under it are lower")
    p.add_argument("--quiet", type=float, default=0.25,
                   help="before each server/worker run, wait until the CPUs are at most "
                        "this busy with other work (0-1)")
    p.add_argument("--quiet-wait", type=float, default=120,
                   help="... but wait at most this many seconds, then go on (it is reported)")
    p.add_argument("--keep", action="store_true",
                   help="keep the pre-generated request bodies (bodies-*.tsv)")
    p.add_argument("--pin", action="store_true",
                   help="server processes (huimin's and the peer's) on the first CPU, "
                        "PostgreSQL and wrk on the others (restored after the run)")
    opts = p.parse_args(argv)
    if any(w < 1 for w in opts.workers):
        p.error("--workers must be >= 1")
    if opts.duration < 1 or opts.connections < opts.threads:
        p.error("--duration >= 1 and --connections >= --threads")
    if opts.refusals < opts.threads or opts.fixed_cap < 1:
        p.error("--refusals >= --threads and --fixed-cap >= 1")
    loads: set[str] = set()
    for word in (w.strip() for arg in opts.loads for w in arg.split(",")):
        if word in LOAD_ALIASES:
            loads.update(LOAD_ALIASES[word])
        elif word in LOADS:
            loads.add(word)
        elif word:
            p.error(f"--loads: unknown load {word!r} (known: {', '.join(LOADS)}, peer, all)")
    if "refusals" in loads:
        loads.add("hot")  # the session must be filled first, and it is measured anyway
    if not loads:
        p.error("--loads: nothing to run")
    opts.loads = loads
    return opts


def run_server(kind: str, opts: argparse.Namespace, owned: Owned, out_dir: Path,
               offsets: Iterator[int], combos: list[Combo]) -> None:
    """Every worker count on one PostgreSQL server; what the run started and created
    is undone before the server is released (the embedded one then stops)."""
    import psycopg

    mine = [Combo(kind, workers) for workers in opts.workers]
    combos.extend(mine)
    try:
        with pg_server(kind, opts.pg) as server:
            opts.servers.append(server.describe())
            log(f"PostgreSQL server {server.describe()}")
            try:
                for combo in mine:
                    try:
                        with bench_lock(log):
                            combo.busy_before = wait_quiet(opts.quiet, opts.quiet_wait)
                            with postgres_pinned():
                                run_combo(combo, server, opts, owned, out_dir, next(offsets))
                    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError,
                            psycopg.Error) as exc:
                        log(f"{kind} w{combo.workers}: FAILED: {exc}")
                        combo.error = str(exc)[:500]
                        owned.cleanup()
            finally:
                owned.cleanup()
    except (RuntimeError, OSError, psycopg.Error) as exc:  # the server itself
        log(f"{kind}: PostgreSQL server FAILED: {exc}")
        for combo in mine:
            if not (combo.error or combo.results or combo.fixed):
                combo.error = f"PostgreSQL server {kind}: {str(exc)[:400]}"


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not REFERENCE_APP.exists():
        print(f"reference app not found at {REFERENCE_APP}", file=sys.stderr)
        return 2
    out_dir = VAR / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    owned = Owned()
    opts.placement = pin_plan(opts.pin)
    opts.servers = []
    signal.signal(signal.SIGTERM, raise_interrupt)
    combos: list[Combo] = []
    offsets = itertools.count(0, 10**6)
    started = time.monotonic()
    try:
        for kind in server_kinds(opts.db):
            run_server(kind, opts, owned, out_dir, offsets, combos)
    except KeyboardInterrupt:
        log("interrupted: servers stopped and databases dropped")
        print(report(combos, opts))
        return 130
    finally:
        owned.cleanup()
    text = report(combos, opts)
    print()
    print(text)
    (out_dir / "report.txt").write_text(text + "\n")
    log(f"done in {time.monotonic() - started:.0f}s; wrk outputs and logs in {out_dir}")
    bad = any(c.error or (c.check and not c.check.ok) or (c.hot and not c.hot.ok)
              or any(r.has_errors for r in c.results.values())
              or any(not f.ok for f in c.fixed.values()) for c in combos)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
