"""Liveness, readiness, metrics, and who-am-I."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.deps import AnyPrincipal, Db
from api.problems import PUBLIC_RESPONSES, database_unavailable, problem_response, responses
from api.route import Router
from core import errors
from core.logging import get_logger
from schemas.citizen import MeIdentity
from services import citizens, health
from services.notifications import subscriptions

log = get_logger("huimin.ready")

public_router = APIRouter(tags=["system"])
router = Router(tags=["system"])


class Health(BaseModel):
    status: str

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready"}]})


@public_router.get("/healthz", summary="The process is alive", response_model=Health,
                   responses={200: {"content": {"application/json": {
                       "example": {"status": "ok"}}}}})
async def get_health() -> Health:
    return Health(status="ok")


@public_router.get("/readyz", summary="The database is reachable and takes a write",
                   description="Reads (`SELECT 1`) and commits a heartbeat write, each within "
                               "`HUIMIN_READY_WRITE_TIMEOUT_MS`; 503 `database_unavailable` "
                               "when either fails (unreachable, a lock held past the "
                               "threshold, a full disk, a read-only database).",
                   response_model=Health, responses=PUBLIC_RESPONSES)
async def get_readiness(request: Request) -> Response | Health:
    db = request.app.state.db
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(3):
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        await health.check_writable(db, settings.ready_write_timeout_ms)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("not_ready", error_type=type(exc).__name__)
        return problem_response(database_unavailable(), request)
    return Health(status="ready")


# Mounted only where `Settings.metrics_served` (api.app): in production without
# HUIMIN_METRICS_TOKEN the path does not exist, so its 404 is any unknown path's.
metrics_router = APIRouter(tags=["system"])

_METRICS_REFUSALS = (errors.Unauthenticated, errors.InvalidToken, errors.MalformedCredentials)


def check_metrics_token(request: Request, token: str | None) -> None:
    """With a metrics token configured, the scrape must send `Authorization: Bearer
    <that token>` (compared in constant time); 401 otherwise, with the codes the API's
    own credentials use: none sent `unauthenticated`, not one `Bearer <token>`
    `malformed_credentials`, another token `invalid_token`."""
    if token is None:
        return
    sent = request.headers.getlist("authorization")
    if not sent:
        err: errors.DomainError = errors.Unauthenticated()
        err.headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}
        raise err
    scheme, _, value = sent[0].strip().partition(" ")
    value = value.strip()
    if len(sent) > 1 or scheme.lower() != "bearer" or not value or " " in value:
        raise errors.MalformedCredentials(header="Authorization", expected="`Bearer <token>`")
    if not hmac.compare_digest(value.encode(), token.encode()):
        err = errors.InvalidToken()
        err.headers = {"WWW-Authenticate": 'Bearer realm="metrics", error="invalid_token"'}
        raise err


@metrics_router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    description="Prometheus text format. When `HUIMIN_METRICS_TOKEN` is set, only "
                "`Authorization: Bearer <that token>` gets it (401 otherwise); without it "
                "the path is open outside production and absent (404) in production.",
    responses={200: {"content": {"text/plain": {
        "example": "huimin_http_requests_total{...} 1.0"}}},
        401: responses(*_METRICS_REFUSALS)[401]})
async def get_metrics(request: Request) -> Response:
    check_metrics_token(request, request.app.state.settings.metrics_token)
    try:
        async with asyncio.timeout(2):
            async with request.app.state.db.session() as session:
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
    caregiver_id: str | None = Field(
        default=None, description="A caregiver's own key: the caregiver it is bound to")
    identity: MeIdentity | None = Field(
        default=None, description="A citizen account's real-name identity (the person it "
        "acts as), once the verification service has bound it; else null")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "citizen", "role": "citizen", "subject": "wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
         "org_id": None, "name": None,
         "identity": {"name": "张伟", "id_number_masked": "440305********1238"}},
        {"kind": "staff", "role": "office", "subject": "key_0193a1b2c3d4e5f6a7b8c9d0e1",
         "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "窗口-王芳"},
        {"kind": "staff", "role": "caregiver", "subject": "key_0193a1b2c3d4e5f6a7b8c9d0e2",
         "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e3", "name": "李秀英-手机",
         "caregiver_id": "hcg_0193a1b2c3d4e5f6a7b8c9d0e4"}]})


@router.get("/v1/me", summary="Who the credentials belong to", response_model=Me,
            responses=responses())
async def get_me(principal: AnyPrincipal, session: Db) -> Me:
    identity = (await citizens.identity_of(session, principal.subject)
                if principal.is_citizen and principal.identity_blind is not None else None)
    return Me(kind=principal.kind, role=principal.role, subject=principal.subject,
              org_id=principal.org_id, name=principal.staff_name,
              caregiver_id=principal.caregiver_id, identity=identity)
