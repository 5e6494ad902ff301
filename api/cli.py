"""The `huimin` command line."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import httpx
import typer
import uvicorn
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives import serialization
from prometheus_client import start_http_server

from api.db_cli import db_app
from api.serving import OneWriteProtocol
from core import backup as backups
from core import embedded
from core.db import Database
from core.logging import configure_logging
from core.security import TokenLifetimeTooLong, issue_citizen_token
from core.settings import get_settings
from schemas.organisation import ApiKeyCreate, Role
from services import audit, maintenance, organisations
from services.demo import load_demo
from services.marriage import lottery, lottery_order
from services.notifications.worker import Worker

app = typer.Typer(help="huimin 惠民: civil-affairs booking and claims API", no_args_is_help=True)
apikey_app = typer.Typer(help="Staff API keys", no_args_is_help=True)
token_app = typer.Typer(help="Citizen tokens (development and tests)", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
lottery_app = typer.Typer(help="Marriage lotteries", no_args_is_help=True)
app.add_typer(lottery_app, name="lottery")

app.add_typer(db_app, name="db")

ROOT = Path(__file__).resolve().parent.parent

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def database(url: str | None = None) -> Iterator[None]:
    """The database for one command: the one DATABASE_URL (or `url`) names, else the
    embedded PostgreSQL (`core.embedded`), started if it is not running, shared with
    the other huimin processes, and stopped when the last of them exits (unless
    `huimin db start` started it). Its URL is put in the environment, so that the
    command's own child processes (uvicorn's workers) use it too."""
    settings = get_settings()
    if url or settings.database_url:
        yield
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # Terminated: leave through the `with` below, so the lease is given back.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with embedded.EmbeddedPostgres(settings.data_dir).lease() as server:
        os.environ["DATABASE_URL"] = server.url()
        get_settings.cache_clear()
        try:
            yield
        finally:
            os.environ.pop("DATABASE_URL", None)
            get_settings.cache_clear()


def uses_database(command_fn: Callable[P, R]) -> Callable[P, R]:
    """A command that needs the database runs inside `database()`."""
    @functools.wraps(command_fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        url = kwargs.get("database_url")  # `audit verify --database-url`
        with database(url if isinstance(url, str) else None):
            return command_fn(*args, **kwargs)
    return run


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["configure_logger"] = False  # keep huimin's JSON logging
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def run_migrations(database_url: str | None = None) -> None:
    settings = get_settings()
    url = database_url or settings.migration_database_url or settings.database_url
    command.upgrade(alembic_config(url), "head")


@app.command()
@uses_database
def migrate() -> None:
    """Bring the database to the latest migration."""
    run_migrations()
    typer.echo("database is at the latest migration")


@app.command()
@uses_database
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Migrate the database, then serve the API."""
    settings = get_settings()
    if settings.env == "production" and workers > 1 and not settings.redis_url:
        # Each process would count rate limits alone: N workers, N budgets.
        typer.echo(f"huimin serve --workers {workers} in production needs REDIS_URL: "
                   "without it each worker process counts rate limits alone, so every "
                   "caller gets the budget once per worker. Set REDIS_URL "
                   "(docs/running.md, Several nodes) or run one worker.", err=True)
        raise typer.Exit(2)
    run_migrations()
    metrics_dir = _multiprocess_metrics(workers)
    typer.echo(f"huimin serving on http://{host}:{port} (docs at /docs), env={settings.env}")
    try:
        uvicorn.run("api.app:asgi", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_config=None, proxy_headers=False,
                    http=OneWriteProtocol)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics(workers: int) -> str | None:
    """With several workers, /metrics must sum them all: prometheus_client's
    multiprocess mode, in a fresh directory made here (and removed at exit) and named
    by PROMETHEUS_MULTIPROC_DIR before any worker imports prometheus_client. A
    directory the operator named instead is emptied of old values and kept.
    Returns the directory to remove at exit, if this made it."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        Path(configured).mkdir(parents=True, exist_ok=True)
        for stale in Path(configured).glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    made = tempfile.mkdtemp(prefix="huimin-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


@app.command()
@uses_database
def demo(
    base_url: Annotated[str, typer.Option(help="Where the API will be served, for the "
                                               "example printed")] = "http://127.0.0.1:8000",
) -> None:
    """Load demo organisations, keys and data, and print how to call the API.

    Safe to run again: it finds its own organisations and prints new keys."""
    run_migrations()
    asyncio.run(load_demo(get_settings(), typer.echo, base_url.rstrip("/")))


@app.command()
@uses_database
def sweep() -> None:
    """Run the periodic tidy-up once (for cron when the in-process loop is off)."""
    settings = get_settings()

    async def _run() -> dict[str, int]:
        db = Database.from_settings(settings)
        try:
            return await maintenance.run_once(db, settings)
        finally:
            await db.dispose()

    run_migrations()
    for name, count in asyncio.run(_run()).items():
        typer.echo(f"{name}: {count}")


@app.command()
@uses_database
def worker(
    once: Annotated[bool, typer.Option(help="One pass, then exit")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve the worker's Prometheus metrics on 127.0.0.1:PORT")] = None,
) -> None:
    """Deliver the outbox: signed webhooks, retries, scheduled reminders.

    Several workers may run at once, on any number of machines."""
    settings = get_settings()
    configure_logging(settings.log_level)
    run_migrations()

    async def _run() -> None:
        db = Database.from_settings(settings)
        try:
            async with Worker(db, settings) as w:
                if metrics_port is not None:
                    start_http_server(metrics_port, addr="127.0.0.1", registry=w.metrics.registry)
                if once:
                    await w.run_once()
                    return
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, w.stop)
                await w.run()
        finally:
            await db.dispose()

    asyncio.run(_run())


def _owner_url() -> str:
    """The database in use, as its owner: HUIMIN_MIGRATION_DATABASE_URL when set (the
    role that migrates), else DATABASE_URL (the embedded server's, under `database()`)."""
    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    assert url is not None  # `uses_database` set it
    return url


@app.command()
@uses_database
def backup(
    file: Annotated[Path, typer.Argument(help="The dump file to write (replaced once complete)")],
) -> None:
    """Dump the whole database with pg_dump (custom format) into FILE.

    Identity numbers, phones, accounts and addresses stay encrypted in the dump: back up
    HUIMIN_ID_ENCRYPTION_KEY and HUIMIN_BLIND_INDEX_KEY separately, never beside it."""
    try:
        report = backups.backup(_owner_url(), file)
    except backups.BackupError as exc:
        typer.echo(f"backup refused: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    typer.echo(f"backup written: {report.path} ({report.size_bytes} bytes, {report.tables} "
               f"tables, server version {report.server_version})")


@app.command()
@uses_database
def restore(
    file: Annotated[Path, typer.Argument(help="A dump written by `huimin backup`")],
) -> None:
    """Load FILE into the database in use, which must be empty (exit 2 otherwise,
    nothing changed), in one transaction: a failed restore leaves it empty."""
    try:
        report = backups.restore(_owner_url(), file)
    except backups.BackupError as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    if report.roles_created:
        typer.echo(f"created role(s) {', '.join(report.roles_created)} (NOLOGIN) that the "
                   "dump grants rights to: give the one the service connects as LOGIN and a "
                   "password (ALTER ROLE ... LOGIN PASSWORD ...)")
    typer.echo(f"restored {file} into database {report.database!r}: {report.tables} tables; "
               "run `huimin audit verify` next")


@apikey_app.command("create")
@uses_database
def apikey_create(
    role: Annotated[str, typer.Option(help="admin, or a staff role with --org")],
    name: Annotated[str, typer.Option(help="The staff member's name")],
    org: Annotated[str | None, typer.Option(help="Organisation id (staff roles)")] = None,
) -> None:
    """Create an API key; the key is printed alone on the last line."""
    settings = get_settings()

    async def _run() -> str:
        db = Database.from_settings(settings)
        try:
            async with db.session() as session:
                created = await organisations.create_api_key(
                    session, None, org, ApiKeyCreate(role=Role(role), name=name))
                await session.commit()
                return created.key
        finally:
            await db.dispose()

    run_migrations()
    key = asyncio.run(_run())
    typer.echo(f"created {role} key for {name}; store it now, it is not shown again:")
    typer.echo(key)


@token_app.command("citizen")
def token_citizen(
    subject: Annotated[str, typer.Option(help="The citizen's account id")],
    ttl_minutes: Annotated[int | None, typer.Option(
        min=1, help="Lifetime in minutes [default: HUIMIN_JWT_TTL_MINUTES, 1440]")] = None,
    private_key: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, readable=True,
        help="Sign RS256 (RSA) or ES256 (EC P-256) with this PEM private key, as the "
             "platform's sign-in service does (to test HUIMIN_JWT_PUBLIC_KEYS); "
             "needs --kid")] = None,
    kid: Annotated[str | None, typer.Option(
        help="The key's `kid` in the JWK Set huimin holds (with --private-key)")] = None,
) -> None:
    """Print a citizen token signed with the configured key (alone on the last line)."""
    settings = get_settings()
    ttl = timedelta(minutes=ttl_minutes if ttl_minutes is not None else settings.jwt_ttl_minutes)
    if (private_key is None) != (kid is None):
        typer.echo("refused: --private-key and --kid go together", err=True)
        raise typer.Exit(2)
    try:
        key = None
        if private_key is not None:
            key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
        token = issue_citizen_token(settings, subject, ttl, private_key=key, kid=kid)
    except (TokenLifetimeTooLong, ValueError, TypeError) as exc:  # HS256Off is a ValueError
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)


