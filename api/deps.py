"""Typed dependency aliases: the session, who is asking, what they may do,
idempotency and If-Match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, Header, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import errors
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

# --- what a dependency adds to the OpenAPI entry of every operation that uses it -----
#
# FastAPI cannot let a dependency add responses to an operation, so a dependency
# says here which errors it can raise and how its headers are documented, and
# `api.app`'s `openapi()` walks each route's dependency tree and adds them: a route
# that takes `Idempotent`, `IfMatch` or `Paging` cannot forget their errors.

OPENAPI_ERRORS = "__huimin_openapi_errors__"
OPENAPI_HEADERS = "__huimin_openapi_headers__"

_T = TypeVar("_T", bound=Callable[..., Any])


def documented(*errs: type[errors.DomainError],
               headers: dict[str, dict[str, Any]] | None = None) -> Callable[[_T], _T]:
    """Mark a dependency with the errors it raises and its headers' documentation
    (OpenAPI parameter fields, e.g. `required`, `schema`, `description`)."""
    def mark(fn: _T) -> _T:
        setattr(fn, OPENAPI_ERRORS, (*getattr(fn, OPENAPI_ERRORS, ()), *errs))
        if headers:
            setattr(fn, OPENAPI_HEADERS, {**getattr(fn, OPENAPI_HEADERS, {}), **headers})
        return fn
    return mark


_CREDENTIAL_ERRORS = (errors.Unauthenticated, errors.InvalidToken, errors.TokenExpired,
                      errors.InvalidApiKey, errors.ConflictingCredentials,
                      errors.MalformedCredentials)


async def _authenticate(request: Request, session: AsyncSession,
                        settings: Settings) -> Principal | None:
    """The caller the credentials name, None without credentials; 401 when they are
    invalid, malformed, or of both kinds at once (API.md)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    headers = request.headers
    authorization = headers.get("authorization")
    api_key = headers.get("x-api-key")
    if authorization is None and api_key is None:
        return None
    if authorization is not None and api_key is not None:
        raise errors.ConflictingCredentials()
    if api_key is not None:
        api_key = api_key.strip()
        if not api_key:
            raise errors.MalformedCredentials(header="X-API-Key", expected="an API key")
        principal = await organisations.authenticate_api_key(session, api_key)
        if principal is None:
            raise errors.InvalidApiKey()
    else:
        assert authorization is not None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise errors.MalformedCredentials(header="Authorization",
                                              expected="`Bearer <token>`")
        try:
            claims = decode_citizen_token(settings, token)
        except CitizenTokenExpired as exc:
            err = errors.TokenExpired(expired_at=exc.expired_at.isoformat())
            err.headers = {"WWW-Authenticate":
                           'Bearer error="invalid_token", error_description="token expired"'}
            raise err from exc
        except jwt.PyJWTError as exc:
            raise errors.InvalidToken() from exc
        principal = Principal(kind="citizen", subject=claims["sub"], role="citizen")
    request.state.principal = principal
    return principal


@documented(*_CREDENTIAL_ERRORS)
async def current_principal(
    request: Request,
    session: Db,
    settings: SettingsDep,
    # Declared for the OpenAPI document's security schemes; the headers are read
    # (strictly) by `_authenticate`.
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _api_key_doc: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    principal = await _authenticate(request, session, settings)
    if principal is None:
        err = errors.Unauthenticated()
        err.headers = {"WWW-Authenticate": 'Bearer, ApiKey realm="huimin"'}
        raise err
    return principal


@documented(*(e for e in _CREDENTIAL_ERRORS if e is not errors.Unauthenticated))
async def credentials_if_any(request: Request, session: Db,
                             settings: SettingsDep) -> Principal | None:
    """For public routes: anonymous is fine, but credentials that are sent must be
    valid (401 otherwise), so a frontend with a broken token finds out."""
    if "authorization" not in request.headers and "x-api-key" not in request.headers:
        return None
    return await _authenticate(request, session, settings)


AnyPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[..., Principal]:
    @documented(errors.Forbidden)
    async def check(principal: AnyPrincipal) -> Principal:
        if principal.role not in roles:
            raise errors.Forbidden(roles=", ".join(roles))
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


IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255,
                          "pattern": "^[ -~]+$",
                          "examples": ["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"]}
