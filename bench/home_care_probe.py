"""One request at a time, in process: what a home-care availability read and a
booking cost, and where the time goes.

    .venv/bin/python bench/home_care_probe.py [--db embedded|machine] [-n 200]
                                              [--pg postgresql://postgres@127.0.0.1:5432]
                                              [--cprofile]

bench/home_care.py measures throughput under load beside the peer; this answers
"why". It builds huimin's app in process (httpx's ASGI transport, no HTTP server)
on a fresh database of a PostgreSQL server (`embedded`, the default, or the server
named by --pg), seeds the provider of bench/home_care.py (four offerings, 50
caregivers with varied skills and hours, two visits per skilled caregiver on the
day read), then sends N sequential requests of each kind: the availability read of
that day, and bookings spread over the caregivers and days (huimin assigns the
caregiver). Per kind it prints the median and p90 wall time, this process's CPU
time per request, and the SQL statements each sends, grouped; with --cprofile a
deterministic profile of each (self time by library, top functions), dumped to
var/bench/probe-home-care-*.prof. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from home_care import (  # noqa: E402 - bench/ is on sys.path when run as a script
    CAREGIVERS,
    DURATION_MIN,
    LATTICE,
    OFFERINGS,
    SERVICE,
    SKILL_SETS,
    SURNAMES,
    VAR,
    WINDOW_DAYS,
    Spread,
    at,
    elder,
    hours_of,
    skilled,
    works,
)
from machine import (  # noqa: E402
    Owned,
    add_server_options,
    pg_server,
    raise_interrupt,
)
from marriage_probe import (  # noqa: E402
    _count_driver_statements,
    _dump,
    _normalise,
    cli_keys,
    print_cprofile,
)

_AVAILABILITY_QUERY = """
SELECT o.price_fen, o.duration_minutes,
  ARRAY(SELECT DISTINCT f.starts_at
        FROM home_care_fitting($1, $2, NULL, $3, o.duration_minutes, $4, $5, $6, $7) AS f
        ORDER BY 1)
