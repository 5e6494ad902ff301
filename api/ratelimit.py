"""Rate limits per identity: citizen `sub`, API key, else the client address.

A request counts as a citizen or a key only once its credentials are valid
(`api.deps.valid_principal`): a made-up `X-API-Key` or a bad token counts against
its address's anonymous budget, so inventing credentials buys no fresh budget.

The `limits` library, in memory by default, in Redis when `REDIS_URL` is set
(so several workers share one budget).
"""

from __future__ import annotations

import time

from fastapi import Request
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from api.deps import Db, SettingsDep, valid_principal
from core.errors import RateLimited
from core.principal import Principal
from core.settings import Settings


class Limiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(settings.redis_url.replace("redis://", "async+redis://", 1)
                                   if settings.redis_url.startswith("redis://")
                                   else settings.redis_url, implementation="redispy")
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.citizen = parse(settings.rate_limit_citizen)
        self.staff = parse(settings.rate_limit_staff)
        self.anonymous = parse(settings.rate_limit_anonymous)
        self.settings = settings

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
        if not await self.strategy.hit(item, ident):  # type: ignore[arg-type]
            stats = await self.strategy.get_window_stats(item, ident)  # type: ignore[arg-type]
            err = RateLimited()
            err.headers = {"Retry-After": str(max(1, int(stats.reset_time - time.time()) + 1))}
            raise err


async def rate_limit(request: Request, session: Db, settings: SettingsDep) -> None:
    limiter: Limiter = request.app.state.limiter
    if limiter.enabled:
        await limiter.check(request, await valid_principal(request, session, settings))
