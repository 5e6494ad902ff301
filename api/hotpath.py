"""Hot commands: the writes a peak day puts under load (a marriage booking, a lottery
entry), served without FastAPI's per-request machinery, each in one fixed order.

The order is the command's (services.commands): authenticate (the token alone,
`deps.HotCitizen`), key (`deps.HotKey`, nothing read), rules (the service, before
its write), write (one statement), refusal (whatever refused the request is settled
in one statement: the identity rules first where the write never ran, then the
key's record, else the refusal's audit row). `serve` below is that whole request;
the generic pipeline (`api.route.transact`) knows nothing of it.

Why a lane of its own: a booking on 5.20 spent more CPU in the framework around it
than in its own work: Starlette's exception and routing layers, FastAPI's
route-context matching and, most of all, `solve_dependencies`, which re-inspects
every dependency of the tree on every request before calling it. An operation
marked `@hot` keeps its FastAPI declaration (the OpenAPI document, and the
dependency tree itself); `HotLane`, a pure ASGI layer just inside the
request-context middleware, answers its method and path itself, always:

- its dependency tree (router-level ones included) is compiled once, at start-up,
  from FastAPI's own `Dependant` into a flat list of steps, in FastAPI's order
  (sub-dependencies first, then headers and path values, the body last; each
  dependency called once per request); a tree this cannot compile (query or cookie
  parameters, generators, background tasks) is refused at start-up, not served
  differently;
- the body is parsed first (malformed JSON is 400 `malformed_json` before anything
  else, as FastAPI does) and validated by the same `ModelField`, so its errors read
  exactly alike;
- an exception goes to the application's own exception handlers (problem+json),
  looked up by class like Starlette's.

The route's template still names the request in the access log and the metrics.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import field_annotation_is_sequence
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import BODY_PARSE_FAULTS
from api.route import refusal_code, refusal_row, refused_by, transact
from core.errors import DomainError, IdempotencyKeyReused
from services import audit, commands, idempotency
from services.idempotency import Replay

HOT = "__huimin_hot__"
_MISSING = object()


COMMAND, READ = "command", "read"


def hot(endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Mark an endpoint as a hot command (under its `@router.post(...)`): `HotLane`
    serves it, by `serve`. It takes `deps.HotCitizen` and `deps.HotKey`, calls one
    service command, and returns a `Response` (it is not re-validated against
    `response_model`)."""
    setattr(endpoint, HOT, COMMAND)
    return endpoint


