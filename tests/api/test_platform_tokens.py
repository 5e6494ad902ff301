"""Citizens signed in by the platform (API.md "Authentication and roles"): the sign-in
service signs RS256 or ES256 tokens with its own private key and huimin holds only the
public keys, from a JWK Set file read again when it changes (`HUIMIN_JWT_PUBLIC_KEYS`)
or from a URL (`HUIMIN_JWT_JWKS_URL`), through the HTTP API: `GET /v1/me` and a marriage
booking (a hot command, `api.hotpath`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from core.clock import clock
from core.jwks import KeySetError
from core.security import HS256Off, issue_citizen_token
from core.settings import DEV_JWT_SECRET, Settings, get_settings
from tests.api.test_marriage_support import (
    book,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import random_subject

ME = "/v1/me"
SECRET = "s" * 40  # an HS256 secret that is set, beside the public keys


def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


# Generated once for the module: RSA key generation takes a while.
RSA_1, RSA_2 = _rsa(), _rsa()
EC_1 = ec.generate_private_key(ec.SECP256R1())


def jwk(private_key, kid: str, **extra) -> dict:  # noqa: ANN001
    public = private_key.public_key()
    algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
    return {**algorithm.to_jwk(public, as_dict=True), "kid": kid, "use": "sig", **extra}


def write_key_set(path: Path, *keys: dict) -> None:
    """Replace the file as an operator should: a new file moved over the old one."""
    tmp = path.with_suffix(".new")
    tmp.write_text(json.dumps({"keys": list(keys)}))
    os.replace(tmp, path)


def claims(settings: Settings, **overrides) -> dict:  # noqa: ANN003
    now = int(clock.now().timestamp())
    body = {"sub": random_subject("wx"), "role": "citizen", "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience, "iat": now, "exp": now + 3600, **overrides}
    return {k: v for k, v in body.items() if v is not None}


def token(settings: Settings, key, kid: str | None, algorithm: str | None = None,  # noqa: ANN001
          **overrides) -> str:
    if algorithm is None:
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(settings, **overrides), key, algorithm=algorithm, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def status(client: httpx.AsyncClient, value: str) -> tuple[int, str | None]:
    r = await client.get(ME, headers=bearer(value))
    return r.status_code, r.json().get("code") if r.status_code != 200 else None


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    write_key_set(path, jwk(RSA_1, "rsa-1"), jwk(EC_1, "ec-1"))
    return path


@pytest.fixture
def settings(settings: Settings, keys_file: Path) -> Settings:
    """The tests' settings with the platform's keys in a file, and no HS256 secret."""
    return settings.model_copy(update={"jwt_public_keys": keys_file})


async def make_client(settings: Settings) -> tuple:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return app, httpx.AsyncClient(transport=transport, base_url="http://test")


# --- accepted ---------------------------------------------------------------------


async def test_rs256_and_es256_tokens_of_the_platform_are_citizens(client, settings):
    for key, kid in ((RSA_1, "rsa-1"), (EC_1, "ec-1")):
        subject = random_subject("wx")
        r = await client.get(ME, headers=bearer(token(settings, key, kid, sub=subject)))
        assert r.status_code == 200, (kid, r.text)
        assert r.json()["subject"] == subject


async def test_platform_tokens_book_on_the_hot_path(client, settings, admin_headers):
    set_china_time("2026-12-01", "10:00")
    office, _ = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    for key, kid in ((RSA_1, "rsa-1"), (EC_1, "ec-1")):
        r = await book(client, settings, slot, headers=bearer(token(settings, key, kid)))
        assert r.status_code == 201, (kid, r.text)
    # The hot lane refuses what `GET /v1/me` refuses, with the same answer.
    for bad in (token(settings, RSA_1, "rsa-404"), token(settings, RSA_1, "rsa-1", "RS384"),
                jwt.encode(claims(settings), DEV_JWT_SECRET, algorithm="HS256")):
        r = await book(client, settings, slot, headers=bearer(bad))
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "invalid_token"


# --- refused ----------------------------------------------------------------------


def _pem(private_key) -> bytes:  # noqa: ANN001
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _unsigned(settings: Settings, kid: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps(
        {"alg": "none", "typ": "JWT", "kid": kid}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims(settings)).encode()).rstrip(b"=")
    return f"{header}.{body.decode()}."


def _hs256_with(settings: Settings, secret: bytes, kid: str) -> str:
    # pyjwt refuses a PEM as an HMAC secret; an attacker signs by hand.
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    signing = (b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "."
               + b64(json.dumps(claims(settings)).encode()))
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(signature)}"


REFUSED = {
    "unknown kid": lambda s: token(s, RSA_1, "rsa-404"),
    "no kid": lambda s: token(s, RSA_1, None),
    "kid of another key": lambda s: token(s, RSA_1, "ec-1", "RS256"),
    "alg none": lambda s: _unsigned(s, "rsa-1"),
    "HS256 with the public key's PEM": lambda s: _hs256_with(s, _pem(RSA_1), "rsa-1"),
    "HS256 with the EC key's PEM": lambda s: _hs256_with(s, _pem(EC_1), "ec-1"),
    "HS256 with the JWK's modulus": lambda s: _hs256_with(
        s, jwk(RSA_1, "rsa-1")["n"].encode(), "rsa-1"),
    "RS384 with the RSA key": lambda s: token(s, RSA_1, "rsa-1", "RS384"),
    "PS256 with the RSA key": lambda s: token(s, RSA_1, "rsa-1", "PS256"),
    "ES256 naming the RSA key": lambda s: token(s, EC_1, "rsa-1", "ES256"),
    "RS256 naming the EC key": lambda s: token(s, RSA_1, "ec-1", "RS256"),
    "signed by another RSA key": lambda s: token(s, RSA_2, "rsa-1"),
    "wrong iss": lambda s: token(s, RSA_1, "rsa-1", iss="another-platform"),
    "wrong aud": lambda s: token(s, EC_1, "ec-1", aud="another-service"),
    "no iss": lambda s: token(s, RSA_1, "rsa-1", iss=None),
    "no aud": lambda s: token(s, RSA_1, "rsa-1", aud=None),
    "no exp": lambda s: token(s, RSA_1, "rsa-1", exp=None),
    "no sub": lambda s: token(s, RSA_1, "rsa-1", sub=None),
    "no role": lambda s: token(s, RSA_1, "rsa-1", role=None),
    "role admin": lambda s: token(s, EC_1, "ec-1", role="admin"),
    "empty sub": lambda s: token(s, RSA_1, "rsa-1", sub=""),
    "sub of 129": lambda s: token(s, RSA_1, "rsa-1", sub="c" * 129),
    "sub with NUL": lambda s: token(s, EC_1, "ec-1", sub="wx\x00one"),
    "sub with a C1 control": lambda s: token(s, RSA_1, "rsa-1", sub="wx\x85one"),
    "expired and from another key": lambda s: token(
        s, RSA_2, "rsa-1", exp=int(clock.now().timestamp()) - 60),
    "not yet valid": lambda s: token(s, RSA_1, "rsa-1",
                                     nbf=int(clock.now().timestamp()) + 600),
    "lifetime beyond the maximum": lambda s: token(
        s, RSA_1, "rsa-1", exp=int(clock.now().timestamp()) + s.jwt_max_ttl_minutes * 60 + 60),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_bad_platform_token_is_invalid_token(client, settings, case):
    r = await client.get(ME, headers=bearer(REFUSED[case](settings)))
    assert r.status_code == 401, (case, r.text)
    assert r.json()["code"] == "invalid_token", case


async def test_an_expired_platform_token_is_token_expired(client, settings):
    expired = token(settings, EC_1, "ec-1", exp=int(clock.now().timestamp()) - 60)
    r = await client.get(ME, headers=bearer(expired))
    assert r.status_code == 401
    assert r.json()["code"] == "token_expired"  # as for every genuine token past its exp
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


# --- HS256 beside the public keys ---------------------------------------------------


async def test_hs256_is_refused_with_public_keys_and_no_secret(client, settings):
    assert settings.hs256_secret is None
    # The development default no longer signs anything once keys are configured.
    dev = jwt.encode(claims(settings), DEV_JWT_SECRET, algorithm="HS256")
    assert await status(client, dev) == (401, "invalid_token")
    with pytest.raises(HS256Off):
        issue_citizen_token(settings, "wx-dev")


async def test_hs256_is_accepted_when_the_secret_is_also_set(settings):
    both = settings.model_copy(update={"jwt_secret": SECRET})
    app, client = await make_client(both)
    async with client:
        assert await status(client, issue_citizen_token(both, "wx-hs")) == (200, None)
        assert await status(client, token(both, RSA_1, "rsa-1")) == (200, None)
        assert await status(client, token(both, EC_1, "ec-1")) == (200, None)
        # The secret is the secret: not the default, not the public key.
        assert await status(client, jwt.encode(claims(both), DEV_JWT_SECRET,
                                               algorithm="HS256")) == (401, "invalid_token")
        assert await status(client, _hs256_with(both, _pem(RSA_1), "rsa-1")) == (
            401, "invalid_token")
    await app.state.db.dispose()


# --- rotation: the file ---------------------------------------------------------------


async def test_a_new_key_file_is_read_without_a_restart(client, settings, keys_file):
    old, new = token(settings, RSA_1, "rsa-1"), token(settings, RSA_2, "rsa-2")
    assert await status(client, old) == (200, None)
    assert await status(client, new) == (401, "invalid_token")
    write_key_set(keys_file, jwk(RSA_2, "rsa-2"), jwk(EC_1, "ec-1"))
    # A kid the keys lack looks at the file at once; the removed key is gone with it.
    assert await status(client, new) == (200, None)
    assert await status(client, old) == (401, "invalid_token")
    assert await status(client, token(settings, EC_1, "ec-1")) == (200, None)


async def test_a_removed_key_is_refused_once_the_file_is_looked_at_again(settings, keys_file):
    # Checked on every request here (the default: at most once a second).
    every = settings.model_copy(update={"jwt_public_keys_check_seconds": 0})
    app, client = await make_client(every)
    async with client:
        old = token(every, RSA_1, "rsa-1")
        assert await status(client, old) == (200, None)
        write_key_set(keys_file, jwk(EC_1, "ec-1"))  # rsa-1 revoked, nothing added
        assert await status(client, old) == (401, "invalid_token")
    await app.state.db.dispose()


async def test_a_half_written_key_file_keeps_the_keys_read_before(client, settings, keys_file):
    keys_file.write_text('{"keys": [')
    assert await status(client, token(settings, RSA_1, "rsa-1")) == (200, None)
    assert await status(client, token(settings, RSA_2, "rsa-2")) == (401, "invalid_token")


async def test_unusable_members_of_the_set_are_left_out(settings, keys_file):
    """An `oct` secret, a key whose `alg` is not its own, one for encryption, a
    private key, a short RSA key and a kid given twice verify nothing; the rest does."""
    short = _rsa(1024)
    write_key_set(
        keys_file,
        {"kty": "oct", "kid": "oct-1", "k": base64.urlsafe_b64encode(b"k" * 32).decode()},
        jwk(RSA_1, "rsa-384", alg="RS384"),
        jwk(RSA_1, "rsa-enc", use="enc"),
        {**RSAAlgorithm.to_jwk(RSA_2, as_dict=True), "kid": "rsa-private"},
        jwk(short, "rsa-short"),
        jwk(RSA_1, "twice"), jwk(RSA_2, "twice"),
        jwk(EC_1, "ec-1"),
        "not a key",
    )
    both = settings.model_copy(update={"jwt_secret": SECRET})
    app, client = await make_client(both)
    async with client:
        assert await status(client, token(both, EC_1, "ec-1")) == (200, None)
        refused = [
            jwt.encode(claims(both), b"k" * 32, algorithm="HS256", headers={"kid": "oct-1"}),
            token(both, RSA_1, "rsa-384", "RS256"), token(both, RSA_1, "rsa-384", "RS384"),
            token(both, RSA_1, "rsa-enc"), token(both, RSA_2, "rsa-private"),
            token(both, short, "rsa-short"),
            token(both, RSA_1, "twice"), token(both, RSA_2, "twice"),
        ]
        for n, value in enumerate(refused):
            assert await status(client, value) == (401, "invalid_token"), n
    await app.state.db.dispose()


def test_a_key_file_that_cannot_be_read_stops_the_start(settings, tmp_path):
    for path, text in ((tmp_path / "missing.json", None), (tmp_path / "bad.json", "[1, 2]")):
        if text is not None:
            path.write_text(text)
        with pytest.raises(KeySetError):
            create_app(settings.model_copy(update={"jwt_public_keys": path}))


# --- the URL --------------------------------------------------------------------------


class _Platform:
    """The sign-in service's JWKS endpoint, on 127.0.0.1 in a thread: serves `keys`
    (or a 500 while `down`) and counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.down = False
        self.fetches = 0
        platform = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                platform.fetches += 1
                if platform.down:
                    self.send_error(500)
                    return
                body = json.dumps({"keys": platform.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform() -> Iterator[_Platform]:
    p = _Platform()
    p.keys = [jwk(RSA_1, "rsa-1"), jwk(EC_1, "ec-1")]
    yield p
    p.close()


def _from_url(settings: Settings, platform: _Platform, **overrides) -> Settings:  # noqa: ANN003
    return settings.model_copy(update={"jwt_public_keys": None,
                                       "jwt_jwks_url": platform.url, **overrides})


async def test_keys_from_a_url_rotate_without_a_restart(settings, platform):
    s = _from_url(settings, platform, jwt_jwks_min_refetch_seconds=0)
    app, client = await make_client(s)
    async with client:
        old = token(s, RSA_1, "rsa-1")
        for _ in range(5):
            assert await status(client, old) == (200, None)
        assert await status(client, token(s, EC_1, "ec-1")) == (200, None)
        assert platform.fetches == 1  # kept, not fetched per request
        # The platform rotates: rsa-2 in, rsa-1 out.
        platform.keys = [jwk(RSA_2, "rsa-2"), jwk(EC_1, "ec-1")]
        assert await status(client, token(s, RSA_2, "rsa-2")) == (200, None)
        assert platform.fetches == 2
        assert await status(client, old) == (401, "invalid_token")
        # The endpoint fails: the keys fetched before still verify.
        platform.down = True
        assert await status(client, token(s, RSA_1, "rsa-404")) == (401, "invalid_token")
        assert await status(client, token(s, RSA_2, "rsa-2")) == (200, None)
    await app.state.db.dispose()


async def test_made_up_kids_cannot_hammer_the_platform(settings, platform):
    s = _from_url(settings, platform, jwt_jwks_min_refetch_seconds=3600)
    app, client = await make_client(s)
    async with client:
        assert await status(client, token(s, RSA_1, "rsa-1")) == (200, None)
        assert platform.fetches == 1
        for n in range(20):
            assert await status(client, token(s, RSA_1, f"made-up-{n}")) == (
                401, "invalid_token")
        assert platform.fetches == 1  # at most one fetch per interval
        # Within the interval a new key waits too: that is the price of the limit.
        platform.keys = [jwk(RSA_2, "rsa-2")]
        assert await status(client, token(s, RSA_2, "rsa-2")) == (401, "invalid_token")
        assert platform.fetches == 1
    await app.state.db.dispose()


async def test_a_platform_token_from_the_url_books_on_the_hot_path(settings, platform,
                                                                   admin_headers):
    s = _from_url(settings, platform)
    app, client = await make_client(s)
    async with client:
        set_china_time("2026-12-01", "10:00")
        office, _ = await office_with_schedule(client, admin_headers)
        r = await book(client, s, slot_id(office["id"], "2026-12-08"),
                       headers=bearer(token(s, EC_1, "ec-1")))
        assert r.status_code == 201, r.text
    await app.state.db.dispose()


# --- settings and the command ----------------------------------------------------------

PRODUCTION = {"env": "production", "id_encryption_key": base64.b64encode(b"k" * 32).decode(),
              "blind_index_key": "b" * 40, "_env_file": None}


def test_production_starts_with_public_keys_and_no_secret(keys_file):
    s = Settings(**PRODUCTION, jwt_public_keys=keys_file)
    assert s.hs256_secret is None
    s = Settings(**PRODUCTION, jwt_jwks_url="https://sso.example.gov.cn/jwks.json")
    assert s.hs256_secret is None
    # With keys, a secret that is set must still be a real one.
    assert Settings(**PRODUCTION, jwt_public_keys=keys_file, jwt_secret=SECRET
                    ).hs256_secret == SECRET
    for weak in (DEV_JWT_SECRET, "short"):
        with pytest.raises(ValidationError):
            Settings(**PRODUCTION, jwt_public_keys=keys_file, jwt_secret=weak)
    # Without keys, a secret is needed (and not the default).
    with pytest.raises(ValidationError, match="HUIMIN_JWT_SECRET"):
        Settings(**PRODUCTION)
    with pytest.raises(ValidationError):
        Settings(**PRODUCTION, jwt_jwks_url="http://sso.example.gov.cn/jwks.json")
    with pytest.raises(ValidationError):
        Settings(_env_file=None, jwt_public_keys=keys_file,
                 jwt_jwks_url="https://sso.example.gov.cn/jwks.json")


def test_the_environment_names_the_keys(monkeypatch, keys_file):
    monkeypatch.setenv("HUIMIN_JWT_PUBLIC_KEYS", str(keys_file))
    assert Settings(_env_file=None).hs256_secret is None
    monkeypatch.setenv("HUIMIN_JWT_SECRET", SECRET)
    assert Settings(_env_file=None).hs256_secret == SECRET


async def test_huimin_token_citizen_signs_with_a_private_key(client, settings, tmp_path,
                                                            monkeypatch):
    pem = tmp_path / "ec.pem"
    pem.write_bytes(EC_1.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    monkeypatch.setenv("HUIMIN_JWT_PUBLIC_KEYS", str(settings.jwt_public_keys))
    get_settings.cache_clear()
    try:
        signed = CliRunner().invoke(cli, ["token", "citizen", "--subject", "wx-cli",
                                          "--private-key", str(pem), "--kid", "ec-1"])
        hs256 = CliRunner().invoke(cli, ["token", "citizen", "--subject", "wx-cli"])
    finally:
        get_settings.cache_clear()
    assert signed.exit_code == 0, signed.output
    value = signed.output.strip().splitlines()[-1]
    assert jwt.get_unverified_header(value) == {"alg": "ES256", "kid": "ec-1", "typ": "JWT"}
    r = await client.get(ME, headers=bearer(value))
    assert r.status_code == 200 and r.json()["subject"] == "wx-cli"
    # HS256 is off with keys and no secret: the command says so instead of a token.
    assert hs256.exit_code == 2
    assert "HUIMIN_JWT_SECRET" in hs256.output


def test_a_token_names_its_lifetime_in_the_platform_way_too(settings):
    value = issue_citizen_token(settings, "wx-x", timedelta(minutes=5), private_key=RSA_1,
                                kid="rsa-1")
    body = jwt.decode(value, RSA_1.public_key(), algorithms=["RS256"],
                      audience=settings.jwt_audience, options={"verify_exp": False})
    assert body["exp"] - body["iat"] == 300 and body["iss"] == settings.jwt_issuer


# --- how old keys may get (the monotonic clock of core.jwks, moved by hand) -----------


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch) -> _Monotonic:
    moved = _Monotonic()
    monkeypatch.setattr("core.jwks._now", moved)
    return moved


async def test_the_file_is_looked_at_again_after_a_second(settings, keys_file, monotonic):
    app, client = await make_client(settings)  # the default: at most once a second
    async with client:
        old = token(settings, RSA_1, "rsa-1")
        assert await status(client, old) == (200, None)
        write_key_set(keys_file, jwk(EC_1, "ec-1"))  # rsa-1 revoked
        monotonic.now += 0.5
        assert await status(client, old) == (200, None)  # not looked at yet: cheap
        monotonic.now += 0.6
        assert await status(client, old) == (401, "invalid_token")
    await app.state.db.dispose()


async def test_keys_from_the_url_are_fetched_again_once_old(settings, platform, monotonic):
    s = _from_url(settings, platform, jwt_jwks_lifespan_seconds=300,
                  jwt_jwks_min_refetch_seconds=10)
    app, client = await make_client(s)
    async with client:
        old = token(s, RSA_1, "rsa-1")
        assert await status(client, old) == (200, None)
        platform.keys = [jwk(EC_1, "ec-1")]  # rsa-1 revoked at the platform
        monotonic.now += 299
        assert await status(client, old) == (200, None)
        assert platform.fetches == 1
        monotonic.now += 2
        assert await status(client, old) == (401, "invalid_token")
        assert platform.fetches == 2
        # An unknown kid fetches again once the interval has passed, not before.
        platform.keys = [jwk(RSA_2, "rsa-2")]
        new = token(s, RSA_2, "rsa-2")
        monotonic.now += 5
        assert await status(client, new) == (401, "invalid_token")
        assert platform.fetches == 2
        monotonic.now += 5
        assert await status(client, new) == (200, None)
        assert platform.fetches == 3
    await app.state.db.dispose()
