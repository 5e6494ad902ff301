"""RFC 9457 problem+json for every 4xx and 5xx, in zh-CN or en.

Domain errors carry their own code and status; FastAPI's validation errors,
404 and 405 are mapped here; anything unexpected becomes a bare 500 with the
request id and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import errors
from core.context import request_id_var
from core.logging import get_logger
from services.idempotency import Replay

PROBLEM_TYPE_BASE = "https://huimin.example.cn/problems/"
log = get_logger("huimin.errors")


class ProblemDetail(BaseModel):
    type: str = Field(examples=[PROBLEM_TYPE_BASE + "slot_full"])
    title: str = Field(examples=["该时段已约满"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["该时段已约满"])
    code: str = Field(examples=["slot_full"])
    instance: str | None = Field(default=None, examples=["/v1/marriage/appointments"])
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def language(request: Request | None) -> str:
    """`en` when the caller prefers English, else zh-CN (the default)."""
    if request is None:
        return "zh"
    header = request.headers.get("accept-language", "")
    best, best_q = "zh", -1.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        if tag.startswith(("en", "zh")) and q > best_q:
            best, best_q = tag[:2], q
    return best


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
    body.update(err.extra)
    return body


def problem_response(err: errors.DomainError, request: Request | None) -> JSONResponse:
    lang = language(request)
    instance = request.url.path if request is not None else None
    headers = dict(err.headers or {})
    headers["Content-Language"] = "en" if lang == "en" else "zh-CN"
    return JSONResponse(problem_body(err, lang, instance), status_code=err.status,
                        media_type="application/problem+json", headers=headers)


async def _domain_error(request: Request, exc: errors.DomainError) -> JSONResponse:
    return problem_response(exc, request)


async def _replay(_request: Request, exc: Replay) -> Response:
    return Response(exc.body, status_code=exc.status, media_type="application/json",
                    headers={"Idempotent-Replayed": "true"})


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem_response(errors.MalformedJson(), request)
    err = errors.ValidationFailed()
    # Never echo the input back: it may hold an identity number.
    err.extra["errors"] = [
        {"loc": [str(x) for x in p.get("loc", ())], "type": p.get("type"), "msg": p.get("msg")}
        for p in problems
    ]
    return problem_response(err, request)


_HTTP_STATUS_ERRORS: dict[int, type[errors.DomainError]] = {
    400: errors.BadRequest,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
    if cls is None:
        cls = errors.BadRequest if exc.status_code < 500 else errors.InternalError
    err = cls()
    if exc.status_code == 405 and exc.headers:
        err.headers = dict(exc.headers)
    return problem_response(err, request)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database_unavailable", error_type=type(exc).__name__)
    err = errors.DatabaseUnavailable()
    err.headers = {"Retry-After": "5"}
    return problem_response(err, request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(Replay, _replay)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)


def internal_error_body(instance: str | None, lang: str = "zh") -> bytes:
    return json.dumps(problem_body(errors.InternalError(), lang, instance),
                      ensure_ascii=False).encode()


# --- OpenAPI helpers -------------------------------------------------------

_STATUS_DESCRIPTIONS = {
    400: "Malformed request", 401: "Missing or invalid credentials",
    403: "The caller's role may not use this operation", 404: "Not found (or not the caller's)",
    409: "Conflict with the current state", 412: "If-Match is stale",
    413: "Body too large", 415: "Body is not JSON", 422: "Validation or business-rule refusal",
    428: "If-Match is missing", 429: "Rate limited", 503: "Database unavailable",
}


def responses(*errs: type[errors.DomainError] | int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its possible problem codes as examples."""
    by_status: dict[int, list[type[errors.DomainError]]] = {}
    for e in (*errs, errors.MalformedJson, errors.Unauthenticated, errors.ValidationFailed,
              errors.RateLimited, errors.DatabaseUnavailable):
        if isinstance(e, int):
            by_status.setdefault(e, [])
        else:
            by_status.setdefault(e.status, []).append(e)
    out: dict[int | str, dict[str, Any]] = {}
    for status, classes in sorted(by_status.items()):
        examples = {
            cls.code: {"summary": cls.title_en, "value": {
                "type": PROBLEM_TYPE_BASE + cls.code, "title": cls.title_zh, "status": status,
                "detail": cls.title_zh, "code": cls.code, "instance": "/v1/...",
            }} for cls in classes
        }
        content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
        if examples:
            content["examples"] = examples
        out[status] = {"description": _STATUS_DESCRIPTIONS.get(status, "Error"),
                       "content": {"application/problem+json": content}}
    return out


PUBLIC_RESPONSES = {k: v for k, v in responses().items() if k != 401}
