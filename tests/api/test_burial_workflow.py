"""The claim's workflow: review, return and resubmit, approval by another staff
member, payment, withdrawal; jurisdiction by division prefix; audit."""

from __future__ import annotations

from tests.api.test_burial_support import (
    approved_claim,
    bureau,
    claim_body,
    file_claim,
    policy,
    reviewed_claim,
)
from tests.factories import (
    citizen_headers,
    create_org,
    make_account_no,
    make_id_number,
    staff_headers,
)


async def _setup(client, admin_headers, division: str = "110105"):
    await policy(client, admin_headers)
    return await bureau(client, admin_headers, division=division)


async def test_a_claim_goes_from_submitted_to_paid(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await approved_claim(client, settings, b)
    assert claim["status"] == "approved"
    assert claim["review"]["reviewed_by"] == "审核-张伟"
    assert claim["decision"]["decided_by"] == "审批-李娜"
    r = await client.post(f"/v1/burial/claims/{claim['id']}/mark-paid", headers=b.approver,
                          json={"payment_reference": "ICBC-20261210-000123"})
    assert r.status_code == 200
    assert r.json()["status"] == "paid" and r.json()["paid_at"]
    assert r.json()["payment_reference"] == "ICBC-20261210-000123"
    seen = (await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)).json()
    assert seen["status"] == "paid"
    history = (await client.get(f"/v1/burial/claims/{claim['id']}/history",
                                headers=citizen)).json()["items"]
    assert [(e["action"], e["to_status"], e["actor_name"]) for e in history] == [
        ("submit", "submitted", None), ("pass", "reviewed", "审核-张伟"),
        ("approve", "approved", "审批-李娜"), ("mark_paid", "paid", "审批-李娜")]


