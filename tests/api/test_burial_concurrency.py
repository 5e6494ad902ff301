"""Real concurrent requests (on the embedded PostgreSQL and on TEST_DATABASE_URL's): one claim per
deceased and one winner between an approval and a withdrawal, whatever the
interleaving."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from schemas.burial import BurialClaim
from tests.api.test_burial_support import bureau, claim_body, policy, reviewed_claim
from tests.factories import citizen_headers, idem, make_id_number


async def test_eight_claims_for_one_deceased_at_once_give_one_claim(client, admin_headers,
                                                                    settings, db):
    await policy(client, admin_headers)
    deceased = make_id_number("19380505")
    # Eight relatives, each from an account of their own, each with its own key.
    requests = [client.post("/v1/burial/claims", json=claim_body(deceased_id=deceased),
                            headers={**citizen_headers(settings), **idem()})
                for _ in range(8)]
    results = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"duplicate_claim"}
    async with db.session() as session:
        count = (await session.execute(select(func.count()).select_from(BurialClaim))).scalar()
    assert count == 1


async def test_an_approval_racing_a_withdrawal_has_one_winner(client, admin_headers,
                                                              settings, db):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    outcomes = set()
    for _ in range(4):
        claim, citizen = await reviewed_claim(client, settings, b)
        url = f"/v1/burial/claims/{claim['id']}"
        approve, withdraw = await asyncio.gather(
            client.post(f"{url}/approve", headers=b.approver),
            client.post(f"{url}/withdraw", headers=citizen))
        assert sorted([approve.status_code, withdraw.status_code]) == [200, 409], (
            approve.text, withdraw.text)
        loser = approve if approve.status_code == 409 else withdraw
        assert loser.json()["code"] == "invalid_state"
        winner = "approved" if approve.status_code == 200 else "withdrawn"
        outcomes.add(winner)
        async with db.session() as session:
            row = (await session.execute(select(BurialClaim).where(
                BurialClaim.id == claim["id"]))).scalar_one()
        assert row.status == winner
        assert (row.decided_at is None) == (winner == "withdrawn")
        assert (row.withdrawn_at is None) == (winner == "approved")
    assert outcomes <= {"approved", "withdrawn"}


async def test_overlapping_policies_added_at_once_give_one(client, admin_headers):
    body = {"division_code": "310000", "method": "sea", "amount_fen": 460000,
            "effective_from": "2026-01-01", "claim_deadline_days": 180}
    results = await asyncio.gather(*(
        client.post("/v1/burial/policies", headers=admin_headers,
                    json={**body, "amount_fen": 460000 + i}) for i in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409], [
        r.text for r in results]
    listed = (await client.get("/v1/burial/policies?division_code=31")).json()["items"]
    assert len(listed) == 1
