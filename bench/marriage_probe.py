"""One request at a time, in process: what a slot listing and a booking cost.

    .venv/bin/python bench/marriage_probe.py [--db embedded|machine] [-n 200]
                                             [--pg postgresql://postgres@127.0.0.1:5432]
                                             [--pyinstrument] [--cprofile]

Where bench/marriage.py measures throughput under load, this answers "why": it
builds huimin's app in process (no HTTP server, httpx's ASGI transport) on a fresh
database of a PostgreSQL server (`embedded`, the default: the PostgreSQL 18 of
core/embedded.py, started in var/bench/embedded/pg and stopped at the end;
`machine`: the server named by --pg), seeds an office like marriage.py, then sends
N sequential requests of each kind and prints, per kind, the median and p90 time
per request, the CPU time the process spent on it (1/that bounds one worker's
requests/s), and the SQL statements each one sends (counted with an SQLAlchemy
cursor event), grouped by statement. With --pyinstrument it also profiles the N
bookings (wall time, async aware: time awaiting the database shows under the
awaiting function) and writes the HTML to var/bench/; with --cprofile, a
deterministic profile of the bookings and of the 30-day listings, self time grouped
by library. The database is dropped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import (  # noqa: E402 - bench/ is on sys.path when run as a script
    Owned,
    add_server_options,
    pg_server,
    raise_interrupt,
)
from marriage import (  # noqa: E402 - bench/ is on sys.path when run as a script
    CHINA,
    SESSION_CAPACITY,
    SESSION_HOURS,
    SLOT_DAYS,
    VAR,
    VENV_BIN,
    person,
)


def _normalise(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = re.sub(r"\(([^()]*)\)", lambda m: "(...)" if len(m.group(1)) > 40 else m.group(0),
                 sql)
    return sql[:110]


def cli_keys() -> tuple[str, str]:
    """An admin key and a citizen token, from the `huimin` command (migrates first)."""
    env = {**os.environ}
    admin = subprocess.run([str(VENV_BIN / "huimin"), "apikey", "create", "--role", "admin",
                            "--name", "probe"], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=True).stdout.split()[-1]
    token = subprocess.run([str(VENV_BIN / "huimin"), "token", "citizen", "--subject",
                            "probe-citizen"], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=60, check=True).stdout.split()[-1]
    return admin, token


# Deterministic-profile groups: (label, substrings of "file:function").
CPROFILE_GROUPS = [
    ("SQLAlchemy (all, cumulative)", ("sqlalchemy/",)),
    ("asyncpg (own code + Cython protocol)", ("asyncpg/", "asyncpg.protocol")),
    ("pydantic", ("pydantic",)),
    ("fastapi", ("fastapi/",)),
    ("starlette", ("starlette/",)),
    ("stdnum (identity validation)", ("stdnum/",)),
    ("cryptography/hmac (encryption, blind index)", ("cryptography", "hmac.py")),
    ("jwt", ("jwt/",)),
    ("json", ("json/",)),
    ("chinese_calendar / holidays", ("chinese_calendar", "holidays/")),
    ("huimin services/ (own time)", ("services/",)),
    ("huimin api/ + core/ (own time)", ("/api/", "/core/")),
]


def _dump(cprof, name: str) -> None:  # noqa: ANN001
    """The raw profile beside the bench's other outputs, for pstats or snakeviz."""
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    cprof.dump_stats(out / name)


