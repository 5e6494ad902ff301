"""Every 4xx/5xx is problem+json with a stable code, in zh-CN or en, and leaks nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from schemas.organisation import Organisation

PROBLEM = "application/problem+json"


def assert_problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
    return body


async def test_unknown_path_is_problem_404(client):
    assert_problem(await client.get("/v1/nowhere"), 404, "not_found")


async def test_wrong_method_is_problem_405(client):
    r = await client.delete("/healthz")
    assert_problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


async def test_titles_follow_accept_language(client):
    zh = assert_problem(await client.get("/v1/nowhere"), 404, "not_found")
    en_headers = {"Accept-Language": "en-US,en;q=0.9"}
    en = assert_problem(await client.get("/v1/nowhere", headers=en_headers), 404, "not_found")
    assert zh["title"] == "资源不存在"
    assert en["title"] == "Not found"
    mixed = (await client.get("/v1/nowhere",
                              headers={"Accept-Language": "en;q=0.3, zh-CN;q=0.8"})).json()
    assert mixed["title"] == "资源不存在"


async def test_broken_json_is_400(client, admin_headers):
    r = await client.post("/v1/admin/organisations", content=b'{"kind": "registration_',
                          headers={**admin_headers, "Content-Type": "application/json"})
    assert_problem(r, 400, "malformed_json")


async def test_wrong_types_are_422_with_field_errors(client, admin_headers):
    r = await client.post("/v1/admin/organisations",
                          json={"kind": 7, "name": ["x"], "division_code": 110105,
                                "rating": "five"}, headers=admin_headers)
    body = assert_problem(r, 422, "validation_error")
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "kind") in locs and ("body", "name") in locs


async def test_oversize_strings_are_422(client, admin_headers):
    r = await client.post("/v1/admin/organisations",
                          json={"kind": "registration_office", "name": "x" * 5000,
                                "division_code": "110105"}, headers=admin_headers)
    assert_problem(r, 422, "validation_error")


async def test_body_over_one_mebibyte_is_413_and_nothing_is_written(client, admin_headers, db):
    big = b'{"kind": "registration_office", "name": "' + b"x" * (1024 * 1024) + b'"}'
    r = await client.post("/v1/admin/organisations", content=big,
                          headers={**admin_headers, "Content-Type": "application/json"})
    assert_problem(r, 413, "payload_too_large")
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Organisation))).scalar_one() == 0


async def test_chunked_body_over_the_limit_is_413(client, admin_headers):
    async def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    r = await client.post("/v1/admin/organisations", content=chunks(),
                          headers={**admin_headers, "Content-Type": "application/json"})
    assert_problem(r, 413, "payload_too_large")


async def test_wrong_content_type_is_415(client, admin_headers):
    r = await client.post("/v1/admin/organisations", content=b"kind=registration_office",
                          headers={**admin_headers,
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415, "unsupported_media_type")


async def test_unexpected_exception_is_bare_500_with_request_id(app, client):
    @app.get("/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM api_key")

    r = await client.get("/boom-for-test", headers={"X-Request-ID": "req-500-test"})
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text and "SELECT" not in r.text
    assert body["request_id"] == "req-500-test"


async def test_database_down_is_503_with_retry_after(app, client, admin_headers):
    await app.state.db.dispose()
    from core.db import Database

    broken = Database.from_settings(app.state.settings,
                                    "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app.state.db = broken
    r = await client.get("/v1/admin/organisations", headers=admin_headers)
    assert_problem(r, 503, "database_unavailable")
    assert r.headers["retry-after"]
    r = await client.get("/readyz")
    assert_problem(r, 503, "database_unavailable")
    await broken.dispose()


async def test_readyz_is_200_when_the_database_answers(client):
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


async def test_nul_characters_are_refused_at_the_door(client, admin_headers):
    r = await client.post("/v1/admin/organisations", json={
        "kind": "registration_office", "name": "a\u0000b", "division_code": "110105"},
        headers=admin_headers)
    assert_problem(r, 422, "validation_error")
    assert_problem(await client.get("/v1/admin/organisations/a%00b", headers=admin_headers),
                   400, "bad_request")
    assert_problem(await client.get("/v1/admin/organisations?cursor=%00", headers=admin_headers),
                   400, "bad_request")


async def test_garbage_cursors_are_400(client, admin_headers):
    import base64

    for cursor in ("zzz", "%%%", base64.urlsafe_b64encode(b"a\x01b").decode().rstrip("=")):
        r = await client.get("/v1/admin/organisations", params={"cursor": cursor},
                             headers=admin_headers)
        assert_problem(r, 400, "invalid_cursor")


async def test_not_found_names_the_object_in_each_language(client, admin_headers):
    zh = assert_problem(await client.get("/v1/admin/organisations/org_x", headers=admin_headers),
                        404, "not_found")
    assert zh["detail"] == "找不到该机构。"
    en = assert_problem(await client.get("/v1/admin/organisations/org_x",
                                         headers={**admin_headers, "Accept-Language": "en"}),
                        404, "not_found")
    assert en["detail"] == "No such organisation."