async def test_each_step_is_audited_with_the_staff_member(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, _ = await approved_claim(client, settings, b)
    events = (await client.get(f"/v1/admin/audit-events?object_id={claim['id']}",
                               headers=admin_headers)).json()["items"]
    by_action = {e["action"]: e for e in events}
    assert {"burial_claim.create", "burial_claim.pass",
            "burial_claim.approve"} <= set(by_action)
    keys = (await client.get(f"/v1/admin/organisations/{b.org['id']}/api-keys",
                             headers=admin_headers)).json()["items"]
    key_of = {(k["role"], k["name"]): k["id"] for k in keys}
    assert by_action["burial_claim.pass"]["actor_id"] == key_of[("reviewer", "审核-张伟")]
    assert by_action["burial_claim.approve"]["actor_id"] == key_of[("approver", "审批-李娜")]
    assert by_action["burial_claim.approve"]["org_id"] == b.org["id"]


async def test_the_reviewer_may_not_approve_or_reject_what_they_reviewed(client,
                                                                          admin_headers,
                                                                          settings):
    b = await _setup(client, admin_headers)
    claim, _ = await reviewed_claim(client, settings, b)
    url = f"/v1/burial/claims/{claim['id']}"
    r = await client.post(f"{url}/approve", headers=b.reviewer_as_approver)
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    r = await client.post(f"{url}/reject", headers=b.reviewer_as_approver,
                          json={"reason_code": "other"})
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    # The same name however it is typed is the same person: a full-width hyphen, a
    # zero-width space, a doubled space (issue 25's security check approved with these).
    for alias in ("审核－张伟", "审核-张伟\u200b", "审核-\u200d张伟", "审核-张伟 "):
        disguised = await staff_headers(client, admin_headers, b.org["id"], "approver", alias)
        r = await client.post(f"{url}/approve", headers=disguised)
        assert r.status_code == 403 and r.json()["code"] == "separation_of_duties", alias
    r = await client.post(f"/v1/admin/organisations/{b.org['id']}/api-keys",
                          json={"role": "approver", "name": "\u200b\u200d"},
                          headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    # The same name in another bureau is another person.
    other = await bureau(client, admin_headers, division="110100", name="北京市民政局")
    r = await client.post(f"{url}/approve", headers=other.reviewer_as_approver)
    assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_roles_are_kept_apart(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    url = f"/v1/burial/claims/{claim['id']}"
    assert (await client.post(f"{url}/review", json={"decision": "pass"},
                              headers=citizen)).status_code == 403
    assert (await client.post(f"{url}/review", json={"decision": "pass"},
                              headers=b.approver)).status_code == 403
    assert (await client.post(f"{url}/approve", headers=b.reviewer)).status_code == 403
    assert (await client.post(f"{url}/withdraw", headers=b.reviewer)).status_code == 403


async def test_approval_needs_a_review_first(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, _ = await file_claim(client, settings)
    r = await client.post(f"/v1/burial/claims/{claim['id']}/approve", headers=b.approver)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(f"/v1/burial/claims/{claim['id']}/mark-paid", headers=b.approver,
                          json={"payment_reference": "X"})
    assert r.status_code == 409


async def test_a_return_needs_a_note_the_citizen_sees_and_a_rejection_a_reason(
        client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    url = f"/v1/burial/claims/{claim['id']}"
    r = await client.post(f"{url}/review", json={"decision": "return"}, headers=b.reviewer)
    assert r.status_code == 422
    r = await client.post(f"{url}/review", json={"decision": "reject"}, headers=b.reviewer)
    assert r.status_code == 422
    r = await client.post(f"{url}/review", headers=b.reviewer, json={
        "decision": "return", "reason_code": "documents_incomplete",
        "note": "火化证明照片不清晰，请重新上传"})
    assert r.status_code == 200 and r.json()["status"] == "returned"
    seen = (await client.get(url, headers=citizen)).json()
    assert seen["return_reason"] == "火化证明照片不清晰，请重新上传"
    assert seen["review"]["reason_code"] == "documents_incomplete"


async def test_a_rejection_at_review_carries_its_reason_code(client, admin_headers,
                                                             settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review", headers=b.reviewer,
                          json={"decision": "reject", "reason_code": "hukou_not_in_division"})
    assert r.json()["status"] == "rejected"
    assert r.json()["review"]["reason_code"] == "hukou_not_in_division"
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review", headers=b.reviewer,
                          json={"decision": "pass"})
    assert r.status_code == 409


async def test_the_approver_rejects_with_a_reason_code(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, _ = await reviewed_claim(client, settings, b)
    url = f"/v1/burial/claims/{claim['id']}/reject"
    assert (await client.post(url, json={}, headers=b.approver)).status_code == 422
    r = await client.post(url, json={"reason_code": "already_subsidised", "note": "已在原籍领取"},
                          headers=b.approver)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["decision"]["reason_code"] == "already_subsidised"


async def test_a_returned_claim_is_corrected_and_resubmitted_with_history_kept(
        client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    url = f"/v1/burial/claims/{claim['id']}"
    r = await client.post(f"{url}/resubmit", json={}, headers=citizen)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await client.post(f"{url}/review", headers=b.reviewer, json={
        "decision": "return", "note": "请更换为本人银行卡"})
    account = make_account_no()
    r = await client.post(f"{url}/resubmit", headers=citizen, json={
        "payout": {"bank_name": "中国建设银行北京朝阳支行", "account_no": account}})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["status"] == "submitted" and again["resubmissions"] == 1
    assert again["payout"]["account_no_masked"].endswith(account[-4:])
    assert again["review"] is None and again["return_reason"] is None
    assert again["deceased"] == claim["deceased"] and again["amount_fen"] == claim["amount_fen"]
    history = (await client.get(f"{url}/history", headers=citizen)).json()["items"]
    assert [e["action"] for e in history] == ["submit", "return", "resubmit"]
    assert history[1]["note"] == "请更换为本人银行卡"
    assert history[2]["previous"] == {"payout": claim["payout"]}
    # The rules run again over the corrected claim.
    await client.post(f"{url}/review", headers=b.reviewer, json={
        "decision": "return", "note": "材料不全"})
    r = await client.post(f"{url}/resubmit", headers=citizen, json={
        "documents": [{"kind": "death_certificate", "number": "A"}]})
    assert r.status_code == 422 and r.json()["code"] == "missing_document"
    # And it can be passed and approved as any other.
    r = await client.post(f"{url}/resubmit", headers=citizen,
                          json={"documents": claim["documents"]})
    assert r.status_code == 200
    r = await client.post(f"{url}/review", headers=b.reviewer, json={"decision": "pass"})
    assert r.json()["status"] == "reviewed"


async def test_another_citizen_cannot_resubmit_or_withdraw(client, admin_headers, settings):
    await _setup(client, admin_headers)
    claim, _ = await file_claim(client, settings)
    stranger = citizen_headers(settings)
    for action in ("withdraw", "resubmit"):
        # withdraw takes no body (one sent would be 422 before the claim is looked up)
        r = await client.post(f"/v1/burial/claims/{claim['id']}/{action}",
                              json={} if action == "resubmit" else None, headers=stranger)
        assert r.status_code == 404


async def test_the_citizen_withdraws_before_approval_only(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    for make in (file_claim, None):
        if make is None:
            claim, citizen = await reviewed_claim(client, settings, b)
        else:
            claim, citizen = await file_claim(client, settings)
        r = await client.post(f"/v1/burial/claims/{claim['id']}/withdraw", headers=citizen)
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        assert r.json()["withdrawn_at"]
    claim, citizen = await approved_claim(client, settings, b)
    r = await client.post(f"/v1/burial/claims/{claim['id']}/withdraw", headers=citizen)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_staff_act_only_within_their_division(client, admin_headers, settings):
    await policy(client, admin_headers)
    chaoyang = await bureau(client, admin_headers, division="110105")
    haidian = await bureau(client, admin_headers, division="110108")
    city = await bureau(client, admin_headers, division="110100", name="北京市民政局")
    ours, _ = await file_claim(client, settings, claim_body(hukou="110105"))
    theirs, _ = await file_claim(client, settings, claim_body(hukou="110108"))
    url = f"/v1/burial/claims/{theirs['id']}"
    r = await client.get(url, headers=chaoyang.reviewer)
    assert r.status_code == 404
    r = await client.post(f"{url}/review", json={"decision": "pass"}, headers=chaoyang.reviewer)
    assert r.status_code == 404
    listed = (await client.get("/v1/burial/claims", headers=chaoyang.reviewer)).json()
    assert [c["id"] for c in listed["items"]] == [ours["id"]]
    listed = (await client.get("/v1/burial/claims", headers=haidian.approver)).json()
    assert [c["id"] for c in listed["items"]] == [theirs["id"]]
    # The city bureau (110100) covers every 1101xx.
    listed = (await client.get("/v1/burial/claims", headers=city.reviewer)).json()
    assert {c["id"] for c in listed["items"]} == {ours["id"], theirs["id"]}
    assert (await client.get(url, headers=city.approver)).status_code == 200


async def test_citizens_see_only_their_own_claims(client, admin_headers, settings):
    await _setup(client, admin_headers)
    mine, me = await file_claim(client, settings)
    await file_claim(client, settings)
    listed = (await client.get("/v1/burial/claims", headers=me)).json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    other = citizen_headers(settings)
    assert (await client.get(f"/v1/burial/claims/{mine['id']}",
                             headers=other)).status_code == 404
    assert (await client.get(f"/v1/burial/claims/{mine['id']}/history",
                             headers=other)).status_code == 404


async def test_the_review_queue_is_by_status_and_division_oldest_first(client, admin_headers,
                                                                       settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers, division="110100", name="北京市民政局")
    filed = [(await file_claim(client, settings, claim_body(hukou=h)))[0]
             for h in ("110105", "110108", "110105", "110105")]
    await client.post(f"/v1/burial/claims/{filed[2]['id']}/review", headers=b.reviewer,
                      json={"decision": "pass"})
    r = await client.get("/v1/burial/claims?status=submitted&limit=2", headers=b.reviewer)
    page = r.json()
    assert [c["id"] for c in page["items"]] == [filed[0]["id"], filed[1]["id"]]
    r = await client.get(f"/v1/burial/claims?status=submitted&limit=2&cursor="
                         f"{page['next_cursor']}", headers=b.reviewer)
    assert [c["id"] for c in r.json()["items"]] == [filed[3]["id"]]
    assert r.json()["next_cursor"] is None
    r = await client.get("/v1/burial/claims?status=submitted&division_code=110105",
                         headers=b.reviewer)
    assert [c["id"] for c in r.json()["items"]] == [filed[0]["id"], filed[3]["id"]]
    r = await client.get("/v1/burial/claims?status=reviewed", headers=b.approver)
    assert [c["id"] for c in r.json()["items"]] == [filed[2]["id"]]
    r = await client.get("/v1/burial/claims?cursor=nonsense", headers=b.reviewer)
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_staff_reads_of_a_claim_are_audited(client, admin_headers, settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)
    await client.get(f"/v1/burial/claims/{claim['id']}", headers=b.reviewer)
    events = (await client.get(f"/v1/admin/audit-events?object_id={claim['id']}"
                               "&action=burial_claim.read", headers=admin_headers)).json()
    assert [e["actor_kind"] for e in events["items"]] == ["staff"]
    await client.get("/v1/burial/claims", headers=citizen)
    await client.get("/v1/burial/claims", headers=b.approver)
    events = (await client.get("/v1/admin/audit-events?action=burial_claim.list",
                               headers=admin_headers)).json()
    assert [e["actor_role"] for e in events["items"]] == ["approver"]


async def test_a_bureau_of_another_kind_of_staff_sees_nothing(client, admin_headers,
                                                              settings):
    await _setup(client, admin_headers)
    claim, _ = await file_claim(client, settings)
    office = await create_org(client, admin_headers, "registration_office")
    headers = await staff_headers(client, admin_headers, office["id"], "office")
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=headers)
    assert r.status_code == 403


async def test_a_resubmission_may_not_take_a_deceased_with_a_live_claim(client, admin_headers,
                                                                       settings):
    b = await _setup(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    taken = make_id_number("19400101")
    await file_claim(client, settings, claim_body(deceased_id=taken))
    url = f"/v1/burial/claims/{claim['id']}"
    await client.post(f"{url}/review", headers=b.reviewer,
                      json={"decision": "return", "note": "逝者身份证号有误"})
    deceased = claim_body(deceased_id=taken)["deceased"]
    r = await client.post(f"{url}/resubmit", headers=citizen, json={"deceased": deceased})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_claim"
    assert (await client.get(url, headers=citizen)).json()["status"] == "returned"
    deceased["id_number"] = make_id_number("19410101")
    r = await client.post(f"{url}/resubmit", headers=citizen, json={"deceased": deceased})
    assert r.status_code == 200
    assert r.json()["deceased"]["id_number_masked"] != claim["deceased"]["id_number_masked"]