def print_cprofile(cprof, n: int, top: int = 30) -> None:  # noqa: ANN001
    """Self time by library (tottime sums, so groups do not overlap) and top functions."""
    import pstats

    stats = pstats.Stats(cprof)
    total = sum(v[2] for v in stats.stats.values())  # tottime
    groups: Counter[str] = Counter()
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        key = f"{file}:{func}"
        label = next((lab for lab, pats in CPROFILE_GROUPS if any(p in key for p in pats)),
                     "other (stdlib, uvloop, builtins, ...)")
        groups[label] += tt
        rows.append((tt, ct, nc, f"{func} ({file.split('site-packages/')[-1]}:{line})"))
    print(f"  cProfile: {1000 * total / n:.1f} ms of profiled self time per request "
          f"(inflated by the profiler); self time by library:")
    for label, tt in groups.most_common():
        print(f"    {100 * tt / total:5.1f}%  {label}")
    print(f"  top {top} functions by self time (share, calls per request):")
    for tt, _ct, nc, name in sorted(rows, reverse=True)[:top]:
        print(f"    {100 * tt / total:5.1f}%  {nc / n:6.1f}x  {name}")
    # Where huimin's own layers spend it (inclusive: nested calls overlap).
    own = [r for r in rows if any(f"/{d}/" in r[3] for d in ("api", "core", "services"))]
    print("  huimin's functions by cumulative time (share of the total, calls per request):")
    for _tt, ct, nc, name in sorted(own, key=lambda r: -r[1])[:top]:
        print(f"    {100 * ct / total:5.1f}%  {nc / n:6.1f}x  {name}")


def _count_driver_statements(statements: list[str]) -> None:
    """Statements sent on the driver itself (core.prepared) bypass SQLAlchemy's
    cursor events: count them too, marked `[driver]`, or `[lone]` when sent on a
    connection of the LonePool."""
    try:
        from core import prepared
    except ImportError:  # an older checkout without it
        return

    def wrap(cls: type, name: str, label: str = "driver") -> None:
        original = getattr(cls, name)

        async def counted(self, first, *args, **kwargs):  # noqa: ANN001, ANN202
            text = getattr(first, "postgresql", None) or repr(first)
            statements.append(f"[{label}] {text}")
            return await original(self, first, *args, **kwargs)

        setattr(cls, name, counted)

    for name in ("fetch", "fetchrow", "execute", "executemany", "fetchrow_alone",
                 "execute_alone"):
        wrap(prepared.PgDriver, name)
    lazy = getattr(prepared, "LazyPgDriver", None)
    if lazy is not None:  # a statement sent alone on a LonePool connection
        wrap(lazy, "_alone", "lone")


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body
        self.text = body.decode("utf-8", "replace")

    def json(self) -> object:
        return json.loads(self.content)


