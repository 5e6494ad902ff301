"""Typed dependency aliases: the session, who is asking, what they may do,
idempotency, If-Match, paging and bounded query values.

Each dependency documents itself (`documented`): the errors it raises and how its
headers read in the OpenAPI document, which `api.app` adds to every operation that
uses it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, Header, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import errors
from core.principal import Principal
from core.security import CitizenTokenExpired, CitizenTokens
from core.settings import Settings
from schemas.common import (  # noqa: F401 - the patterns, re-exported for the routers
    DATE_PATTERN,
    DATE_RANGE_DOC,
    DATETIME_PATTERN,
    DIVISION_CODE_DOCUMENTED,
    DIVISION_CODE_FORM,
    DIVISION_PREFIX_FORM,
    FIRST_DAY,
    FIRST_INSTANT,
    LAST_DAY,
    LAST_INSTANT,
    MONTH_PATTERN,
)
from services import citizens, idempotency, organisations

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
OPENAPI_RESPONSE_HEADERS = "__huimin_openapi_response_headers__"
OPENAPI_REPLAYS = "__huimin_openapi_replays__"
OPENAPI_ERROR_HEADERS = "__huimin_openapi_error_headers__"
OPENAPI_WRITE_ERRORS = "__huimin_openapi_write_errors__"

_T = TypeVar("_T", bound=Callable[..., Any])


def documented(*errs: type[errors.DomainError],
               headers: dict[str, dict[str, Any]] | None = None,
               response_headers: tuple[str, ...] = (),
               error_headers: dict[int, dict[str, dict[str, Any]]] | None = None,
               replays: bool = False,
               write_errors: tuple[type[errors.DomainError], ...] = ()) -> Callable[[_T], _T]:
    """Mark a dependency with the errors it raises, its request headers'
    documentation (OpenAPI parameter fields, e.g. `required`, `schema`), the response
    headers it makes the success answer carry (names of `api.problems.RESPONSE_HEADERS`),
    the headers its error answers carry (`error_headers`, by status), and whether it
    may answer with a stored replay (which repeats only the body and `Location`);
    `write_errors` are raised only on writes (documented on POST, PUT, PATCH, DELETE)."""
    def mark(fn: _T) -> _T:
        setattr(fn, OPENAPI_ERRORS, (*getattr(fn, OPENAPI_ERRORS, ()), *errs))
        if write_errors:
            setattr(fn, OPENAPI_WRITE_ERRORS,
                    (*getattr(fn, OPENAPI_WRITE_ERRORS, ()), *write_errors))
        if headers:
            setattr(fn, OPENAPI_HEADERS, {**getattr(fn, OPENAPI_HEADERS, {}), **headers})
        if response_headers:
            setattr(fn, OPENAPI_RESPONSE_HEADERS,
                    (*getattr(fn, OPENAPI_RESPONSE_HEADERS, ()), *response_headers))
        if replays:
            setattr(fn, OPENAPI_REPLAYS, True)
        if error_headers:
            setattr(fn, OPENAPI_ERROR_HEADERS, error_headers)
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
    refused = getattr(request.state, "credentials_refused", None)
    if refused is not None:  # looked at once already (the rate limiter): same answer
        raise refused
    headers = request.headers
    authorization = headers.get("authorization")
    api_key = headers.get("x-api-key")
    if authorization is None and api_key is None:
        return None
    for name, label, expected in (("x-api-key", "X-API-Key", "one API key"),
                                  ("authorization", "Authorization", "one `Bearer <token>`")):
        if len(headers.getlist(name)) > 1:  # never "the first one wins"
            raise errors.MalformedCredentials(header=label, expected=expected)
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
            tokens: CitizenTokens = request.app.state.citizen_tokens
            claims = await tokens.decode(token)
        except CitizenTokenExpired as exc:
            err = errors.TokenExpired(expired_at=exc.expired_at.isoformat())
            err.headers = {"WWW-Authenticate":
                           'Bearer error="invalid_token", error_description="token expired"'}
            raise err from exc
        except jwt.PyJWTError as exc:
            raise errors.InvalidToken() from exc
        # The account's real-name identity is read by the routes that need the
        # caller (`current_principal`), not here: the rate limiter needs only the
        # subject, and a hot command's write checks the identity itself.
        principal = Principal(kind="citizen", subject=claims["sub"], role="citizen",
                              identity_known=False)
    request.state.principal = principal
    return principal


async def _with_identity(request: Request, session: AsyncSession, settings: Settings,
                         principal: Principal) -> Principal:
    """A citizen acts as the person the account is bound to (real-name identity,
    API.md): the caller with its identity read, once per request."""
    principal = request.state.principal = await citizens.resolved(session, principal,
                                                                  settings)
    return principal


async def valid_principal(request: Request, session: AsyncSession,
                          settings: Settings) -> Principal | None:
    """The caller, only if the credentials sent are valid; None otherwise (none sent,
    or wrong: those are `_authenticate`'s 401s, raised where the route needs them).
    What the rate limiter keys a request by, and who a refused write is audited as."""
    try:
        return await _authenticate(request, session, settings)
    except errors.DomainError as exc:
        request.state.credentials_refused = exc
        return None


@documented(*_CREDENTIAL_ERRORS)
async def authenticated(
    request: Request,
    session: Db,
    settings: SettingsDep,
    # Declared for the OpenAPI document's security schemes; the headers are read
    # (strictly) by `_authenticate`.
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _api_key_doc: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, whose credentials must be valid (401 otherwise): where every
    router but the public ones is mounted (api.app). A citizen's identity is not
    read here (`current_principal` reads it)."""
    principal = await _authenticate(request, session, settings)
    if principal is None:
        raise _unauthenticated()
    return principal


async def current_principal(request: Request, session: Db, settings: SettingsDep,
                            principal: Annotated[Principal, Depends(authenticated)],
                            ) -> Principal:
    """The caller, a citizen with the account's identity read: what a route that
    decides anything about the caller takes (`AnyPrincipal`, `require_role`)."""
    return await _with_identity(request, session, settings, principal)


def _unauthenticated() -> errors.DomainError:
    err = errors.Unauthenticated()
    err.headers = {"WWW-Authenticate": 'Bearer, ApiKey realm="huimin"'}
    return err


@documented(*(e for e in _CREDENTIAL_ERRORS if e is not errors.Unauthenticated))
async def credentials_if_any(request: Request, session: Db,
                             settings: SettingsDep) -> Principal | None:
    """For public routes: anonymous is fine, but credentials that are sent must be
    valid (401 otherwise), so a frontend with a broken token finds out."""
    if "authorization" not in request.headers and "x-api-key" not in request.headers:
        return None
    return await _authenticate(request, session, settings)


AnyPrincipal = Annotated[Principal, Depends(current_principal)]


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_role(*roles: str) -> Callable[..., Principal]:
    """The caller must hold one of `roles`. A citizen's write also needs a verified
    real-name identity when settings require it (403 `identity_not_verified`)."""
    @documented(errors.Forbidden, write_errors=(errors.IdentityNotVerified,)
                if "citizen" in roles else ())
    async def check(principal: AnyPrincipal, request: Request) -> Principal:
        if principal.role not in roles:
            raise errors.Forbidden(roles=", ".join(roles))
        if request.method not in _READS:
            citizens.require_verified(principal)
        return principal

    check.__name__ = f"require_{'_or_'.join(roles)}"
    return check


CitizenPrincipal = Annotated[Principal, Depends(require_role("citizen"))]
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
OfficeStaff = Annotated[Principal, Depends(require_role("office"))]
InstitutionStaff = Annotated[Principal, Depends(require_role("institution"))]
ProviderStaff = Annotated[Principal, Depends(require_role("provider"))]
# A caregiver's own key, bound to one caregiver of a provider (`Principal.caregiver_id`).
CaregiverStaff = Annotated[Principal, Depends(require_role("caregiver"))]
ReviewerStaff = Annotated[Principal, Depends(require_role("reviewer"))]
# Webhook subscriptions: any staff role (its organisation's events) or an admin; not a
# caregiver, whose key sees its own visits only, not its provider's events.
Subscriber = Annotated[Principal, Depends(require_role(
    "admin", "office", "institution", "provider", "reviewer", "approver",
    "identity_verifier"))]
ApproverStaff = Annotated[Principal, Depends(require_role("approver"))]
IdentityVerifier = Annotated[Principal, Depends(require_role("identity_verifier"))]


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


async def _claim(request: Request, session: AsyncSession | None, settings: Settings,
                 principal: Principal, key: str | None) -> idempotency.Claim:
    """The request's claim of its Idempotency-Key: looked up (`idempotency.begin`),
    or, for a hot command (`session` None), not (`idempotency.claim`)."""
    terms = {"scope": principal.scope, "key": idempotency.validate_key(key),
             "request_hash": idempotency.fingerprint(request.method, request.url.path,
                                                     await request.body()),
             "ttl_hours": settings.idempotency_ttl_hours}
    claim = (idempotency.claim(**terms) if session is None
             else await idempotency.begin(session, **terms))
    request.state.idempotency = claim
    return claim


# The header is `str | None` at run time so that a missing one is 400
# `idempotency_key_required` (API.md), not FastAPI's 422; the document says it is
# required, with its real constraints.
@documented(*_IDEMPOTENCY_ERRORS, replays=True, headers={"Idempotency-Key": {
    "required": True, "schema": IDEMPOTENCY_KEY_SCHEMA, "description": _IDEMPOTENCY_DESCRIPTION}})
async def _idempotency(request: Request, session: Db, settings: SettingsDep,
                       principal: AnyPrincipal,
                       key: Annotated[str | None, Header(
                           alias="Idempotency-Key",
                           examples=["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"])] = None,
                       ) -> idempotency.Claim:
    return await _claim(request, session, settings, principal, key)


Idempotent = Annotated[idempotency.Claim, Depends(_idempotency)]


@documented(*_IDEMPOTENCY_ERRORS, replays=True, headers={"Idempotency-Key": {
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


# --- a hot command's caller and key (api.hotpath, services.commands) -------------------


@documented(errors.Forbidden, write_errors=(errors.IdentityNotVerified,))
async def _hot_citizen(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """A hot command's caller: a citizen, by the token alone. The account's identity
    is not read: the command's write checks the identity rules in its own statement,
    and a refusal before the write is settled with them (services.commands)."""
    if principal.role != "citizen":
        raise errors.Forbidden(roles="citizen")
    return principal


HotCitizen = Annotated[Principal, Depends(_hot_citizen)]


@documented(*_IDEMPOTENCY_ERRORS, replays=True, headers={"Idempotency-Key": {
    "required": True, "schema": IDEMPOTENCY_KEY_SCHEMA, "description": _IDEMPOTENCY_DESCRIPTION}})
async def _hot_key(request: Request, settings: SettingsDep, principal: HotCitizen,
                   key: Annotated[str | None, Header(
                       alias="Idempotency-Key",
                       examples=["0b6f3c1e-6a1f-4c55-9f40-3f1b8f6f2a10"])] = None,
                   ) -> idempotency.Claim:
    """A hot command's Idempotency-Key: nothing is read (`idempotency.claim`)."""
    return await _claim(request, None, settings, principal, key)


HotKey = Annotated[idempotency.Claim, Depends(_hot_key)]

_ETAG_EXAMPLE = '"org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4.1"'
# Any value is accepted and compared (a stale or garbled one is 412), so the schema
# constrains nothing but the type.
IF_MATCH_SCHEMA = {"type": "string", "examples": [_ETAG_EXAMPLE]}


# A 412 carries the current ETag (core.writes), so the client can retry at once.
_STALE_ETAG = {412: {"ETag": {"description": "The resource's current `ETag`",
                              "required": True, "schema": {"type": "string"}}}}


# Missing is 428 `precondition_required` (API.md), so the header is optional at run
# time and the services check it; the document says it is required.
@documented(errors.PreconditionFailed, errors.PreconditionRequired, error_headers=_STALE_ETAG,
            headers={"If-Match": {
    "required": True, "schema": IF_MATCH_SCHEMA,
    "description": "The `ETag` last read (or `*`). Missing: 428 `precondition_required`; "
                   "not the current one: 412 `precondition_failed`."}})
async def _if_match(value: Annotated[str | None, Header(
        alias="If-Match", examples=[_ETAG_EXAMPLE])] = None) -> str | None:
    return value


IfMatch = Annotated[str | None, Depends(_if_match)]


@documented(errors.PreconditionFailed, errors.PreconditionRequired, error_headers=_STALE_ETAG,
            headers={"If-Match": {
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


# Cursors are unpadded base64url (`core.ids.encode_cursor`); empty is the first page.
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)


@documented(errors.InvalidCursor)
async def _paging(limit: Annotated[int, Query(ge=1, le=100, description="Items per page",
                                              examples=[20])] = 20,
                  cursor: Annotated[str | None, Query(
                      max_length=200,
                      description="`next_cursor` of the previous page (empty or absent: the "
                                  "first page); any other value is 400 `invalid_cursor`",
                      json_schema_extra={"pattern": CURSOR_PATTERN})] = None) -> PageParams:
    # Checked here rather than by the pattern, so a garbled cursor is 400
    # `invalid_cursor` (API.md), not 422.
    if cursor is not None and not _CURSOR_RE.match(cursor):
        raise errors.InvalidCursor()
    return PageParams(limit, cursor or None)


Paging = Annotated[PageParams, Depends(_paging)]


# --- bounded query values: out of range is 422 `validation_error`, never a 500 ----------
#
# The bounds are in the document too (a pattern beside the format), so a client
# or a fuzzer that follows the document never sends a value the server refuses.

# The bounds and patterns are schemas.common's (`Day`, `Instant`), the same for a
# query value as for a body field.


def date_query(description: str, *, alias: str | None = None,
               example: str = "2026-12-01") -> Any:
    """A `YYYY-MM-DD` query value between FIRST_DAY and LAST_DAY."""
    return Query(alias=alias, ge=FIRST_DAY, le=LAST_DAY,
                 description=f"{description}; {DATE_RANGE_DOC}", examples=[example],
                 json_schema_extra={"pattern": DATE_PATTERN})


def datetime_query(description: str, *, example: str = "2026-12-01T00:00:00+08:00") -> Any:
    """An RFC 3339 date-time with an offset (a naive one is 422), years 2000-2099."""
    return Query(ge=FIRST_INSTANT, le=LAST_INSTANT,
                 description=f"{description}; RFC 3339 with an offset, years 2000-2099 "
                             "(else 422 `validation_error`)",
                 examples=[example], json_schema_extra={"pattern": DATETIME_PATTERN})


def division_query(description: str, *, example: str = "110105") -> Any:
    """A six-digit division code as a query value: the form checked as a field (422
    `validation_error`), the codes that can exist stated in the document, the code
    itself checked by the service (422 `invalid_division_code`); schemas.common."""
    return Query(pattern=DIVISION_CODE_FORM, json_schema_extra=DIVISION_CODE_DOCUMENTED,
                 description=description, examples=[example])


# A division filter by prefix, the one every list takes: one to six ASCII digits (422
# `validation_error` otherwise); matched by services.divisions.prefix_condition, so
# `11` is every code in Beijing and a whole code only itself.
DivisionPrefix = Annotated[str | None, Query(
    pattern=DIVISION_PREFIX_FORM, examples=["1101"],
    description="Division code prefix, 1 to 6 digits: `11` every code in Beijing, `1101` "
                "its city districts, `110105` that district")]


def month_query(description: str, *, example: str = "2026-12") -> Any:
    """A `YYYY-MM` query value (China time), 2000-01..2099-12 (schemas.common.MONTH_PATTERN)."""
    return Query(pattern=MONTH_PATTERN, examples=[example],
                 description=f"{description}; `YYYY-MM`, China time, 2000-01 to 2099-12 "
                             "(else 422 `validation_error`)")
