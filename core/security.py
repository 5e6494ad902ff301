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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import HMACAlgorithm

from core import jwks
from core.clock import CHINA_TZ, clock
from core.entropy import token_bytes
from core.settings import Settings

JWT_ALGORITHM = "HS256"  # with the secret; a platform key verifies its own algorithm only
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


class HS256Off(ValueError):
    """No HS256 secret: public keys are configured and `HUIMIN_JWT_SECRET` is not."""


# The algorithm a platform key may verify is the key's own (`core.jwks`), one of these.
PLATFORM_ALGORITHMS = frozenset({"RS256", "ES256"})


def _signing_algorithm(private_key: object) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= jwks.MIN_RSA_BITS:
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) \
            and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError(f"an RSA key of at least {jwks.MIN_RSA_BITS} bits or an EC P-256 key "
                     "is needed")


def issue_citizen_token(settings: Settings, subject: str, ttl: timedelta | None = None, *,
                        private_key: object | None = None, kid: str | None = None) -> str:
    """A citizen token: HS256 with the configured secret, or, given a private key and
    its `kid`, RS256 (RSA) or ES256 (EC P-256) as the platform's sign-in service signs
    them (for development and tests: huimin itself holds no private key)."""
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
    if private_key is not None:
        if not kid:
            raise ValueError("a token signed with a private key names its key: kid")
        return jwt.encode(claims, private_key, algorithm=_signing_algorithm(private_key),
                          headers={"kid": kid})
    if settings.hs256_secret is None:
        raise HS256Off("HS256 citizen tokens are off: public keys are configured "
                       "(HUIMIN_JWT_PUBLIC_KEYS / HUIMIN_JWT_JWKS_URL) and HUIMIN_JWT_SECRET "
                       "is not set")
    return _jwt.encode(claims, settings.hs256_secret, algorithm=JWT_ALGORITHM)


@functools.lru_cache(maxsize=8192)
def _header(token: str) -> tuple[str | None, str | None]:
    """The (`alg`, `kid`) a token's header names, unverified (pyjwt raises
    `DecodeError` for what is not a JWT)."""
    header = jwt.get_unverified_header(token)
    alg, kid = header.get("alg"), header.get("kid")
    return (alg if isinstance(alg, str) else None, kid if isinstance(kid, str) else None)


@functools.lru_cache(maxsize=8192)
def _verified(token: str, key: str | jwks.PublicKey, audience: str,
              issuer: str) -> tuple[tuple[str, Any], ...]:
    """The claims of a token whose signature, algorithm, `iss` and `aud` check out
    (pyjwt raises otherwise, and nothing is kept): HS256 with a secret, or the one
    algorithm of a platform key. Kept per token and key: a citizen sends the same
    token with every request, and checking its signature and parsing it again was a
    tenth of a booking's CPU. A key set read again makes new key objects, so a
    removed key's tokens are never found here. Only what cannot change is kept; the
    times are checked on every call, against the service clock (`CitizenTokens`)."""
    if isinstance(key, jwks.PublicKey):
        secret, algorithm = key.key, key.algorithm
    else:
        secret, algorithm = key, JWT_ALGORITHM
    claims = _jwt.decode(
        token, secret, algorithms=[algorithm], audience=audience, issuer=issuer,
        options={"require": ["exp", "sub", "iss", "aud"],
                 # pyjwt would read the OS clock: times are checked by the caller against
                 # the service clock, so moved clocks in tests and libfaketime agree.
                 "verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return tuple(claims.items())


# C0 and C1 control characters and DEL: none belongs in an account id.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def make_key_source(settings: Settings) -> jwks.KeySource | None:
    """The platform's public keys the settings name, None when they name none
    (`jwks.KeySetError` for a file that cannot be read)."""
    if settings.jwt_public_keys is not None:
        return jwks.FileKeys(settings.jwt_public_keys, settings.jwt_public_keys_check_seconds)
    if settings.jwt_jwks_url is not None:
        return jwks.UrlKeys(settings.jwt_jwks_url,
                            lifespan=settings.jwt_jwks_lifespan_seconds,
                            min_refetch=settings.jwt_jwks_min_refetch_seconds,
                            timeout=settings.jwt_jwks_timeout_seconds)
    return None


class CitizenTokens:
    """The one place citizen tokens are checked (every route, the hot lane and the rate
    limiter reach it through `api.deps._authenticate`): HS256 with `hs256_secret` when
    it is on; RS256 or ES256 with the platform key the header's `kid` names, in the
    key's own algorithm; any other algorithm is refused. One per application."""

    def __init__(self, settings: Settings, keys: jwks.KeySource | None = None) -> None:
        self.settings = settings
        self.keys = keys if keys is not None else make_key_source(settings)

    async def warm(self) -> None:
        """Fetch the platform's keys ahead of the first token (a failure is logged,
        and the first token that needs them fetches them again)."""
        if self.keys is not None:
            await self.keys.warm()

    async def decode(self, token: str) -> dict:
        """Verify signature, algorithm, `kid`, `exp`, `iss`, `aud`, `role` and `sub`;
        raise jwt errors (`CitizenTokenExpired` for a token that is genuine but past
        its `exp`)."""
        settings = self.settings
        alg, kid = _header(token)
        key: str | jwks.PublicKey | None
        if alg == JWT_ALGORITHM:
            key = settings.hs256_secret
            if key is None:
                raise jwt.InvalidAlgorithmError("HS256 is off: public keys are configured")
        elif alg in PLATFORM_ALGORITHMS and self.keys is not None:
            if not kid:
                raise jwt.InvalidTokenError("a platform token names its key: kid")
            key = await self.keys.get(kid)
            if key is None:
                raise jwt.InvalidTokenError("unknown kid")
        else:
            raise jwt.InvalidAlgorithmError("the algorithm is not allowed")
        return _checked(settings, dict(_verified(token, key, settings.jwt_audience,
                                                 settings.jwt_issuer)))


def _checked(settings: Settings, claims: dict) -> dict:
    """The claims of a verified token, if they make a citizen token now (API.md)."""
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