class DirectClient:
    """Calls the ASGI app itself, no HTTP client in between (`--direct`): the CPU a
    request costs is then the app's alone (httpx's in-process transport costs about
    0.6 ms a request of its own)."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def request(self, method: str, url: str, *, json: object = None,  # noqa: A002
                      headers: dict[str, str] | None = None) -> _Answer:
        import json as _json

        path, _, query = url.partition("?")
        body = b"" if json is None else _json.dumps(json, ensure_ascii=False).encode()
        hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        if json is not None:
            hdrs += [(b"content-type", b"application/json"),
                     (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "headers": hdrs,
                 "client": ("127.0.0.1", 5000), "server": ("probe", 80)}
        sent = False
        status, chunks = 0, []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)  # type: ignore[operator]
        return _Answer(status, b"".join(chunks))

    async def get(self, url: str, **kw: object) -> _Answer:
        return await self.request("GET", url, **kw)  # type: ignore[arg-type]

    async def post(self, url: str, **kw: object) -> _Answer:
        return await self.request("POST", url, **kw)  # type: ignore[arg-type]

    async def put(self, url: str, **kw: object) -> _Answer:
        return await self.request("PUT", url, **kw)  # type: ignore[arg-type]


async def _ab_lone(db, kinds: dict, n: int, batch: int = 25) -> None:  # noqa: ANN001
    """Bookings and full-session refusals in alternating batches with and without
    the LonePool, in this one process: the machine's noise falls on
    both alike. Prints each side's CPU per request."""
    from core.db import LONE_POOLS

    engine = db.engine.sync_engine
    if engine not in LONE_POOLS:
        raise SystemExit("--ab-lone: this app's engine has no LonePool")
    lone = LONE_POOLS[engine]
    for name in ("POST appointments", "POST appointments, session full"):
        send = kinds[name]
        cpu: dict[str, list[float]] = {"lone pool": [], "session's connection": []}
        i = 0
        for _round in range(max(1, n // (2 * batch))):
            for side in cpu:
                if side == "lone pool":
                    LONE_POOLS[engine] = lone
                else:
                    LONE_POOLS.pop(engine, None)
                c0 = time.process_time()
                for _ in range(batch):
                    r = await send(5 * 10**6 + i)
                    i += 1
                    if r.status_code >= 500:
                        raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
                cpu[side].append((time.process_time() - c0) / batch)
        LONE_POOLS[engine] = lone
        print(f"{name}: CPU per request, median of {len(cpu['lone pool'])} batches of "
              f"{batch}: " + ", ".join(f"{side} {1000 * statistics.median(v):.2f} ms"
                                       for side, v in cpu.items()))


async def probe(url: str, n: int, use_pyinstrument: bool, admin: str, token: str,
                use_cprofile: bool = False, direct: bool = False,
                ab_lone: bool = False) -> None:
    import httpx
    from sqlalchemy import event

    from api.app import create_app

    app = create_app()
    db = app.state.db
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):  # noqa: ANN001, ANN202
        statements.append(statement)

    for engine in {db.engine, db.engine}:
        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    _count_driver_statements(statements)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client, \
            app.router.lifespan_context(app):
        c = DirectClient(app) if direct else client
        a = {"X-API-Key": admin}
        org = (await c.post("/v1/admin/organisations", headers=a, json={
            "kind": "registration_office", "name": "探针婚姻登记处",
            "division_code": "110105"})).json()
        key = (await c.post(f"/v1/admin/organisations/{org['id']}/api-keys", headers=a,
                            json={"role": "office", "name": "desk"})).json()["key"]
        sessions = [{"weekday": d, "start": f"{h:02d}:00", "end": f"{e:02d}:00",
                     "capacity": SESSION_CAPACITY} for d in range(1, 8) for h, e in SESSION_HOURS]
        r = await c.put(f"/v1/marriage/offices/{org['id']}/weekly-schedule",
                        headers={"X-API-Key": key},
                        json={"sessions": sessions, "booking_opens_days_ahead": 60,
                              "min_notice_hours": 0})
        assert r.status_code == 200, r.text
        start = dt.datetime.now(CHINA).date() + dt.timedelta(days=1)
        end = start + dt.timedelta(days=SLOT_DAYS - 1)
        slots_path = f"/v1/marriage/offices/{org['id']}/slots?from={start}&to={end}"
        one_day = f"/v1/marriage/offices/{org['id']}/slots?from={start}&to={start}"
        items = (await c.get(slots_path)).json()["items"]
        bookable = [s["slot_id"] for s in items if s["bookable"]]
        cit = {"Authorization": f"Bearer {token}"}
        # A second office whose sessions seat one couple: its first session, once
        # taken, is what the full-session refusals are sent to.
        full_org = (await c.post("/v1/admin/organisations", headers=a, json={
            "kind": "registration_office", "name": "探针满员登记处",
            "division_code": "110105"})).json()
        full_key = (await c.post(f"/v1/admin/organisations/{full_org['id']}/api-keys",
                                 headers=a, json={"role": "office", "name": "desk"})).json()["key"]
        r = await c.put(f"/v1/marriage/offices/{full_org['id']}/weekly-schedule",
                        headers={"X-API-Key": full_key},
                        json={"sessions": [{**s, "capacity": 1} for s in sessions],
                              "booking_opens_days_ahead": 60, "min_notice_hours": 0})
        assert r.status_code == 200, r.text
        full_items = (await c.get(f"/v1/marriage/offices/{full_org['id']}/slots?from={start}"
                                  f"&to={end}")).json()["items"]
        full_slot = next(s["slot_id"] for s in full_items if s["bookable"])

        def booking(i: int) -> tuple[dict, dict]:
            body = {"slot_id": bookable[i % len(bookable)], "kind": "marriage", "parties": [
                {"name": "张伟", "id_number": person(i, "male"), "phone": "13800138000"},
                {"name": "李娜", "id_number": person(i, "female"), "phone": "13900139000"}]}
            return body, {**cit, "Idempotency-Key": f"probe-{i}"}

        def refusal(i: int) -> tuple[dict, dict]:
            body, headers = booking(2 * 10**6 + i)
            return {**body, "slot_id": full_slot}, {**headers, "Idempotency-Key": f"full-{i}"}

        r = await c.post("/v1/marriage/appointments", json=refusal(-1)[0],
                         headers=refusal(-1)[1])
        assert r.status_code == 201, r.text
        expected = {"POST appointments, session full": 409}
        kinds = {
            "GET /healthz (no database)": lambda i: c.get("/healthz"),
            "GET /v1/me (citizen token)": lambda i: c.get("/v1/me", headers=cit),
            "GET slots, 1 day": lambda i: c.get(one_day),
            f"GET slots, {SLOT_DAYS} days": lambda i: c.get(slots_path),
            "POST appointments": lambda i: c.post("/v1/marriage/appointments",
                                                   json=booking(i)[0], headers=booking(i)[1]),
            "POST appointments, session full": lambda i: c.post(
                "/v1/marriage/appointments", json=refusal(i)[0], headers=refusal(i)[1]),
        }
        if ab_lone:
            await _ab_lone(db, kinds, n)
            await db.dispose()
            return
        print(f"{n} sequential requests of each kind, in process (python "
              f"{sys.version.split()[0]})")
        for name, send in kinds.items():
            for i in range(5):  # warm caches (compiled statements, pools)
                await send(10**6 + i)
            times, cpu, counts, by_sql = [], [], [], Counter()
            profiler = cprof = None
            if use_cprofile and name.startswith(("POST", "GET slots, 3", "GET /v1/me")):
                import cProfile

                # CPU time, not wall time: the machine is shared.
                cprof = cProfile.Profile(time.process_time)
                cprof.enable()
            if use_pyinstrument and name.startswith("POST"):
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled", interval=0.0005)
                profiler.start()
            for i in range(n):
                statements.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                r = await send(i)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                if r.status_code != expected.get(name, r.status_code if r.status_code < 300
                                                 else 200):
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
                counts.append(len(statements))
                by_sql.update(_normalise(s) for s in statements)
            times.sort()
            print(f"\n{name}: median {1000 * statistics.median(times):.1f} ms, "
                  f"p90 {1000 * times[int(0.9 * n)]:.1f} ms, this process's CPU "
                  f"{1000 * statistics.mean(cpu):.1f} ms (-> at most "
                  f"{1 / max(statistics.mean(cpu), 1e-9):.0f} req/s per core), "
                  f"SQL statements per request: {statistics.mean(counts):.1f}")
            for sql, k in by_sql.most_common():
                print(f"  {k / n:4.1f}x  {sql}")
            if cprof is not None:
                cprof.disable()
                print_cprofile(cprof, n)
                slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                _dump(cprof, f"probe-{slug}.prof")
            if profiler is not None:
                profiler.stop()
                out = VAR / "probe-booking.html"
                out.write_text(profiler.output_html())
                print(profiler.output_text(unicode=False, color=False, show_all=False,
                                           short_mode=False)[:12000])
                print(f"pyinstrument HTML: {out}")
    await db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(p, default="embedded", both=False)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--pyinstrument", action="store_true")
    p.add_argument("--cprofile", action="store_true",
                   help="deterministic profile of the bookings and 30-day listings")
    p.add_argument("--direct", action="store_true",
                   help="call the ASGI app directly, without httpx's transport")
    p.add_argument("--ab-lone", action="store_true",
                   help="bookings and refusals with and without the LonePool, in "
                        "alternating batches")
    opts = p.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    name = f"bench_probe_{os.getpid()}"
    owned = Owned()
    signal.signal(signal.SIGTERM, raise_interrupt)
    with pg_server(opts.db, opts.pg) as server:
        print(f"PostgreSQL server {server.describe()}")
        try:
            owned.create_db(server, name)
            url = server.url(name, "asyncpg")
            os.environ.update({"DATABASE_URL": url, "HUIMIN_RATE_LIMIT_ENABLED": "false",
                               "HUIMIN_LOG_LEVEL": "WARNING"})
            admin, token = cli_keys()
            asyncio.run(probe(url, opts.n, opts.pyinstrument, admin, token, opts.cprofile,
                              opts.direct, opts.ab_lone))
        finally:
            owned.cleanup()  # before the server is released
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
