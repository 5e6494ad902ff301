"""The application factory.

Every router is mounted with authentication unless it is listed as public:
a new route is protected unless someone decides otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import (
    admin,
    appeals,
    beds,
    burial,
    citizens,
    delegations,
    docs,
    home_care,
    marriage,
    marriage_lottery,
    notifications,
    official_calendar,
    problems,
    stats,
    system,
)
from api.deps import (
    OPENAPI_ERROR_HEADERS,
    OPENAPI_ERRORS,
    OPENAPI_HEADERS,
    OPENAPI_REPLAYS,
    OPENAPI_RESPONSE_HEADERS,
    OPENAPI_WRITE_ERRORS,
    authenticated,
    credentials_if_any,
)
from api.hotpath import HotLane
from api.middleware import Metrics, RequestContextMiddleware
from api.problems import ProblemDetail
from api.ratelimit import Limiter, rate_limit
from api.route import Router
from core.clock import clock
from core.db import Database
from core.errors import DomainError
from core.logging import configure_logging, get_logger
from core.security import CitizenTokens
from core.settings import Settings, get_settings
from services import audit, maintenance, outbox
from services.marriage import official_calendar as calendar_notices

log = get_logger("huimin.app")

DESCRIPTION = """
huimin (惠民) is the booking and claims API behind China's civil-affairs services:
elderly-care beds, home and community care, marriage registration appointments and
eco-burial subsidy claims.

* Citizens authenticate with `Authorization: Bearer <JWT>`; organisations' staff with
  `X-API-Key`.
* Errors are RFC 9457 `application/problem+json` with a stable `code`; `title` and
  `detail` follow `Accept-Language` (zh-CN default, en).
* POSTs that create appointments, applications, bookings or claims need an
  `Idempotency-Key`.
"""

# Liveness, readiness and metrics are neither authenticated nor rate limited (load
# balancers and Prometheus call them), and hold no transaction. Every other router
# is an `api.route.Router`: transactional, and authenticated unless it says `public`.
PROBES = system.public_router
ROUTERS: list[Router] = [
    system.router,
    admin.router,
    citizens.router,
    marriage.public_router,
    marriage.router,
    official_calendar.public_router,
    official_calendar.router,
    marriage_lottery.public_router,
    marriage_lottery.router,
    beds.public_router,
    beds.router,
    home_care.public_router,
    home_care.router,
    burial.public_router,
    burial.router,
    delegations.router,
    notifications.router,
    appeals.router,
    stats.public_router,
]


def operation_id(route: APIRoute) -> str:
    """Every operation's `operationId`, named for the clients generated from the
    document: the route function's name in camelCase (`book_appointment` ->
    `bookAppointment`). The function names are chosen for it (`get_me`, not `me`);
    an explicit `operation_id=` on a route still wins. Unique across the document
    (tests/api/test_operation_ids.py)."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               freeze_gc: bool = False) -> FastAPI:
    """The application. `freeze_gc` (a server process, `asgi`): once started, every
    object made so far (modules, routes, plans, pools) is moved out of the garbage
    collector's sight (`gc.freeze`): its full collections walked all of them
    under load, and each such pause showed in the tail latency (booking at 32
    connections: p99 172-188 ms without, 102-110 ms with, in one run on this
    machine). Not for tests, which build hundreds of apps in one process."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    outbox.configure(enabled=settings.outbox_enabled)
    db = database or Database.from_settings(settings)
    if settings.clock_offset_seconds:  # a rehearsal of dates ahead (never in production)
        clock.reset()
        clock.advance(timedelta(seconds=settings.clock_offset_seconds))
    calendar_notices.configure(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.maintenance_interval_seconds > 0:
            tasks.append(asyncio.create_task(maintenance.loop(db, settings)))
        # the audit trail's pending rows (services.audit)
        tasks.append(asyncio.create_task(audit.link_loop(db)))
        # the platform's public keys, fetched before the first token needs them
        tasks.append(asyncio.create_task(_app.state.citizen_tokens.warm()))
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await db.dispose()
            _app.state.metrics.close()

    app = FastAPI(
        title="huimin 惠民 API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc come from api.docs, with assets served here, not a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.db = db
    # Citizen tokens: the secret and/or the platform's public keys (a key file that
    # cannot be read stops the start here).
    app.state.citizen_tokens = CitizenTokens(settings)
    app.state.metrics = Metrics()
    app.state.limiter = Limiter(settings, app.state.metrics.registry)

    app.include_router(PROBES)
    if settings.metrics_served:
        app.include_router(system.metrics_router)
    docs.install(app)
    for router in ROUTERS:
        if router.public:
            # Public, but credentials that are sent must be valid (401 otherwise).
            app.include_router(router, dependencies=[Depends(rate_limit),
                                                     Depends(credentials_if_any)])
        else:
            app.include_router(router, dependencies=[Depends(rate_limit),
                                                     Depends(authenticated)])

    problems.install(app)
    # Inside the request context (request id, access log, metrics, body limit): the
    # few hot operations, served without FastAPI's per-request machinery.
    app.add_middleware(HotLane, fastapi=app)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics,
                       max_body_bytes=settings.max_body_bytes)
    if settings.trusted_proxy_list:
        # Outermost: every layer and route (the hot lane too) sees the client, not the
        # proxy. uvicorn's own layer is exactly API.md's rule: only a peer in the list
        # is believed; the client is the right-most X-Forwarded-For address that is not
        # a trusted proxy; X-Forwarded-Proto sets the scheme. (`huimin serve` turns
        # uvicorn's built-in copy off, which trusts 127.0.0.1 by default.)
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=TAGS)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ProblemDetail"] = ProblemDetail.model_json_schema(
            ref_template="#/components/schemas/{model}")
        # FastAPI's default 422 body is replaced by problem+json everywhere.
        for path_item in schema.get("paths", {}).values():
            for op in path_item.values():
                resp = op.get("responses", {}).get("422")
                if resp and "application/json" in resp.get("content", {}):
                    resp["content"] = {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
                    resp["description"] = "Validation or business-rule refusal"
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        _document_dependencies(app, schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


@dataclass
class _DependencyDocs:
    errors: list[type[DomainError]] = field(default_factory=list)
    write_errors: list[type[DomainError]] = field(default_factory=list)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    response_headers: list[str] = field(default_factory=list)
    replays: bool = False
    error_headers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _dependency_docs(dependant: Dependant) -> _DependencyDocs:
    """What every dependency in a route's tree documents (`api.deps.documented`)."""
    docs = _DependencyDocs()
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        docs.errors.extend(getattr(dep.call, OPENAPI_ERRORS, ()))
        docs.write_errors.extend(getattr(dep.call, OPENAPI_WRITE_ERRORS, ()))
        docs.headers.update(getattr(dep.call, OPENAPI_HEADERS, {}))
        docs.response_headers.extend(getattr(dep.call, OPENAPI_RESPONSE_HEADERS, ()))
        docs.replays = docs.replays or getattr(dep.call, OPENAPI_REPLAYS, False)
        for status, hdrs in getattr(dep.call, OPENAPI_ERROR_HEADERS, {}).items():
            docs.error_headers.setdefault(str(status), {}).update(hdrs)
        stack.extend(dep.dependencies)
    docs.errors = list(dict.fromkeys(docs.errors))
    return docs


