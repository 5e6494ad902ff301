"""Helpers the burial tests share (no tests here): policies, a bureau with a
reviewer and an approver, claims' bodies, all through the API."""

from __future__ import annotations

from datetime import timedelta

from core.clock import clock
from tests.factories import (
    born_years_ago,
    citizen_headers,
    create_org,
    idem,
    make_account_no,
    make_id_number,
    staff_headers,
)

REQUIRED_DOCS = ("death_certificate", "cremation_certificate", "hukou_cancellation",
                 "burial_certificate")


def days_ago(n: int) -> str:
    return (clock.today() - timedelta(days=n)).isoformat()


async def policy(client, admin_headers, *, division: str = "110000", method: str = "sea",
                 amount: int = 400000, deadline_days: int = 180, frm: str | None = None,
                 to: str | None = None, expect: int = 201) -> dict:
    body = {"division_code": division, "method": method, "amount_fen": amount,
            "effective_from": frm or days_ago(365), "claim_deadline_days": deadline_days}
    if to is not None:
        body["effective_to"] = to
    r = await client.post("/v1/burial/policies", json=body, headers=admin_headers)
    assert r.status_code == expect, r.text
    return r.json()


class Bureau:
    def __init__(self, org: dict, reviewer: dict, approver: dict, same_person: dict) -> None:
        self.org = org
        self.reviewer = reviewer  # 审核-张伟
        self.approver = approver  # 审批-李娜
        self.reviewer_as_approver = same_person  # 审核-张伟's approver key: one person


async def bureau(client, admin_headers, *, division: str = "110105",
                 name: str | None = None) -> Bureau:
    org = await create_org(client, admin_headers, "civil_affairs_bureau",
                           division_code=division, name=name or f"民政局{division}")
    reviewer = await staff_headers(client, admin_headers, org["id"], "reviewer", "审核-张伟")
    approver = await staff_headers(client, admin_headers, org["id"], "approver", "审批-李娜")
    same = await staff_headers(client, admin_headers, org["id"], "approver", "审核-张伟")
    return Bureau(org, reviewer, approver, same)


def claim_body(*, deceased_id: str | None = None, claimant_id: str | None = None,
               hukou: str = "110105", method: str = "sea", death: str | None = None,
               burial: str | None = None, relation: str = "child",
               docs: tuple[str, ...] = REQUIRED_DOCS, account_no: str | None = None) -> dict:
    today = clock.today()
    return {
        "deceased": {"name": "王建国",
                     "id_number": deceased_id or make_id_number(born_years_ago(80, today)),
                     "death_date": death or days_ago(20), "hukou_division_code": hukou},
        "burial": {"method": method, "date": burial or days_ago(10),
                   "service_unit": "北京市骨灰海撒服务中心", "certificate_no": "HS2026-0815"},
        "claimant": {"name": "王丽",
                     "id_number": claimant_id or make_id_number(born_years_ago(50, today),
                                                                sex="female"),
                     "phone": "13800138000", "relation": relation},
        "payout": {"bank_name": "中国工商银行北京朝阳支行",
                   "account_no": account_no or make_account_no()},
        "documents": [{"kind": k, "number": f"{k[:2].upper()}-0001"} for k in docs],
    }


async def file_claim(client, settings, body: dict | None = None, *,
                     citizen: dict | None = None, expect: int = 201,
                     code: str | None = None) -> tuple[dict, dict[str, str]]:
    citizen = citizen or citizen_headers(settings)
    r = await client.post("/v1/burial/claims", json=body or claim_body(),
                          headers={**citizen, **idem()})
    assert r.status_code == expect, r.text
    if code is not None:
        assert r.json()["code"] == code, r.text
    return r.json(), citizen


async def reviewed_claim(client, settings, b: Bureau, body: dict | None = None
                         ) -> tuple[dict, dict[str, str]]:
    claim, citizen = await file_claim(client, settings, body)
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                          json={"decision": "pass"}, headers=b.reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reviewed"
    return r.json(), citizen


async def approved_claim(client, settings, b: Bureau, body: dict | None = None
                         ) -> tuple[dict, dict[str, str]]:
    claim, citizen = await reviewed_claim(client, settings, b, body)
    r = await client.post(f"/v1/burial/claims/{claim['id']}/approve", headers=b.approver)
    assert r.status_code == 200, r.text
    return r.json(), citizen
