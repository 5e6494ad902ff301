"""Migration 0009 adds the client's address to audit rows and to the hash chain when
a row has one: rows chained before it still verify, rows after it verify with their
address, and an address rewritten afterwards is caught."""

from __future__ import annotations

import asyncio
import json

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from api.cli import alembic_config
from api.cli import app as cli
from core import auditchain


async def _sql(url: str, *statements: str, replica: bool = False) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if replica:  # the owner, every trigger out of the way
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            out = []
            for stmt in statements:
                result = await conn.execute(text(stmt))
                out.append(result.all() if result.returns_rows else None)
            return out
    finally:
        await engine.dispose()


def _rows(prefix: str, n: int, addr: str | None = None) -> str:
    rows = [{"id": f"aud_{prefix}{i:022d}", "at": "2026-12-01T08:00:00+00:00",
             "actor_kind": "system", "actor_id": "system", "actor_role": None, "org_id": None,
             "action": "test.write", "object_type": "test", "object_id": str(i),
             "outcome": "success", "request_id": None,
             **({"client_addr": addr} if addr else {})} for i in range(n)]
    return json.dumps(rows).replace("'", "''")


def _verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "--database-url", url])
    return result.exit_code, result.output


def test_rows_before_0009_still_verify_and_addresses_are_in_the_chain(fresh_db_url):
    cfg = alembic_config(fresh_db_url)
    command.upgrade(cfg, "0008")
    asyncio.run(_sql(fresh_db_url, f"SELECT record_writes('{_rows('0', 3)}', NULL)",
                     "SELECT audit_link(100)"))
    command.upgrade(cfg, "head")
    code, out = _verify(fresh_db_url)
    assert code == 0, out  # the old rows hash as they always did
    asyncio.run(_sql(fresh_db_url, f"SELECT record_writes('{_rows('1', 2, '203.0.113.7')}', NULL)",
                     f"SELECT record_writes('{_rows('2', 1)}', NULL)",
                     "SELECT audit_link(100)"))
    code, out = _verify(fresh_db_url)
    assert code == 0, out
    assert "intact: 6 rows" in out
    [rows] = asyncio.run(_sql(fresh_db_url, "SELECT seq, client_addr, hash FROM audit_event "
                                            "WHERE client_addr IS NOT NULL ORDER BY seq"))
    assert [(seq, addr) for seq, addr, _ in rows] == [(4, "203.0.113.7"), (5, "203.0.113.7")]
    # The address is hashed: rewritten, or removed, the row no longer verifies.
    for change in ("client_addr = '198.51.100.1'", "client_addr = NULL"):
        asyncio.run(_sql(fresh_db_url, f"UPDATE audit_event SET {change} WHERE seq = 4",  # noqa: S608
                         replica=True))
        code, out = _verify(fresh_db_url)
        assert code == 1 and "BROKEN at row 4" in out, out
    # A row without an address hashes exactly as the canonical text before 0009 did.
    row = dict.fromkeys(auditchain.FIELDS, "a") | {"client_addr": None}
    before = "\n".join([auditchain.VERSION, *(f"1:{row[f]}" for f in auditchain.FIELDS)])
    assert auditchain.canonical(row) == before.encode()
