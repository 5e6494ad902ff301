"""What every benchmark here shares: one lock so two benchmarks never measure at
once, how busy the CPUs are with other work, the PostgreSQL server of a run (the
embedded one of core/embedded.py, or the machine's), the servers and databases a
run owns (and undoes), plain HTTP, wrk runs with the server's CPU per request, and
the peer reference app (../shared/bench/reference_app.py) started beside huimin."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stdnum.cn import ric

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

LOCK_PATH = "/tmp/huimin-bench.lock"  # noqa: S108 - shared by every bench/ script


@contextlib.contextmanager
def bench_lock(log: Callable[[str], object], max_wait: float = 600) -> Iterator[None]:
    """Hold the benchmarks' shared lock, waiting at most `max_wait` seconds."""
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start > max_wait:
                    raise RuntimeError(f"{LOCK_PATH} held by another benchmark for "
                                       f"{max_wait:.0f} s") from None
                time.sleep(0.5)
        waited = time.monotonic() - start
        if waited > 1:
            log(f"waited {waited:.0f} s for {LOCK_PATH}")
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share (0-1) of all CPUs busy over `seconds`, measured while we run nothing;
    NaN where /proc/stat cannot be read."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return idle, sum(vals)

    try:
        i0, t0 = sample()
        time.sleep(seconds)
        i1, t1 = sample()
    except OSError:
        return float("nan")
    return 1 - (i1 - i0) / max(1, t1 - t0)


VENV_BIN = ROOT / ".venv" / "bin"


