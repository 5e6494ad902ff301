"""Credentials at their edges (issue 25's security check): a citizen token's subject
with a control character, and a credential header sent twice, are refused with 401,
never served (the first got through authentication and then made every request a
500 on PostgreSQL; the second used the first header)."""

from __future__ import annotations

import pytest

from core.security import issue_citizen_token

ME = "/v1/me"


@pytest.mark.parametrize("subject", ["citizen\x00one", "citizen\x1fone", "citizen\x7fone",
                                     "citizen\x85one", "", "c" * 129])
async def test_a_subject_empty_too_long_or_with_a_control_character_is_an_invalid_token(
        client, settings, subject):
    token = issue_citizen_token(settings, subject)
    r = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "invalid_token"
    assert r.headers["content-type"] == "application/problem+json"


async def test_a_subject_of_128_printable_characters_is_a_citizen(client, settings):
    token = issue_citizen_token(settings, "c" * 127 + "市")
    r = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


async def test_a_credential_header_sent_twice_is_malformed(client, admin_headers, settings):
    key = admin_headers["X-API-Key"]
    token = issue_citizen_token(settings, "citizen-twice")
    for name, value in (("X-API-Key", key), ("Authorization", f"Bearer {token}")):
        r = await client.get(ME, headers=[(name, value), (name, value)])
        assert r.status_code == 401, (name, r.text)
        assert r.json()["code"] == "malformed_credentials"
        assert (await client.get(ME, headers=[(name, value)])).status_code == 200
    # Twice, once of them wrong: not "the first one wins" either way.
    for pair in ([key, "hm_wrong"], ["hm_wrong", key]):
        r = await client.get(ME, headers=[("X-API-Key", v) for v in pair])
        assert r.status_code == 401 and r.json()["code"] == "malformed_credentials"
