"""Rate limits that cannot be dodged: only valid credentials earn a budget of their
own; a made-up key or a bad token spends the address's anonymous one. A citizen
token's lifetime has a maximum."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from core.clock import clock
from core.security import TokenLifetimeTooLong, issue_citizen_token
from tests.factories import citizen_headers


async def limited_client(settings, **overrides):  # noqa: ANN001, ANN201
    app = create_app(settings.model_copy(update={"rate_limit_enabled": True, **overrides}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return app, httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize("bogus", [
    {"X-API-Key": "hm_000000000000_madeupmadeupmadeupmadeupmadeupmadeup00000"},
    {"X-API-Key": "not-even-a-key"},
    {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.bm90LWEtc2lnbmF0dXJl"},
])
async def test_made_up_credentials_spend_the_anonymous_budget(settings, bogus):
    app, client = await limited_client(settings, rate_limit_anonymous="3/minute")
    async with client:
        assert [(await client.get("/v1/marriage/offices")).status_code
                for _ in range(3)] == [200, 200, 200]
        # Each request with a fresh made-up credential: still the same address.
        for n in range(2):
            headers = {k: v + str(n) for k, v in bogus.items()}
            r = await client.get("/v1/marriage/offices", headers=headers)
            assert r.status_code == 429, r.text
            assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    await app.state.db.dispose()


async def test_valid_credentials_keep_their_own_budget(settings, admin_headers):
    app, client = await limited_client(settings, rate_limit_anonymous="2/minute",
                                       rate_limit_staff="5/minute",
                                       rate_limit_citizen="5/minute")
    citizen = citizen_headers(settings, "wx-budget")
    async with client:
        # The anonymous budget is spent, by made-up keys among others ...
        statuses = [(await client.get("/v1/me", headers={"X-API-Key": f"hm_x_{i}"})).status_code
                    for i in range(3)]
        assert statuses == [401, 401, 429]
        # ... yet a real key and a real token from the same address still answer.
        assert (await client.get("/v1/me", headers=admin_headers)).status_code == 200
        assert (await client.get("/v1/me", headers=citizen)).status_code == 200
    await app.state.db.dispose()


def _token(settings, **claims) -> str:  # noqa: ANN001
    now = int(clock.now().timestamp())
    body = {"sub": "wx-long", "role": "citizen", "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience, "iat": now, "exp": now + 3600, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, settings.jwt_secret, algorithm="HS256")


async def test_a_token_living_longer_than_the_maximum_is_refused(client, settings):
    now = int(clock.now().timestamp())
    longest = settings.jwt_max_ttl_minutes * 60
    ok = _token(settings, exp=now + longest)
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {ok}"})
            ).status_code == 200
    for bad in (_token(settings, exp=now + longest + 60),                  # issued too long
                _token(settings, iat=None, exp=now + longest + 60),        # no iat, exp too far
                _token(settings, iat=now - 3600, exp=now + longest - 60)):  # backdated iat
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "invalid_token"


async def test_the_maximum_comes_from_settings(settings):
    short = settings.model_copy(update={"jwt_max_ttl_minutes": 60, "jwt_ttl_minutes": 30})
    app, client = await limited_client(short, rate_limit_enabled=False)
    token = issue_citizen_token(settings, "wx-a", timedelta(hours=2))  # fine by the default
    async with client:
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    await app.state.db.dispose()
    with pytest.raises(TokenLifetimeTooLong):
        issue_citizen_token(short, "wx-a", timedelta(hours=2))


def test_the_cli_refuses_a_token_beyond_the_maximum():
    result = CliRunner().invoke(cli, ["token", "citizen", "--subject", "wx-a",
                                      "--ttl-minutes", str(60 * 24 * 30)])
    assert result.exit_code == 2
    assert "HUIMIN_JWT_MAX_TTL_MINUTES" in result.output


async def test_concurrent_made_up_keys_share_one_budget(settings):
    app, client = await limited_client(settings, rate_limit_anonymous="5/minute")
    async with client:
        results = await asyncio.gather(*(
            client.get("/v1/marriage/offices", headers={"X-API-Key": f"hm_{i:012d}_x"})
            for i in range(8)))
        assert sorted(r.status_code for r in results) == [401] * 5 + [429] * 3
    await app.state.db.dispose()
