"""Outbox benchmark: what writing the outbox row costs a booking, and how many events
one `huimin worker` delivers per second to a local receiver, in one run.

    .venv/bin/python bench/outbox.py [--db embedded|machine|both] [--duration 10] [--rounds 2]
                                     [--pg postgresql://postgres@127.0.0.1:5432]

On each PostgreSQL server (`embedded`: the PostgreSQL 18 of core/embedded.py,
started by this script in var/bench/embedded/pg and stopped at the end; `machine`:
the server named by --pg), each run on a fresh database of its own:

1. Booking with and without the outbox row: `huimin serve` (1 worker) on a fresh
   database with `HUIMIN_OUTBOX_ENABLED=true`, then again with `false` (alternating,
   `--rounds` times each), seeded and loaded exactly as bench/marriage.py does
   (wrk, distinct couples and Idempotency-Keys); req/s, p50/p99 and the server's CPU
   ms per request of each, and their ratio.
2. Delivery: on the database of the last outbox-on run (its bookings' events), an
   admin subscription to a local receiver (`bench/receiver_app.py` under uvicorn,
   answering 204), then one `huimin worker`; the time from its start until every
   delivery is `delivered`, so events/s, and the worker's CPU per event.
Every server it starts is stopped and every database it creates is dropped, also on
Ctrl-C and SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from machine import (  # bench/ is on sys.path when run as a script
    HOST,
    VENV_BIN,
    Owned,
    PgServer,
    add_server_options,
    bench_lock,
    cpu_seconds_between,
    expect,
    free_port,
    group_cpu,
    http,
    huimin_env,
    log,
    pg_server,
    raise_interrupt,
    run_wrk,
    server_kinds,
    wait_quiet,
    wait_ready,
)
from marriage import MAX_BOOKINGS_PER_SECOND, VAR, seed, write_bodies

ROOT = Path(__file__).resolve().parent.parent


def booking_run(tag: str, outbox: bool, server: PgServer, opts: argparse.Namespace,
                owned: Owned, out_dir: Path, first_person: int) -> tuple[dict, str, dict[str, str]]:
    """One booking load on a fresh database of `server`; its result, the database's
    libpq URL and huimin's environment."""
    name = f"bench_outbox_{os.getpid()}_{tag}"
    owned.create_db(server, name)
    url = server.url(name, "asyncpg")
    env = {**huimin_env(url), "HUIMIN_OUTBOX_ENABLED": "true" if outbox else "false"}
    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = out_dir / f"huimin-{tag}.log"
    proc = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port)],
                       env=env, log_path=log_path)
    try:
        wait_ready(base, "/readyz", proc, log_path)
        seeded = seed(base, env)
        book_url = f"{base}/v1/marriage/appointments"
        nxt = first_person
        if opts.warmup:
            wfile = out_dir / f"bodies-{tag}-warmup.tsv"
            write_bodies(wfile, seeded.slot_ids, nxt, MAX_BOOKINGS_PER_SECOND * opts.warmup)
            nxt += MAX_BOOKINGS_PER_SECOND * opts.warmup
            run_wrk(f"{tag} warmup", book_url, "wrk_book.lua",
                    [str(wfile), seeded.token, str(opts.threads)], opts, opts.warmup, out_dir)
        bfile = out_dir / f"bodies-{tag}.tsv"
        write_bodies(bfile, seeded.slot_ids, nxt, MAX_BOOKINGS_PER_SECOND * opts.duration)
        log(f"{tag}: wrk POST appointments, outbox {'on' if outbox else 'off'}, "
            f"{opts.duration}s")
        r = run_wrk(f"{tag} booking", book_url, "wrk_book.lua",
                    [str(bfile), seeded.token, str(opts.threads)], opts, opts.duration,
                    out_dir, cpu_of=proc.pid)
        result = {"rps": r.requests / (r.duration_us / 1e6), "ok": r.ok, "p50": r.p50_us,
                  "p99": r.p99_us, "cpu_ms": r.cpu_ms_per_request,
                  "errors": r.err_status + r.err_timeout + r.err_connect}
        return result, server.url(name), env
    finally:
        owned.stop(proc)


