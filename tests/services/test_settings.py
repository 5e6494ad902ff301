"""Production refuses default or missing secrets."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from core.settings import Settings

STRONG = {
    "jwt_secret": "x" * 48,
    "id_encryption_key": base64.b64encode(b"k" * 32).decode(),
    "blind_index_key": "b" * 40,
}


def test_production_refuses_default_secrets():
    with pytest.raises(ValidationError) as info:
        Settings(env="production", _env_file=None)
    assert "HUIMIN_JWT_SECRET" in str(info.value)


@pytest.mark.parametrize("missing", sorted(STRONG))
def test_production_refuses_each_default_or_empty_secret(missing):
    with pytest.raises(ValidationError):
        Settings(env="production", **{**STRONG, missing: ""}, _env_file=None)


def test_production_starts_with_real_secrets():
    s = Settings(env="production", **STRONG, _env_file=None)
    assert s.env == "production"


def test_encryption_key_must_be_32_bytes():
    with pytest.raises(ValidationError):
        Settings(id_encryption_key=base64.b64encode(b"short").decode(), _env_file=None)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("HUIMIN_BEDS_OFFER_HOLD_HOURS", "48")
    s = Settings(_env_file=None)
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.beds_offer_hold_hours == 48
