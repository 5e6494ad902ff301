"""Request ids, JSON logs, Prometheus metrics."""

from __future__ import annotations

import io
import json

from core.logging import configure_logging


async def test_request_id_is_taken_from_the_header_or_made(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = (await client.get("/healthz")).headers["x-request-id"]
    assert len(made) == 32
    # An ill-formed id is replaced, not echoed.
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert r.headers["x-request-id"] != "bad id <script>"


async def test_access_log_is_json_with_route_template_and_request_id(client, admin_headers):
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        await client.get("/v1/admin/organisations/org_x", headers={**admin_headers,
                                                                  "X-Request-ID": "log-1"})
    finally:
        configure_logging("INFO")
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("event") == "request"]
    assert access, stream.getvalue()
    assert access[-1]["route"] == "/v1/admin/organisations/{org_id}"
    assert access[-1]["status"] == 404
    assert access[-1]["request_id"] == "log-1"


async def test_metrics_count_requests_per_route_template_and_status(client):
    await client.get("/healthz")
    await client.get("/v1/nowhere")
    text = (await client.get("/metrics")).text
    assert 'huimin_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "huimin_http_request_duration_seconds_bucket" in text