def _count(target: str, sql: str) -> int:
    """`sql`'s count on the database at `target` (a libpq URL)."""
    import psycopg

    with psycopg.connect(target, connect_timeout=10) as conn:
        return int(conn.execute(sql).fetchone()[0])


def delivery_run(target: str, env: dict[str, str], opts: argparse.Namespace, owned: Owned,
                 out_dir: Path) -> dict:
    events = _count(target, "SELECT count(*) FROM outbox_event")
    # The receiver, and a server only to subscribe (stopped before the worker starts).
    rport = free_port()
    receiver = owned.start([str(VENV_BIN / "uvicorn"), "receiver_app:app", "--host", HOST,
                            "--port", str(rport), "--no-access-log", "--log-level", "warning"],
                           env=env, log_path=out_dir / "receiver.log", cwd=ROOT / "bench")
    port = free_port()
    base = f"http://{HOST}:{port}"
    srv = owned.start([str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port)],
                      env=env, log_path=out_dir / "huimin-subscribe.log")
    try:
        wait_ready(f"http://{HOST}:{rport}", "/", receiver, out_dir / "receiver.log")
        wait_ready(base, "/readyz", srv, out_dir / "huimin-subscribe.log")
        admin = subprocess.run([str(VENV_BIN / "huimin"), "apikey", "create", "--role", "admin",
                                "--name", "bench-subscriber"], env=env, capture_output=True,
                               text=True, check=True).stdout.strip().splitlines()[-1]
        status, _, sub = http("POST", f"{base}/v1/webhook-subscriptions",
                              {"url": f"http://{HOST}:{rport}/hooks", "events": ["*"]},
                              {"X-API-Key": admin})
        expect(status, sub, 201, "subscribe")
    finally:
        owned.stop(srv)
    worker_env = {**env, "HUIMIN_WORKER_BATCH_SIZE": str(opts.batch),
                  "HUIMIN_WORKER_POLL_SECONDS": "0.2", "HUIMIN_LOG_LEVEL": "WARNING"}
    log(f"delivery: {events} events, one worker, batch {opts.batch}")
    started = time.monotonic()
    worker = owned.start([str(VENV_BIN / "huimin"), "worker"], env=worker_env,
                         log_path=out_dir / "worker.log")
    cpu0 = group_cpu(worker.pid)
    delivered = 0
    last_cpu = cpu0
    first: tuple[float, int, dict[str, int]] | None = None  # once deliveries flow
    try:
        deadline = started + opts.delivery_timeout
        while time.monotonic() < deadline:
            last_cpu = group_cpu(worker.pid) or last_cpu
            delivered = _count(target, "SELECT count(*) FROM webhook_delivery "
                                       "WHERE status = 'delivered'")
            if first is None and delivered:
                first = (time.monotonic(), delivered, last_cpu)
            if delivered >= events:
                break
            time.sleep(0.2)
        ended = time.monotonic()
        elapsed = ended - started
        cpu = cpu_seconds_between(cpu0, last_cpu)
    finally:
        owned.stop(worker)
        owned.stop(receiver)
    steady = None
    if first is not None and delivered > first[1] and ended > first[0]:
        n = delivered - first[1]
        steady = {"per_s": n / (ended - first[0]),
                  "cpu_ms": 1000 * cpu_seconds_between(first[2], last_cpu) / n}
    return {"events": events, "delivered": delivered, "seconds": elapsed,
            "per_s": delivered / elapsed if elapsed else 0.0,
            "cpu_ms": 1000 * cpu / delivered if delivered else None, "steady": steady}


