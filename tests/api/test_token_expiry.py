"""An expired citizen token says so: 401 `token_expired` with when, in zh-CN and en.
Every other fault of a token stays `invalid_token`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from core.clock import clock
from core.security import issue_citizen_token


async def test_a_token_past_its_exp_is_token_expired_in_both_languages(client, settings):
    clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 09:00 in Beijing
    token = issue_citizen_token(settings, "wx-expiring", timedelta(hours=2))
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/me", headers=bearer)).status_code == 200

    clock.advance(timedelta(hours=2))  # exactly at exp: no longer valid
    zh = await client.get("/v1/me", headers=bearer)
    assert zh.status_code == 401
    body = zh.json()
    assert body["code"] == "token_expired"
    assert body["title"] == "令牌已过期"
    assert "2026-03-02T11:00:00+08:00" in body["detail"] and "重新登录" in body["detail"]
    assert 'error="invalid_token"' in zh.headers["www-authenticate"]

    en = await client.get("/v1/me", headers={**bearer, "Accept-Language": "en"})
    assert en.status_code == 401
    assert en.json()["code"] == "token_expired"
    assert en.json()["detail"] == "The token expired at 2026-03-02T11:00:00+08:00; sign in again."


async def test_an_expired_token_with_a_bad_signature_is_still_invalid_token(client, settings):
    clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    token = jwt.encode({"sub": "wx-1", "role": "citizen", "iss": settings.jwt_issuer,
                        "aud": settings.jwt_audience, "exp": int(clock.now().timestamp()) - 60},
                       "not-the-secret-not-the-secret-123456", algorithm="HS256")
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"
