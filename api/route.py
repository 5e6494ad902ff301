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

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import valid_principal
from api.problems import responses
from core import prepared
from core.clock import clock
from core.db import Database, is_retryable
from core.errors import DomainError, Forbidden, InvalidState, NotFound
from core.logging import get_logger
from core.principal import Principal
from services import audit, idempotency

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ATTEMPTS = 4
log = get_logger("huimin.db")


class TransactionalRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.body_field is None and set(self.methods or ()) - READ_METHODS:
            # A write that takes no body refuses one (`no_body`): built again with it,
            # so every mounting of the route, and the hot lane's plan, has it.
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), Depends(no_body)]
            super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        write = bool(set(self.methods or ()) - READ_METHODS)

        async def handler(request: Request) -> Response:
            return await transact(request, original, write=write)

        return handler



async def no_body(request: Request) -> None:
    """A write whose operation takes no body (an action such as `.../cancel`) refuses
    one: 422 `validation_error` at `body`, type `body_not_allowed`, rather than
    ignoring what the client meant to say. Any byte is a body, `{}` and `null`
    included (the document gives the operation no body: a client that follows it sends
    none, and one that sends `{"reason": ...}` must learn it was not read); only an
    empty body (none, or `Content-Length: 0`) passes. It runs after authentication
    (401 first) and before the operation's own dependencies, as a body's shape is
    checked before its rules."""
    if await request.body():
        raise RequestValidationError([{
            "type": "body_not_allowed", "loc": ("body",), "input": None,
            "msg": "This operation takes no request body"}])

Settle = Callable[[AsyncSession, Request, Exception], Awaitable[Exception]]


async def transact(request: Request, run: Callable[[Request], Awaitable[Response]], *,
                   write: bool, settle: Settle | None = None) -> Response:
    """`run(request)` in the request's one transaction (module docstring): every
    route's, and a hot command's (`api.hotpath`), whose refusals `settle` answers
    (instead of the audit row every other refused write gets here)."""
    db: Database = request.app.state.db
    for attempt in range(1, MAX_ATTEMPTS + 1):
        session = db.session()
        request.state.db_session = session
        request.state.idempotency = None
        try:
            response = await run(request)
            if response.status_code >= 400:
                await rollback(session)
                return response
            claim = request.state.idempotency
            if claim is not None:
                await idempotency.complete(session, claim, response.status_code,
                                           bytes(response.body))
            if not prepared.idle(session):
                await session.commit()
            return response
        except Exception as exc:
            await rollback(session)
            if is_retryable(exc) and attempt < MAX_ATTEMPTS:
                log.info("transaction_retry", attempt=attempt)
                continue
            if settle is not None:
                answer = await settle(session, request, exc)
                if answer is exc:
                    raise
                raise answer from None
            if write:
                await _audit_refusal(session, request, exc)
            raise
        finally:
            await session.close()
    raise AssertionError("unreachable")


async def rollback(session: AsyncSession) -> None:
    """Undo what the request's session did, if it did anything (else the connection
    is kept as it is)."""
    if not prepared.idle(session):
        await session.rollback()


# Refusals of a write that are not audited: 401 (no known caller) and 429 (a flood
# of refused writes must not become a flood of audit writes). Everything else the
# route refuses is, validation included (docs/api-guide.md, "How it behaves").
UNAUDITED_STATUSES = {401, 429}


def refusal_code(exc: Exception) -> str | None:
    """The problem code a refused write is audited with, None if it is not."""
    if isinstance(exc, DomainError):
        return exc.code if exc.status not in UNAUDITED_STATUSES else None
    if isinstance(exc, RequestValidationError):
        invalid_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        return "malformed_json" if invalid_json else "validation_error"
    return None


async def refused_by(request: Request, session: AsyncSession) -> Principal | None:
    """Who a refused write is audited as: the caller, if the credentials are valid
    (a body that is not JSON is refused before the route's dependencies run: its
    caller is looked up here)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    return await valid_principal(request, session, request.app.state.settings)


def refusal_row(principal: Principal, request: Request, code: str) -> tuple:
    """The audit row of the refusal with `code`."""
    route = request.scope.get("route")
    return audit.row(principal, getattr(route, "name", None) or "write", "request",
                     next(iter(request.path_params.values()), None),
                     at=clock.now(), outcome=f"refused:{code}")


async def _audit_refusal(session: AsyncSession, request: Request, exc: Exception) -> None:
    """After a refused write's rollback, its audit row, as a statement of its own."""
    code = refusal_code(exc)
    principal = await refused_by(request, session) if code is not None else None
    if principal is None:
        return
    assert code is not None
    await audit.insert(session, refusal_row(principal, request, code), alone=True)
    if not prepared.idle(session):
        await session.commit()


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
