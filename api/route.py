"""One transaction per request, owned by the route.

`TransactionalRoute` opens the session before the dependencies run, commits
once after the endpoint has produced its response and before a byte of it is
sent, and rolls back on any error. A failing commit therefore reaches the client
as an error response, never as a 2xx. A serialization failure or
deadlock re-runs the whole request, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import valid_principal
from api.problems import responses
from core import prepared
from core.clock import clock
from core.db import Database, is_retryable
from core.errors import (
    ApplicantNotAParty,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    IdentityNotVerified,
    InvalidState,
    NotFound,
)
from core.logging import get_logger
from services import audit, citizens, idempotency

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ATTEMPTS = 4
log = get_logger("huimin.db")


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        write = bool(set(self.methods or ()) - READ_METHODS)

        async def handler(request: Request) -> Response:
            return await transact(request, original, write=write)

        return handler


async def transact(request: Request, run: Callable[[Request], Awaitable[Response]], *,
                   write: bool) -> Response:
    """`run(request)` in the request's one transaction (module docstring): every
    route's, and the hot lane's (`api.hotpath`)."""
    db: Database = request.app.state.db
    attempts = MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        session = db.session()
        request.state.db_session = session
        request.state.idempotency = None
        try:
            response = await run(request)
            if response.status_code >= 400:
                await _rollback(session)
                await _check_claim(session, request)
                return response
            claim = request.state.idempotency
            if claim is not None:
                await idempotency.complete(session, claim, response.status_code,
                                           bytes(response.body))
            if not prepared.idle(session):
                await session.commit()
            return response
        except Exception as exc:
            await _rollback(session)
            if is_retryable(exc) and attempt < attempts:
                log.info("transaction_retry", attempt=attempt)
                continue
            refusal = await _identity_first(session, request, exc)
            if await _refused(session, request, refusal, write=write) \
                    and not prepared.idle(session):
                await session.commit()
            if refusal is exc:
                raise
            raise refusal from None
        finally:
            await session.close()
    raise AssertionError("unreachable")


async def _rollback(session: AsyncSession) -> None:
    if not prepared.idle(session):  # else nothing to undo, and the connection is kept
        await session.rollback()


async def _identity_first(session: AsyncSession, request: Request,
                          exc: Exception) -> Exception:
    """A request whose identity was left to its write (`api.hotpath.HotOptions`) and
    that was refused before the write: 403 `identity_not_verified` instead, if the
    account has no verified identity and settings require one, as the route's
    dependencies would have answered before anything else (its idempotency key is
    then not looked up, as it would not have been). `exc` otherwise."""
    principal = getattr(request.state, "principal", None)
    settings = request.app.state.settings
    if principal is None or principal.identity_known:
        return exc
    if isinstance(exc, IdentityNotVerified):  # the write's own check
        request.state.idempotency = None
        return exc
    if _acting_with_audit(request, exc):
        return exc  # both identity rules are settled with the refusal (`_refused`)
    pending = exc.applicant_blinds if isinstance(exc, DomainError) else None
    if pending is not None:  # the applicant rule comes first: read the identity now
        principal = request.state.principal = await citizens.resolved(session, principal)
        try:
            citizens.require_party(principal, pending)
        except ApplicantNotAParty as refusal:
            return refusal
    if not settings.identity_required:
        return exc
    if isinstance(exc, DomainError):
        if exc.status == 401 or isinstance(exc, ApplicantNotAParty):
            return exc  # nothing comes before it, or the identity decided it already
    elif not isinstance(exc, RequestValidationError):
        return exc
    principal = request.state.principal = await citizens.resolved(session, principal)
    try:
        citizens.require_verified(principal, settings)
    except IdentityNotVerified as refusal:
        request.state.idempotency = None
        return refusal
    return exc


async def _check_claim(session: AsyncSession, request: Request) -> None:
    """A refused request whose idempotency key was not looked up first (a hot
    route's, `idempotency.begin(lock=False)`): a replay is answered as one."""
    claim = request.state.idempotency
    if claim is not None and not claim.checked:
        await idempotency.check(session, claim)


# Refusals of a write that are not audited: 401 (no known caller) and 429 (a flood
# of refused writes must not become a flood of audit writes). Everything else the
# route refuses is, validation included (README "Audit").
UNAUDITED_STATUSES = {401, 429}


def refusal_code(exc: Exception) -> str | None:
    """The problem code a refused write is audited with, None if it is not."""
    if isinstance(exc, DomainError):
        return exc.code if exc.status not in UNAUDITED_STATUSES else None
    if isinstance(exc, RequestValidationError):
        invalid_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        return "malformed_json" if invalid_json else "validation_error"
    return None


async def _refused(session: AsyncSession, request: Request, exc: Exception, *,
                   write: bool) -> bool:
    """After a refused request's rollback: its replay, if it is one (raised:
    `_check_claim`); else the refusal audited when it is (`refusal_code`), on the
    request's session as a transaction of its own, together with the key's look-up
    where that is still to do. True if anything was written. (A body that is not
    JSON is refused before the route's dependencies run: its caller is looked up
    here.)"""
    code = refusal_code(exc) if write else None
    values = await _refusal_row(session, request, code) if code is not None else None
    claim = request.state.idempotency
    if isinstance(exc, DomainError) and claim is not None and not claim.checked:
        try:
            if values is not None and _acting_with_audit(request, exc):
                # The identity left to the write, which never ran: its two rules
                # come first, settled by the same statement (`check_acting`).
                assert exc.applicant_blinds is not None
                principal = request.state.principal
                instead = await idempotency.check_acting(
                    session, claim, audit_row=values, subject=principal.subject,
                    blinds=exc.applicant_blinds,
                    required=request.app.state.settings.identity_required)
                if instead is not None:
                    request.state.idempotency = None
                    raise citizens.identity_refusal(instead) from None
                return True  # the refusal stands, audited by the same statement
            if await idempotency.check(session, claim, audit_row=values):
                return True  # no record: the refusal stands, audited by the same statement
        except IdempotencyKeyReused as reused:
            # The key's record is another body's: refused for that, and audited so,
            # as every other route's `idempotency.begin` refusal is.
            row = await _refusal_row(session, request, reused.code)
            if row is not None:
                await audit.insert(session, row, alone=True)
                if not prepared.idle(session):
                    await session.commit()
            raise
    if values is None:
        return False
    await audit.insert(session, values, alone=True)
    return True


def _acting_with_audit(request: Request, exc: Exception) -> bool:
    """Whether a refusal before the write, whose parties still await the applicant
    rule (`DomainError.applicant_blinds`), is settled with its audit row and key
    look-up in one statement: PostgreSQL, an audited refusal, a key not looked up
    yet, a caller known."""
    if not isinstance(exc, DomainError) or exc.applicant_blinds is None \
            or exc.status in UNAUDITED_STATUSES:
        return False
    claim = request.state.idempotency
    principal = getattr(request.state, "principal", None)
    return (claim is not None and not claim.checked and principal is not None
            and not principal.identity_known)


async def _refusal_row(session: AsyncSession, request: Request, code: str) -> tuple | None:
    """The audit row of a refusal with `code`, if the caller is known."""
    principal = await valid_principal(request, session, request.app.state.settings)
    if principal is None:
        return None
    route = request.scope.get("route")
    return audit.row(principal, getattr(route, "name", None) or "write", "request",
                     next(iter(request.path_params.values()), None),
                     at=clock.now(), outcome=f"refused:{code}")


class Router(APIRouter):
    """The router every domain mounts: its routes always run in the request's
    transaction (`TransactionalRoute`), so no router can forget it. `public` routers
    are mounted without authentication (api/app.py); every other one requires it."""

    def __init__(self, *, public: bool = False, **kwargs: Any) -> None:
        if kwargs.setdefault("route_class", TransactionalRoute) is not TransactionalRoute:
            raise TypeError("domain routers always use TransactionalRoute")
        super().__init__(**kwargs)
        self.public = public

    def action(self, path: str, *, errors: Sequence[type[DomainError]] = (),
               **kwargs: Any) -> Callable[[Any], Any]:
        """An action endpoint (`POST .../{id}/{action}`, a transition of
        `services.transitions`): it answers 200 with the resource as it now is, and
        403, 404 and 409 `invalid_state` are documented on every one, beside the
        domain's own `errors`."""
        extra = kwargs.pop("responses", None) or {}  # e.g. api.problems.with_headers
        return self.post(path, responses={
            **responses(Forbidden, NotFound, InvalidState, *errors), **extra}, **kwargs)
