"""audit chain: hash-chained audit rows, the chain head, a heartbeat, a least-privilege role

- `audit_event` gains `seq`, `prev_hash` and `hash` (core.auditchain); rows already
  there are chained in the order they were written (`at`, then `id`).
- `audit_chain_head` keeps the last link. On PostgreSQL a BEFORE INSERT trigger
  (SECURITY DEFINER, owned by the migrating owner) numbers and hashes every new row
  itself, whatever the inserting statement says, and the head row's lock
  serialises concurrent appenders. On SQLite the application computes the link
  inside its `BEGIN IMMEDIATE` writer transaction; triggers refuse a row that is
  not the next link, refuse an existing `id` or `seq` (so `INSERT OR REPLACE`,
  which would delete the old row without firing DELETE triggers, cannot rewrite
  one) and move the head.
- `service_heartbeat`: the row `/readyz` rewrites to prove a write gets through.
- PostgreSQL: the role `huimin_app` (LOGIN, no password: set one, or use trust or
  peer authentication) for the running service: SELECT/INSERT/UPDATE/DELETE on the
  tables (and those later migrations create), only SELECT and INSERT on
  `audit_event`, only SELECT on `audit_chain_head` and `alembic_version`, no
  TRUNCATE anywhere, owner of nothing. Roles are cluster-wide: it is created only
  if missing (two databases migrating at once included) and the downgrade takes
  back this database's grants but never drops the role, which other databases on
  the cluster may use.

Revision ID: 0009
Revises: 0011 (written on 0006; re-chained after main's 0012, marriage extras, so
the history has one head)
Create Date: 2026-12-01 20:30:00+00:00
"""
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core import auditchain

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "huimin_app"
_COLUMNS = ("id", "at", "actor_kind", "actor_id", "actor_role", "org_id", "action",
            "object_type", "object_id", "outcome", "request_id")


def _drop_append_only_triggers(pg: bool) -> None:
    if pg:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def _append_only_triggers(pg: bool) -> None:
    """As migration 0001 made them (the SQLite table is rebuilt in between)."""
    if pg:
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END")


def _chain_existing_rows() -> tuple[int, str]:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        f"SELECT {', '.join(_COLUMNS)} FROM audit_event ORDER BY at, id")).mappings().all()  # noqa: S608
    prev, seq = auditchain.GENESIS, 0
    update = sa.text("UPDATE audit_event SET seq = :seq, prev_hash = :prev, hash = :hash "
                     "WHERE id = :id")
    for found in rows:
        seq += 1
        link = {**found, "seq": seq, "prev_hash": prev}
        if isinstance(link["at"], str):  # SQLite: the stored text, in UTC
            link["at"] = dt.datetime.fromisoformat(link["at"]).replace(tzinfo=dt.UTC)
        digest = auditchain.row_hash(link)
        bind.execute(update, {"seq": seq, "prev": prev, "hash": digest, "id": found["id"]})
        prev = digest
    return seq, prev


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    _drop_append_only_triggers(pg)
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
    head_seq, head_hash = _chain_existing_rows()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_seq"), ["seq"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.execute(sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :seq, :hash)")
               .bindparams(seq=head_seq, hash=head_hash))
    op.create_table(
        "service_heartbeat",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_heartbeat")),
    )
    _append_only_triggers(pg)
    if pg:
        _pg_chain_trigger()
        _pg_app_role()
    else:
        _sqlite_chain_triggers()


def _pg_chain_trigger() -> None:
    op.execute(f"""
CREATE FUNCTION audit_event_chain() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE head_seq bigint; head_hash varchar;
BEGIN
  UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash
    INTO head_seq, head_hash;
  IF NOT FOUND THEN
    INSERT INTO audit_chain_head (id, seq, hash)
      SELECT 1, coalesce(max(seq), 0), coalesce(
        (SELECT e.hash FROM audit_event e ORDER BY e.seq DESC LIMIT 1), '{auditchain.GENESIS}')
      FROM audit_event
      ON CONFLICT (id) DO NOTHING;
    UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash
      INTO head_seq, head_hash;
  END IF;
  NEW.seq := head_seq;
  NEW.prev_hash := head_hash;
  NEW.hash := encode(sha256(convert_to({auditchain.PG_CANONICAL}, 'UTF8')), 'hex');
  UPDATE audit_chain_head SET hash = NEW.hash WHERE id = 1;
  RETURN NEW;
END $$""")  # noqa: S608 - constant text
    op.execute("CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event "
               "FOR EACH ROW EXECUTE FUNCTION audit_event_chain()")
    op.execute("REVOKE ALL ON FUNCTION audit_event_chain() FROM PUBLIC")


def _pg_app_role() -> None:
    op.execute(f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    BEGIN
      CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database's migration created it at the same moment
    END;
  END IF;
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {APP_ROLE}', current_database());
END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON audit_event, audit_chain_head, alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit_event TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON audit_chain_head, alembic_version TO {APP_ROLE}")
    # Tables and sequences later migrations create (as this same owner).
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")


def _pg_app_role_down() -> None:
    """This database's grants only; the role stays (other databases may use it)."""
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
      REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE};
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
    REVOKE ALL ON SCHEMA public FROM {APP_ROLE};
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM {APP_ROLE}', current_database());
  END IF;
END $$""")  # noqa: S608 - constant text


def _sqlite_chain_triggers() -> None:
    op.execute(
        "CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event "
        "WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id OR seq = NEW.seq) "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: the row exists'); END")
    genesis = f"'{auditchain.GENESIS}'"
    op.execute(
        "CREATE TRIGGER audit_event_next_link BEFORE INSERT ON audit_event "  # noqa: S608
        "WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit_event) "
        "OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit_chain_head WHERE id = 1), "
        + genesis + ") BEGIN SELECT RAISE(ABORT, 'audit_event: not the next link of the chain'); END")
    op.execute(
        "CREATE TRIGGER audit_event_move_head AFTER INSERT ON audit_event BEGIN "
        "INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, NEW.seq, NEW.hash) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash; END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        _pg_app_role_down()
        op.execute("DROP TRIGGER IF EXISTS audit_event_chain ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_chain()")
    else:
        for name in ("audit_event_no_replace", "audit_event_next_link", "audit_event_move_head"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    _drop_append_only_triggers(pg)
    op.drop_table("service_heartbeat")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    _append_only_triggers(pg)
