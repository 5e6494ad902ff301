"""Security primitives: citizen JWTs, staff API keys, AES-GCM, HMAC blind index.

No database and no framework here; `api.auth` puts them to work.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import HMACAlgorithm

from core.clock import CHINA_TZ, clock
from core.entropy import token_bytes
from core.settings import Settings

JWT_ALGORITHM = "HS256"  # pinned: tokens naming any other algorithm are refused
API_KEY_PREFIX = "hm"


class _CachedHMAC(HMACAlgorithm):
    """HS256 whose key preparation runs once per secret, not on every request.

    pyjwt re-checks on each decode that the HMAC secret is not a PEM/DER key,
    by trying to parse it as one: about 0.4 ms per request. The secret comes
    from settings and does not change, so the (same) check runs once here.
    """

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a handful of secrets, kept for the process
    def prepare_key(self, key: str | bytes) -> bytes:  # type: ignore[override]
        return super().prepare_key(key)


_jwt = jwt.PyJWT()
_jwt._jws.unregister_algorithm(JWT_ALGORITHM)
_jwt._jws.register_algorithm(JWT_ALGORITHM, _CachedHMAC(HMACAlgorithm.SHA256))


class CitizenTokenExpired(jwt.ExpiredSignatureError):
    """A well-signed citizen token past its `exp`; says when it expired (China time)."""

    def __init__(self, expired_at: datetime) -> None:
        super().__init__("Signature has expired")
        self.expired_at = expired_at


class TokenLifetimeTooLong(ValueError):
    """A token asked for beyond `HUIMIN_JWT_MAX_TTL_MINUTES`."""


def issue_citizen_token(settings: Settings, subject: str, ttl: timedelta | None = None) -> str:
    now = clock.now()
    ttl = ttl if ttl is not None else timedelta(minutes=settings.jwt_ttl_minutes)
    if ttl > timedelta(minutes=settings.jwt_max_ttl_minutes):
        raise TokenLifetimeTooLong(
            f"a citizen token lives at most {settings.jwt_max_ttl_minutes} minutes "
            "(HUIMIN_JWT_MAX_TTL_MINUTES)")
    claims = {
        "sub": subject,
        "role": "citizen",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return _jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)


@functools.lru_cache(maxsize=8192)
def _verified(token: str, secret: str, audience: str, issuer: str) -> tuple[tuple[str, Any], ...]:
    """The claims of a token whose signature, algorithm, `iss` and `aud` check out
    (pyjwt raises otherwise, and nothing is kept). Kept per token: a citizen sends
    the same token with every request, and checking its HMAC and parsing it again
    was a tenth of a booking's CPU. Only what cannot change is kept; the times are
    checked on every call, against the service clock (`decode_citizen_token`)."""
    claims = _jwt.decode(
        token, secret, algorithms=[JWT_ALGORITHM], audience=audience, issuer=issuer,
        options={"require": ["exp", "sub", "iss", "aud"],
                 # pyjwt would read the OS clock: times are checked by the caller against
                 # the service clock, so moved clocks in tests and libfaketime agree.
                 "verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return tuple(claims.items())


# C0 and C1 control characters and DEL: none belongs in an account id.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def decode_citizen_token(settings: Settings, token: str) -> dict:
    """Verify signature, algorithm, `exp`, `iss`, `aud` and `sub`; raise jwt errors
    (`CitizenTokenExpired` for a token that is genuine but past its `exp`)."""
    claims = dict(_verified(token, settings.jwt_secret, settings.jwt_audience,
                            settings.jwt_issuer))
    now = clock.now().timestamp()
    for claim in ("exp", "iat", "nbf"):
        if claim in claims and not isinstance(claims[claim], int | float):
            raise jwt.InvalidTokenError(f"{claim} must be a number")
    if claims.get("role") != "citizen" or not isinstance(claims.get("sub"), str):
        raise jwt.InvalidTokenError("not a citizen token")
    if not 1 <= len(claims["sub"]) <= 128 or _CONTROL.search(claims["sub"]):
        # API.md: empty, longer than 128 characters or holding a control character
        # (a NUL would reach PostgreSQL, which refuses it in text).
        raise jwt.InvalidTokenError("bad subject")
    if claims.get("nbf", now) > now or claims.get("iat", now) > now:
        raise jwt.ImmatureSignatureError("The token is not yet valid")
    # A lifetime past the maximum, however it is spelled (a long `exp - iat`, or an
    # `exp` too far ahead, with or without `iat`), is no token of ours.
    longest = settings.jwt_max_ttl_minutes * 60
    if claims["exp"] - claims.get("iat", now) > longest or claims["exp"] - now > longest:
        raise jwt.InvalidTokenError("lifetime beyond the maximum")
    # Last: "expired" is said only of a token that is otherwise a good citizen token.
    if claims["exp"] <= now:
        raise CitizenTokenExpired(datetime.fromtimestamp(claims["exp"], CHINA_TZ))
    return claims


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (clear key shown once, lookup prefix, SHA-256 hash to store).

    The key carries 256 bits of entropy, so a fast hash is the right tool: a slow
    password hash would only slow every staff request.
    """
    lookup = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    clear = f"{API_KEY_PREFIX}_{lookup}_{secret}"
    return clear, lookup, hash_api_key(clear)


def hash_api_key(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def parse_api_key(clear: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = clear.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def api_keys_equal(clear: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(clear), stored_hash)


class Cipher:
    """AES-256-GCM for identity numbers and bank accounts.

    Stored form: `v1.` + base64(nonce || ciphertext+tag). The version lets keys
    rotate later without guessing.
    """

    VERSION = "v1"

    def __init__(self, key_b64: str, blind_key: str) -> None:
        self._aead = AESGCM(base64.b64decode(key_b64))
        self._blind_key = blind_key.encode()

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = token_bytes(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), context.encode() or None)
        return f"{self.VERSION}." + base64.b64encode(nonce + ct).decode()

    def decrypt(self, stored: str, *, context: str = "") -> str:
        version, _, body = stored.partition(".")
        if version != self.VERSION:
            raise ValueError("unknown ciphertext version")
        raw = base64.b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode() or None).decode()

    def blind_index(self, value: str, *, purpose: str) -> str:
        msg = f"{purpose}:{value}".encode()
        return hmac.new(self._blind_key, msg, hashlib.sha256).hexdigest()
