"""The audit trail: written with every write, searchable, append-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from schemas.audit import AuditEvent
from tests.factories import create_org, staff_headers


async def test_writes_are_audited_with_actor_object_and_request_id(client, admin_headers):
    r = await client.post("/v1/admin/organisations", json={
        "kind": "registration_office", "name": "黄浦区婚姻登记中心", "division_code": "310101"},
        headers={**admin_headers, "X-Request-ID": "audit-req-1"})
    org_id = r.json()["id"]
    events = (await client.get(f"/v1/admin/audit-events?object_id={org_id}",
                               headers=admin_headers)).json()["items"]
    assert len(events) == 1
    e = events[0]
    assert e["action"] == "organisation.create"
    assert e["object_type"] == "organisation"
    assert e["actor_kind"] == "staff" and e["actor_role"] == "admin"
    assert e["outcome"] == "success"
    assert e["request_id"] == "audit-req-1"


async def test_filters_and_pagination(client, admin_headers):
    org = await create_org(client, admin_headers, "registration_office")
    await staff_headers(client, admin_headers, org["id"], "office", "a")
    await staff_headers(client, admin_headers, org["id"], "office", "b")
    base = f"/v1/admin/audit-events?action=api_key.create&org_id={org['id']}&limit=1"
    r = await client.get(base,
                         headers=admin_headers)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await client.get(f"{base}&cursor={page['next_cursor']}", headers=admin_headers)
    second = r.json()
    assert len(second["items"]) == 1 and second["items"][0]["id"] != page["items"][0]["id"]
    assert second["next_cursor"] is None
    r = await client.get(f"/v1/admin/audit-events?org_id={org['id']}", headers=admin_headers)
    assert {e["action"] for e in r.json()["items"]} == {"organisation.create", "api_key.create"}


async def test_a_refused_write_is_audited_and_changes_nothing(client, admin_headers):
    org = await create_org(client, admin_headers, "registration_office")
    r = await client.patch(f"/v1/admin/organisations/{org['id']}", json={"phone": "010-1234567"},
                           headers={**admin_headers, "If-Match": '"stale.0"'})
    assert r.status_code == 412
    events = (await client.get(f"/v1/admin/audit-events?object_id={org['id']}",
                               headers=admin_headers)).json()["items"]
    assert any(e["outcome"] == "refused:precondition_failed" for e in events)
    assert not any(e["action"] == "organisation.update" for e in events)


async def test_the_database_refuses_update_and_delete_of_audit_rows(client, admin_headers, db):
    await create_org(client, admin_headers, "registration_office")
    for stmt in (update(AuditEvent).values(outcome="tampered"), delete(AuditEvent)):
        async with db.session() as s:
            with pytest.raises(DBAPIError):
                await s.execute(stmt)
            await s.rollback()
    async with db.session() as s:
        outcomes = (await s.execute(text("SELECT outcome FROM audit_event"))).scalars().all()
    assert outcomes and "tampered" not in outcomes


def test_no_code_path_updates_or_deletes_audit_rows():
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("api", "services", "schemas", "core"):
        for path in (root / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            if "AuditEvent" in source and any(
                    p in source for p in ("update(AuditEvent", "delete(AuditEvent",
                                          "UPDATE audit_event", "DELETE FROM audit_event")):
                offenders.append(str(path))
    assert offenders == []
