"""Filing a claim: the amount from the policy, every refusal with its own code,
one claim per deceased, protected personal data."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.clock import clock
from schemas.burial import BurialClaim
from tests.api.test_burial_support import (
    REQUIRED_DOCS,
    bureau,
    claim_body,
    days_ago,
    file_claim,
    policy,
)
from tests.factories import born_years_ago, citizen_headers, idem, make_id_number


async def test_the_amount_comes_from_the_policy_never_from_the_client(client, admin_headers,
                                                                       settings):
    p = await policy(client, admin_headers, amount=400000)
    claim, citizen = await file_claim(client, settings)
    assert claim["status"] == "submitted"
    assert claim["amount_fen"] == 400000 and claim["policy_id"] == p["id"]
    assert claim["claim_deadline"] == (clock.today() + timedelta(days=170)).isoformat()
    assert claim["deceased"]["hukou_division_name"] == "北京市朝阳区"
    body = claim_body()
    body["amount_fen"] = 99999999
    r = await client.post("/v1/burial/claims", json=body, headers={**citizen, **idem()})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_personal_data_comes_back_masked_and_is_stored_encrypted(client, admin_headers,
                                                                       settings, db):
    await policy(client, admin_headers)
    body = claim_body()
    claim, _ = await file_claim(client, settings, body)
    deceased_id = body["deceased"]["id_number"]
    account = body["payout"]["account_no"]
    assert claim["deceased"]["id_number_masked"] == deceased_id[:6] + "********" + deceased_id[-4:]
    assert claim["payout"]["account_no_masked"] == f"{account[:4]} **** **** {account[-4:]}"
    assert claim["claimant"]["phone_masked"] == "138****8000"
    assert "account_no" not in claim["payout"] and "id_number" not in claim["claimant"]
    async with db.session() as session:
        row = (await session.execute(select(BurialClaim))).scalar_one()
    stored = " ".join(str(v) for v in row.model_dump().values())
    assert deceased_id not in stored and account not in stored and "13800138000" not in stored


async def test_an_idempotent_retry_replays_and_a_key_is_required(client, admin_headers,
                                                                  settings):
    await policy(client, admin_headers)
    citizen = citizen_headers(settings)
    body = claim_body()
    key = idem()
    r1 = await client.post("/v1/burial/claims", json=body, headers={**citizen, **key})
    r2 = await client.post("/v1/burial/claims", json=body, headers={**citizen, **key})
    assert r1.status_code == r2.status_code == 201
    assert r2.headers["idempotent-replayed"] == "true" and r1.json() == r2.json()
    r = await client.post("/v1/burial/claims", json=claim_body(), headers=citizen)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"


async def test_no_policy_for_the_method_division_or_burial_date(client, admin_headers,
                                                                settings):
    await policy(client, admin_headers, method="sea", frm=days_ago(30))
    await file_claim(client, settings, claim_body(method="tree"), expect=422,
                     code="no_applicable_policy")
    await file_claim(client, settings, claim_body(hukou="310101"), expect=422,
                     code="no_applicable_policy")
    await file_claim(client, settings, claim_body(death=days_ago(60), burial=days_ago(40)),
                     expect=422, code="no_applicable_policy")
    await file_claim(client, settings, claim_body(hukou="119999"), expect=422,
                     code="invalid_division_code")


async def test_a_claim_after_the_deadline_is_refused(client, admin_headers, settings):
    await policy(client, admin_headers, deadline_days=30)
    await file_claim(client, settings, claim_body(death=days_ago(40), burial=days_ago(30)))
    r, _ = await file_claim(client, settings, claim_body(death=days_ago(40),
                                                         burial=days_ago(31)),
                            expect=422, code="claim_deadline_passed")
    assert "30" in r["detail"]


async def test_impossible_dates_are_refused_each_with_its_code(client, admin_headers,
                                                               settings):
    await policy(client, admin_headers)
    await file_claim(client, settings, claim_body(death=days_ago(5), burial=days_ago(6)),
                     expect=422, code="burial_before_death")
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    await file_claim(client, settings, claim_body(death=tomorrow, burial=tomorrow),
                     expect=422, code="death_date_in_future")
    await file_claim(client, settings, claim_body(death=days_ago(1), burial=tomorrow),
                     expect=422, code="burial_date_in_future")
    young = make_id_number(clock.today() - timedelta(days=3))
    await file_claim(client, settings, claim_body(deceased_id=young, death=days_ago(5),
                                                  burial=days_ago(1)),
                     expect=422, code="death_before_birth")


async def test_invalid_identity_numbers_are_refused(client, admin_headers, settings):
    await policy(client, admin_headers)
    good = make_id_number("19400101")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r, _ = await file_claim(client, settings, claim_body(deceased_id=bad), expect=422,
                            code="invalid_id_number")
    assert "deceased.id_number" in r["detail"]
    r, _ = await file_claim(client, settings, claim_body(claimant_id="11010519900101"),
                            expect=422, code="invalid_id_number")
    assert "claimant.id_number" in r["detail"]


async def test_the_claimant_is_not_the_deceased_and_is_an_adult(client, admin_headers,
                                                                settings):
    await policy(client, admin_headers)
    same = make_id_number("19400101")
    await file_claim(client, settings, claim_body(deceased_id=same, claimant_id=same),
                     expect=422, code="claimant_is_deceased")
    minor = make_id_number(born_years_ago(18, clock.today(), extra_days=-1))
    await file_claim(client, settings, claim_body(claimant_id=minor), expect=422,
                     code="claimant_not_adult")
    adult = make_id_number(born_years_ago(18, clock.today()))
    await file_claim(client, settings, claim_body(claimant_id=adult))


async def test_the_relation_must_be_in_the_list_and_an_agent_needs_an_authorisation(
        client, admin_headers, settings):
    await policy(client, admin_headers)
    await file_claim(client, settings, claim_body(relation="cousin"), expect=422,
                     code="invalid_relation")
    await file_claim(client, settings, claim_body(relation="agent"), expect=422,
                     code="authorisation_required")
    claim, _ = await file_claim(client, settings, claim_body(
        relation="agent", docs=(*REQUIRED_DOCS, "authorisation")))
    assert claim["claimant"]["relation"] == "agent"
    for relation in ("spouse", "parent", "sibling"):
        await file_claim(client, settings, claim_body(relation=relation))


async def test_every_required_document_is_needed(client, admin_headers, settings):
    await policy(client, admin_headers)
    for kind in REQUIRED_DOCS:
        docs = tuple(k for k in REQUIRED_DOCS if k != kind)
        r, _ = await file_claim(client, settings, claim_body(docs=docs), expect=422,
                                code="missing_document")
        assert r["missing"] == [kind]
    r, _ = await file_claim(client, settings, claim_body(docs=()), expect=422,
                            code="missing_document")
    assert r["missing"] == list(REQUIRED_DOCS)
    assert r["detail"] == "缺少：死亡证明、火化证明、户口注销证明、安葬证明。"
    r = await client.post("/v1/burial/claims", json=claim_body(docs=REQUIRED_DOCS[1:]),
                          headers={**citizen_headers(settings), **idem(),
                                   "Accept-Language": "en"})
    assert r.json()["detail"] == "Missing: death certificate."


async def test_the_review_sees_the_documents(client, admin_headers, settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    claim, _ = await file_claim(client, settings)
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=b.reviewer)
    assert [d["kind"] for d in r.json()["documents"]] == list(REQUIRED_DOCS)
    assert r.json()["documents"][0]["number"] == "DE-0001"


async def test_second_claim_for_same_deceased_is_refused(client, admin_headers, settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    deceased = make_id_number("19400101")
    first, citizen = await file_claim(client, settings, claim_body(deceased_id=deceased))
    # Another family member, another account: still the same deceased.
    await file_claim(client, settings, claim_body(deceased_id=deceased), expect=409,
                     code="duplicate_claim")
    # A withdrawn claim frees the deceased; so does a rejected one.
    assert (await client.post(f"/v1/burial/claims/{first['id']}/withdraw",
                              headers=citizen)).status_code == 200
    second, _ = await file_claim(client, settings, claim_body(deceased_id=deceased))
    r = await client.post(f"/v1/burial/claims/{second['id']}/review", headers=b.reviewer,
                          json={"decision": "reject", "reason_code": "not_cremated"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    third, _ = await file_claim(client, settings, claim_body(deceased_id=deceased))
    await file_claim(client, settings, claim_body(deceased_id=deceased), expect=409,
                     code="duplicate_claim")
    assert third["status"] == "submitted"


async def test_only_citizens_file_claims(client, admin_headers, settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    r = await client.post("/v1/burial/claims", json=claim_body(),
                          headers={**b.reviewer, **idem()})
    assert r.status_code == 403
