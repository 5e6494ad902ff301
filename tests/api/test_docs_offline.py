"""`/docs` and `/redoc` work on a network without the internet.

Every asset comes from huimin itself. The browser test opens the pages in headless
Chromium against a live `huimin serve`, under a host name that resolves to
127.0.0.1 while every other name fails to resolve, so a page that needed a CDN
would show nothing; the browser's network log then shows that every request the
page made went to huimin.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live import huimin_serve

PAGE_HOST = "huimin.test"  # not "localhost": Swagger UI skips its validator badge there


async def test_docs_pages_reference_only_their_own_server(client):
    for path in ("/docs", "/redoc"):
        resp = await client.get(path)
        assert resp.status_code == 200, path
        refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", resp.text)
        assert refs, path
        assert all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
        assert "googleapis" not in resp.text and "cdn." not in resp.text
    assert '"validatorUrl": null' in (await client.get("/docs")).text


@pytest.mark.parametrize(("asset", "ctype"), [
    ("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
    ("redoc.standalone.js", "javascript"), ("favicon.png", "image/png")])
async def test_docs_assets_are_served_from_the_installed_package(client, asset, ctype):
    resp = await client.get(f"/docs/assets/{asset}")
    assert resp.status_code == 200
    assert ctype in resp.headers["content-type"]
    assert len(resp.content) > 1000


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")


def _open_in_chromium(browser: str, url: str, workdir: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the URLs of every request the page made."""
    netlog = workdir / "netlog.json"
    port = urlsplit(url).port
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-proxy-server", "--disable-features=AutofillServerCommunication,Translate",
        f"--user-data-dir={workdir / 'profile'}",
        # Only the page's host resolves, to loopback; any CDN name fails.
        f"--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1, MAP * ~NOTFOUND",
        f"--log-net-log={netlog}", "--virtual-time-budget=20000", "--dump-dom",
        url.replace(f"127.0.0.1:{port}", f"{PAGE_HOST}:{port}"),
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return html.unescape(done.stdout.decode()), _page_requests(netlog)


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for. The browser's own background traffic (update checks and
    the like; blocked too by the resolver rules) belongs to no page and is left out:
    a page's requests carry the page's site in their network isolation key."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "url" in params \
                and PAGE_HOST in params.get("network_isolation_key", ""):
            urls.append(params["url"])
    return urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_list_the_operations_in_a_browser_with_no_request_leaving(
        page, tmp_path, fresh_db_url):
    browser = _chromium()
    with huimin_serve(tmp_path, fresh_db_url) as base:
        openapi_doc = httpx.get(f"{base}/openapi.json").json()
        dom, requests = _open_in_chromium(browser, base + page, tmp_path)

    operations = [op for item in openapi_doc["paths"].values() for op in item.values()]
    assert len(operations) > 20
    if page == "/docs":
        missing = [p for p in openapi_doc["paths"] if f'data-path="{p}"' not in dom]
    else:
        missing = [op["operationId"] for op in operations
                   if f'operation/{op["operationId"]}"' not in dom]
    assert not missing, f"{page} does not list {missing[:10]}"
    summaries = [op["summary"] for op in operations if op.get("summary")]
    assert [s for s in summaries if s not in dom] == []

    page_origin = f"{PAGE_HOST}:{urlsplit(base).port}"
    assert any(u.endswith(page) for u in requests), requests
    assert any("/docs/assets/" in u for u in requests), requests
    assert any(u.endswith("/openapi.json") for u in requests), requests
    elsewhere = [u for u in requests if urlsplit(u).netloc != page_origin]
    assert not elsewhere, f"{page} asked for something not on huimin: {elsewhere}"

