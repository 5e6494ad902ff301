"""Rate limits per identity: citizen `sub`, API key, else the client address.

A request counts as a citizen or a key only once its credentials are valid
(`api.deps.valid_principal`): a made-up `X-API-Key` or a bad token counts against
its address's anonymous budget, so inventing credentials buys no fresh budget.

The `limits` library, in memory by default, in Redis when `REDIS_URL` is set
(so several workers, and several nodes, share one budget: without Redis each
process counts alone). Keys in Redis start with `HUIMIN_RATE_LIMIT_KEY_PREFIX`.

Redis down mid-run: the limit fails open. A request whose count cannot be read or
written is served as if within its budget, with a warning logged
(`rate_limit_storage_unavailable`) and `huimin_rate_limit_storage_errors_total`
counted; counting resumes by itself when Redis is back. A rate limit protects the
service from one caller's excess, and refusing every citizen (or answering 503)
because the counter is away would turn a Redis outage into an outage of the whole
service; the metric is what to alert on.
"""

from __future__ import annotations

import time

from fastapi import Request
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import CollectorRegistry, Counter

from api.deps import Db, SettingsDep, valid_principal
from core.errors import RateLimited
from core.logging import get_logger
from core.principal import Principal
from core.settings import Settings

log = get_logger("huimin.ratelimit")

# A Redis that does not answer must not hold requests: give up on it quickly.
REDIS_TIMEOUT_SECONDS = 0.5


class Limiter:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(settings.redis_url.replace("redis://", "async+redis://", 1)
                                   if settings.redis_url.startswith("redis://")
                                   else settings.redis_url, implementation="redispy",
                                   key_prefix=settings.rate_limit_key_prefix,
                                   wrap_exceptions=True,
                                   socket_timeout=REDIS_TIMEOUT_SECONDS,
                                   socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.citizen = parse(settings.rate_limit_citizen)
        self.staff = parse(settings.rate_limit_staff)
        self.anonymous = parse(settings.rate_limit_anonymous)
        self.settings = settings
        self.storage_errors = Counter(
            "huimin_rate_limit_storage_errors_total",
            "Requests served without a rate-limit count because its storage (Redis) failed",
            registry=registry)

    def identity(self, request: Request, principal: Principal | None) -> tuple[str, object]:
        if principal is not None and principal.kind == "citizen":
            return "citizen:" + principal.subject, self.citizen
        if principal is not None:
            return "key:" + principal.subject, self.staff  # the key's id
        host = request.client.host if request.client else "unknown"
        return "addr:" + host, self.anonymous

    async def check(self, request: Request, principal: Principal | None) -> None:
        if not self.enabled:
            return
        ident, item = self.identity(request, principal)
        try:
            if await self.strategy.hit(item, ident):  # type: ignore[arg-type]
                return
            stats = await self.strategy.get_window_stats(item, ident)  # type: ignore[arg-type]
        except StorageError as exc:
            # Fail open (module docstring): served, logged, counted.
            self.storage_errors.inc()
            log.warning("rate_limit_storage_unavailable",
                        error_type=type(exc.storage_error).__name__)
            return
        err = RateLimited()
        err.headers = {"Retry-After": str(max(1, int(stats.reset_time - time.time()) + 1))}
        raise err


async def rate_limit(request: Request, session: Db, settings: SettingsDep) -> None:
    limiter: Limiter = request.app.state.limiter
    if limiter.enabled:
        await limiter.check(request, await valid_principal(request, session, settings))