def hot_read(endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Mark a public read that a peak day puts under load (an office's slots):
    `HotLane` serves it in the request's one transaction (`api.route.transact`), as
    FastAPI would, without the framework's per-request dependency solving. It
    returns a `Response`."""
    setattr(endpoint, HOT, READ)
    return endpoint


@dataclass(slots=True)
class _Step:
    """One dependency call: its cache slot, the callable, and how each argument
    is found (a slot filled earlier, the request, a header, a path value)."""

    slot: int
    call: Callable[..., Any]
    args: list[tuple[str, str, Any]]  # (parameter, source, what)


class _Plan:
    """A compiled dependency tree: the steps, then the endpoint's own call."""

    def __init__(self, route: APIRoute, dependant: Dependant) -> None:
        self.route = route
        self.kind: str = getattr(route.endpoint, HOT)
        self.steps: list[_Step] = []
        self._slots: dict[Any, int] = {}
        self.body_field = None
        self.header_fields: list[tuple[str, Any]] = []  # (header looked up, field)
        self.path_fields: list[Any] = []
        self.query_fields: list[Any] = []
        self.endpoint = self._compile(dependant, top=True)

    def _compile(self, d: Dependant, *, top: bool = False) -> _Step:
        where = f"{self.route.path} ({getattr(d.call, '__name__', d.call)})"
        if any(field_annotation_is_sequence(f.field_info.annotation) for f in d.query_params):
            raise TypeError(f"hot route {where}: a query parameter that repeats")
        if d.cookie_params or d.background_tasks_param_name \
                or d.response_param_name or d.websocket_param_name \
                or d.security_scopes_param_name:
            raise TypeError(f"hot route {where}: unsupported parameter kind")
        if d.body_params and not top:
            raise TypeError(f"hot route {where}: a body outside the endpoint")
        if len(d.body_params) > 1:
            raise TypeError(f"hot route {where}: one body parameter at most")
        assert d.call is not None
        if inspect.isgeneratorfunction(d.call) or inspect.isasyncgenfunction(d.call):
            raise TypeError(f"hot route {where}: generator dependencies are not supported")
        key = d.call if not top else object()
        if key in self._slots:  # FastAPI's per-request cache: called once
            return self.steps[self._slots[key]]
        args: list[tuple[str, str, Any]] = []
        for sub in d.dependencies:
            # A dependency without a name (a router's `dependencies=[...]`) runs for
            # its effect; its value is not passed on.
            args.append((sub.name or "", "slot", self._compile(sub).slot))
        for name in (d.request_param_name, d.http_connection_param_name):
            if name:
                args.append((name, "request", None))
        for field in d.header_params:
            alias = field.alias
            if alias == field.name and getattr(field.field_info, "convert_underscores", True):
                alias = alias.replace("_", "-")  # as FastAPI looks headers up
            self.header_fields.append((alias, field))
            args.append((field.name, "header", len(self.header_fields) - 1))
        for field in d.path_params:
            self.path_fields.append(field)
            args.append((field.name, "path", len(self.path_fields) - 1))
        for field in d.query_params:
            self.query_fields.append(field)
            args.append((field.name, "query", len(self.query_fields) - 1))
        if d.body_params:
            self.body_field = d.body_params[0]
            args.append((self.body_field.name, "body", None))
        call = d.call
        is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
            getattr(call, "__call__", None))  # noqa: B004 - security scheme instances
        if not is_async:
            raise TypeError(f"hot route {where}: every dependency must be `async def`")
        step = _Step(len(self.steps), call, args)
        self.steps.append(step)
        if not top:
            self._slots[key] = step.slot
        return step

    async def run(self, request: Request) -> Response:
        # The body first: malformed JSON is refused before any dependency runs.
        body: Any = _MISSING
        if self.body_field is not None:
            raw = await request.body()
            if raw:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise RequestValidationError([{
                        "type": "json_invalid", "loc": ("body", e.pos),
                        "msg": "JSON decode error", "input": {}, "ctx": {"error": e.msg}}],
                        body=e.doc) from e
                except BODY_PARSE_FAULTS as e:
                    # JSON the parser cannot take (nested past its depth, a number of
                    # more digits than Python converts): malformed, as FastAPI's lane
                    # answers it (api.problems.BODY_PARSE_FAULTS).
                    raise RequestValidationError([{
                        "type": "json_invalid", "loc": ("body",), "msg": "JSON decode error",
                        "input": {}, "ctx": {"error": type(e).__name__}}]) from e
        errors: list[Any] = []
        headers = request.headers
        headers_v = [_validated(f, headers.get(alias, _MISSING), ("header", alias), errors)
                     for alias, f in self.header_fields]
        params = request.path_params
        path_v = [_validated(f, params.get(f.alias, _MISSING), ("path", f.alias), errors)
                  for f in self.path_fields]
        query = request.query_params
        query_v = [_validated(f, query.get(f.alias, _MISSING), ("query", f.alias), errors)
                   for f in self.query_fields]
        body_v = None
        values: list[Any] = [None] * len(self.steps)
        for step in self.steps:
            kwargs: dict[str, Any] = {}
            for name, source, what in step.args:
                if source == "slot":
                    if name:
                        kwargs[name] = values[what]
                elif source == "request":
                    kwargs[name] = request
                elif source == "header":
                    kwargs[name] = headers_v[what]
                elif source == "path":
                    kwargs[name] = path_v[what]
                elif source == "query":
                    kwargs[name] = query_v[what]
                else:  # the body, validated once every dependency has run
                    body_v = _validated(self.body_field, body, ("body",), errors)
                    kwargs[name] = body_v
            if errors:
                raise RequestValidationError(errors, body=None if body is _MISSING else body)
            values[step.slot] = await step.call(**kwargs)
        return values[self.endpoint.slot]


async def serve(request: Request, run: Callable[[Request], Awaitable[Response]]) -> Response:
    """A hot command's whole request (module docstring): `run` (the compiled plan:
    authenticate, key, the body, the endpoint's rules and write) in the request's
    transaction (`api.route.transact`: retried when what it read changed under it,
    40001; a session that began a transaction commits once, before the answer), a
    refusal settled by `_settled`."""
    return await transact(request, run, write=True, settle=_settled)


async def _settled(session: Any, request: Request, exc: Exception) -> Exception:
    """The answer to a refused hot command (`commands.settle`): the identity refusal
    that stands instead, the key's first answer (`Replay`) or its reuse, or the
    refusal itself; audited as the one that stands. Anything that is not a refusal
    (a fault: 500, 503) is answered as it is."""
    refusal, people, checked = exc, None, False
    if isinstance(exc, commands.Refusal):
        refusal, people, checked = exc.error, exc.people, exc.checked
    code = refusal_code(refusal)
    principal = await refused_by(request, session) if code is not None else None
    if principal is None:
        return refusal
    assert code is not None
    # A body that failed validation is not looked up by its key.
    claim = request.state.idempotency if isinstance(refusal, DomainError) else None
    settings = request.app.state.settings
    settled = await commands.settle(
        session, principal=principal, code=code, audit_row=refusal_row(principal, request, code),
        claim=claim, people=people, checked=checked,
        identity_required=settings.identity_required)
    if settled.instead is not None:
        return settled.instead
    if claim is not None and settled.record is not None:
        try:
            await idempotency.answer_record(session, claim, settled.record)
        except IdempotencyKeyReused as reused:
            # Refused for the key, and audited so, as every other route's reuse is.
            await audit.insert(session, refusal_row(principal, request, reused.code),
                               alone=True)
            return reused
        except (Replay, DomainError) as answer:
            return answer
    return refusal


def _validated(field: Any, value: Any, loc: tuple[Any, ...], errors: list[Any]) -> Any:
    """FastAPI's own validation of one value (its `ModelField`), errors collected."""
    if value is _MISSING:
        if field.field_info.is_required():
            errors.append({"type": "missing", "loc": loc, "msg": "Field required",
                           "input": None})
            return None
        return field.get_default()
    v, errs = field.validate(value, {}, loc=loc)
    errors.extend(errs)
    return v


# Compiled once per process: the routers are module-level and every app includes
# them with the same dependencies (api.app), so a route's plan is the same in each.
# Building FastAPI's route contexts costs about a second for the whole app; only the
# routers holding a hot route are walked.
_PLAN_CACHE: dict[int, tuple[APIRoute, _Plan]] = {}  # by id(route), route kept alive


def _plans(app: FastAPI) -> list[tuple[APIRoute, _Plan]]:
    def has_hot(item: Any) -> bool:
        inner = getattr(item, "original_router", None)
        if inner is not None:
            return any(has_hot(r) for r in inner.routes)
        return isinstance(item, APIRoute) and getattr(item.endpoint, HOT, False)

    found = []
    for ctx in iter_route_contexts([r for r in app.routes if has_hot(r)]):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or not getattr(route.endpoint, HOT, False):
            continue
        cached = _PLAN_CACHE.get(id(route))
        if cached is None or cached[0] is not route:
            cached = _PLAN_CACHE[id(route)] = (route, _Plan(route, ctx.dependant))
        found.append(cached)
    return found


class HotLane:
    """The pure ASGI layer that serves `@hot` routes (module docstring)."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self._routes: dict[str, list[tuple[re.Pattern[str], _Plan]]] | None = None
        self._handlers: dict[type, Callable[..., Any]] = {}

    def _compile(self) -> dict[str, list[tuple[re.Pattern[str], _Plan]]]:
        routes: dict[str, list[tuple[re.Pattern[str], _Plan]]] = {}
        for route, plan in _plans(self.fastapi):
            for method in route.methods:
                routes.setdefault(method, []).append((route.path_regex, plan))
        self._handlers = dict(self.fastapi.exception_handlers)
        return routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._routes is None:
            self._routes = self._compile()
        candidates = self._routes.get(scope["method"])
        if candidates:
            path = scope["path"]
            for regex, plan in candidates:
                match = regex.match(path)
                if match is not None:
                    await self._serve(plan, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, plan: _Plan, path_params: dict[str, str], scope: Scope,
                     receive: Receive, send: Send) -> None:
        scope["route"] = plan.route
        scope["endpoint"] = plan.route.endpoint
        scope["path_params"] = path_params
        request = Request(scope, receive, send)
        try:
            if plan.kind == COMMAND:
                response = await serve(request, plan.run)
            else:
                response = await transact(request, plan.run, write=False)
        except Exception as exc:  # noqa: BLE001 - handed to the app's handlers
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None
