"""Rate limits per identity: citizen `sub`, API key, else the client address.

The `limits` library, in memory by default, in Redis when `REDIS_URL` is set
(so several workers share one budget).
"""

from __future__ import annotations

import hashlib
import time

import jwt
from fastapi import Request
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from core.errors import RateLimited
from core.security import decode_citizen_token
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

    def identity(self, request: Request) -> tuple[str, object]:
        key = request.headers.get("x-api-key")
        if key:
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24], self.staff
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            try:
                claims = decode_citizen_token(self.settings, auth[7:].strip())
                return "citizen:" + claims["sub"], self.citizen
            except jwt.PyJWTError:
                pass
        host = request.client.host if request.client else "unknown"
        return "addr:" + host, self.anonymous

    async def check(self, request: Request) -> None:
        if not self.enabled:
            return
        ident, item = self.identity(request)
        if not await self.strategy.hit(item, ident):  # type: ignore[arg-type]
            stats = await self.strategy.get_window_stats(item, ident)  # type: ignore[arg-type]
            err = RateLimited()
            err.headers = {"Retry-After": str(max(1, int(stats.reset_time - time.time()) + 1))}
            raise err


async def rate_limit(request: Request) -> None:
    await request.app.state.limiter.check(request)
