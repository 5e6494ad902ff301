"""Which webhook URLs are allowed (API.md): in development any http or https URL;
in production (or with `HUIMIN_WEBHOOK_REQUIRE_PUBLIC=true`) only https to public
addresses, unless `HUIMIN_WEBHOOK_ALLOWED_HOSTS` names the host. Checked when
subscribing, and again after resolving the host on every delivery, so a name
that later resolves to the host itself or a private network is not sent to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from core.errors import WebhookUrlNotAllowed
from core.settings import Settings


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check(url: str, settings: Settings) -> None:
    """Raise `WebhookUrlNotAllowed` unless `url` may receive events now."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlNotAllowed(reason="scheme")
    if not host:
        raise WebhookUrlNotAllowed(reason="host")
    if not settings.webhook_public_only or host in settings.webhook_hosts_allowed:
        return
    if parts.scheme != "https":
        raise WebhookUrlNotAllowed(reason="scheme")
    try:
        addresses = [host] if _is_ip(host) else await resolve(host, parts.port or 443)
    except OSError:
        raise WebhookUrlNotAllowed(reason="unresolvable") from None
    if not addresses or not all(_public(a) for a in addresses):
        raise WebhookUrlNotAllowed(reason="private_address")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