def cli_last_line(argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run `huimin ARGV` and return the last line it printed (the key or token)."""
    proc = subprocess.run([str(VENV_BIN / "huimin"), *argv], env=env,
                          cwd=VENV_BIN.parent.parent, capture_output=True, text=True,
                          timeout=timeout, check=False)
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"huimin {' '.join(argv)} failed ({proc.returncode}): "
                           f"{proc.stdout[-500:]} {proc.stderr[-1500:]}")
    return lines[-1].strip()


def _reference_app() -> Path:
    """../shared/bench/reference_app.py beside the checkout; from a git worktree
    elsewhere (e.g. /work/wt/NAME), beside the main checkout that owns it."""
    candidates = [ROOT / ".." / "shared" / "bench" / "reference_app.py"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute",
                                 "--git-common-dir"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        candidates.append(Path(common).parent / ".." / "shared" / "bench" / "reference_app.py")
    return next((c.resolve() for c in candidates if c.exists()), candidates[0].resolve())


REFERENCE_APP = _reference_app()


HOST = "127.0.0.1"


def pg_url(server: str, dbname: str, driver: str = "") -> str:
    """The URL of database `dbname` on `server` (`--pg`): `postgresql://user@host:port`,
    or `postgresql://user@/?host=/var/run/postgresql` for the server's Unix socket
    (the query string is kept); `driver` as in `postgresql+asyncpg`."""
    head, _, query = server.partition("?")
    scheme, rest = head.rstrip("/").split("://", 1)
    return (f"{scheme}{'+' + driver if driver else ''}://{rest}/{dbname}"
            f"{'?' + query if query else ''}")


# --- the PostgreSQL server of a run (--db embedded|machine|both, --pg) --------------------
#
# PostgreSQL is huimin's only engine. A run uses one server at a time, huimin and the
# peer alike, each on a fresh database of its own created for the run and dropped
# after it: `embedded` is the PostgreSQL 18 of core/embedded.py (the one every
# `huimin` command starts when DATABASE_URL is unset), started here in a data
# directory of the benchmarks' own (EMBEDDED_ROOT) and stopped at the end of the run,
# also on Ctrl-C or SIGTERM; `machine` is the server named by `--pg`.

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
SERVER_KINDS = ("embedded", "machine")
EMBEDDED_ROOT = ROOT / "var" / "bench" / "embedded"


def add_server_options(p: argparse.ArgumentParser, *, default: str = "both",
                       both: bool = True) -> None:
    """`--db embedded|machine|both` and `--pg` on a script's parser."""
    choices = [*SERVER_KINDS, "both"] if both else list(SERVER_KINDS)
    p.add_argument("--db", choices=choices, default=default,
                   help="the PostgreSQL server: 'embedded' (core/embedded.py's PostgreSQL "
                        f"18, started in {EMBEDDED_ROOT.relative_to(ROOT)}/pg for the run "
                        "and stopped after it), 'machine' (--pg)"
                        + (", or both one after the other" if both else "")
                        + f" (default {default})")
    p.add_argument("--pg", default=DEFAULT_PG,
                   help=f"the machine's server for --db machine (default {DEFAULT_PG}); its "
                        "Unix socket: postgresql://postgres@/?host=/var/run/postgresql. "
                        "Fresh databases are created on it and dropped")


def server_kinds(db: str) -> list[str]:
    return list(SERVER_KINDS) if db == "both" else [db]


@dataclass
class PgServer:
    """Where a run's databases live: `server` is a URL without a database,
    `postgresql://user@host:port`, or `postgresql://user@/?host=<socket dir>&port=N`
    for a Unix socket (the embedded server listens on one only)."""

    kind: str  # "embedded" or "machine"
    server: str
    about: str = ""  # version and settings, read when opened

    def url(self, dbname: str, driver: str = "") -> str:
        """psycopg and libpq (no driver), SQLAlchemy (`asyncpg`, `psycopg`)."""
        return pg_url(self.server, dbname, driver)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def describe(self) -> str:
        return f"{self.kind}: {self.about or self.server}"


SHOWN_SETTINGS = ("fsync", "synchronous_commit", "shared_buffers", "max_connections")


def _about(server: PgServer) -> str:
    import psycopg

    with psycopg.connect(server.admin_url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        shown = [f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"
                 for name in SHOWN_SETTINGS]
    where = server.server.split("://", 1)[1]
    return f"PostgreSQL {version.split()[0]} at {where} ({', '.join(shown)})"


@contextlib.contextmanager
def pg_server(kind: str, pg: str = DEFAULT_PG) -> Iterator[PgServer]:
    """The server of `kind` for the duration of the block: the machine's (`pg`), or
    the embedded one, leased (started if it is not running) and released at the
    end, which stops it unless another process still uses it or `huimin db start`
    pinned it (then it is left running, and said so)."""
    if kind == "machine":
        server = PgServer("machine", pg.rstrip("/"))
        server.about = _about(server)
        yield server
        return
    if kind != "embedded":
        raise ValueError(f"unknown PostgreSQL server kind {kind!r}")
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from core.embedded import PORT, SUPERUSER, EmbeddedPostgres

    embedded = EmbeddedPostgres(EMBEDDED_ROOT)
    log(f"embedded PostgreSQL: starting (or joining) it in {embedded.data_dir} "
        f"(its log: {embedded.log_path})")
    try:
        with embedded.lease():
            host = urllib.parse.quote(str(embedded.socket_dir), safe="/")
            server = PgServer("embedded",
                              f"postgresql://{SUPERUSER}@/?host={host}&port={PORT}")
            server.about = _about(server)
            yield server
    finally:
        if not embedded.is_running():
            log("embedded PostgreSQL: stopped")
        else:
            log(f"embedded PostgreSQL in {embedded.data_dir} left running: "
                + ("pinned by `huimin db start`" if embedded.is_pinned()
                   else "another process still holds a lease on it"))


STOP_TIMEOUT = 10.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- CPU placement (--pin) ---------------------------------------------------------------
#
# With one server process and PostgreSQL left to the kernel on two cores, the CPUs
# were 18-23% idle during huimin's booking load, with few backends active: the
# kernel seems to run backends on the server's core while the other idles. `--pin`
# places the server (huimin's or the peer's alike) on the first CPU and PostgreSQL
# and wrk on the rest, as a database on its own host would be. Off by default; the
# report says which was used.


@dataclass
class Placement:
    server: list[int] = field(default_factory=list)  # empty: the kernel's choice
    rest: list[int] = field(default_factory=list)  # PostgreSQL and wrk

    def prefix(self, cpus: list[int]) -> list[str]:
        """A `taskset` prefix for an argv that runs on `cpus` (none: nothing)."""
        return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []


PIN = Placement()


def pin_plan(enabled: bool) -> str:
    """Set the placement for this run; a line for the report."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        PIN.server, PIN.rest = [], []
        return "CPU placement: the kernel's (not pinned)"
    PIN.server, PIN.rest = cpus[:1], cpus[1:]
    return (f"CPU placement (--pin): server processes on CPU {PIN.server[0]}; PostgreSQL "
            f"and wrk on CPU {','.join(map(str, PIN.rest))}")


def _pids() -> Iterator[str]:
    """Every live process id, as /proc names it."""
    return (entry.name for entry in os.scandir("/proc") if entry.name.isdigit())


def _postgres_pids() -> list[int]:
    pids = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                if f.read().strip() == b"postgres":
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


@contextlib.contextmanager
def postgres_pinned() -> Iterator[None]:
    """Under `--pin`, every PostgreSQL process (the postmaster too, so that the
    backends it forks meanwhile inherit it) on the plan's other CPUs; all CPUs after."""
    if not PIN.rest:
        yield
        return
    everything = os.sched_getaffinity(0)
    for pid in _postgres_pids():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, PIN.rest)
    try:
        yield
    finally:
        for pid in _postgres_pids():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, everything)


# --- processes and databases we own -----------------------------------------------


