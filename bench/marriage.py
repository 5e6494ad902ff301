"""Marriage registration benchmark: huimin beside the peer reference app, in one run.

    .venv/bin/python bench/marriage.py [--db sqlite|postgres|both] [--workers 1 2]
                                       [--duration 15] [--connections 32] [--profile]

For each database and worker count it starts huimin on a fresh database, seeds an
office through the HTTP API, drives two loads with wrk (the office's slots for 30
days; bookings by distinct couples with distinct Idempotency-Keys), then starts
`../shared/bench/reference_app.py` on a fresh database of the same server and drives
its `GET /hello` and `POST /book/{id}` the same way. It prints requests/s, p50 and
p99 of the four, the ratios against the targets, and an SQL check that no session is
overbooked. Every server it starts is stopped and every database it creates is
dropped, also on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from machine import (  # bench/ is on sys.path when run as a script
    HOST,
    REFERENCE_APP,
    ROOT,
    VENV_BIN,
    Owned,
    Result,
    bench_lock,
    cli_last_line,
    expect,
    free_port,
    http,
    huimin_env,
    id_number,
    log,
    raise_interrupt,
    run_wrk,
    start_reference,
    wait_quiet,
    wait_ready,
)

VAR = ROOT / "var" / "bench"


CHINA = ZoneInfo("Asia/Shanghai")

# Targets from issue 3 ("Benchmark").
TARGET_BOOK_RATIO = 2.0
TARGET_BOOK_P99_MS = 150.0
TARGET_SLOTS_RATIO = 0.25
# Issue 7 ("A leaner write path"), 1 worker, 32 connections: booking against the peer's.
TARGET_BOOK_RATIO_ISSUE7 = {"postgres": 1.5, "sqlite": 1.0}

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
    slot_ids: list[str]
    date_from: dt.date
    date_to: dt.date



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
    bookable = [s["slot_id"] for s in items if s["bookable"] and s["remaining"] > 0]
    if not bookable:
        raise RuntimeError(f"no bookable slot between {date_from} and {date_to}: {items[:3]}")
    log(f"  seeded office {office_id}: {len(items)} sessions in {SLOT_DAYS} days, "
        f"{len(bookable)} bookable")
    return Seeded(office_id, token, bookable, date_from, date_to)


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


def overbooking_check(kind: str, target: str, created: int, in_flight: int) -> Check:
    check = Check(created=created, in_flight=in_flight)
    try:
        if kind == "sqlite":
            conn = sqlite3.connect(target, timeout=30)
            try:
                check.bad = [tuple(r) for r in conn.execute(OVERBOOK_SQL).fetchall()]
                totals = conn.execute(TOTALS_SQL).fetchone()
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(target, connect_timeout=10) as conn:
                check.bad = [tuple(r) for r in conn.execute(OVERBOOK_SQL).fetchall()]
                totals = conn.execute(TOTALS_SQL).fetchone()
        (check.slots, check.booked_sum, check.appointments, check.orphans,
         check.holds) = (int(x) for x in totals)
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        check.error = str(exc)
    return check


# --- one database, one worker count ----------------------------------------------------


@dataclass
class Combo:
    db: str
    workers: int
    results: dict[str, Result] = field(default_factory=dict)
    check: Check | None = None
    error: str | None = None
    busy_before: float | None = None  # CPU share others used just before the run


def pg_conninfo(base: str, dbname: str) -> str:
    return f"{base.rstrip('/')}/{dbname}"


def run_combo(combo: Combo, opts: argparse.Namespace, owned: Owned, out_dir: Path,
              person_offset: int) -> None:
    """Fills `combo` as it goes, so a failure keeps what was measured before it."""
    db, workers = combo.db, combo.workers
    tag = f"{db}-w{workers}"
    run_id = f"{os.getpid()}_{workers}"
    pg_base = opts.pg.rstrip("/")  # postgresql://postgres@127.0.0.1:5432
    pg_rest = pg_base.split("://", 1)[1]
    if db == "postgres":
        hm_name, ref_name = f"bench_huimin_{run_id}", f"bench_reference_{run_id}"
        owned.create_db(hm_name)
        hm_url = f"postgresql+asyncpg://{pg_rest}/{hm_name}"
        hm_check_target = pg_conninfo(pg_base, hm_name)
    else:
        hm_file = out_dir / f"huimin-{tag}.db"
        ref_file = out_dir / f"reference-{tag}.db"
        hm_url = f"sqlite+aiosqlite:///{hm_file}"
        hm_check_target = str(hm_file)

    # --- huimin ---
    env = huimin_env(hm_url)
    port = free_port()
    base = f"http://{HOST}:{port}"
    hm_log = out_dir / f"huimin-{tag}.log"
    log(f"{tag}: starting huimin ({workers} worker(s)) on {base}, {hm_url}")
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port),
                        "--workers", str(workers)], env=env, log_path=hm_log)
    created = 0
    try:
        wait_ready(base, "/readyz", proc, hm_log)
        seeded = seed(base, env)
        slots_url = (f"{base}/v1/marriage/offices/{seeded.office_id}/slots"
                     f"?from={seeded.date_from}&to={seeded.date_to}")
        if opts.warmup:
            run_wrk("warmup slots", slots_url, "wrk_get.lua", [], opts, opts.warmup, out_dir)
        log(f"{tag}: wrk GET slots ({SLOT_DAYS} days), {opts.duration}s")
        combo.results["slots"] = run_wrk(f"{tag} huimin slots", slots_url, "wrk_get.lua", [],
                                         opts, opts.duration, out_dir, cpu_of=proc.pid)

        book_url = f"{base}/v1/marriage/appointments"
        next_person = person_offset
        if opts.warmup:
            wfile = out_dir / f"bodies-{tag}-warmup.tsv"
            n = MAX_BOOKINGS_PER_SECOND * opts.warmup
            write_bodies(wfile, seeded.slot_ids, next_person, n)
            next_person += n
            r = run_wrk(f"{tag} warmup booking", book_url, "wrk_book.lua",
                        [str(wfile), seeded.token, str(opts.threads)], opts, opts.warmup,
                        out_dir)
            created += r.ok
        bfile = out_dir / f"bodies-{tag}.tsv"
        n = MAX_BOOKINGS_PER_SECOND * opts.duration
        write_bodies(bfile, seeded.slot_ids, next_person, n)
        next_person += n
        log(f"{tag}: wrk POST appointments ({n} distinct couples ready), {opts.duration}s")
        r = run_wrk(f"{tag} huimin booking", book_url, "wrk_book.lua",
                    [str(bfile), seeded.token, str(opts.threads)], opts, opts.duration, out_dir,
                    cpu_of=proc.pid, pg_db=hm_name if db == "postgres" else None)
        combo.results["book"] = r
        created += r.ok

        if opts.profile and workers == 1:
            pfile = out_dir / f"bodies-{tag}-profile.tsv"
            n = MAX_BOOKINGS_PER_SECOND * opts.profile_duration
            write_bodies(pfile, seeded.slot_ids, next_person, n)
            next_person += n
            r = profile_load(tag, "booking", proc.pid, book_url, "wrk_book.lua",
                             [str(pfile), seeded.token, str(opts.threads)], opts, out_dir)
            created += r.ok
            profile_load(tag, "slots", proc.pid, slots_url, "wrk_get.lua", [], opts, out_dir)
    finally:
        owned.stop(proc)
        if not opts.keep:
            for f in out_dir.glob(f"bodies-{tag}*.tsv"):
                f.unlink()
    booking_runs = 1 + bool(opts.warmup) + bool(opts.profile and workers == 1)
    combo.check = overbooking_check(db, hm_check_target, created,
                                    booking_runs * opts.connections)
    log(f"{tag}: overbooking check: {combo.check.describe()}")

    # --- the reference app, same database server ---
    if db == "postgres":
        owned.create_db(ref_name)
        ref_url = f"postgresql+psycopg://{pg_rest}/{ref_name}"
    else:
        ref_url = f"sqlite:///{ref_file}"
    rproc, rbase = start_reference(owned, ref_url, workers, out_dir, tag)
    try:
        if opts.warmup:
            run_wrk("warmup hello", f"{rbase}/hello", "wrk_get.lua", [], opts, opts.warmup,
                    out_dir)
        log(f"{tag}: wrk reference GET /hello, {opts.duration}s")
        combo.results["hello"] = run_wrk(f"{tag} reference hello", f"{rbase}/hello",
                                         "wrk_get.lua", [], opts, opts.duration, out_dir,
                                         cpu_of=rproc.pid)
        if opts.warmup:
            run_wrk("warmup ref book", f"{rbase}/book/1", "wrk_ref_book.lua", [], opts,
                    opts.warmup, out_dir)
        log(f"{tag}: wrk reference POST /book/{{1..1000}}, {opts.duration}s")
        combo.results["ref_book"] = run_wrk(f"{tag} reference book", f"{rbase}/book/1",
                                            "wrk_ref_book.lua", [], opts, opts.duration,
                                            out_dir, cpu_of=rproc.pid,
                                            pg_db=ref_name if db == "postgres" else None)
    finally:
        owned.stop(rproc)
    if db == "postgres":
        owned.drop_db(hm_name)
        owned.drop_db(ref_name)
    elif not opts.keep:
        for f in (hm_file, ref_file):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{f}{suffix}").unlink(missing_ok=True)


# --- profiling -------------------------------------------------------------------------


def profile_load(tag: str, what: str, pid: int, url: str, script: str, args: list[str],
                 opts: argparse.Namespace, out_dir: Path) -> Result:
    """An extra, unmeasured load while py-spy samples the (single) huimin process.

    Writes var/bench/profile-<tag>-<what>.speedscope.json (open it in
    https://www.speedscope.app) and, beside it, the summary of profile_summary.py."""
    out = VAR / f"profile-{tag}-{what}.speedscope.json"
    argv = [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
            str(opts.profile_duration), "--rate", "200", "--nonblocking",
            "--format", "speedscope", "--output", str(out)]
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
          "hello": "reference GET /hello", "ref_book": "reference POST /book/{id}"}