def one_server(server: PgServer, opts: argparse.Namespace, owned: Owned,
               out_dir: Path) -> tuple[list[str], bool]:
    """Both figures on `server`: the report's lines, and whether every event was
    delivered."""
    with bench_lock(log):
        busy = wait_quiet(opts.quiet, opts.quiet_wait)
        runs: list[tuple[str, dict]] = []
        last_on = None
        for n in range(opts.rounds):
            for outbox in (True, False):
                tag = f"{'on' if outbox else 'off'}{n}"
                result, target, env = booking_run(tag, outbox, server, opts, owned, out_dir,
                                                  (2 * n + (not outbox)) * 10**6)
                runs.append((tag, result))
                if outbox:
                    last_on = (target, env)
        assert last_on is not None
        delivery = delivery_run(*last_on, opts, owned, out_dir)
    lines = [f"outbox benchmark on PostgreSQL server {server.describe()}",
             f"1 server worker, wrk -c{opts.connections} -d{opts.duration}s; CPU busy "
             f"before: {busy:.0%}",
             "run    req/s    p50 ms   p99 ms  server CPU ms/req  non-2xx/errors"]
    for tag, r in runs:
        cpu = f"{r['cpu_ms']:.2f}" if r["cpu_ms"] is not None else "-"
        lines.append(f"{tag:<5} {r['rps']:8.0f} {r['p50'] / 1000:8.2f} {r['p99'] / 1000:8.2f}"
                     f" {cpu:>18} {r['errors']:>15}")
    on = [r["rps"] for t, r in runs if t.startswith("on")]
    off = [r["rps"] for t, r in runs if t.startswith("off")]
    on_cpu = [r["cpu_ms"] for t, r in runs if t.startswith("on") and r["cpu_ms"]]
    off_cpu = [r["cpu_ms"] for t, r in runs if t.startswith("off") and r["cpu_ms"]]
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    lines.append(f"booking with the outbox row: {mean(on):.0f} req/s, without: {mean(off):.0f}"
                 f" req/s (ratio {mean(on) / mean(off) if mean(off) else float('nan'):.3f}); "
                 f"CPU {mean(on_cpu):.2f} vs {mean(off_cpu):.2f} ms/req")
    cpu = f"{delivery['cpu_ms']:.2f}" if delivery["cpu_ms"] is not None else "-"
    lines.append(f"delivery: {delivery['delivered']}/{delivery['events']} events in "
                 f"{delivery['seconds']:.1f}s = {delivery['per_s']:.0f} events/s by one "
                 f"worker, from its start (imports, migrations check) = {cpu} CPU ms/event")
    if delivery["steady"]:
        lines.append(f"  once deliveries flow: {delivery['steady']['per_s']:.0f} events/s, "
                     f"{delivery['steady']['cpu_ms']:.2f} worker CPU ms/event")
    return lines, delivery["delivered"] >= delivery["events"]


def main(argv: list[str] | None = None) -> int:
    import psycopg

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(p)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2, help="on/off pairs of booking runs")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--wrk-timeout", type=int, default=10)
    p.add_argument("--batch", type=int, default=100, help="the worker's batch size")
    p.add_argument("--delivery-timeout", type=float, default=300)
    p.add_argument("--quiet", type=float, default=0.25)
    p.add_argument("--quiet-wait", type=float, default=60)
    opts = p.parse_args(argv)
    owned = Owned()
    signal.signal(signal.SIGTERM, raise_interrupt)
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    lines: list[str] = []
    ok = True
    try:
        for kind in server_kinds(opts.db):
            out_dir = VAR / f"outbox-{stamp}" / kind
            out_dir.mkdir(parents=True, exist_ok=True)
            try:
                with pg_server(kind, opts.pg) as server:
                    log(f"PostgreSQL server {server.describe()}")
                    try:
                        got, delivered = one_server(server, opts, owned, out_dir)
                    finally:
                        owned.cleanup()  # before the server is released
                lines += [*got, ""]
                ok = ok and delivered
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError,
                    psycopg.Error) as exc:
                log(f"{kind}: FAILED: {exc}")
                lines += [f"outbox benchmark on {kind}: FAILED: {str(exc)[:500]}", ""]
                ok = False
    except KeyboardInterrupt:
        log("interrupted: servers stopped and databases dropped")
        print("\n".join(lines))
        return 130
    finally:
        owned.cleanup()
    text = "\n".join(lines)
    print(text)
    (VAR / f"outbox-{stamp}" / "report.txt").write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
