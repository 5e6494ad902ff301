"""Hot operations: the few writes a peak day puts under load, without FastAPI's
per-request machinery.

A booking on 5.20 spent more CPU in the framework around it than in its own work:
Starlette's exception and routing layers, FastAPI's route-context matching and,
most of all, `solve_dependencies`, which re-inspects every dependency of the tree on
every request (is it a generator, which scopes, which cache key) before calling it.
An operation marked `@hot` keeps its FastAPI declaration (the OpenAPI document, and
the dependency tree itself) and is still served by it when called any other way;
`HotLane`, a pure ASGI layer just inside the request-context middleware, answers its
method and path itself:

- its dependency tree (router-level ones included) is compiled once, at start-up,
  from FastAPI's own `Dependant` into a flat list of steps, in FastAPI's order
  (sub-dependencies first, then headers and path values, the body last; each
  dependency called once per request); a tree this cannot compile (query or cookie
  parameters, generators, background tasks) is refused at start-up, not served
  differently;
- the body is parsed first (malformed JSON is 422 `malformed_json` before anything
  else, as FastAPI does) and validated by the same `ModelField`, so its errors read
  exactly alike;
- the endpoint runs in the request's transaction (`api.route.transact`: the same
  commit, retry, idempotent record and audit of refusals as every route);
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
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.route import transact

HOT = "__huimin_hot__"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class HotOptions:
    # PostgreSQL: the citizen's real-name identity is not read before the endpoint
    # runs (`Principal.identity_known` False); the endpoint's write reads and checks
    # it in its own statement, and a refusal before that is settled by `api.route`.
    identity_in_write: bool = False


def hot(endpoint: Callable[..., Awaitable[Response]] | None = None, *,
        identity_in_write: bool = False) -> Any:
    """Mark an endpoint as hot (under its `@router.post(...)`): `HotLane` serves it.
    It must return a `Response` (it is not re-validated against `response_model`).
    `@hot(identity_in_write=True)`: see `HotOptions`."""
    def mark(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        setattr(fn, HOT, HotOptions(identity_in_write=identity_in_write))
        return fn
    return mark if endpoint is None else mark(endpoint)


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
        self.options: HotOptions = getattr(route.endpoint, HOT)
        self.steps: list[_Step] = []
        self._slots: dict[Any, int] = {}
        self.body_field = None
        self.header_fields: list[tuple[str, Any]] = []  # (header looked up, field)
        self.path_fields: list[Any] = []
        self.endpoint = self._compile(dependant, top=True)

    def _compile(self, d: Dependant, *, top: bool = False) -> _Step:
        where = f"{self.route.path} ({getattr(d.call, '__name__', d.call)})"
        if d.query_params or d.cookie_params or d.background_tasks_param_name \
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
        errors: list[Any] = []
        headers = request.headers
        headers_v = [_validated(f, headers.get(alias, _MISSING), ("header", alias), errors)
                     for alias, f in self.header_fields]
        params = request.path_params
        path_v = [_validated(f, params.get(f.alias, _MISSING), ("path", f.alias), errors)
                  for f in self.path_fields]
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
                else:  # the body, validated once every dependency has run
                    body_v = _validated(self.body_field, body, ("body",), errors)
                    kwargs[name] = body_v
            if errors:
                raise RequestValidationError(errors, body=None if body is _MISSING else body)
            values[step.slot] = await step.call(**kwargs)
        return values[self.endpoint.slot]


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
        # Overridden dependencies (none in huimin; a test harness might): FastAPI's way.
        candidates = None if self.fastapi.dependency_overrides else \
            self._routes.get(scope["method"])
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
        request.state.hot = True
        if plan.options.identity_in_write:
            request.state.identity_in_write = True
        try:
            response = await transact(request, plan.run, write=True)
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
