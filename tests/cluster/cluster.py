"""Several huimin nodes as a deployment runs them, on one machine, and what must hold.

`run(server_url)` makes a scratch database on that PostgreSQL server, starts a private
Redis, two `huimin serve` nodes and two `huimin worker` processes on it, and nginx in
front of the nodes with deploy/nginx/huimin.conf (the file docs/deployment.md shows;
only its addresses, ports and paths are replaced). All traffic goes through nginx, on
loopback only. Then:

- rate limits: one client address sends 15 anonymous requests (budget 10/minute) that
  nginx spreads over both nodes: exactly 10 pass; a second address that writes a new
  `X-Forwarded-For` into every request is counted as itself, also exactly 10;
- booking load: couples book marriage appointments into sessions of known capacity,
  many at once, each with its own citizen token and Idempotency-Key; an answer lost
  to a connection error, a 502 or a 503 is asked again with the same key; mid-load one
  node is killed with SIGKILL (its whole process group);
- timed jobs: a lottery whose entries close during the load is drawn once; the
  day-before reminders (a worker's timed job) are written once per appointment.

Then the database is checked: every acknowledged (201) booking is there with the same
id, no session holds more than its capacity and each holds exactly what was
acknowledged, every retried key made one appointment, `huimin audit verify` passes.
The figures are printed. Every process is killed, every port freed and the database
dropped, whatever happens.

Used by tests/cluster/test_cluster.py and, standalone, by bench/cluster.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import CHINA_TZ
from core.security import issue_citizen_token
from core.settings import Settings
from tests.factories import make_id_number

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "huimin.conf"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
# Two client addresses for the rate-limit check: loopback, but not nginx's own
# 127.0.0.1 (which the nodes trust as the proxy).
CLIENT_A = "127.0.0.2"
CLIENT_B = "127.0.0.3"
# The booking clients' address: what audit rows and log lines must show for them;
# and the address the test seeds from (staff keys, lottery entries).
CLIENT_LOAD = "127.0.0.4"
CLIENT_SEED = "127.0.0.5"

JWT_SECRET = "cluster-test-jwt-secret-" + "x" * 24  # noqa: S105 - a test's own key
ANONYMOUS_BUDGET = 10
RATE_LIMIT_REQUESTS = 15

LOAD_SESSIONS = ["09:00", "10:00", "11:00", "14:00"]
SESSION_CAPACITY = 15
COUPLES = 100  # > 4 x 15 seats: the last 40 find their session full
CONCURRENCY = 20
KILL_AFTER_ANSWERS = 25  # couples with a final answer before the node is killed
FREEZE_BEFORE_KILL = 1.0  # seconds the node is stopped (SIGSTOP) before its SIGKILL
LOTTERY_COUPLES = 8
LOTTERY_SEATS = 5
LOTTERY_CLOSES_IN = 20.0  # seconds after the lottery is created

# The timed jobs the run relies on: the lottery draw (every serve node's maintenance
# loop) and the marriage reminders (every worker's schedule).
TIMED_JOBS = ("lottery_draws", "scheduled_marriage")

# The answers a client asks again, with the same Idempotency-Key.
RETRY_STATUSES = {502, 503, 504}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log(msg: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Owned:
    """Every process started here, each in its own process group; `close` ends them
    all (SIGTERM, then SIGKILL to the whole group) and waits for them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []
        self._logs: list[Any] = []

    def start(self, name: str, argv: list[str], env: dict[str, str],
              port: int | None = None) -> Proc:
        log_path = self.workdir / f"{name}.log"
        out = log_path.open("wb")
        self._logs.append(out)
        popen = subprocess.Popen(argv, cwd=self.workdir, env=env, stdout=out,  # noqa: S603
                                 stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log_path, port)
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill9(proc: Proc) -> None:
        """SIGKILL to the process and every child in its group, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            # The group too: a child left behind by a process that exited.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        for out in self._logs:
            out.close()


def wait_for(what: str, check: Any, timeout: float, procs: list[Proc] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited {proc.popen.returncode} while "
                                   f"waiting for {what}:\n{proc.tail()}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in procs)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s\n{tails}")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def node_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUIMIN_") and k not in ("DATABASE_URL", "REDIS_URL",
                                                        "PROMETHEUS_MULTIPROC_DIR")}
    env.update({
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HUIMIN_ENV": "test",
        "HUIMIN_DATA_DIR": str(data_dir),
        "HUIMIN_TRUSTED_PROXIES": HOST,
        "HUIMIN_JWT_SECRET": JWT_SECRET,
        "HUIMIN_LOG_LEVEL": "INFO",
        "HUIMIN_DB_POOL_SIZE": "5",
        # Timed jobs often, so each runs many times during the test.
        "HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "1",
        "HUIMIN_WORKER_SCHEDULE_SECONDS": "1",
        "HUIMIN_WORKER_POLL_SECONDS": "0.5",
        # Reminders for tomorrow's sessions are due from midnight today (China time).
        "HUIMIN_REMINDER_HOUR": "0",
        "HUIMIN_RATE_LIMIT_ENABLED": "true",
        "HUIMIN_RATE_LIMIT_ANONYMOUS": f"{ANONYMOUS_BUDGET}/minute",
        "HUIMIN_RATE_LIMIT_CITIZEN": "60/minute",
        "HUIMIN_RATE_LIMIT_STAFF": "100000/minute",
        "PYTHONUNBUFFERED": "1",
    })
    return env


# --- nginx -------------------------------------------------------------------------------


def render_nginx(workdir: Path, nodes: list[int], http_port: int, https_port: int,
                 cert: Path, key: Path, access_log: Path) -> Path:
    """deploy/nginx/huimin.conf with the production addresses, ports and paths
    replaced (each must be found: the file and this step cannot drift apart), inside a
    main configuration whose pid, logs and temp paths lie in `workdir`."""
    source = NGINX_CONF.read_text(encoding="utf-8")
    replacements = [
        ("server 10.0.0.11:8000", f"server {HOST}:{nodes[0]}"),
        ("server 10.0.0.12:8000", f"server {HOST}:{nodes[1]}"),
        ("listen 80;", f"listen {HOST}:{http_port};"),
        ("listen 443 ssl;", f"listen {HOST}:{https_port} ssl;"),
        ("/etc/nginx/tls/huimin.crt", str(cert)),
        ("/etc/nginx/tls/huimin.key", str(key)),
        ("/var/log/nginx/huimin.access.log", str(access_log)),
    ]
    for old, new in replacements:
        if old not in source:
            raise AssertionError(f"{NGINX_CONF} no longer holds {old!r}: update the test")
        source = source.replace(old, new)
    leftover = re.findall(r"^\s*(?:listen|server)\s+[^;{]*;", source, re.M)
    for line in leftover:
        if HOST not in line and "server_name" not in line:
            raise AssertionError(f"nginx line not rewritten to loopback: {line.strip()}")
    site = workdir / "huimin.conf"
    site.write_text(source, encoding="utf-8")
    temp = workdir / "temp"
    temp.mkdir()
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = workdir / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        f"error_log {workdir / 'error.log'} warn;\n"
        f"pid {workdir / 'nginx.pid'};\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        f"    include {site};\n"
        "}\n", encoding="utf-8")
    return main


def self_signed(workdir: Path) -> tuple[Path, Path]:
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",  # noqa: S603,S607
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if not found:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    return found


def access_entries(path: Path) -> list[dict[str, str]]:
    """The access log's lines (deploy/nginx/huimin.conf's `huimin` format)."""
    pattern = re.compile(r'^(?P<addr>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
                         r"(?P<status>\d+) \S+ rt=\S+ upstream=(?P<upstream>.*?) "
                         r"upstream_status=(?P<upstream_status>.*?) upstream_rt=")
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        m = pattern.match(line)
        if m:
            entries.append(m.groupdict())
    return entries


# --- the database --------------------------------------------------------------------------


async def _sql(url: str, sql: str, params: dict | None = None,
               autocommit: bool = False) -> list[Any]:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT" if autocommit else None)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params or {})
            return list(result.fetchall()) if result.returns_rows else []
    finally:
        await engine.dispose()


def sql(url: str, query: str, params: dict | None = None) -> list[Any]:
    return asyncio.run(_sql(url, query, params))


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"huimin_cluster_{uuid.uuid4().hex[:10]}"
    asyncio.run(_sql(server_url, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                         autocommit=True))


def huimin_cli(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
               ) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "huimin"), *argv], env=env, cwd=cwd,  # noqa: S603
                          capture_output=True, text=True, timeout=timeout, check=False)


# --- the run -------------------------------------------------------------------------------


@dataclass
class Booking:
    n: int
    subject: str
    key: str
    body: dict
    attempts: int = 0
    final: int | None = None
    appointment_id: str | None = None
    slot_id: str | None = None
    replayed: bool = False
    codes: list[str] = field(default_factory=list)
    transport_errors: int = 0


@dataclass
class Figures:
    requests_sent: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    transport_errors: int = 0
    retries: int = 0
    replayed_201: int = 0
    acknowledged: int = 0
    writes_checked: int = 0
    refused_full: int = 0
    killed: str = ""
    killed_at_answers: int = 0
    cut_off: int = 0  # bookings the killed node held when it died (nginx answered 502)
    answers_after_kill: int = 0
    node_requests: collections.Counter = field(default_factory=collections.Counter)
    rate_limit: dict[str, collections.Counter] = field(default_factory=dict)
    lottery: dict[str, Any] = field(default_factory=dict)
    reminders: int = 0
    job_runs: collections.Counter = field(default_factory=collections.Counter)
    logged_addresses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"booking requests sent through nginx: {self.requests_sent} "
            f"(couples {COUPLES}, concurrency {CONCURRENCY})",
            "answers by status: " + ", ".join(f"{k}: {v}" for k, v in
                                               sorted(self.statuses.items())),
            f"connection errors: {self.transport_errors}; retries with the same key: "
            f"{self.retries}; 201 replayed on a retry: {self.replayed_201}",
            f"acknowledged bookings (201): {self.acknowledged}, each found in the database "
            f"with its id: {self.writes_checked}; refused slot_full: {self.refused_full}",
            f"killed {self.killed} (SIGSTOP for {FREEZE_BEFORE_KILL}s, then SIGKILL to its "
            f"process group) after "
            f"{self.killed_at_answers} final answers; {self.answers_after_kill} after it; "
            f"bookings it held when it died (502 from nginx): {self.cut_off}",
            "requests per upstream (nginx access log): " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.node_requests.items())),
            *(f"rate limit, {who}: " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
              for who, c in self.rate_limit.items() if not who.startswith("_")),
            "rate-limit requests of the first client per upstream: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.rate_limit.get("_upstreams", {}).items())),
            f"lottery: {self.lottery}",
            f"day-before reminders written: {self.reminders}",
            "timed-job runs by (job, node): " + (", ".join(
                f"{j}@{n}: {c}" for (j, n), c in sorted(self.job_runs.items()))
                or "none logged"),
            f"client addresses in the nodes' log lines: {self.logged_addresses}",
            f"wall time: {self.seconds:.1f}s",
        ]


def person(n: int, sex: str) -> dict[str, str]:
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=n)
    return {"name": ("张" if sex == "male" else "李") + "测试" + "甲乙丙丁戊己庚辛壬癸"[n % 10],
            "id_number": make_id_number(birth, sex=sex, seq=1 if sex == "male" else 2),
            "phone": f"13{'8' if sex == 'male' else '9'}{n:08d}"}


def couple(n: int) -> list[dict[str, str]]:
    return [person(n, "male"), person(n, "female")]


class Cluster:
    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.owned = Owned(workdir)
        self.nodes: list[Proc] = []
        self.workers: list[Proc] = []
        self.base = ""
        self.access_log = workdir / "access.log"
        self.env: dict[str, str] = {}
        self.tls: ssl.SSLContext | None = None
        self.citizen_settings = Settings(jwt_secret=JWT_SECRET, jwt_issuer="huimin",
                                         jwt_audience="huimin-citizen", jwt_ttl_minutes=120,
                                         _env_file=None)

    # -- start-up --

    def start(self) -> None:
        redis_port = free_port()
        redis = self.owned.start("redis", [
            shutil.which("redis-server") or "redis-server", "--port", str(redis_port),
            "--bind", HOST, "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            os.environ.copy(), redis_port)
        wait_for("redis", lambda: port_open(redis_port), 20, [redis])
        self.env = node_env(self.database_url, f"redis://{HOST}:{redis_port}/0",
                            self.workdir / "data")
        # Both nodes and both workers start at once on the empty database: the
        # migrations run once (the others wait for the lock).
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            self.nodes.append(self.owned.start(
                f"node{i + 1}", [str(BIN / "huimin"), "serve", "--host", HOST, "--port",
                                 str(port)], self.env, port))
        for i in range(2):
            self.workers.append(self.owned.start(f"worker{i + 1}", [str(BIN / "huimin"),
                                                                     "worker"], self.env))
        cert, key = self_signed(self.workdir)
        # The clients check nginx's certificate (made here, for 127.0.0.1).
        self.tls = ssl.create_default_context(cafile=str(cert))
        http_port, https_port = free_port(), free_port()
        conf = render_nginx(self.workdir, ports, http_port, https_port, cert, key,
                            self.access_log)
        for node in self.nodes:
            wait_for(f"{node.name} /healthz", lambda n=node: httpx.get(
                f"http://{HOST}:{n.port}/healthz", timeout=1).status_code == 200,
                120, [*self.nodes, *self.workers])
        nginx = self.owned.start("nginx", [nginx_binary(), "-p", str(self.workdir),
                                           "-e", str(self.workdir / "error.log"),
                                           "-c", str(conf), "-g", "daemon off;"],
                                 os.environ.copy(), https_port)
        self.base = f"https://{HOST}:{https_port}"
        wait_for("nginx", lambda: httpx.get(f"{self.base}/healthz", verify=self.tls,
                                            timeout=2).status_code == 200, 20, [nginx])
        log(f"up: nodes on {ports}, nginx https://{HOST}:{https_port}, redis {redis_port}")

    # -- seeding, through nginx --

    def seed(self) -> dict[str, Any]:
        made = huimin_cli(["apikey", "create", "--role", "admin", "--name", "cluster-admin"],
                          self.env, self.workdir)
        if made.returncode != 0:
            raise RuntimeError(f"apikey create: {made.stdout}{made.stderr}")
        admin = {"X-API-Key": made.stdout.strip().splitlines()[-1]}
        seed_transport = httpx.HTTPTransport(local_address=CLIENT_SEED, verify=self.tls)
        with httpx.Client(base_url=self.base, transport=seed_transport, timeout=30) as c:
            org = expect(c.post("/v1/admin/organisations", headers=admin, json={
                "kind": "registration_office", "name": "集群测试婚姻登记处",
                "division_code": "110105", "address": "北京市朝阳区测试路 1 号",
                "phone": "010-65000000", "lat": 39.93, "lon": 116.45}), 201)
            office = org["id"]
            key = expect(c.post(f"/v1/admin/organisations/{office}/api-keys", headers=admin,
                                json={"role": "office", "name": "集群测试窗口"}), 201)
            staff = {"X-API-Key": key["key"]}
            expect(c.put(f"/v1/marriage/offices/{office}/weekly-schedule", headers=staff,
                         json={"sessions": [{"weekday": d, "start": "07:00", "end": "07:30",
                                             "capacity": 1} for d in range(1, 8)],
                               "booking_opens_days_ahead": 30, "min_notice_hours": 0,
                               "cancel_deadline_hours": 0}), 200)
            today = dt.datetime.now(CHINA_TZ).date()
            load_day, lottery_day = today + dt.timedelta(days=1), today + dt.timedelta(days=3)
            expect(c.post(f"/v1/marriage/offices/{office}/special-days", headers=staff, json={
                "date": load_day.isoformat(),
                "sessions": [{"start": s, "end": f"{int(s[:2]) + 1:02d}:00",
                              "capacity": SESSION_CAPACITY} for s in LOAD_SESSIONS]}), 201)
            expect(c.post(f"/v1/marriage/offices/{office}/special-days", headers=staff, json={
                "date": lottery_day.isoformat(),
                "sessions": [{"start": "09:00", "end": "10:00",
                              "capacity": LOTTERY_SEATS}]}), 201)
            now = dt.datetime.now(dt.UTC)
            close_at = now + dt.timedelta(seconds=LOTTERY_CLOSES_IN)
            lottery = expect(c.post(f"/v1/marriage/offices/{office}/lotteries", headers=staff,
                                    json={"date": lottery_day.isoformat(),
                                          "entries_open_at": (now - dt.timedelta(minutes=1))
                                          .isoformat(),
                                          "entries_close_at": close_at.isoformat()}), 201)
            for i in range(LOTTERY_COUPLES):
                n = 5_000 + i
                expect(c.post(f"/v1/marriage/lotteries/{lottery['id']}/entries",
                              headers={**self.citizen(f"cluster-lottery-{i}"),
                                       "Idempotency-Key": f"lottery-{uuid.uuid4().hex}"},
                              json={"kind": "marriage", "parties": couple(n),
                                    "session_preferences": ["09:00"]}), 201)
            slots = expect(c.get(f"/v1/marriage/offices/{office}/slots",
                                 params={"from": load_day.isoformat(),
                                         "to": load_day.isoformat()}), 200)["items"]
        load_slots = [s["slot_id"] for s in slots if s["start"] in LOAD_SESSIONS]
        if len(load_slots) != len(LOAD_SESSIONS) or not all(
                s["bookable"] and s["remaining"] == SESSION_CAPACITY
                for s in slots if s["slot_id"] in load_slots):
            raise RuntimeError(f"the load day's sessions are not as made: {slots}")
        if dt.datetime.now(dt.UTC) >= close_at:
            raise RuntimeError("the lottery closed before its entries were in: too slow")
        return {"office": office, "load_slots": load_slots, "lottery": lottery["id"],
                "load_day": load_day, "close_at": close_at}

    def citizen(self, subject: str) -> dict[str, str]:
        token = issue_citizen_token(self.citizen_settings, subject)
        return {"Authorization": f"Bearer {token}"}

    # -- rate limits --

    def rate_limits(self, figures: Figures) -> None:
        """15 anonymous requests from one client address (budget 10/minute), which
        nginx spreads over both nodes: exactly 10 pass. A second address writes a
        new X-Forwarded-For into every request: counted as itself, exactly 10."""
        for who, addr, spoof in (("one client", CLIENT_A, False),
                                 ("one client forging X-Forwarded-For", CLIENT_B, True)):
            counts: collections.Counter = collections.Counter()
            transport = httpx.HTTPTransport(local_address=addr, verify=self.tls)
            with httpx.Client(base_url=self.base, transport=transport, timeout=30) as c:
                for i in range(RATE_LIMIT_REQUESTS):
                    headers = {"X-Forwarded-For": f"198.51.100.{i + 1}"} if spoof else {}
                    counts[c.get("/v1/marriage/offices", headers=headers).status_code] += 1
            figures.rate_limit[f"{who} ({addr})"] = counts
        figures.rate_limit["_upstreams"] = collections.Counter(
            e["upstream"] for e in access_entries(self.access_log)
            if e["addr"] == CLIENT_A and "/v1/marriage/offices" in e["request"])

    # -- booking load --

    async def book(self, b: Booking, client: httpx.AsyncClient, figures: Figures) -> None:
        headers = {**self.citizen(b.subject), "Idempotency-Key": b.key}
        deadline = time.monotonic() + 60
        while True:
            b.attempts += 1
            figures.requests_sent += 1
            if b.attempts > 1:
                figures.retries += 1
            try:
                r = await client.post("/v1/marriage/appointments", json=b.body, headers=headers)
            except httpx.TransportError:
                b.transport_errors += 1
                figures.transport_errors += 1
                figures.statuses["connection error"] += 1
                status = None
            else:
                status = r.status_code
                figures.statuses[status] += 1
                code = (r.json().get("code") if status >= 400 and "json" in
                        r.headers.get("content-type", "") else None)
                if code:
                    b.codes.append(code)
                retry = (status in RETRY_STATUSES or status == 429
                         or (status == 409 and code == "idempotency_in_flight"))
                if not retry:
                    b.final = status
                    if status == 201:
                        data = r.json()
                        b.appointment_id = data["id"]
                        b.slot_id = data["slot"]["slot_id"]
                        b.replayed = r.headers.get("idempotent-replayed") == "true"
                    return
            if time.monotonic() > deadline:
                b.final = status
                return
            await asyncio.sleep(0.2 if status != 429 else 1.0)

    async def load(self, seeded: dict[str, Any], figures: Figures) -> list[Booking]:
        slots = seeded["load_slots"]
        bookings = [Booking(n, f"cluster-citizen-{n}", f"cluster-{uuid.uuid4().hex}",
                            {"slot_id": slots[n % len(slots)], "kind": "marriage",
                             "parties": couple(n)}) for n in range(COUPLES)]
        queue: asyncio.Queue[Booking] = asyncio.Queue()
        for b in bookings:
            queue.put_nowait(b)
        answered = 0
        killed = asyncio.Event()

        async def client_loop() -> None:
            nonlocal answered
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
            transport = httpx.AsyncHTTPTransport(local_address=CLIENT_LOAD, verify=self.tls,
                                                 limits=limits)
            async with httpx.AsyncClient(base_url=self.base, transport=transport,
                                         timeout=30) as client:
                while not queue.empty():
                    b = queue.get_nowait()
                    await self.book(b, client, figures)
                    answered += 1
                    if killed.is_set():
                        figures.answers_after_kill += 1
                    if answered >= KILL_AFTER_ANSWERS and not killed.is_set():
                        killed.set()
                        victim = self.nodes[0]
                        figures.killed_at_answers = answered
                        # Frozen first, so that requests nginx passes it meanwhile are
                        # certainly in its hands (some mid-transaction) when it dies.
                        os.killpg(victim.popen.pid, signal.SIGSTOP)
                        await asyncio.sleep(FREEZE_BEFORE_KILL)
                        Owned.kill9(victim)
                        figures.killed = f"{victim.name} (pid {victim.popen.pid}, port " \
                                         f"{victim.port})"
                        log(f"killed {figures.killed} after {answered} answers")

        await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)))
        return bookings

    # -- timed jobs --

    def wait_timed_jobs(self, seeded: dict[str, Any], booked: int, figures: Figures) -> None:
        url = self.database_url
        wait_for("the lottery drawn", lambda: sql(
            url, "SELECT status FROM marriage_lottery WHERE id = :id",
            {"id": seeded["lottery"]})[0][0] == "drawn", 60, self.workers)
        wait_for("the day-before reminders", lambda: sql(
            url, "SELECT count(*) FROM outbox_event WHERE type = "
                 "'marriage.appointment.reminder'")[0][0] >= booked, 60, self.workers)
        # A few more ticks of every timed job, with one node down, before counting.
        time.sleep(3)

    def job_lines(self) -> list[dict[str, Any]]:
        lines = []
        for proc in self.owned.procs:
            if not proc.name.startswith(("node", "worker")):
                continue
            for raw in proc.tail(10**9).splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(raw)
                    if isinstance(entry, dict):
                        entry["_proc"] = proc.name
                        lines.append(entry)
        return lines


def expect(r: httpx.Response, status: int) -> Any:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} "
                           f"(expected {status}): {r.text[:800]}")
    return r.json()


# --- the checks ----------------------------------------------------------------------------


def check(cluster: Cluster, seeded: dict[str, Any], bookings: list[Booking],
          figures: Figures) -> list[str]:
    """Every rule the run must keep; returns the failures (empty: all held)."""
    url = cluster.database_url
    failures: list[str] = []

    # Rate limits: counted once across both nodes, per real client address.
    for who, counts in figures.rate_limit.items():
        if who.startswith("_"):
            continue
        if counts != collections.Counter({200: ANONYMOUS_BUDGET,
                                          429: RATE_LIMIT_REQUESTS - ANONYMOUS_BUDGET}):
            failures.append(f"rate limit, {who}: {dict(counts)}, expected exactly "
                            f"{ANONYMOUS_BUDGET} of {RATE_LIMIT_REQUESTS} allowed")
    served_by = {u for u in figures.rate_limit.get("_upstreams", {}) if u and u != "-"}
    if len(served_by) < 2:
        failures.append(f"the rate-limit requests did not reach both nodes: {served_by}")

    # Every booking has a final answer: 201, or 409 slot_full.
    unfinished = [b for b in bookings if b.final not in (201, 409)]
    if unfinished:
        failures.append(f"{len(unfinished)} bookings without a final 201/409, e.g. "
                        f"{[(b.n, b.final, b.codes[-3:]) for b in unfinished[:5]]}")
    wrong_409 = [b for b in bookings if b.final == 409 and b.codes[-1:] != ["slot_full"]]
    if wrong_409:
        failures.append(f"409 other than slot_full: {[b.codes for b in wrong_409[:5]]}")
    acked = [b for b in bookings if b.final == 201]
    figures.acknowledged = len(acked)
    figures.refused_full = sum(1 for b in bookings if b.final == 409)
    figures.replayed_201 = sum(1 for b in acked if b.replayed)

    # Every acknowledged write is in the database, with the same id and session.
    rows = sql(url, "SELECT id, slot_id, status, owner_subject FROM marriage_appointment "
                    "WHERE slot_id = ANY(:slots)", {"slots": seeded["load_slots"]})
    by_id = {r[0]: r for r in rows}
    lost = [b for b in acked if b.appointment_id not in by_id]
    moved = [b for b in acked if b.appointment_id in by_id
             and (by_id[b.appointment_id][1] != b.slot_id
                  or by_id[b.appointment_id][2] != "booked")]
    figures.writes_checked = len(acked) - len(lost) - len(moved)
    if lost:
        failures.append(f"{len(lost)} acknowledged bookings missing from the database: "
                        f"{[b.appointment_id for b in lost[:5]]}")
    if moved:
        failures.append(f"{len(moved)} acknowledged bookings changed: "
                        f"{[by_id[b.appointment_id] for b in moved[:5]]}")
    # Counted exactly: one row per acknowledged key, none for a refused one, no
    # duplicate for a key asked again.
    if len(rows) != len(acked):
        failures.append(f"{len(rows)} appointments in the load's sessions, "
                        f"{len(acked)} acknowledged")
    if len({b.appointment_id for b in acked}) != len(acked):
        failures.append("two keys were answered with one appointment id")
    per_owner = collections.Counter(r[3] for r in rows)
    doubled = {s: c for s, c in per_owner.items() if c > 1}
    if doubled:
        failures.append(f"one citizen's key booked twice: {doubled}")
    refused_subjects = {b.subject for b in bookings if b.final != 201}
    if refused_subjects & set(per_owner):
        failures.append("a booking answered 409 (or never answered) is in the database: "
                        f"{sorted(refused_subjects & set(per_owner))[:5]}")

    # Capacity: exact per session, and the counters agree with the rows.
    counters = dict(sql(url, "SELECT id, booked FROM capacity_slot WHERE id = ANY(:slots)",
                        {"slots": seeded["load_slots"]}))
    per_slot = collections.Counter(r[1] for r in rows if r[2] == "booked")
    for slot in seeded["load_slots"]:
        if per_slot[slot] > SESSION_CAPACITY:
            failures.append(f"{slot} over capacity: {per_slot[slot]} > {SESSION_CAPACITY}")
        if counters.get(slot, 0) != per_slot[slot]:
            failures.append(f"{slot}: counter {counters.get(slot)} != rows {per_slot[slot]}")
    if COUPLES >= SESSION_CAPACITY * len(LOAD_SESSIONS) * 1.2 and any(
            per_slot[s] != SESSION_CAPACITY for s in seeded["load_slots"]):
        failures.append(f"sessions not filled exactly though demand exceeded them: "
                        f"{dict(per_slot)}")
    holds = sql(url, "SELECT count(*) FROM marriage_party_hold")[0][0]
    all_booked = sql(url, "SELECT count(*) FROM marriage_appointment "
                          "WHERE status = 'booked'")[0][0]
    if holds != 2 * all_booked:
        failures.append(f"{holds} party holds for {all_booked} booked couples")

    # The kill really happened mid-load, and the rest was served by the other node.
    if not figures.killed or figures.answers_after_kill == 0:
        failures.append("no node was killed while bookings were still coming")
    if cluster.nodes[0].alive():
        failures.append("the killed node is still running")
    victim = f"{HOST}:{cluster.nodes[0].port}"
    cut = [e for e in access_entries(cluster.access_log)
           if "POST /v1/marriage/appointments" in e["request"] and e["status"] == "502"
           and e["upstream"].split(", ")[-1] == victim]
    figures.cut_off = len(cut)
    if not cut or not figures.retries:
        failures.append(f"no booking was in the killed node's hands when it died "
                        f"({len(cut)} 502s from it, {figures.retries} retries)")

    # Timed jobs: the lottery drawn once, one reminder per appointment.
    lottery = sql(url, "SELECT status FROM marriage_lottery WHERE id = :id",
                  {"id": seeded["lottery"]})[0][0]
    entries = collections.Counter(r[0] for r in sql(
        url, "SELECT status FROM marriage_lottery_entry WHERE lottery_id = :id",
        {"id": seeded["lottery"]}))
    drawn_events = sql(url, "SELECT count(*) FROM outbox_event WHERE type = "
                            "'marriage.lottery.drawn' AND object_id = :id",
                       {"id": seeded["lottery"]})[0][0]
    lines = cluster.job_lines()
    drawn_logs = [e for e in lines if e.get("event") == "lottery_drawn"]
    figures.lottery = {"status": lottery, "entries": dict(entries),
                       "drawn events": drawn_events, "draws logged": len(drawn_logs),
                       "drawn by": sorted({e["_proc"] for e in drawn_logs})}
    if lottery != "drawn" or drawn_events != 1 or len(drawn_logs) != 1:
        failures.append(f"the lottery was not drawn exactly once: {figures.lottery}")
    if entries != collections.Counter({"won": LOTTERY_SEATS,
                                       "not_drawn": LOTTERY_COUPLES - LOTTERY_SEATS}):
        failures.append(f"lottery outcomes: {dict(entries)}")
    reminders = sql(url, "SELECT object_id, count(*) FROM outbox_event WHERE type = "
                         "'marriage.appointment.reminder' GROUP BY object_id")
    figures.reminders = sum(c for _, c in reminders)
    due = {r[0] for r in sql(url, "SELECT id FROM marriage_appointment WHERE status = "
                                  "'booked' AND session_date = :d",
                             {"d": seeded["load_day"]})}
    if any(c != 1 for _, c in reminders) or {r[0] for r in reminders} != due:
        failures.append(f"reminders: {figures.reminders} for {len(due)} due appointments")

    figures.job_runs = collections.Counter(
        (e.get("job"), e.get("node")) for e in lines if e.get("event") == "timed_job")
    ran = {e.get("job") for e in lines if e.get("event") == "timed_job"}
    for job in TIMED_JOBS:
        if job not in ran:
            failures.append(f"no `timed_job` line for {job}: which node ran it?")
    failures += timed_job_overlaps(lines)

    # Behind the proxy, audit rows and log lines name the client, never nginx.
    audited = dict(sql(url, "SELECT object_id, client_addr FROM audit_event WHERE action = "
                            "'marriage_appointment.create' AND object_id = ANY(:ids)",
                       {"ids": [b.appointment_id for b in acked]}))
    wrong = {i: a for i, a in audited.items() if a != CLIENT_LOAD}
    if len(audited) != len(acked) or wrong:
        failures.append(f"audit rows of the bookings: {len(audited)} for {len(acked)}, "
                        f"addresses other than {CLIENT_LOAD}: {sorted(set(wrong.values()))}")
    clients = {CLIENT_A, CLIENT_B, CLIENT_LOAD, CLIENT_SEED}
    # (Leaving out the test's own readiness probes, sent to each node directly.)
    logged = collections.Counter(e["client_addr"] for e in lines if e.get("client_addr")
                                 and e.get("route") != "/healthz")
    figures.logged_addresses = dict(logged)
    if not logged or set(logged) - clients:
        failures.append(f"log lines' client addresses: {dict(logged)}, expected only "
                        f"{sorted(clients)}")

    # No identity number in any process's log.
    numbers = {p["id_number"] for b in bookings for p in b.body["parties"]}
    logs = "".join(p.tail(10**9) for p in cluster.owned.procs)
    leaked = [n for n in numbers if n in logs]
    if leaked:
        failures.append(f"{len(leaked)} identity numbers in the processes' logs")

    # The audit chain survived the kill.
    verify = huimin_cli(["audit", "verify"], cluster.env, cluster.workdir)
    if verify.returncode != 0:
        failures.append(f"huimin audit verify exited {verify.returncode}: "
                        f"{(verify.stdout + verify.stderr)[-800:]}")
    return failures


def timed_job_overlaps(lines: list[dict[str, Any]]) -> list[str]:
    """Each timed job on one node at a time. A run starts at its `timed_job` line
    (`job`, `node`); it ends at a `timed_job_done` line of the same job and node when
    the nodes log one (else at its `duration_ms`, when given). Two runs of one job by
    two nodes must never overlap; without ends logged, no two nodes may start one job
    at the same instant (the millisecond)."""
    failures = []
    starts = [e for e in lines if e.get("event") == "timed_job"]
    ends = [e for e in lines if e.get("event") == "timed_job_done"]
    by_job: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for e in starts:
        by_job[str(e.get("job"))].append(e)
    for job, runs in by_job.items():
        spans = []
        for e in runs:
            begin = dt.datetime.fromisoformat(str(e["timestamp"]))
            done = [dt.datetime.fromisoformat(str(x["timestamp"])) for x in ends
                    if x.get("job") == e.get("job") and x.get("node") == e.get("node")
                    and dt.datetime.fromisoformat(str(x["timestamp"])) >= begin]
            if done:
                finish = min(done)
            elif e.get("duration_ms") is not None:
                finish = begin + dt.timedelta(milliseconds=float(e["duration_ms"]))
            else:
                finish = begin + dt.timedelta(microseconds=999)
            spans.append((begin, finish, e.get("node")))
        spans.sort()
        for (b1, f1, n1), (b2, _f2, n2) in zip(spans, spans[1:], strict=False):
            if n1 != n2 and b2 < f1:
                failures.append(f"timed job {job} ran on {n1} and {n2} at once "
                                f"({b1.isoformat()} .. {f1.isoformat()}, {b2.isoformat()})")
                break
    return failures


def run(server_url: str, workdir: Path | None = None) -> tuple[Figures, list[str]]:
    """The whole run; returns the figures and the failures. Raises only when the
    cluster could not be brought up."""
    started = time.monotonic()
    figures = Figures()
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="huimin-cluster-")) if own_dir else workdir
    try:
        with scratch_database(server_url) as database_url:
            cluster = Cluster(workdir, database_url)
            try:
                cluster.start()
                seeded = cluster.seed()
                cluster.rate_limits(figures)
                bookings = asyncio.run(cluster.load(seeded, figures))
                booked = sum(1 for b in bookings if b.final == 201)
                cluster.wait_timed_jobs(seeded, booked, figures)
                figures.node_requests = collections.Counter(
                    e["upstream"] for e in access_entries(cluster.access_log))
                failures = check(cluster, seeded, bookings, figures)
            finally:
                cluster.owned.close()
    finally:
        figures.seconds = time.monotonic() - started
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return figures, failures
