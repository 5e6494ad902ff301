"""Marriage lottery benchmark: entries beside the peer's booking, and a large draw.

    .venv/bin/python bench/lottery.py [--db embedded|machine|both] [--duration 15]
                                      [--pg postgresql://postgres@127.0.0.1:5432]
                                      [--connections 32] [--draw-entries 100000]
                                      [--draw-seats 1000]

For each PostgreSQL server (`embedded`: the PostgreSQL 18 of core/embedded.py,
started by this script in var/bench/embedded/pg and stopped at the end; `machine`:
the server named by --pg): starts huimin (1 worker, its maintenance loop off) on a
fresh database of that server, seeds an office through the HTTP API, opens a lottery and drives
`POST /v1/marriage/lotteries/{id}/entries` with wrk (distinct couples, distinct
Idempotency-Keys); then starts `../shared/bench/reference_app.py` on a fresh
database of the same server and drives its `POST /book/{id}`. Then it fills a
second lottery with `--draw-entries` entries (COPY straight into the database: the
draw is what is measured) over `--draw-seats` seats and times one draw
(`services.marriage.lottery.draw`, in this process, one transaction, commit
included), then checks the outcome with `huimin lottery verify`. Prints
requests/s, p50, p99, server CPU per request, the ratio against the target (issue
12: entries >= 3x the peer's booking; the draw under 10 s). Every server it
starts is stopped and every database it creates is dropped, also on Ctrl-C and
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from machine import (  # bench/ is on sys.path when run as a script
    HOST,
    VENV_BIN,
    Owned,
    PgServer,
    Result,
    add_server_options,
    bench_lock,
    cli_last_line,
    cpu_busy,
    expect,
    free_port,
    http,
    huimin_env,
    log,
    pg_server,
    pin_plan,
    postgres_pinned,
    raise_interrupt,
    run_wrk,
    server_kinds,
    start_reference,
    wait_ready,
)
from marriage import CHINA, GIVEN, SURNAMES, VAR, fmt_ms, person, seed

ROOT = Path(__file__).resolve().parent.parent
TARGET_ENTRY_RATIO = 3.0
TARGET_DRAW_SECONDS = 10.0
MAX_ENTRIES_PER_SECOND = 3000


def special_day(base: str, staff_h: dict, office_id: str, day: dt.date,
                seats: int) -> None:
    half = seats // 2
    status, _, body = http("POST", f"{base}/v1/marriage/offices/{office_id}/special-days", {
        "date": day.isoformat(), "sessions": [
            {"start": "09:00", "end": "12:00", "capacity": half},
            {"start": "13:30", "end": "17:00", "capacity": seats - half}]}, staff_h)
    expect(status, body, 201, "special day")


def lottery(base: str, staff_h: dict, office_id: str, day: dt.date,
            closes: dt.datetime) -> dict:
    now = dt.datetime.now(dt.UTC)
    status, _, body = http("POST", f"{base}/v1/marriage/offices/{office_id}/lotteries", {
        "date": day.isoformat(), "entries_open_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "entries_close_at": closes.isoformat()}, staff_h)
    expect(status, body, 201, "lottery")
    return body  # type: ignore[return-value]


def write_entries(path: Path, first: int, count: int) -> None:
    """One entry a line: "<Idempotency-Key>\\t<JSON body>", distinct couples."""
    with path.open("w", encoding="utf-8") as f:
        for n in range(first, first + count):
            prefs = ["09:00", "13:30"] if n % 2 else ["13:30", "09:00"]
            body = {"kind": "marriage", "session_preferences": prefs,
                    "parties": [
                        {"name": SURNAMES[n % 20] + GIVEN[n % 23],
                         "id_number": person(n, "male"), "phone": f"138{n % 10**8:08d}"},
                        {"name": SURNAMES[(n // 20) % 20] + GIVEN[(n // 7) % 23],
                         "id_number": person(n, "female"), "phone": f"139{n % 10**8:08d}"}]}
            f.write(f"bench-{uuid.uuid4().hex}\t{json.dumps(body, ensure_ascii=False)}\n")


def fill(target: str, lottery_id: str, entries: int) -> float:
    """`entries` entries of two people each, COPY straight into the tables of the
    database at `target` (a libpq URL), then ANALYZE; seconds taken."""
    t0 = time.monotonic()
    now = dt.datetime.now(dt.UTC).isoformat()
    rng = random.Random(12)
    rows, people = [], []
    for n in range(entries):
        eid = f"mlen_{uuid.uuid4().hex}"
        prefs = json.dumps(rng.choice([["09:00", "13:30"], ["13:30", "09:00"], ["09:00"],
                                       ["13:30"]]))
        rows.append((eid, lottery_id, f"bench-{n}", "marriage", prefs, "entered", now))
        for pos in (0, 1):
            blind = hashlib.sha256(f"{lottery_id}:{n}:{pos}".encode()).hexdigest()
            people.append((f"mlep_{uuid.uuid4().hex}", eid, lottery_id, pos, "张伟",
                           "bench-encrypted", blind, "110105********0000", None))
    import psycopg

    with psycopg.connect(target, connect_timeout=10) as conn, conn.cursor() as cur:
        with cur.copy("COPY marriage_lottery_entry (id, lottery_id, owner_subject, kind, "
                      "session_preferences, status, created_at) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        with cur.copy("COPY marriage_lottery_entrant (id, entry_id, lottery_id, position, "
                      "name, id_number_encrypted, id_blind_index, id_number_masked, "
                      "phone_encrypted) FROM STDIN") as copy:
            for r in people:
                copy.write_row(r)
        conn.commit()
        conn.execute("ANALYZE")
    return time.monotonic() - t0


async def timed_draw(database_url: str, lottery_id: str) -> tuple[float, object]:
    sys.path.insert(0, str(ROOT))
    from core.db import Database  # noqa: PLC0415 - the app's own modules, on ROOT
    from core.settings import Settings  # noqa: PLC0415
    from services.marriage import lottery as service  # noqa: PLC0415

    db = Database.from_settings(Settings(database_url=database_url, _env_file=None))
    try:
        async with db.session() as session:
            t0 = time.monotonic()
            result = await service.draw(session, lottery_id)
            await session.commit()
            return time.monotonic() - t0, result
    finally:
        await db.dispose()


def run_db(server: PgServer, opts: argparse.Namespace, owned: Owned, out_dir: Path) -> dict:
    """huimin, then the peer, each on a fresh database of `server`."""
    db = server.kind
    out: dict = {"db": db}
    run_id = str(os.getpid())
    name = f"bench_lottery_{run_id}"
    owned.create_db(server, name)
    url = server.url(name, "asyncpg")
    target = server.url(name)
    env = {**huimin_env(url), "HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "0"}
    base = f"http://{HOST}:{free_port()}"
    hm_log = out_dir / f"huimin-lottery-{db}.log"
    log(f"{db}: starting huimin (1 worker) on {base}, {url}")
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port",
                        base.rsplit(":", 1)[1], "--workers", "1"], env=env, log_path=hm_log)
    try:
        wait_ready(base, "/readyz", proc, hm_log)
        seeded = seed(base, env)
        admin = {"X-API-Key": cli_last_line(["apikey", "create", "--role", "admin", "--name",
                                             "bench-admin-2"], env)}
        status, _, key = http("POST", f"{base}/v1/admin/organisations/{seeded.office_id}/"
                              "api-keys", {"role": "office", "name": "bench-lottery"}, admin)
        expect(status, key, 201, "office key")
        staff_h = {"X-API-Key": key["key"]}  # type: ignore[index]
        today = dt.datetime.now(CHINA).date()
        entry_day, draw_day = today + dt.timedelta(days=12), today + dt.timedelta(days=13)
        special_day(base, staff_h, seeded.office_id, entry_day, 1000)
        special_day(base, staff_h, seeded.office_id, draw_day, opts.draw_seats)
        lot = lottery(base, staff_h, seeded.office_id, entry_day,
                      dt.datetime.now(dt.UTC) + dt.timedelta(days=5))
        url_path = f"/v1/marriage/lotteries/{lot['id']}/entries"
        next_person = 7_000_000  # far from the seed's couples
        if opts.warmup:
            wfile = out_dir / "entries-warmup.tsv"
            n = MAX_ENTRIES_PER_SECOND * opts.warmup
            write_entries(wfile, next_person, n)
            next_person += n
            run_wrk("warmup entries", f"{base}{url_path}", "wrk_book.lua",
                    [str(wfile), seeded.token, str(opts.threads), url_path], opts,
                    opts.warmup, out_dir)
        efile = out_dir / "entries.tsv"
        n = MAX_ENTRIES_PER_SECOND * opts.duration
        write_entries(efile, next_person, n)
        log(f"{db}: wrk POST lottery entries ({n} distinct couples ready), {opts.duration}s")
        out["entries"] = run_wrk(f"{db} huimin lottery entries", f"{base}{url_path}",
                                 "wrk_book.lua",
                                 [str(efile), seeded.token, str(opts.threads), url_path], opts,
                                 opts.duration, out_dir, cpu_of=proc.pid, pg_db=name)
        # The draw: a second lottery, filled straight into its tables.
        closes = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=opts.fill_seconds)
        draw_lot = lottery(base, staff_h, seeded.office_id, draw_day, closes)
        log(f"{db}: writing {opts.draw_entries} entries into lottery {draw_lot['id']}")
        out["fill_s"] = fill(target, draw_lot["id"], opts.draw_entries)
        wait = (closes - dt.datetime.now(dt.UTC)).total_seconds()
        if wait < 0:
            log(f"{db}: filling took longer than --fill-seconds; the draw is late only")
        time.sleep(max(wait, 0) + 0.5)
        log(f"{db}: drawing {opts.draw_entries} entries over {opts.draw_seats} seats")
        out["draw_s"], out["draw"] = asyncio.run(timed_draw(url, draw_lot["id"]))
        t0 = time.monotonic()
        verify = subprocess.run([str(VENV_BIN / "huimin"), "lottery", "verify",
                                 draw_lot["id"]], env=env, capture_output=True, text=True,
                                timeout=600, check=False)
        out["verify_s"] = time.monotonic() - t0
        out["verify"] = (verify.returncode, verify.stdout.strip().splitlines()[-1:])
    finally:
        owned.stop(proc)
        for f in out_dir.glob("entries*.tsv"):
            f.unlink()
    owned.drop_db(server, name)
    ref_name = f"bench_lot_reference_{run_id}"
    owned.create_db(server, ref_name)
    ref_url = server.url(ref_name, "psycopg")
    rproc, rbase = start_reference(owned, ref_url, 1, out_dir, f"lottery-{db}")
    try:
        if opts.warmup:
            run_wrk("warmup ref book", f"{rbase}/book/1", "wrk_ref_book.lua", [], opts,
                    opts.warmup, out_dir)
        log(f"{db}: wrk reference POST /book/{{1..1000}}, {opts.duration}s")
        out["ref_book"] = run_wrk(f"{db} reference book", f"{rbase}/book/1",
                                  "wrk_ref_book.lua", [], opts, opts.duration, out_dir,
                                  cpu_of=rproc.pid, pg_db=ref_name)
    finally:
        owned.stop(rproc)
    owned.drop_db(server, ref_name)
    return out


def line(r: Result) -> str:
    cpu = f", server CPU {r.cpu_ms_per_request:.2f} ms/req" if r.cpu_ms_per_request else ""
    dbcpu = (f", PostgreSQL CPU {r.db_cpu_ms_per_request:.2f} ms/req"
             if r.db_cpu_ms_per_request else "")
    load = (f", wrk CPU {r.load_cpu_ms_per_request:.2f} ms/req"
            if r.load_cpu_ms_per_request else "")
    errs = (f", NON-2xx {r.non2xx} {dict(r.statuses)} {r.samples}" if r.non2xx else "")
    return (f"{r.rps:8.1f} req/s  p50 {fmt_ms(r.p50_us)}  p99 {fmt_ms(r.p99_us)}"
            f"{cpu}{dbcpu}{load}{errs}{' FAILED ' + r.failed if r.failed else ''}")


def report(outs: list[dict], opts: argparse.Namespace) -> str:
    lines = [f"lottery benchmark, 1 worker, {opts.connections} connections, "
             f"{opts.duration}s per load", opts.placement]
    lines += [f"PostgreSQL server {about}" for about in opts.servers]
    for o in outs:
        db = o["db"]
        if "error" in o:
            lines.append(f"[{db}] ERROR {o['error']}")
        ent, ref = o.get("entries"), o.get("ref_book")
        if ent:
            lines.append(f"[{db}] huimin lottery entries   {line(ent)}")
        if ref:
            lines.append(f"[{db}] peer booking            {line(ref)}")
        if ent and ref and ref.rps:
            ratio = ent.rps / ref.rps
            met = "met" if ratio >= TARGET_ENTRY_RATIO else "NOT met"
            lines.append(f"[{db}] entries / peer booking = {ratio:.2f}x (target >= "
                         f"{TARGET_ENTRY_RATIO}x: {met})")
        if "draw_s" in o:
            d = o["draw"]
            lines.append(f"[{db}] draw of {opts.draw_entries} entries over {opts.draw_seats} "
                         f"seats: {o['draw_s']:.2f} s (target < {TARGET_DRAW_SECONDS} s: "
                         f"{'met' if o['draw_s'] < TARGET_DRAW_SECONDS else 'NOT met'}); "
                         f"winners {getattr(d, 'winners', None)}; filling took "
                         f"{o['fill_s']:.1f} s; huimin lottery verify exit {o['verify'][0]} "
                         f"in {o['verify_s']:.1f} s: {o['verify'][1]}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(p)
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--wrk-timeout", type=int, default=10)
    p.add_argument("--draw-entries", type=int, default=100_000)
    p.add_argument("--draw-seats", type=int, default=1000)
    p.add_argument("--pin", action="store_true",
                   help="server processes on the first CPU, PostgreSQL and wrk on the "
                        "others (as bench/marriage.py --pin)")
    p.add_argument("--fill-seconds", type=int, default=60,
                   help="the draw lottery closes this long after it is created")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    out_dir = VAR / f"lottery-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    owned = Owned()
    opts.placement = pin_plan(opts.pin)
    opts.servers = []
    signal.signal(signal.SIGTERM, raise_interrupt)
    outs: list[dict] = []
    try:
        with bench_lock(log):
            log(f"other work on the CPUs before the run: {cpu_busy():.0%}")
            for kind in server_kinds(opts.db):
                try:
                    with pg_server(kind, opts.pg) as server:
                        opts.servers.append(server.describe())
                        log(f"PostgreSQL server {server.describe()}")
                        try:
                            with postgres_pinned():
                                outs.append(run_db(server, opts, owned, out_dir))
                        finally:
                            owned.cleanup()  # before the server is released
                except Exception as exc:  # noqa: BLE001 - reported, the next server still runs
                    outs.append({"db": kind, "error": f"{type(exc).__name__}: {exc}"})
    except KeyboardInterrupt:
        log("interrupted: servers stopped and databases dropped")
        print(report(outs, opts))
        return 130
    finally:
        owned.cleanup()
    text = report(outs, opts)
    (out_dir / "report.txt").write_text(text + "\n")
    print(text)
    return 1 if any("error" in o for o in outs) else 0


if __name__ == "__main__":
    sys.exit(main())
