"""The public keys of the platform's sign-in service: a JWK Set (`{"keys": [...]}`)
from a file read again when it changes, or from a URL (API.md "Authentication and
roles"). `core.security` verifies citizen tokens with them.

A key is usable when it names itself (`kid`), is for signatures, is public, and is an
RSA key (then it verifies RS256 only, 2048 bits or more) or an EC P-256 key (ES256
only): the algorithm is the key's, never the token's choice. Any other member of the
set (an `oct` secret, another curve, an `alg` other than the key's, a private key, a
`kid` given twice) is left out, with a warning in the log.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWTError

from core.logging import get_logger

log = get_logger("huimin.jwks")

MIN_RSA_BITS = 2048


def _now() -> float:
    """Seconds on the monotonic clock: how old the keys are, and when they were last
    looked at (never the service clock, which tests and rehearsals move)."""
    return time.monotonic()


class KeySetError(ValueError):
    """A JWK Set that cannot be read at all (not JSON, no `keys` list)."""


@dataclass(frozen=True, eq=False, slots=True)
class PublicKey:
    """One usable key: its `kid`, the one algorithm it verifies, the key itself.
    Compared by identity: a key set read again makes new ones (`security` keeps
    verified tokens per key object)."""

    kid: str
    algorithm: str  # "RS256" | "ES256"
    key: Any  # a cryptography public key


def _pinned_algorithm(jwk: dict[str, Any]) -> str | None:
    if jwk.get("kty") == "RSA":
        return "RS256"
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    return None


def parse_key_set(data: Any, source: str) -> dict[str, PublicKey]:
    """The usable keys of a JWK Set by `kid` (module docstring); `KeySetError` when
    `data` is no JWK Set at all."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeySetError(f"{source}: not a JWK Set (a JSON object with a \"keys\" list)")
    keys: dict[str, PublicKey] = {}
    twice: set[str] = set()
    for n, jwk in enumerate(data["keys"]):
        why = None
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        algorithm = _pinned_algorithm(jwk) if isinstance(jwk, dict) else None
        if not isinstance(jwk, dict):
            why = "not a JSON object"
        elif not isinstance(kid, str) or not kid:
            why = "no kid"
        elif algorithm is None:
            why = f"kty {jwk.get('kty')!r} crv {jwk.get('crv')!r}: only RSA and EC P-256 keys"
        elif jwk.get("alg", algorithm) != algorithm:
            why = f"alg {jwk.get('alg')!r}: this key verifies {algorithm} only"
        elif jwk.get("use", "sig") != "sig":
            why = f"use {jwk.get('use')!r}"
        elif "d" in jwk:
            why = "a private key (publish the public part only)"
        if why is None:
            try:
                key = PyJWK(jwk, algorithm=algorithm).key
            except PyJWTError as exc:
                why = f"unreadable: {exc}"
            else:
                if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
                    why = f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})"
                elif not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                    why = "not a public key"
        if why is not None:
            log.warning("jwks: key left out", source=source, index=n,
                                                     kid=kid, reason=why)
            continue
        assert isinstance(kid, str) and algorithm is not None
        if kid in keys or kid in twice:
            twice.add(kid)
            keys.pop(kid, None)
            log.warning("jwks: key left out", source=source, index=n,
                                                     kid=kid, reason="kid given twice")
            continue
        keys[kid] = PublicKey(kid=kid, algorithm=algorithm, key=key)
    return keys


class FileKeys:
    """A JWK Set file, read again when it changes: its identity, size and times are
    looked at at most once per `check_seconds`, and at once for a `kid` it lacks (a
    `stat`, cheap). A file that cannot be read at start-up stops the start; one that
    cannot be read later (not JSON: half written) leaves the keys read before, with an
    error in the log. Replace it atomically (write a new file, then `mv` it over)."""

    def __init__(self, path: Path, check_seconds: float) -> None:
        self.path = path
        self.check_seconds = check_seconds
        self._keys: dict[str, PublicKey] = {}
        self._seen: tuple[int, ...] | None = None
        self._checked_at = 0.0
        try:
            seen = self._stat()
        except OSError as exc:
            raise KeySetError(f"HUIMIN_JWT_PUBLIC_KEYS: {exc}") from exc
        self._reload(seen, initial=True)

    def _stat(self) -> tuple[int, ...]:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _reload(self, seen: tuple[int, ...], *, initial: bool = False) -> None:
        try:
            data = json.loads(self.path.read_bytes())
            keys = parse_key_set(data, str(self.path))
        except (OSError, ValueError) as exc:
            if initial:
                raise KeySetError(f"HUIMIN_JWT_PUBLIC_KEYS: {exc}") from exc
            log.error("jwks: file unreadable, the keys read before stay",
                      source=str(self.path), error=str(exc))
        else:
            if not initial:
                log.info("jwks: keys read again",
                         source=str(self.path), kids=sorted(keys))
            self._keys = keys
        self._seen = seen

    def _refresh(self) -> None:
        self._checked_at = _now()
        try:
            seen = self._stat()
        except OSError as exc:
            log.error("jwks: file gone, the keys read before stay",
                      source=str(self.path), error=str(exc))
            return
        if seen != self._seen:
            self._reload(seen)

    async def get(self, kid: str) -> PublicKey | None:
        if kid not in self._keys or _now() - self._checked_at >= self.check_seconds:
            self._refresh()
        return self._keys.get(kid)

    async def warm(self) -> None:
        return None


class UrlKeys:
    """A JWK Set served at a URL, fetched in a thread (the fetch blocks; the event loop
    does not): again once the keys are `lifespan` old, and for a `kid` they lack, but
    never twice within `min_refetch` seconds, so made-up `kid`s cannot hammer the
    sign-in service. One fetch at a time: requests that need it wait for the same
    one. A failed fetch leaves the keys fetched before, with an error in the log."""

    def __init__(self, url: str, *, lifespan: float, min_refetch: float,
                 timeout: float) -> None:
        self.url = url
        self.lifespan = lifespan
        self.min_refetch = min_refetch
        # PyJWKClient: http(s) only, no redirects, a timeout; its own caches are not
        # used (they lock a thread per lookup), this class caches.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout,
                                   headers={"User-Agent": "huimin"})
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._fetching: asyncio.Future[None] | None = None

    def _may_fetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self.min_refetch

    async def get(self, kid: str) -> PublicKey | None:
        now = _now()
        stale = self._fetched_at is None or now - self._fetched_at >= self.lifespan
        if (stale or kid not in self._keys) and (self._fetching is not None
                                                 or self._may_fetch(now)):
            await self._fetch()
        return self._keys.get(kid)

    async def warm(self) -> None:
        await self._fetch()

    async def _fetch(self) -> None:
        if self._fetching is None:
            self._tried_at = _now()
            self._fetching = asyncio.ensure_future(self._fetch_once())
        fetching = self._fetching
        # shielded: a request that gives up does not cancel the others' fetch
        await asyncio.shield(fetching)

    async def _fetch_once(self) -> None:
        try:
            data = await asyncio.to_thread(self._client.fetch_data)
            keys = parse_key_set(data, self.url)
        except (PyJWKClientError, ValueError, OSError) as exc:  # JSON, KeySetError
            log.error("jwks: fetch failed, the keys fetched before stay",
                      source=self.url, error=str(exc))
        else:
            if set(keys) != set(self._keys):
                log.info("jwks: keys fetched", source=self.url, kids=sorted(keys))
            self._keys = keys
            self._fetched_at = _now()
        finally:
            self._fetching = None


KeySource = FileKeys | UrlKeys