class Owned:
    """Every server this run starts and every database it creates, to undo."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.pg_dbs: list[tuple[str, str]] = []  # (the server's admin URL, database)

    def start(self, argv: list[str], *, env: dict[str, str], log_path: Path,
              cwd: Path = ROOT) -> subprocess.Popen:
        out = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([*PIN.prefix(PIN.server), *argv], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        proc._bench_log = out  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM to the server's own process group, SIGKILL after STOP_TIMEOUT."""
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Workers left behind in the group (uvicorn's children) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc._bench_log.close()  # type: ignore[attr-defined]
        if proc in self.procs:
            self.procs.remove(proc)

    def create_db(self, server: PgServer, name: str) -> None:
        """A fresh database `name` on `server` (one left by a killed run is dropped)."""
        import psycopg

        with psycopg.connect(server.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg_dbs.append((server.admin_url, name))

    def drop_db(self, server: PgServer | str, name: str) -> None:
        import psycopg

        admin = server.admin_url if isinstance(server, PgServer) else server
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SET statement_timeout = '30s'")
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning up
            log(f"could not drop database {name}: {exc}")
        if (admin, name) in self.pg_dbs:
            self.pg_dbs.remove((admin, name))

    def cleanup(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        for admin, name in list(self.pg_dbs):
            self.drop_db(admin, name)


def raise_interrupt(signum, _frame):  # noqa: ANN001, ANN202
    raise KeyboardInterrupt(f"signal {signum}")


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (bounded) until other processes leave the CPUs mostly idle; the last
    reading is reported beside the figures, since others' load skews them."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        log(f"CPUs {busy:.0%} busy with other work; waiting for <= {threshold:.0%}")
        time.sleep(4)
        busy = cpu_busy()
    return busy


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- HTTP ------------------------------------------------------------------------


def http(method: str, url: str, body: object | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}),
        **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status, resp_headers = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, resp_headers = exc.read(), exc.code, dict(exc.headers)
    try:
        parsed: object = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, resp_headers, parsed


def expect(status: int, body: object, want: int, what: str) -> None:
    if status != want:
        raise RuntimeError(f"{what}: HTTP {status} (wanted {want}): {body}")


def wait_ready(base: str, path: str, proc: subprocess.Popen, log_path: Path,
               timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}) before it was ready; "
                               f"see {log_path}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(base + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{base}{path} not ready after {timeout:.0f}s; see {log_path}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""



def id_number(birth: dt.date, order: int, region: str = "110105") -> str:
    """A valid resident identity number; `order` odd = man, even = woman."""
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last char



@dataclass
class Result:
    name: str
    requests: int = 0
    duration_us: int = 1
    p50_us: int = 0
    p99_us: int = 0
    max_us: int = 0
    err_connect: int = 0
    err_read: int = 0
    err_write: int = 0
    err_status: int = 0
    err_timeout: int = 0
    exhausted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    failed: str | None = None  # wrk itself failed
    cpu_s: float | None = None  # CPU seconds the server's processes used during the run
    db_cpu_s: float | None = None  # ... and the PostgreSQL backends of its database
    load_cpu_s: float | None = None  # ... and wrk itself (the load tool shares the cores)

    @property
    def db_cpu_ms_per_request(self) -> float | None:
        if self.db_cpu_s is None or not self.requests:
            return None
        return 1000 * self.db_cpu_s / self.requests

    @property
    def load_cpu_ms_per_request(self) -> float | None:
        if self.load_cpu_s is None or not self.requests:
            return None
        return 1000 * self.load_cpu_s / self.requests

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.cpu_s is None or not self.requests:
            return None
        return 1000 * self.cpu_s / self.requests

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def non2xx(self) -> int:
        if self.statuses:
            return sum(n for code, n in self.statuses.items() if not code.startswith("2"))
        return self.err_status

    @property
    def ok(self) -> int:
        if self.statuses:
            return sum(n for code, n in self.statuses.items() if code.startswith("2"))
        return self.requests - self.err_status

    @property
    def socket_errors(self) -> int:
        return self.err_connect + self.err_read + self.err_write + self.err_timeout

    @property
    def has_errors(self) -> bool:
        return bool(self.failed or self.non2xx or self.socket_errors or self.exhausted)


def _cpu_ticks(pid: str) -> tuple[int, int] | None:
    """(process group, user + system clock ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name: state ppid pgrp ... utime(14) stime(15)
    fields = stat[stat.rindex(b")") + 2:].split()
    return int(fields[2]), int(fields[11]) + int(fields[12])


def group_cpu(pgid: int) -> dict[str, int]:
    """CPU clock ticks per live process of process group `pgid` (the server and its
    workers: each server is started in a session of its own)."""
    out = {}
    for pid in _pids():
        got = _cpu_ticks(pid)
        if got is not None and got[0] == pgid:
            out[pid] = got[1]
    return out


def pg_backends_cpu(dbname: str) -> dict[str, int]:
    """CPU clock ticks per live PostgreSQL backend serving `dbname` (their command
    line reads `postgres: USER DBNAME HOST(PORT) STATE`)."""
    out = {}
    needle = f" {dbname} ".encode()
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if cmdline.startswith(b"postgres: ") and needle in cmdline:
            got = _cpu_ticks(pid)
            if got is not None:
                out[pid] = got[1]
    return out


def cpu_seconds_between(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds used between two snapshots by the processes alive at the second
    (one that exited meanwhile is missed: a lower bound where processes come and go,
    as the peer's overflow connections' backends do)."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return max(ticks, 0) / os.sysconf("SC_CLK_TCK")


def run_wrk(name: str, url: str, script: str, args: list[str], opts: argparse.Namespace,
            duration: int, out_dir: Path, cpu_of: int | None = None,
            pg_db: str | None = None) -> Result:
    """wrk against `url`; with `cpu_of` (a server's process group), also the CPU the
    server used meanwhile, for `Result.cpu_ms_per_request`; with `pg_db`, also the
    CPU of the PostgreSQL backends of that database (`Result.db_cpu_ms_per_request`)."""
    argv = [*PIN.prefix(PIN.rest), "wrk", f"-t{opts.threads}", f"-c{opts.connections}",
            f"-d{duration}s", "--latency", "--timeout", f"{opts.wrk_timeout}s",
            "-s", str(BENCH / script), url]
    if args:
        argv += ["--", *args]
    slug = name.replace(" ", "_").replace("/", "_")
    cpu0 = group_cpu(cpu_of) if cpu_of is not None else None
    db0 = pg_backends_cpu(pg_db) if pg_db else None
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                              check=False)
    except subprocess.TimeoutExpired:
        return Result(name, failed="wrk did not finish in time")
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # wrk is the only child reaped meanwhile (servers are reaped when stopped).
    load_cpu_s = (children1.ru_utime + children1.ru_stime
                  - children0.ru_utime - children0.ru_stime)
    cpu_s = (cpu_seconds_between(cpu0, group_cpu(cpu_of))
             if cpu_of is not None and cpu0 is not None else None)
    db_cpu_s = (cpu_seconds_between(db0, pg_backends_cpu(pg_db))
                if pg_db and db0 is not None else None)
    (out_dir / f"wrk-{slug}.txt").write_text(proc.stdout + proc.stderr)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return Result(name, failed=f"wrk exit {proc.returncode}: {proc.stderr.strip()[:300]}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    known = {k: v for k, v in data.items() if k in Result.__dataclass_fields__}
    return Result(name, **known, cpu_s=cpu_s, db_cpu_s=db_cpu_s, load_cpu_s=load_cpu_s)


def huimin_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("HUIMIN_")]:
        del env[k]
    env.update({"DATABASE_URL": database_url, "HUIMIN_RATE_LIMIT_ENABLED": "false",
                "HUIMIN_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.pop("REDIS_URL", None)
    return env


# --- the peer ---------------------------------------------------------------------------


def start_reference(owned: Owned, ref_url: str, workers: int, out_dir: Path,
                    tag: str) -> tuple[subprocess.Popen, str]:
    """The reference app on `ref_url` (SQLAlchemy URL of a fresh PostgreSQL database,
    `postgresql+psycopg://...`, `PgServer.url(name, "psycopg")`): its 1,000 slots
    created, `uvicorn reference_app:app --workers N` started and ready.
    Returns the process (stop it with `owned.stop`) and its base URL."""
    ref_dir = out_dir / "reference_app"
    ref_dir.mkdir(exist_ok=True)
    shutil.copy(REFERENCE_APP, ref_dir / "reference_app.py")
    ref_env = {**os.environ, "DB": ref_url}
    init = subprocess.run([str(VENV_BIN / "python"), "reference_app.py"], env=ref_env,
                          cwd=ref_dir, capture_output=True, text=True, timeout=300, check=False)
    if init.returncode != 0:
        raise RuntimeError(f"reference_app init failed: {init.stderr[-1500:]}")
    port = free_port()
    rbase = f"http://{HOST}:{port}"
    ref_log = out_dir / f"reference-{tag}.log"
    log(f"{tag}: starting reference app ({workers} worker(s)) on {rbase}, {ref_url}")
    rproc = owned.start([str(VENV_BIN / "uvicorn"), "reference_app:app", "--app-dir",
                         str(ref_dir), "--host", HOST, "--port", str(port), "--workers",
                         str(workers), "--no-access-log", "--log-level", "warning"],
                        env=ref_env, log_path=ref_log, cwd=ref_dir)
    try:
        wait_ready(rbase, "/hello", rproc, ref_log)
    except BaseException:
        owned.stop(rproc)
        raise
    return rproc, rbase
