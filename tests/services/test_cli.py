"""The `huimin` command: keys and tokens print alone on the last line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import jwt
from typer.testing import CliRunner

from api.cli import app
from core.security import CitizenTokens, parse_api_key
from core.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_token_citizen_prints_a_valid_token_on_the_last_line(monkeypatch):
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["token", "citizen", "--subject", "wx-123"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    claims = asyncio.run(CitizenTokens(Settings(_env_file=None)).decode(token))
    assert claims["sub"] == "wx-123" and claims["role"] == "citizen"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_apikey_create_migrates_and_prints_the_key_last(fresh_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
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


def test_serve_with_workers_keeps_metrics_in_a_fresh_directory(monkeypatch, tmp_path):
    from pathlib import Path

    from api.cli import _multiprocess_metrics

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert _multiprocess_metrics(1) is None  # one process: the in-memory registry
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    made = _multiprocess_metrics(2)
    try:
        assert made is not None and os.environ["PROMETHEUS_MULTIPROC_DIR"] == made
        assert Path(made).is_dir() and not any(Path(made).iterdir())
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        Path(made).rmdir()


def test_serve_empties_a_metrics_directory_the_operator_named(monkeypatch, tmp_path):
    from api.cli import _multiprocess_metrics

    (tmp_path / "counter_123.db").write_bytes(b"old run")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert _multiprocess_metrics(4) is None  # kept at exit: it is the operator's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


# --- the embedded PostgreSQL: started when needed, shared, left as it was found -------


def _huimin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args],  # noqa: S603 - our CLI
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def test_commands_start_the_embedded_postgresql_when_needed_and_stop_it_after(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUIMIN_") and k != "DATABASE_URL"}
    env.update(HUIMIN_DATA_DIR=str(tmp_path), HUIMIN_LOG_LEVEL="WARNING")
    assert _huimin(env, "db", "status").returncode == 3
    done = _huimin(env, "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "pg" / "PG_VERSION").exists()  # it ran there...
    assert _huimin(env, "db", "status").returncode == 3  # ... and stopped with the command
    # Pinned by `huimin db start`, it outlives the commands that use it.
    assert _huimin(env, "db", "start").returncode == 0
    try:
        made = _huimin(env, "apikey", "create", "--role", "admin", "--name", "运维")
        assert made.returncode == 0, made.stdout + made.stderr
        assert parse_api_key(made.stdout.strip().splitlines()[-1]) is not None
        assert _huimin(env, "db", "status").returncode == 0
        url = _huimin(env, "db", "url").stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql+asyncpg://") and "/huimin" in url
    finally:
        assert _huimin(env, "db", "stop").returncode == 0
    assert _huimin(env, "db", "status").returncode == 3
