"""Which webhook URLs are allowed (API.md): in development any http or https URL;
in production (or with `HUIMIN_WEBHOOK_REQUIRE_PUBLIC=true`) only https to public
addresses, unless `HUIMIN_WEBHOOK_ALLOWED_HOSTS` names the host. Checked when
subscribing, and on every delivery by the connection itself (`GuardedBackend`):
the host is resolved once, every address it has must be public, and the
connection goes to one of those very addresses. A name that later resolves to the
host itself or a private network is not sent to, and neither is one that answers
a public address to the check and a private one to the connection a moment later
(DNS rebinding: the check and the connect used to resolve the name separately).
TLS still verifies the certificate for the URL's host name (SNI), not the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from core.errors import WebhookUrlNotAllowed
from core.settings import Settings

# IPv6 forms that carry an IPv4 address in their last 32 bits (NAT64's well-known
# prefix, the deprecated IPv4-compatible and the SIIT-translated forms): judged by
# that IPv4 address, so `[64:ff9b::7f00:1]` is loopback. 6to4 (2002::/16) carries
# it in bits 16-48 (`sixtofour`), IPv4-mapped in `ipv4_mapped`. NAT64's local-use
# prefix (64:ff9b:1::/48) translates to whatever the network's own gateway says:
# never public.
_LAST_32_BITS_V4 = tuple(ipaddress.IPv6Network(n) for n in (
    "64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif any(ip in net for net in _LAST_32_BITS_V4):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check(url: str, settings: Settings) -> None:
    """Raise `WebhookUrlNotAllowed` unless `url` may receive events now."""
    host, port = check_form(url, settings)
    await vetted(host, port, settings)


def check_form(url: str, settings: Settings) -> tuple[str, int]:
    """What `url` alone says (its scheme and host, no look-up): `(host, port)`, or
    `WebhookUrlNotAllowed`."""
    try:  # an unclosed `[`, a port out of range or not a number: ValueError
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise WebhookUrlNotAllowed(reason="malformed") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlNotAllowed(reason="scheme")
    if not host:
        raise WebhookUrlNotAllowed(reason="host")
    if not _is_ip(host) and not _dns_name(host):
        raise WebhookUrlNotAllowed(reason="malformed")
    if _guarded(host, settings) and parts.scheme != "https":
        raise WebhookUrlNotAllowed(reason="scheme")
    return host, port or (443 if parts.scheme == "https" else 80)


def _dns_name(host: str) -> bool:
    """What a resolver takes: labels of 1-63 letters, digits and hyphens, 253
    characters in all (a name in other scripts as its IDNA `xn--` form)."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:  # a label over 63 characters, or not a name at all
        return False
    return _DNS_NAME.fullmatch(ascii_host) is not None


_DNS_NAME = re.compile(r"(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                       r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?")


def _guarded(host: str, settings: Settings) -> bool:
    return settings.webhook_public_only and host.lower() not in settings.webhook_hosts_allowed


async def vetted(host: str, port: int, settings: Settings) -> list[str] | None:
    """The addresses of `host` a delivery may connect to, resolved now; None when
    the rules do not restrict it (development, or an allowed host). Raises
    `WebhookUrlNotAllowed` if it has none or any is not public."""
    if not _guarded(host, settings):
        return None
    try:
        addresses = [host.strip("[]")] if _is_ip(host) else await resolve(host, port)
    except OSError:
        raise WebhookUrlNotAllowed(reason="unresolvable") from None
    if not addresses or not all(_public(a) for a in addresses):
        raise WebhookUrlNotAllowed(reason="private_address")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend for webhook deliveries: every TCP connection is
    to an address `vetted` has just allowed (module docstring), tried in turn."""

    def __init__(self, settings: Settings, inner: httpcore.AsyncNetworkBackend | None = None
                 ) -> None:
        self.settings = settings
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted(host, port, self.settings)
        if addresses is None:
            return await self.inner.connect_tcp(host, port, timeout, local_address,
                                                socket_options)
        failed: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address,
                                                    socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise WebhookUrlNotAllowed(reason="host")  # never a delivery's (no `uds`)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def client(settings: Settings) -> httpx.AsyncClient:
    """The deliveries' HTTP client: no redirects (a 3xx is not a delivery, and must
    not lead elsewhere), no proxies from the environment, connections through
    `GuardedBackend`."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    pool = transport._pool  # noqa: SLF001 - httpx takes no network backend itself
    if not isinstance(pool, httpcore.AsyncConnectionPool) \
            or not hasattr(pool, "_network_backend"):  # pragma: no cover - an httpx upgrade
        raise RuntimeError("httpx's transport no longer keeps an httpcore pool")
    pool._network_backend = GuardedBackend(settings)  # noqa: SLF001
    return httpx.AsyncClient(transport=transport, timeout=settings.webhook_timeout_seconds,
                             follow_redirects=False, trust_env=False)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
