"""The outermost layer of every request (pure ASGI, no per-request task):

- the request id, taken from a well-formed `X-Request-ID` or made, echoed back
  and attached to every log line;
- the body limit (413), the JSON-only rule for request bodies (415) and their
  encoding, UTF-8 (400 `malformed_json`);
- the access log (route template, never the raw path or query) and the
  Prometheus request counter and latency histogram per route template and status;
- the last resort: an unexpected exception becomes a bare 500 problem and a log
  line with the request id, never a stack trace in the response; one that says
  the database cannot serve (`core.db.is_unavailable`: the connection lost, a
  lock not had in time, a full disk) is 503 `database_unavailable` instead.
"""

from __future__ import annotations

import os
import re
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import database_unavailable, send_problem
from core import errors
from core.context import client_addr_var, delegation_var, request_id_var
from core.db import is_unavailable
from core.ids import new_request_id
from core.logging import get_logger

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
BODY_METHODS = {b"POST", b"PUT", b"PATCH", "POST", "PUT", "PATCH"}
log = get_logger("huimin.access")


class Metrics:
    """The request counter and latency histogram, and their exposition.

    One process: the values live in `registry`. Several workers (`huimin serve
    --workers N`): `PROMETHEUS_MULTIPROC_DIR` is set before any worker starts, each
    process then keeps its values in files there (prometheus_client's multiprocess
    mode, chosen when prometheus_client is first imported), and `exposition()` sums
    every process's files, so /metrics is one registry whichever worker answers.
    """

    def __init__(self) -> None:
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        # Multiprocess only if prometheus_client itself is (it decided at import time).
        self.multiprocess_dir = path if path and values.ValueClass is not values.MutexValue \
            else None
        self.registry = CollectorRegistry()
        self.requests = Counter("huimin_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "huimin_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Webhook deliveries by status, read from the database at each scrape (the
        # worker's own metrics, `huimin worker --metrics-port`, add attempts and latency).
        self.webhook_deliveries = Gauge(
            "huimin_webhook_deliveries", "Webhook deliveries by status (pending, delivered, "
            "failed)", ["status"], registry=self.registry, multiprocess_mode="mostrecent")
        self.webhook_oldest_pending = Gauge(
            "huimin_webhook_oldest_pending_seconds", "Age of the oldest pending delivery "
            "(how far the worker is behind)", registry=self.registry,
            multiprocess_mode="mostrecent")

    def set_deliveries(self, counts: dict[str, int], oldest_pending: float) -> None:
        for status in ("pending", "delivered", "failed"):
            self.webhook_deliveries.labels(status=status).set(counts.get(status, 0))
        self.webhook_oldest_pending.set(oldest_pending)

    def exposition(self) -> bytes:
        """The Prometheus text of every process serving this app."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)

    def close(self) -> None:
        """This process is stopping: let the other workers' scrapes know. Its counts
        stay in the sums (a counter must not fall when a worker is replaced)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", ()))
        raw_rid = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = raw_rid if REQUEST_ID_RE.match(raw_rid) else new_request_id()
        token = request_id_var.set(rid)
        # The client as the layers outside judged it (api.app: behind trusted proxies,
        # the right-most untrusted X-Forwarded-For address): logs and audit rows.
        client = scope.get("client")
        addr_token = client_addr_var.set(client[0] if client else None)
        delegation_token = delegation_var.set(None)  # none until a delegation is used
        status_holder = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            early = self._refuse_early(scope, headers)
            if early is None and scope.get("method") in BODY_METHODS:
                # The body, read (up to the limit) and checked before the app sees it.
                receive, early = await self._buffer_body(receive)
            if early is not None:
                await send_problem(early, scope, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if is_unavailable(exc):
                # The database, not the request: say so (503, try again later).
                log.error("database_unavailable", error_type=type(exc).__name__,
                          method=scope.get("method"))
                if not status_holder["started"]:
                    await send_problem(database_unavailable(), scope, send_wrapper)
            else:
                log.exception("unhandled_exception", method=scope.get("method"))
                if not status_holder["started"]:
                    await send_problem(errors.InternalError(), scope, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = str(status_holder["status"])
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, status).inc()
            self.metrics.latency.labels(method, template, status).observe(elapsed)
            log.info("request", method=method, route=template, status=int(status),
                     duration_ms=round(elapsed * 1000, 2))
            request_id_var.reset(token)
            client_addr_var.reset(addr_token)
            delegation_var.reset(delegation_token)

    def _refuse_early(self, scope: Scope, headers: dict[bytes, bytes]) -> errors.DomainError | None:
        # No id, cursor or filter contains a NUL; PostgreSQL would refuse it deep
        # inside a query, so refuse it at the door.
        target = (scope.get("raw_path") or scope.get("path", "").encode()) + b"?" + \
            scope.get("query_string", b"")
        if b"%00" in target or b"\x00" in target:
            return errors.BadRequest()
        if scope.get("method") not in BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > self.max_body:
                    return errors.PayloadTooLarge(limit=self.max_body)
            except ValueError:
                return errors.BadRequest()
        has_body = (length not in (None, b"0")) or b"transfer-encoding" in headers
        if has_body:
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if not (ctype == b"application/json" or ctype.endswith(b"+json")):
                return errors.UnsupportedMediaType()
        return None

    async def _buffer_body(self, receive: Receive) -> tuple[Receive, errors.DomainError | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                return receive, errors.PayloadTooLarge(limit=self.max_body)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not _utf8_json_text(body):
            return receive, errors.MalformedJson()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, None


def _utf8_json_text(body: bytes) -> bool:
    """A JSON body is UTF-8 (API.md; RFC 8259 section 8.1), for every route alike: bytes
    that are not (and a NUL byte, which no JSON text in UTF-8 holds, while UTF-16 and
    UTF-32 text always does) are 400 `malformed_json` here. The JSON parsers behind
    (FastAPI's, the hot lane's) decoded such bytes their own ways: a 500 on the hot lane,
    400 `bad_request` elsewhere, UTF-16 taken."""
    if b"\x00" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
