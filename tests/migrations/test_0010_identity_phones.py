"""Migration 0010 moves the phones that sat in clear into encrypted columns, and
encrypts stored idempotent responses; its downgrade puts them back in clear. The
rebuilt audit table keeps its rows and its append-only triggers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from api.cli import alembic_config
from core.protected import PHONE
from services.idempotency import unseal

NOW = "2026-12-01 10:00:00.000000"


def _seed(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("INSERT INTO organisation (id, kind, name, division_code, version, created_at, "
               "updated_at) VALUES ('org_1', 'registration_office', 'o', '110105', 1, ?, ?)",
               (NOW, NOW))
    db.execute("INSERT INTO organisation (id, kind, name, division_code, version, created_at, "
               "updated_at) VALUES ('org_2', 'care_institution', 'i', '510107', 1, ?, ?)",
               (NOW, NOW))
    db.execute("INSERT INTO marriage_appointment (id, office_id, slot_id, session_date, "
               "starts_at, ends_at, kind, status, owner_subject, check_in_code, created_at) "
               "VALUES ('mapt_1', 'org_1', 's', '2026-12-08', ?, ?, 'marriage', 'booked', "
               "'c', '12345678', ?)", (NOW, NOW, NOW))
    for n, phone in enumerate(("13912345678", None)):
        db.execute("INSERT INTO marriage_party (id, appointment_id, position, name, "
                   "id_number_encrypted, id_blind_index, id_number_masked, phone) "
                   "VALUES (?, 'mapt_1', ?, 'n', 'e', 'b', 'm', ?)", (f"mpty_{n}", n, phone))
    db.execute("INSERT INTO bed_application (id, institution_id, category, citizen_subject, "
               "elder_name, elder_id_encrypted, elder_id_blind, elder_id_masked, elder_phone, "
               "priority_groups, verified_priority_groups, destitute, status, applied_at, "
               "updated_at) VALUES ('bap_1', 'org_2', 'full_care', 'c', 'n', 'e', 'b', 'm', "
               "'139-8765-4321', '[]', '[]', 0, 'submitted', ?, ?)", (NOW, NOW))
    db.execute("INSERT INTO idempotency_record (scope, key, request_hash, response_status, "
               "response_body, created_at, expires_at) VALUES ('citizen:c', 'k1', 'h', 201, "
               "'{\"name\": \"张伟\"}', ?, ?)", (NOW, NOW))
    db.execute("INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, "
               "action, object_type, object_id, outcome, request_id) VALUES ('aud_1', ?, "
               "'staff', 'key_1', 'office', 'org_1', 'x.create', 'x', 'x_1', 'success', "
               "NULL)", (NOW,))
    db.commit()
    db.close()


def test_phones_and_stored_responses_are_encrypted_and_come_back_on_downgrade(tmp_path):
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0012")
    _seed(path)
    command.upgrade(cfg, "0010")
    db = sqlite3.connect(path)
    parties = db.execute("SELECT phone_encrypted, phone_masked FROM marriage_party "
                         "ORDER BY position").fetchall()
    assert PHONE.reveal(parties[0][0]) == "13912345678" and parties[0][1] == "139****5678"
    assert parties[1] == (None, None)
    enc, shown = db.execute("SELECT elder_phone_encrypted, elder_phone_masked "
                            "FROM bed_application").fetchone()
    assert PHONE.reveal(enc) == "13987654321" and shown == "139****4321"
    body = db.execute("SELECT response_body FROM idempotency_record").fetchone()[0]
    assert "张伟" not in body and unseal("citizen:c", "k1", body) == '{"name": "张伟"}'
    # The partial unique index survived the table's rebuild.
    index = db.execute("SELECT sql FROM sqlite_master WHERE name = "
                       "'uq_bed_application_active_elder'").fetchone()[0]
    assert "WHERE" in index
    # audit_event was rebuilt (actor_role is longer): its rows and its append-only
    # triggers are still there.
    assert db.execute("SELECT action FROM audit_event").fetchall() == [("x.create",)]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_event SET action = 'y'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_event")
    db.rollback()
    dump = "\n".join(db.iterdump())
    assert "13912345678" not in dump and "13987654321" not in dump
    db.close()

    command.downgrade(cfg, "0012")
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT phone FROM marriage_party ORDER BY position")] == [
        "13912345678", None]
    assert db.execute("SELECT elder_phone FROM bed_application").fetchone()[0] == "13987654321"
    assert db.execute("SELECT response_body FROM idempotency_record").fetchone()[0] == \
        '{"name": "张伟"}'
    db.close()
