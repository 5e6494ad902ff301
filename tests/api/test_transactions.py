"""One transaction per request: a failing commit is an error response, never a
2xx, and leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.organisation import Organisation

BODY = {"kind": "registration_office", "name": "朝阳区婚姻登记处", "division_code": "110105"}


async def _count(db) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(Organisation))).scalar_one()


class DiskFull(Exception):  # noqa: N818 - as the driver reports it
    sqlstate = "53100"  # disk_full


@pytest.mark.parametrize(("error", "status", "code"), [
    (OperationalError("COMMIT", {}, DiskFull("could not extend file: disk full")), 503,
     "database_unavailable"),
    (RuntimeError("commit exploded"), 500, "internal_error"),
])
async def test_a_failing_commit_is_an_error_response(client, admin_headers, db, monkeypatch,
                                                     error, status, code):
    async def failing_commit(self) -> None:  # noqa: ANN001
        raise error

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    r = await client.post("/v1/admin/organisations", json=BODY, headers=admin_headers)
    monkeypatch.undo()
    assert r.status_code == status
    assert r.json()["code"] == code
    assert "exploded" not in r.text and "disk" not in r.text
    assert await _count(db) == 0


async def test_an_error_after_a_flush_rolls_the_whole_request_back(client, admin_headers, db,
                                                                   monkeypatch):
    from services import audit

    async def failing_audit(*args, **kwargs) -> None:
        raise RuntimeError("audit store down")

    # The organisation row is flushed before the audit call fails.
    monkeypatch.setattr(audit, "record", failing_audit)
    r = await client.post("/v1/admin/organisations", json=BODY, headers=admin_headers)
    monkeypatch.undo()
    assert r.status_code == 500
    assert await _count(db) == 0
