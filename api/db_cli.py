"""`huimin db`: the embedded PostgreSQL (core.embedded), used when DATABASE_URL is
unset. The root directory is `$HUIMIN_DATA_DIR` (default `var`), settings' `data_dir`."""

from __future__ import annotations

import typer

from core.embedded import EmbeddedPostgres, EmbeddedPostgresError
from core.settings import Settings

db_app = typer.Typer(
    help="The embedded PostgreSQL (used when DATABASE_URL is unset)", no_args_is_help=True
)

NOT_RUNNING = 3  # `status`'s exit code when the server is down (as `pg_ctl status`)


@db_app.command()
def start() -> None:
    """Start the server and keep it running until `huimin db stop`."""
    pg = EmbeddedPostgres(Settings().data_dir)
    try:
        pid = pg.start(pinned=True)
    except EmbeddedPostgresError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"embedded PostgreSQL running (pid {pid}, data directory {pg.data_dir})")


@db_app.command()
def stop() -> None:
    """Stop the server now, even if huimin processes are using it."""
    pg = EmbeddedPostgres(Settings().data_dir)
    try:
        was_running = pg.stop()
    except EmbeddedPostgresError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    state = "stopped" if was_running else "was not running"
    typer.echo(f"embedded PostgreSQL {state} (data directory {pg.data_dir})")


@db_app.command()
def status() -> None:
    """Exit 0 when the server is running, 3 when it is not."""
    pg = EmbeddedPostgres(Settings().data_dir)
    pid = pg.pid()
    if pid is None:
        typer.echo(f"embedded PostgreSQL not running (data directory {pg.data_dir})")
        raise typer.Exit(NOT_RUNNING)
    pinned = ", pinned" if pg.is_pinned() else ""
    typer.echo(f"embedded PostgreSQL running (pid {pid}{pinned}, data directory {pg.data_dir})")


@db_app.command()
def url() -> None:
    """Print the connection URL (SQLAlchemy, asyncpg); does not start the server."""
    typer.echo(EmbeddedPostgres(Settings().data_dir).url())
