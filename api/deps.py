"""Typed dependency aliases: the session, who is asking, what they may do,
idempotency and If-Match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import jwt
from fastapi import Depends, Header, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import Forbidden, InvalidApiKey, InvalidToken, TokenExpired, Unauthenticated
from core.principal import Principal
from core.security import CitizenTokenExpired, decode_citizen_token
from core.settings import Settings
from services import idempotency, organisations

# Every dependency here is `async def`: FastAPI runs a plain `def` dependency in
# a worker thread, a hop that cost more than the work on each request.


async def db_session(request: Request) -> AsyncSession:
    return request.state.db_session


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


Db = Annotated[AsyncSession, Depends(db_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="Citizen JWT (mini-program sign-in)")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="Staff API key of an organisation")


async def current_principal(
    request: Request,
    session: Db,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if api_key:
        principal = await organisations.authenticate_api_key(session, api_key)
        if principal is None:
            raise InvalidApiKey()
    elif bearer is not None:
        try:
            claims = decode_citizen_token(settings, bearer.credentials)
        except CitizenTokenExpired as exc:
            err = TokenExpired(expired_at=exc.expired_at.isoformat())
            err.headers = {"WWW-Authenticate":
                           'Bearer error="invalid_token", error_description="token expired"'}
            raise err from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        principal = Principal(kind="citizen", subject=claims["sub"], role="citizen")
    else:
        err = Unauthenticated()
        err.headers = {"WWW-Authenticate": 'Bearer, ApiKey realm="huimin"'}
        raise err
    request.state.principal = principal
    return principal


AnyPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[..., Principal]:
    async def check(principal: AnyPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(roles=", ".join(roles))
        return principal

    check.__name__ = f"require_{'_or_'.join(roles)}"
    return check


CitizenPrincipal = Annotated[Principal, Depends(require_role("citizen"))]
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
OfficeStaff = Annotated[Principal, Depends(require_role("office"))]
InstitutionStaff = Annotated[Principal, Depends(require_role("institution"))]
ProviderStaff = Annotated[Principal, Depends(require_role("provider"))]
ReviewerStaff = Annotated[Principal, Depends(require_role("reviewer"))]
ApproverStaff = Annotated[Principal, Depends(require_role("approver"))]


async def _idempotency(request: Request, session: Db, settings: SettingsDep,
                       principal: AnyPrincipal,
                       key: Annotated[str | None, Header(
                           alias="Idempotency-Key",
                           description="1-255 printable characters; the same key with the "
                                       "same body replays the first response",
                           examples=["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"])] = None,
                       ) -> idempotency.Claim:
    key = idempotency.validate_key(key)
    body = await request.body()
    claim = await idempotency.begin(
        session, scope=principal.scope, key=key,
        request_hash=idempotency.fingerprint(request.method, request.url.path, body),
        ttl_hours=settings.idempotency_ttl_hours,
    )
    request.state.idempotency = claim
    return claim


Idempotent = Annotated[idempotency.Claim, Depends(_idempotency)]


async def _optional_idempotency(request: Request, session: Db, settings: SettingsDep,
                                principal: AnyPrincipal,
                                key: Annotated[str | None, Header(
                                    alias="Idempotency-Key",
                                    description="Optional here; same semantics when sent")] = None,
                                ) -> idempotency.Claim | None:
    if key is None:
        return None
    return await _idempotency(request, session, settings, principal, key)


OptionalIdempotent = Annotated[idempotency.Claim | None, Depends(_optional_idempotency)]

async def _if_match(value: Annotated[str | None, Header(
    alias="If-Match", description="The ETag last read; required to change the resource",
    examples=['"org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4.1"'])] = None) -> str | None:
    return value


IfMatch = Annotated[str | None, Depends(_if_match)]


class PageParams:
    def __init__(self, limit: int, cursor: str | None) -> None:
        self.limit = limit
        self.cursor = cursor


async def _paging(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  cursor: Annotated[str | None, Query(max_length=200)] = None) -> PageParams:
    return PageParams(limit, cursor)


Paging = Annotated[PageParams, Depends(_paging)]
