"""Organisations, staff keys, authentication and roles through the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import jwt
from sqlalchemy import func, select

from core.clock import clock
from core.security import issue_citizen_token
from schemas.organisation import ApiKey, Organisation
from tests.factories import citizen_headers, create_org, staff_headers


async def test_admin_creates_reads_lists_and_updates_an_organisation(client, admin_headers):
    org = await create_org(client, admin_headers, "care_institution")
    assert org["division_name"] == "四川省成都市武侯区"
    assert org["rating"] == 4 and org["ownership"] == "public"

    r = await client.get(f"/v1/admin/organisations/{org['id']}", headers=admin_headers)
    assert r.status_code == 200
    etag = r.headers["etag"]

    r = await client.patch(f"/v1/admin/organisations/{org['id']}", json={"rating": 5},
                           headers={**admin_headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["rating"] == 5
    assert r.headers["etag"] != etag

    r = await client.get("/v1/admin/organisations?division_code=5101", headers=admin_headers)
    assert [o["id"] for o in r.json()["items"]] == [org["id"]]
    r = await client.get("/v1/admin/organisations?division_code=1101", headers=admin_headers)
    assert r.json()["items"] == []


async def test_update_without_if_match_is_428_and_stale_is_412(client, admin_headers):
    org = await create_org(client, admin_headers, "registration_office")
    url = f"/v1/admin/organisations/{org['id']}"
    r = await client.patch(url, json={"phone": "010-1234567"}, headers=admin_headers)
    assert r.status_code == 428, r.text
    assert r.json()["code"] == "precondition_required"
    etag = (await client.get(url, headers=admin_headers)).headers["etag"]
    assert (await client.patch(url, json={"phone": "010-1234567"},
                               headers={**admin_headers, "If-Match": etag})).status_code == 200
    r = await client.patch(url, json={"phone": "010-7654321"},
                           headers={**admin_headers, "If-Match": etag})
    assert r.status_code == 412
    assert r.json()["code"] == "precondition_failed"


async def test_invalid_division_code_is_refused_and_nothing_is_written(client, admin_headers, db):
    body = {"kind": "registration_office", "name": "无效", "division_code": "999999"}
    r = await client.post("/v1/admin/organisations", json=body, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_division_code"
    body["division_code"] = "11010"
    r = await client.post("/v1/admin/organisations", json=body, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Organisation))).scalar_one() == 0


async def test_municipality_city_level_code_is_valid(client, admin_headers):
    org = await create_org(client, admin_headers, "civil_affairs_bureau", division_code="110100")
    assert org["division_name"] == "北京市"


async def test_unknown_fields_and_server_owned_fields_are_refused(client, admin_headers):
    body = {"kind": "registration_office", "name": "x", "division_code": "110105",
            "id": "org_mine", "version": 99}
    r = await client.post("/v1/admin/organisations", json=body, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert {tuple(e["loc"]) for e in r.json()["errors"]} >= {("body", "id"), ("body", "version")}


async def test_api_key_is_shown_once_stored_hashed_and_revocable(client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")
    r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys",
                          json={"role": "office", "name": "王芳"}, headers=admin_headers)
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert created["org_id"] == org["id"] and created["role"] == "office"

    async with db.session() as s:
        stored = (await s.execute(select(ApiKey).where(ApiKey.id == created["id"]))).scalar_one()
    assert key not in (stored.key_hash, stored.lookup)
    assert len(stored.key_hash) == 64

    listed = (await client.get(f"/v1/admin/organisations/{org['id']}/api-keys",
                               headers=admin_headers)).json()
    assert listed["next_cursor"] is None
    assert [k["id"] for k in listed["items"]] == [created["id"]]
    assert "key" not in listed["items"][0]

    me = await client.get("/v1/me", headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json()["role"] == "office" and me.json()["org_id"] == org["id"]

    r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys/{created['id']}/revoke",
                          headers=admin_headers)
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await client.get("/v1/me", headers={"X-API-Key": key})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_api_key"


async def test_role_must_match_organisation_kind(client, admin_headers):
    org = await create_org(client, admin_headers, "registration_office")
    for role in ("institution", "reviewer", "admin"):
        r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys",
                              json={"role": role, "name": "x"}, headers=admin_headers)
        assert r.status_code == 422, role
        assert r.json()["code"] == "role_not_allowed"


# The operations that are public by design (API.md marks them "public").
PUBLIC_OPERATIONS = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/v1/marriage/offices"), ("GET", "/v1/marriage/offices/{office_id}/slots"),
    ("GET", "/v1/institutions"), ("GET", "/v1/institutions/{institution_id}"),
    ("GET", "/v1/home-care/services"), ("GET", "/v1/home-care/availability"),
    ("GET", "/v1/home-care/providers"),
    ("GET", "/v1/providers/{provider_id}/offerings"),
    ("GET", "/v1/providers/{provider_id}/offerings/{service_code}"),
    ("GET", "/v1/home-care/centre-sessions"),
    ("GET", "/v1/burial/policies"),
    ("GET", "/v1/official-calendar/{year}"),
    # Beside the public list: one policy, and the one that would decide a claim.
    ("GET", "/v1/burial/policies/{policy_id}"), ("GET", "/v1/burial/policies/applicable"),
    # A lottery, and after its draw its entries (no person in them): anyone may verify.
    ("GET", "/v1/marriage/lotteries/{lottery_id}"),
    ("GET", "/v1/marriage/lotteries/{lottery_id}/entries"),
    # Open statistics (公开数据): aggregates only, and their page.
    ("GET", "/v1/stats/beds"), ("GET", "/v1/stats/marriage"), ("GET", "/v1/stats/burial"),
    ("GET", "/v1/stats/home-care"), ("GET", "/stats"),
}


async def test_routes_are_authenticated_by_default(client, app):
    paths = app.openapi()["paths"]
    checked = 0
    for path, item in paths.items():
        for method in item:
            if (method.upper(), path) in PUBLIC_OPERATIONS:
                continue
            url = path.replace("{", "x").replace("}", "")
            r = await client.request(method.upper(), url, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
            checked += 1
    assert checked >= 8


async def test_wrong_role_is_403(client, admin_headers, settings):
    r = await client.get("/v1/admin/organisations", headers=citizen_headers(settings))
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    org = await create_org(client, admin_headers, "registration_office")
    office = await staff_headers(client, admin_headers, org["id"], "office")
    r = await client.get("/v1/admin/organisations", headers=office)
    assert r.status_code == 403


async def test_citizen_token_claims_are_checked(client, settings):
    good = issue_citizen_token(settings, "acc-1")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {good}"})
            ).json()["subject"] == "acc-1"

    def forged(**overrides) -> str:
        claims = {"sub": "acc-1", "role": "citizen", "iss": settings.jwt_issuer,
                  "aud": settings.jwt_audience,
                  "exp": int((clock.now() + timedelta(hours=1)).timestamp())}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")

    bad_tokens = [
        jwt.encode({"sub": "acc-1", "role": "citizen"}, "another-secret-another-secret-12345",
                   algorithm="HS256"),
        forged(iss="someone-else"),
        forged(aud="another-audience"),
        # Expired and wrong in another way too: the other fault is what is reported.
        forged(exp=int((clock.now() - timedelta(minutes=1)).timestamp()), iss="someone-else"),
        forged(exp=int((clock.now() - timedelta(minutes=1)).timestamp()), role="admin"),
        forged(exp=None),
        forged(sub=None),
        forged(role="admin"),
        jwt.encode({"sub": "acc-1", "role": "citizen", "iss": settings.jwt_issuer,
                    "aud": settings.jwt_audience,
                    "exp": int((clock.now() + timedelta(hours=1)).timestamp())},
                   settings.jwt_secret, algorithm="HS512"),
        "not-a-jwt",
    ]
    # alg=none
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    payload = jwt.utils.base64url_encode(b'{"sub":"acc-1","role":"citizen"}').decode()
    bad_tokens.append(f"{header}.{payload}.")
    for token in bad_tokens:
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.json()["code"] == "invalid_token"


async def test_expired_token_is_refused_when_the_clock_moves(client, settings):
    token = issue_citizen_token(settings, "acc-2", timedelta(minutes=5))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    clock.advance(timedelta(minutes=6))
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "token_expired"


async def test_bad_api_keys_are_401(client):
    for key in ("nonsense", "hm_000000000000_nope", "hm_x_y"):
        r = await client.get("/v1/me", headers={"X-API-Key": key})
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_api_key"