FROM home_care_offering AS o WHERE o.provider_id = $1 AND o.service_code = $2"""


async def _explain(db, pid: str, day, first) -> None:  # noqa: ANN001
    """EXPLAIN ANALYZE of the availability query (the body of home_care_availability)
    and of booking's read, on a custom and on a generic plan."""
    import datetime as dt

    from core import prepared
    from core.clock import CHINA_TZ
    from services.home_care import bookings, rules

    buffer, grid = 30, 30
    start, end = rules.day_bounds(day)
    at = dt.datetime.combine(first[0], first[1], tzinfo=CHINA_TZ)
    for label, sql, types, args in (
            ("availability", _AVAILABILITY_QUERY,
             "varchar, varchar, date, integer, integer, timestamptz, timestamptz",
             (pid, SERVICE, day, buffer, grid, start, end)),
            ("booking's choice", bookings._CHOICE.postgresql,
             "varchar, varchar, varchar, date, integer, integer, timestamptz",
             (pid, SERVICE, None, first[0], buffer, grid, at)),
            ("availability, as served", bookings._AVAILABILITY.postgresql,
             "varchar, varchar, date, integer, integer, timestamptz, timestamptz",
             (pid, SERVICE, day, buffer, grid, start, end))):
        for mode in ("force_custom_plan", "force_generic_plan"):
            async with db.session() as session:
                drv = await prepared.driver(session, lazy=False)
                await drv.execute(prepared.Sql(f"SET LOCAL plan_cache_mode = {mode}"))
                await drv.execute(prepared.Sql(f"PREPARE probe_q ({types}) AS {sql}"))
                literal = ", ".join("NULL" if a is None else str(a) if isinstance(a, int)
                                    else "'" + str(a) + "'" for a in args)
                times = []
                for _ in range(5):
                    rows = await drv.fetch(prepared.Sql(
                        f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE probe_q({literal})"))
                    times.append(next(r[0] for r in rows if "Execution Time" in r[0]))
                await drv.execute(prepared.Sql("DEALLOCATE probe_q"))
                await session.rollback()
            print(f"\nEXPLAIN ANALYZE, {label}, {mode}: " + "; ".join(
                t.split(": ")[1] for t in times))
            for r in rows:
                print("  " + r[0])


async def probe(n: int, admin: str, token: str, use_cprofile: bool,
                explain: bool = False) -> None:
    import datetime as dt

    import httpx
    from sqlalchemy import event

    from api.app import create_app
    from core.clock import CHINA_TZ

    app = create_app()
    db = app.state.db
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):  # noqa: ANN001, ANN202
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    _count_driver_statements(statements)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as c, \
            app.router.lifespan_context(app):
        a = {"X-API-Key": admin}
        org = (await c.post("/v1/admin/organisations", headers=a, json={
            "kind": "home_care_provider", "name": "探针为老服务中心",
            "division_code": "310101", "lat": 31.222, "lon": 121.470})).json()
        pid = org["id"]
        key = (await c.post(f"/v1/admin/organisations/{pid}/api-keys", headers=a,
                            json={"role": "provider", "name": "desk"})).json()["key"]
        staff = {"X-API-Key": key}
        for code, price in OFFERINGS.items():
            body: dict = {"price_fen": price}
            if code == SERVICE:
                body["duration_minutes"] = DURATION_MIN
            r = await c.put(f"/v1/providers/{pid}/offerings/{code}", json=body, headers=staff)
            assert r.status_code in (200, 201), r.text
        for i in range(CAREGIVERS):
            r = await c.post(f"/v1/providers/{pid}/caregivers", headers=staff, json={
                "name": SURNAMES[i % 20] + "探针", "skills": SKILL_SETS[i % len(SKILL_SETS)],
                "weekly_hours": hours_of(i)})
            assert r.status_code == 201, r.text
        cit = {"Authorization": f"Bearer {token}"}
        today = dt.datetime.now(CHINA_TZ).date()
        days = [today + dt.timedelta(days=k) for k in range(1, WINDOW_DAYS - 1)]
        read_date = days[0]
        k = 0
        for j in (1, 4):
            for i in range(CAREGIVERS):
                if skilled(i) and works(i, read_date, LATTICE[j]):
                    r = await c.post("/v1/home-care/bookings", headers={
                        **cit, "Idempotency-Key": uuid.uuid4().hex}, json={
                        "provider_id": pid, "service_code": SERVICE,
                        "start_at": at(read_date, LATTICE[j]), "elder": elder(10**6 + k)})
                    assert r.status_code == 201, r.text
                    k += 1
        spread = Spread(days[1:])
        starts = spread.take(n + 10)
        avail = f"/v1/home-care/availability?provider_id={pid}&service_code={SERVICE}" \
                f"&date={read_date}"

        def book(i: int):  # noqa: ANN202
            day, t = starts[i]
            return c.post("/v1/home-care/bookings", headers={
                **cit, "Idempotency-Key": f"probe-{i}"}, json={
                "provider_id": pid, "service_code": SERVICE, "start_at": at(day, t),
                "elder": elder(i)})

        if explain:
            await _explain(db, pid, read_date, starts[0])
        kinds = {
            "GET availability (one provider, service, day)": (lambda i: c.get(avail), 200, 0),
            "POST bookings, spread": (lambda i: book(i), 201, 10),
        }
        print(f"{n} sequential requests of each kind, in process; {k} visits on the day "
              f"read ({read_date})")
        for name, (send, want, warm) in kinds.items():
            for i in range(5):
                await (send(i) if warm == 0 else send(i))
            times, cpu, counts, by_sql = [], [], [], Counter()
            cprof = None
            if use_cprofile:
                import cProfile

                cprof = cProfile.Profile(time.process_time)
                cprof.enable()
            for i in range(warm, warm + n - 10 if warm else n):
                statements.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                r = await send(i)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                if r.status_code != want:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
                counts.append(len(statements))
                by_sql.update(_normalise(s) for s in statements)
            m = len(times)
            times.sort()
            print(f"\n{name}: median {1000 * statistics.median(times):.1f} ms, "
                  f"p90 {1000 * times[int(0.9 * m)]:.1f} ms, this process's CPU "
                  f"{1000 * statistics.mean(cpu):.2f} ms (-> at most "
                  f"{1 / max(statistics.mean(cpu), 1e-9):.0f} req/s per core), "
                  f"SQL statements per request: {statistics.mean(counts):.1f}")
            for sql, cnt in by_sql.most_common():
                print(f"  {cnt / m:4.1f}x  {sql}")
            if cprof is not None:
                cprof.disable()
                print_cprofile(cprof, m)
                slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                _dump(cprof, f"probe-home-care-{slug}.prof")
    await db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(p, default="embedded", both=False)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--cprofile", action="store_true")
    p.add_argument("--explain", action="store_true",
                   help="EXPLAIN ANALYZE the availability statement and booking's read")
    opts = p.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    name = f"bench_hc_probe_{os.getpid()}"
    owned = Owned()
    signal.signal(signal.SIGTERM, raise_interrupt)
    with pg_server(opts.db, opts.pg) as server:
        print(f"PostgreSQL server {server.describe()}")
        try:
            owned.create_db(server, name)
            os.environ.update({"DATABASE_URL": server.url(name, "asyncpg"),
                               "HUIMIN_RATE_LIMIT_ENABLED": "false",
                               "HUIMIN_LOG_LEVEL": "WARNING",
                               "HUIMIN_HOME_CARE_BOOKING_WINDOW_DAYS": str(WINDOW_DAYS),
                               "HUIMIN_HOME_CARE_TRAVEL_BUFFER_MINUTES": "30"})
            admin, token = cli_keys()
            asyncio.run(probe(opts.n, admin, token, opts.cprofile, opts.explain))
        finally:
            owned.cleanup()
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