_IDEMPOTENCY_DESCRIPTION = ("1-255 printable ASCII characters, scoped to the caller and kept "
                            "at least 24 hours. The same key with the same body replays the "
                            "first response (header `Idempotent-Replayed: true`); with another "
                            "body 422 `idempotency_key_reused`; while the first is running 409 "
                            "`idempotency_in_flight`. Missing or malformed: 400 "
                            "`idempotency_key_required`.")
_IDEMPOTENCY_ERRORS = (errors.IdempotencyKeyRequired, errors.IdempotencyInFlight,
                       errors.IdempotencyKeyReused)


async def _claim(request: Request, session: AsyncSession, settings: Settings,
                 principal: Principal, key: str | None) -> idempotency.Claim:
    key = idempotency.validate_key(key)
    body = await request.body()
    claim = await idempotency.begin(
        session, scope=principal.scope, key=key,
        request_hash=idempotency.fingerprint(request.method, request.url.path, body),
        ttl_hours=settings.idempotency_ttl_hours,
    )
    request.state.idempotency = claim
    return claim


# The header is `str | None` at run time so that a missing one is 400
# `idempotency_key_required` (API.md), not FastAPI's 422; the document says it is
# required, with its real constraints.
@documented(*_IDEMPOTENCY_ERRORS, headers={"Idempotency-Key": {
    "required": True, "schema": IDEMPOTENCY_KEY_SCHEMA, "description": _IDEMPOTENCY_DESCRIPTION}})
async def _idempotency(request: Request, session: Db, settings: SettingsDep,
                       principal: AnyPrincipal,
                       key: Annotated[str | None, Header(
                           alias="Idempotency-Key",
                           examples=["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"])] = None,
                       ) -> idempotency.Claim:
    return await _claim(request, session, settings, principal, key)


Idempotent = Annotated[idempotency.Claim, Depends(_idempotency)]


@documented(*_IDEMPOTENCY_ERRORS, headers={"Idempotency-Key": {
    "required": False, "schema": IDEMPOTENCY_KEY_SCHEMA,
    "description": "Optional here; when sent: " + _IDEMPOTENCY_DESCRIPTION}})
async def _optional_idempotency(request: Request, session: Db, settings: SettingsDep,
                                principal: AnyPrincipal,
                                key: Annotated[str | None, Header(
                                    alias="Idempotency-Key",
                                    examples=["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"])] = None,
                                ) -> idempotency.Claim | None:
    if key is None:
        return None
    return await _claim(request, session, settings, principal, key)


OptionalIdempotent = Annotated[idempotency.Claim | None, Depends(_optional_idempotency)]

_ETAG_EXAMPLE = '"org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4.1"'
IF_MATCH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 500,
                   "examples": [_ETAG_EXAMPLE]}


# Missing is 428 `precondition_required` (API.md), so the header is optional at run
# time and the services check it; the document says it is required.
@documented(errors.PreconditionFailed, errors.PreconditionRequired, headers={"If-Match": {
    "required": True, "schema": IF_MATCH_SCHEMA,
    "description": "The `ETag` last read (or `*`). Missing: 428 `precondition_required`; "
                   "not the current one: 412 `precondition_failed`."}})
async def _if_match(value: Annotated[str | None, Header(
        alias="If-Match", examples=[_ETAG_EXAMPLE])] = None) -> str | None:
    return value


IfMatch = Annotated[str | None, Depends(_if_match)]


@documented(errors.PreconditionFailed, errors.PreconditionRequired, headers={"If-Match": {
    "required": False, "schema": IF_MATCH_SCHEMA,
    "description": "Not needed to create the resource; required (428 "
                   "`precondition_required` without it) to change it once it exists: the "
                   "`ETag` last read, else 412 `precondition_failed`."}})
async def _if_match_once_exists(value: Annotated[str | None, Header(
        alias="If-Match", examples=[_ETAG_EXAMPLE])] = None) -> str | None:
    return value


IfMatchOnceExists = Annotated[str | None, Depends(_if_match_once_exists)]


class PageParams:
    def __init__(self, limit: int, cursor: str | None) -> None:
        self.limit = limit
        self.cursor = cursor


@documented(errors.InvalidCursor)
async def _paging(limit: Annotated[int, Query(ge=1, le=100, description="Items per page",
                                              examples=[20])] = 20,
                  cursor: Annotated[str | None, Query(
                      min_length=1, max_length=200,
                      description="`next_cursor` of the previous page; any other value is "
                                  "400 `invalid_cursor`")] = None) -> PageParams:
    return PageParams(limit, cursor)


Paging = Annotated[PageParams, Depends(_paging)]
