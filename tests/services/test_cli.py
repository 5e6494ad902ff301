"""The `huimin` command: keys and tokens print alone on the last line."""

from __future__ import annotations

import jwt
from typer.testing import CliRunner

from api.cli import app
from core.security import decode_citizen_token, parse_api_key
from core.settings import Settings, get_settings


def test_token_citizen_prints_a_valid_token_on_the_last_line(monkeypatch):
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["token", "citizen", "--subject", "wx-123"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    claims = decode_citizen_token(Settings(_env_file=None), token)
    assert claims["sub"] == "wx-123" and claims["role"] == "citizen"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_apikey_create_migrates_and_prints_the_key_last(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["apikey", "create", "--role", "admin",
                                          "--name", "平台管理员"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert parse_api_key(key) is not None


def _token_lifetime(output: str) -> int:
    token = output.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    return claims["exp"] - claims["iat"]


def test_token_citizen_lives_as_long_as_huimin_jwt_ttl_minutes(monkeypatch):
    monkeypatch.setenv("HUIMIN_JWT_TTL_MINUTES", "7")
    get_settings.cache_clear()
    try:
        default = CliRunner().invoke(app, ["token", "citizen", "--subject", "wx-ttl"])
        explicit = CliRunner().invoke(app, ["token", "citizen", "--subject", "wx-ttl",
                                            "--ttl-minutes", "90"])
    finally:
        get_settings.cache_clear()
    assert default.exit_code == 0, default.output
    assert _token_lifetime(default.output) == 7 * 60
    assert explicit.exit_code == 0, explicit.output
    assert _token_lifetime(explicit.output) == 90 * 60  # the option still wins


def test_token_citizen_defaults_to_a_day_without_the_setting(monkeypatch):
    monkeypatch.delenv("HUIMIN_JWT_TTL_MINUTES", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["token", "citizen", "--subject", "wx-ttl"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert _token_lifetime(result.output) == 24 * 60 * 60