@audit_app.command("verify")
@uses_database
def audit_verify(
    database_url: Annotated[str | None, typer.Option(
        help="The database to check [default: DATABASE_URL]")] = None,
) -> None:
    """Walk the audit trail's hash chain; name the first broken link (exit status 1).

    Prints the head (row number and hash) of an intact chain: keep it somewhere
    the database's owner cannot write, to prove later that the rows up to it are
    unchanged."""
    settings = get_settings()

    async def _run() -> audit.ChainReport:
        db = Database.from_settings(settings, database_url)
        try:
            async with db.session() as session:
                await audit.link(session)  # PostgreSQL: what is pending, linked first
                await session.commit()
            async with db.session() as session:
                return await audit.verify(session)
        finally:
            await db.dispose()

    report = asyncio.run(_run())
    if report.broken_at is not None:
        typer.echo(f"audit chain BROKEN at row {report.broken_at}"
                   f"{f' ({report.event_id})' if report.event_id else ''}: {report.reason}; "
                   f"{report.rows} rows before it are intact", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {report.rows} rows, head {report.head_seq} "
               f"{report.head_hash}"
               + (f"; {report.pending} rows written since, not linked yet"
                  if report.pending else ""))


def _public_data_http(base_url: str, lottery_id: str) -> tuple[dict, list[dict]]:
    """The lottery and all its entries, as anyone reads them over the public API."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=30) as client:
        r = client.get(f"/v1/marriage/lotteries/{lottery_id}")
        r.raise_for_status()
        view = r.json()
        entries: list[dict] = []
        cursor = None
        while view.get("status") == "drawn":
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            r = client.get(f"/v1/marriage/lotteries/{lottery_id}/entries", params=params)
            r.raise_for_status()
            page = r.json()
            entries.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    return view, entries


async def _public_data_db(lottery_id: str) -> tuple[dict, list[dict]]:
    """The same public views, read through the services that serve them."""
    db = Database.from_settings(get_settings())
    try:
        async with db.session() as session:
            view = (await lottery.get_public(session, lottery_id)).model_dump(mode="json")
            entries: list[dict] = []
            cursor = None
            while view["status"] == "drawn":
                page = await lottery.list_entries(session, lottery_id, limit=100, cursor=cursor)
                entries.extend(e.model_dump(mode="json") for e in page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
        return view, entries
    finally:
        await db.dispose()


@lottery_app.command("verify")
def lottery_verify(
    lottery_id: Annotated[str, typer.Argument(help="The lottery's id")],
    base_url: Annotated[str | None, typer.Option(
        help="Read the public API there (e.g. https://huimin.example); default: this "
             "installation's database (DATABASE_URL), through the same public views")] = None,
) -> None:
    """Recompute a drawn lottery from its public data: the seed against seed_sha256,
    the order (HMAC-SHA256 of each entry id under the seed), each entry's session.
    Exit 0 when the published outcome matches, 1 when it does not."""
    if base_url:
        view, entries = _public_data_http(base_url, lottery_id)
    else:
        with database():
            view, entries = asyncio.run(_public_data_db(lottery_id))
    verdict = lottery_order.verify(view, entries)
    for problem in verdict.problems[:50]:
        typer.echo(f"MISMATCH {problem}")
    if len(verdict.problems) > 50:
        typer.echo(f"... and {len(verdict.problems) - 50} more")
    if not verdict.ok:
        typer.echo(f"lottery {lottery_id}: the published outcome does NOT match the "
                   "recomputation")
        raise typer.Exit(1)
    typer.echo(f"lottery {lottery_id}: {len(entries)} entries, {view['seats']} seats, "
               f"{view['winners']} won; seed matches seed_sha256 and the published outcome "
               "matches the recomputation")


if __name__ == "__main__":
    app()
