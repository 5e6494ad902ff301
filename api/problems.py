"""RFC 9457 problem+json for every 4xx and 5xx, in zh-CN or en.

Domain errors carry their own code and status; FastAPI's validation errors,
404 and 405 are mapped here; anything unexpected becomes a bare 500 with the
request id and nothing else. `build_problem` makes every problem body and its
headers, for these handlers and for the ASGI middleware (`send_problem`) alike,
in the one language `negotiate` picks from `Accept-Language`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import Scope, Send

from api.field_messages import field_message
from core import errors
from core.context import request_id_var
from core.db import is_unavailable
from core.logging import get_logger
from services.idempotency import Replay

PROBLEM_TYPE_BASE = "https://huimin.example.cn/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = get_logger("huimin.errors")


class ProblemDetail(BaseModel):
    type: str = Field(examples=[PROBLEM_TYPE_BASE + "slot_full"])
    title: str = Field(examples=["该时段已约满"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["该时段已约满"])
    code: str = Field(examples=["slot_full"])
    instance: str | None = Field(default=None, examples=["/v1/marriage/appointments"])
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="`validation_error`: `{loc, type, msg}` per field; `msg` "
                                  "in the problem's language, never the value sent")
    current_status: str | None = Field(default=None, description="`invalid_state`")
    opens_at: str | None = Field(
        default=None, description="`outside_booking_window`, not open yet: when it opens "
                                  "(RFC 3339, China time)",
        examples=["2026-12-04T00:00:00+08:00"])
    closed_at: str | None = Field(
        default=None, description="`outside_booking_window`, too late: when booking closed")
    field: str | None = Field(default=None, description="`invalid_id_number`: the field path",
                              examples=["parties[1].id_number"])
    reason: str | None = Field(
        default=None, description="`invalid_id_number`: `length`, `format`, `birth_date` "
                                  "or `checksum`")
    party_index: int | None = Field(
        default=None, description="`party_has_active_appointment`: the party (0-based) "
                                  "who already holds one (the first, if several)")
    party_indexes: list[int] | None = Field(
        default=None, description="`party_has_active_appointment`: every such party")


# --- language -----------------------------------------------------------------------

CONTENT_LANGUAGE = {"zh": "zh-CN", "en": "en"}
_MAX_RANGES = 32
_CACHED_HEADER_LENGTH = 128  # longer headers are rare; they are parsed every time


def negotiate(accept_language: str | None) -> str:
    """`en` or `zh` (zh-CN) for an `Accept-Language` header (RFC 9110 section 12.5.4).

    The range with the highest q-value that names a language huimin speaks wins (by
    its primary subtag: `en-US` is English, `zh-TW` Chinese; `*` is the default,
    Chinese); on equal q the earlier one. `q=0` means "not this one". A header that
    names nothing huimin speaks, or none at all, gets zh-CN.
    """
    if accept_language is None or len(accept_language) <= _CACHED_HEADER_LENGTH:
        return _negotiate_cached(accept_language)
    return _negotiate(accept_language)


@lru_cache(maxsize=512)
def _negotiate_cached(accept_language: str | None) -> str:
    return _negotiate(accept_language)


def _negotiate(accept_language: str | None) -> str:
    best, best_q = "zh", 0.0
    for part in (accept_language or "").split(",")[:_MAX_RANGES]:
        tag, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        primary = tag.strip().lower().split("-", 1)[0]
        lang = {"en": "en", "zh": "zh", "*": "zh"}.get(primary)
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best


def language(request: Request | None) -> str:
    """The problem language of a request: `en` or `zh` (zh-CN, the default)."""
    if request is None:
        return "zh"
    return negotiate(request.headers.get("accept-language"))


def scope_language(scope: Scope) -> str:
    """The same negotiation for a bare ASGI scope (the middleware's problems)."""
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return "zh"


# --- the one problem builder -------------------------------------------------------------


def problem_body(err: errors.DomainError, lang: str, instance: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + err.code,
        "title": err.title(lang),
        "status": err.status,
        "detail": err.detail(lang),
        "code": err.code,
        "instance": instance,
        "request_id": request_id_var.get(),
    }
    body.update(err.extensions(lang))
    return body


def build_problem(err: errors.DomainError, lang: str,
                  instance: str | None) -> tuple[int, dict[str, str], bytes]:
    """Every problem huimin answers, from the handlers and the ASGI middleware alike:
    (status, headers, body). The headers carry the error's own (Retry-After, Allow,
    WWW-Authenticate, ...), the media type, `Content-Language` and
    `Vary: Accept-Language`."""
    body = json.dumps(problem_body(err, lang, instance), ensure_ascii=False,
                      separators=(",", ":")).encode()
    headers = dict(err.headers or {})
    headers["Content-Type"] = PROBLEM_MEDIA_TYPE
    headers["Content-Language"] = CONTENT_LANGUAGE.get(lang, "zh-CN")
    headers["Vary"] = "Accept-Language"
    return err.status, headers, body


def problem_response(err: errors.DomainError, request: Request | None) -> Response:
    instance = request.url.path if request is not None else None
    status, headers, body = build_problem(err, language(request), instance)
    return Response(body, status_code=status, headers=headers,
                    media_type=PROBLEM_MEDIA_TYPE)


async def send_problem(err: errors.DomainError, scope: Scope, send: Send) -> None:
    """The same problem sent straight over ASGI (from the middleware)."""
    status, headers, body = build_problem(err, scope_language(scope), scope.get("path"))
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _domain_error(request: Request, exc: errors.DomainError) -> Response:
    return problem_response(exc, request)


async def _replay(request: Request, exc: Replay) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    location = replayed_location(request, exc)
    if location:
        headers["Location"] = location
    return Response(exc.body, status_code=exc.status, media_type="application/json",
                    headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem_response(errors.MalformedJson(), request)
    err = errors.ValidationFailed()
    # Never echo the input back: it may hold an identity number.
    lang = language(request)
    err.extra["errors"] = [
        {"loc": [str(x) for x in p.get("loc", ())], "type": p.get("type"),
         "msg": field_message(p, lang)}
        for p in map(_tag_error_at_its_field, problems)
    ]
    return problem_response(err, request)


# `<AppointmentKind.marriage: 'marriage'>` in pydantic's list of a union's tags.
_ENUM_REPR = re.compile(r"<[\w.]+: ('[^']*')>")


def _tag_error_at_its_field(problem: dict[str, Any]) -> dict[str, Any]:
    """A body chosen by a discriminator (`kind` of an appointment): pydantic reports
    a missing or unknown tag at the body itself; it is reported at the field, with
    the tags as the values the client sends."""
    if problem.get("type") not in ("union_tag_not_found", "union_tag_invalid"):
        return problem
    ctx = dict(problem.get("ctx") or {})
    field = str(ctx.get("discriminator", "")).strip("'")
    if "expected_tags" in ctx:
        ctx["expected_tags"] = _ENUM_REPR.sub(r"\1", str(ctx["expected_tags"]))
    return {**problem, "loc": (*problem.get("loc", ()), *([field] if field else [])),
            "ctx": ctx}


_HTTP_STATUS_ERRORS: dict[int, type[errors.DomainError]] = {
    400: errors.BadRequest,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


# What a JSON parser raises on a body it cannot take beside its syntax errors: bytes
# that do not decode, nesting past its depth, a number of more digits than Python
# converts. FastAPI answers these with a bare 400 whose cause is the error; the hot lane
# (api.hotpath) refuses them itself; both are 400 `malformed_json`.
BODY_PARSE_FAULTS = (ValueError, RecursionError)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
    if exc.status_code == 400 and isinstance(exc.__cause__, BODY_PARSE_FAULTS):
        cls = errors.MalformedJson
    if cls is None:
        cls = errors.BadRequest if exc.status_code < 500 else errors.InternalError
    err = cls()
    if exc.status_code == 405:
        err.headers = {"Allow": allowed_methods(request)
                       or dict(exc.headers or {}).get("Allow", "")}
    return problem_response(err, request)


RETRY_AFTER_UNAVAILABLE = "5"


def database_unavailable() -> errors.DomainError:
    err = errors.DatabaseUnavailable()
    err.headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}
    return err


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        raise exc  # a fault of another kind: the middleware's 500
    log.error("database_unavailable", error_type=type(exc).__name__)
    return problem_response(database_unavailable(), request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(Replay, _replay)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for fault in (DBAPIError, PoolTimeout, ConnectionError, TimeoutError):
        app.add_exception_handler(fault, _database_unavailable)


# --- Location on replays, 405 and OpenAPI helpers ---


def replayed_location(request: Request, exc: Replay) -> str | None:
    """A replayed 201 repeats the first answer's `Location`. Every idempotent create
    is `POST <collection>` answering `Location: <collection>/<id>`, so it is rebuilt
    from the stored body rather than stored beside it."""
    if exc.status != 201:
        return None
    try:
        created_id = json.loads(exc.body).get("id")
    except (ValueError, AttributeError):
        return None
    if not isinstance(created_id, str):
        return None
    return f"{request.url.path.rstrip('/')}/{created_id}"


_PATH_REGEX: dict[str, Any] = {}


def allowed_methods(request: Request) -> str:
    """`Allow` for a 405 (and so for every OPTIONS): the methods of the request's path,
    exactly as the document gives them. Of the route templates that match the path, only
    the most specific count (a literal segment before a parameter, segment by segment:
    `/appointments/lookup` is its own path, not `/appointments/{appointment_id}` with
    the id `lookup`); every route of that template adds its methods (Starlette names
    only the first route that matched, e.g. POST where GET is served too)."""
    path = request.scope.get("path", "")
    best: tuple[int, ...] | None = None
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        fmt = route.path_format
        if not fmt or not route.methods:
            continue
        regex = _PATH_REGEX.get(fmt)
        if regex is None:
            regex = _PATH_REGEX[fmt] = compile_path(fmt)[0]
        if not regex.match(path):
            continue
        rank = tuple(segment.startswith("{") for segment in fmt.split("/"))
        if best is None or rank < best:
            best, methods = rank, set()
        if rank == best:
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


# --- OpenAPI helpers -------------------------------------------------------

_STATUS_DESCRIPTIONS = {
    400: "Malformed request", 401: "Missing or invalid credentials",
    403: "The caller's role may not use this operation", 404: "Not found (or not the caller's)",
    409: "Conflict with the current state", 412: "If-Match is stale",
    413: "Body too large", 415: "Body is not JSON", 422: "Validation or business-rule refusal",
    428: "If-Match is missing", 429: "Rate limited", 503: "Database unavailable",
}


def _problem_example(cls: type[errors.DomainError]) -> dict[str, Any]:
    return {"summary": cls.title_en, "value": {
        "type": PROBLEM_TYPE_BASE + cls.code, "title": cls.title_zh, "status": cls.status,
        "detail": cls.title_zh, "code": cls.code, "instance": "/v1/...",
    }}


def _problem_response(status: int, classes: list[type[errors.DomainError]]) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
    if classes:
        content["examples"] = {cls.code: _problem_example(cls) for cls in classes}
    return {"description": _STATUS_DESCRIPTIONS.get(status, "Error"),
            "content": {"application/problem+json": content}}


def responses(*errs: type[errors.DomainError] | int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its possible problem codes as examples."""
    by_status: dict[int, list[type[errors.DomainError]]] = {}
    for e in (*errs, errors.MalformedJson, errors.Unauthenticated, errors.ValidationFailed,
              errors.RateLimited, errors.DatabaseUnavailable):
        if isinstance(e, int):
            by_status.setdefault(e, [])
        else:
            by_status.setdefault(e.status, []).append(e)
    return {status: _problem_response(status, classes)
            for status, classes in sorted(by_status.items())}


PUBLIC_RESPONSES = {k: v for k, v in responses().items() if k != 401}


def add_errors(op_responses: dict[str, Any], errs: list[type[errors.DomainError]]) -> None:
    """Merge problem codes into an operation's responses in the generated document
    (what a dependency can raise, added to every operation that uses it)."""
    for cls in errs:
        key = str(cls.status)
        response = op_responses.get(key)
        if response is None:
            op_responses[key] = _problem_response(cls.status, [cls])
            continue
        content = response.setdefault("content", {})
        media = content.setdefault("application/problem+json", {
            "schema": {"$ref": "#/components/schemas/ProblemDetail"}})
        media.setdefault("examples", {}).setdefault(cls.code, _problem_example(cls))


# Response headers, documented on the success status of the operations that send them.
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "The resource's current version; send it back in `If-Match` "
                            "to change it", "required": True,
             "schema": {"type": "string", "examples": ['"org_0193a1b2c3d4e5f6a7b8c9d0e1.3"']}},
    "Location": {"description": "The path of the created resource", "required": True,
                 "schema": {"type": "string",
                            "examples": ["/v1/marriage/appointments/mapt_0193a1b2c3d4e5f6a7b8"]}},
}


def response_header(name: str, *, on_replay: bool = True) -> dict[str, Any]:
    """The documentation of a response header; `on_replay=False` when an idempotent
    replay (which repeats the stored body and `Location` only) goes without it."""
    if on_replay or name == "Location":
        return RESPONSE_HEADERS[name]
    return {**RESPONSE_HEADERS[name], "required": False,
            "description": RESPONSE_HEADERS[name]["description"]
            + " (not repeated by an idempotent replay: read the resource for it)"}


def with_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` fragment: the success `status` sends these headers (`Location`;
    `ETag` is documented by the `api.conditional` dependencies themselves)."""
    return {status: {"headers": {n: response_header(n) for n in names}}}