def _document_dependencies(app: FastAPI, schema: dict[str, Any]) -> None:
    """Each operation gets the errors its dependencies can raise and their headers'
    real documentation (see `api.deps.documented`): mechanical, not per route."""
    # FastAPI keeps included routers as branches; `iter_route_contexts` yields each
    # route with the dependencies it was included with.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        docs = _dependency_docs(route.dependant)
        path_item = schema["paths"].get(route.path_format, {})
        for method in route.methods - {"HEAD"}:
            op = path_item.get(method.lower())
            if op is None:
                continue
            problems.add_errors(op.setdefault("responses", {}), docs.errors)
            if method not in ("GET", "OPTIONS") and docs.write_errors:
                problems.add_errors(op["responses"], list(dict.fromkeys(docs.write_errors)))
            success = op["responses"].get(str(route.status_code or 200))
            if success is not None:
                for name in docs.response_headers:
                    success.setdefault("headers", {})[name] = problems.response_header(
                        name, on_replay=not docs.replays)
            for status, hdrs in docs.error_headers.items():
                if status in op["responses"]:
                    op["responses"][status].setdefault("headers", {}).update(hdrs)
            op["responses"] = dict(sorted(op["responses"].items()))
            for param in op.get("parameters", []):
                if param.get("in") == "header" and param["name"] in docs.headers:
                    param.update(docs.headers[param["name"]])
                elif param.get("in") in ("path", "query"):
                    _tidy_string_schema(param["schema"])


def _tidy_string_schema(schema: dict[str, Any]) -> None:
    """A pattern given beside `anyOf: [string, null]` (a `json_schema_extra` of an
    optional parameter) goes into the string branch; and since a NUL anywhere in the
    path or query is 400 at the door (api.middleware), every free-form string
    parameter says so."""
    if "anyOf" in schema and "pattern" in schema:
        pattern = schema.pop("pattern")
        for branch in schema["anyOf"]:
            if branch.get("type") == "string":
                branch["pattern"] = pattern
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string" and not ({"pattern", "enum", "format", "const"}
                                                   & set(branch)):
            branch["pattern"] = "^[^\\u0000]*$"


TAGS = [
    {"name": "system", "description": "Health, readiness, metrics"},
    {"name": "admin", "description": "Platform administration (role `admin`)"},
    {"name": "citizens", "description": "Citizen accounts' real-name identity (实名认证)"},
    {"name": "marriage", "description": "Marriage registration appointments (婚姻登记预约)"},
    {"name": "calendar", "description": "China's official calendar: public holidays and "
                                        "adjusted working days (法定节假日与调休)"},
    {"name": "beds", "description": "Elderly-care institution beds (养老机构床位)"},
    {"name": "home-care", "description": "Home and community care (居家社区养老服务)"},
    {"name": "burial", "description": "Eco-burial subsidy claims (节地生态安葬奖补)"},
    {"name": "delegation", "description": "Delegation (代办) and guardianship (监护): acting "
                                          "for another person in named services"},
    {"name": "notifications", "description": "Webhook subscriptions and deliveries "
                                             "(events of the outbox, sent by `huimin worker`)"},
    {"name": "stats", "description": "Open statistics (公开数据): public aggregates, small "
                                     "numbers suppressed"},
]


def asgi() -> FastAPI:
    """`uvicorn --factory api.app:asgi`"""
    return create_app(freeze_gc=True)