def fmt_ms(us: int) -> str:
    return f"{us / 1000:.1f}"


def report(combos: list[Combo], opts: argparse.Namespace) -> str:
    lines = []
    lines.append(f"wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s --latency, "
                 f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    lines.append("")
    head = (f"{'db':<9}{'workers':>7}  {'endpoint':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'requests':>10}{'non-2xx':>9}{'sock err':>9}{'cpu ms/req':>11}")
    lines.append(head)
    lines.append("-" * len(head))
    for c in combos:
        if c.error:
            lines.append(f"{c.db:<9}{c.workers:>7}  RUN FAILED: {c.error}")
        for key in ("slots", "book", "hello", "ref_book"):
            r = c.results.get(key)
            if r is None:
                continue
            if r.failed:
                lines.append(f"{c.db:<9}{c.workers:>7}  {LABELS[key]:<28}FAILED: {r.failed}")
                continue
            flag = "  <-- ERRORS" if r.has_errors else ""
            cpu = r.cpu_ms_per_request
            cpu_text = f"{cpu:>11.2f}" if cpu is not None else f"{'-':>11}"
            lines.append(f"{c.db:<9}{c.workers:>7}  {LABELS[key]:<28}{r.rps:>9.0f}"
                         f"{fmt_ms(r.p50_us):>9}{fmt_ms(r.p99_us):>9}{r.requests:>10}"
                         f"{r.non2xx:>9}{r.socket_errors:>9}{cpu_text}{flag}")
            if r.statuses and r.non2xx:
                lines.append(f"{'':<18}statuses: {r.statuses}")
                for code, body in r.samples.items():
                    lines.append(f"{'':<18}{code}: {body[:200]}")
            if r.exhausted:
                lines.append(f"{'':<18}ran out of pre-generated bodies ({r.exhausted} asks): "
                             f"raise MAX_BOOKINGS_PER_SECOND")
    lines.append("")
    head = (f"{'db':<9}{'workers':>7}  {'booking/ref book':>17}{'(>=2x)':>8}"
            f"{'(issue 7)':>13}{'booking p99':>13}{'(<=150ms)':>10}{'slots/hello':>13}"
            f"{'(>=25%)':>9}{'cpu/booking':>13}{'ref cpu/book':>14}")
    lines.append(head)
    lines.append("-" * len(head))
    for c in combos:
        r = c.results
        if not all(k in r and not r[k].failed for k in ("slots", "book", "hello", "ref_book")):
            lines.append(f"{c.db:<9}{c.workers:>7}  (incomplete)")
            continue
        book_ratio = r["book"].rps / r["ref_book"].rps if r["ref_book"].rps else 0.0
        slots_ratio = r["slots"].rps / r["hello"].rps if r["hello"].rps else 0.0
        p99 = r["book"].p99_us / 1000
        target7 = TARGET_BOOK_RATIO_ISSUE7[c.db]
        verdict7 = f"{'yes' if book_ratio >= target7 else 'NO'} >={target7:g}x"
        cpu, ref_cpu = r["book"].cpu_ms_per_request, r["ref_book"].cpu_ms_per_request
        db_cpu, ref_db_cpu = (r["book"].db_cpu_ms_per_request,
                              r["ref_book"].db_cpu_ms_per_request)
        lines.append(
            f"{c.db:<9}{c.workers:>7}  {book_ratio:>16.2f}x"
            f"{'yes' if book_ratio >= TARGET_BOOK_RATIO else 'NO':>8}{verdict7:>13}"
            f"{p99:>10.1f} ms{'yes' if p99 <= TARGET_BOOK_P99_MS else 'NO':>10}"
            f"{slots_ratio:>12.1%}{'yes' if slots_ratio >= TARGET_SLOTS_RATIO else 'NO':>9}"
            f"{(f'{cpu:.2f} ms' if cpu is not None else '-'):>13}"
            f"{(f'{ref_cpu:.2f} ms' if ref_cpu is not None else '-'):>14}"
            + (f"   PostgreSQL backends: {db_cpu:.2f} ms vs {ref_db_cpu:.2f} ms"
               if db_cpu is not None and ref_db_cpu is not None else ""))
    lines.append("cpu/booking: user+system CPU seconds of the server's processes during the "
                 "measured booking run / its requests")
    lines.append("")
    lines.append("CPU busy with other work just before each run (skews absolute figures): "
                 + ", ".join(f"{c.db} w{c.workers} {c.busy_before:.0%}" for c in combos
                             if c.busy_before is not None))
    lines.append("")
    lines.append("Overbooking check (SQL on huimin's database after the load):")
    for c in combos:
        if c.check:
            lines.append(f"  {c.db} w{c.workers}: {c.check.describe()}")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of unmeasured load before each measured run (0: none)")
    p.add_argument("--wrk-timeout", type=int, default=10,
                   help="wrk's per-request timeout in seconds (slower ones count as errors)")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server (fresh databases are created and dropped on it)")
    p.add_argument("--profile", action="store_true",
                   help="also profile huimin (1 worker) with py-spy under a booking load")
    p.add_argument("--profile-duration", type=int, default=10)
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--quiet", type=float, default=0.25,
                   help="before each database/worker run, wait until the CPUs are at most "
                        "this busy with other work (0-1)")
    p.add_argument("--quiet-wait", type=float, default=120,
                   help="... but wait at most this many seconds, then go on (it is reported)")
    p.add_argument("--keep", action="store_true", help="keep the SQLite files")
    opts = p.parse_args(argv)
    if any(w < 1 for w in opts.workers):
        p.error("--workers must be >= 1")
    if opts.duration < 1 or opts.connections < opts.threads:
        p.error("--duration >= 1 and --connections >= --threads")
    return opts


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
    dbs = ["postgres", "sqlite"] if opts.db == "both" else [opts.db]
    owned = Owned(opts.pg.rstrip("/") + "/postgres")
    signal.signal(signal.SIGTERM, raise_interrupt)
    combos: list[Combo] = []
    offsets = itertools.count(0, 10**6)
    started = time.monotonic()
    try:
        for db in dbs:
            for workers in opts.workers:
                combo = Combo(db, workers)
                combos.append(combo)
                try:
                    with bench_lock(log):
                        combo.busy_before = wait_quiet(opts.quiet, opts.quiet_wait)
                        run_combo(combo, opts, owned, out_dir, next(offsets))
                except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                    log(f"{db} w{workers}: FAILED: {exc}")
                    combo.error = str(exc)[:500]
                    owned.cleanup()
    except KeyboardInterrupt:
        log("interrupted: stopping servers and dropping databases")
        owned.cleanup()
        print(report(combos, opts))
        return 130
    finally:
        owned.cleanup()
    text = report(combos, opts)
    print()
    print(text)
    (out_dir / "report.txt").write_text(text + "\n")
    log(f"done in {time.monotonic() - started:.0f}s; wrk outputs and logs in {out_dir}")
    bad = any(c.error or (c.check and not c.check.ok)
              or any(r.has_errors for r in c.results.values()) for c in combos)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
