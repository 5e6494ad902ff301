"""Liveness, readiness, metrics, and who-am-I."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from api.deps import AnyPrincipal
from api.problems import PUBLIC_RESPONSES, problem_response, responses
from api.route import Router
from core.errors import DatabaseUnavailable
from core.logging import get_logger
from services.notifications import subscriptions

log = get_logger("huimin.metrics")

public_router = APIRouter(tags=["system"])
router = Router(tags=["system"])


class Health(BaseModel):
    status: str

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready"}]})


@public_router.get("/healthz", summary="The process is alive", response_model=Health,
                   responses={200: {"content": {"application/json": {
                       "example": {"status": "ok"}}}}})
async def healthz() -> Health:
    return Health(status="ok")


@public_router.get("/readyz", summary="The database is reachable", response_model=Health,
                   responses=PUBLIC_RESPONSES)
async def readyz(request: Request) -> Response | Health:
    db = request.app.state.db
    try:
        async with asyncio.timeout(3):
            async with db.read_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        err = DatabaseUnavailable()
        err.headers = {"Retry-After": "5"}
        return problem_response(err, request)
    return Health(status="ready")


@public_router.get("/metrics", summary="Prometheus metrics", response_class=Response,
                   responses={200: {"content": {"text/plain": {
                       "example": "huimin_http_requests_total{...} 1.0"}}}})
async def metrics(request: Request) -> Response:
    try:
        async with asyncio.timeout(2):
            async with request.app.state.db.session(write=False) as session:
                counts = await subscriptions.delivery_counts(session)
                oldest = await subscriptions.oldest_pending_seconds(session)
        request.app.state.metrics.set_deliveries(counts, oldest)
    except Exception:  # noqa: BLE001 - the scrape still answers (the gauges keep their values)
        log.warning("metrics_delivery_counts_failed")
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class Me(BaseModel):
    kind: str
    role: str
    subject: str
    org_id: str | None = None
    name: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "citizen", "role": "citizen", "subject": "wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
         "org_id": None, "name": None},
        {"kind": "staff", "role": "office", "subject": "key_0193a1b2c3d4e5f6a7b8c9d0e1",
         "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "窗口-王芳"}]})


@router.get("/v1/me", summary="Who the credentials belong to", response_model=Me,
            responses=responses())
async def me(principal: AnyPrincipal) -> Me:
    return Me(kind=principal.kind, role=principal.role, subject=principal.subject,
              org_id=principal.org_id, name=principal.staff_name)
