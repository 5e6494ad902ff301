"""Small helpers that build test data through the API (or, for the bootstrap
admin key, through the same service the `huimin apikey create` command uses)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

from stdnum.cn import ric

from core.security import issue_citizen_token
from core.settings import Settings

_seq = itertools.count(1)

# Every identity number a test makes: the client fixture asserts that none of
# them ever appears in a response body or a log line (see tests/conftest.py).
ISSUED_ID_NUMBERS: set[str] = set()


def make_id_number(birth: date | str = "19900101", *, sex: str = "male",
                   region: str = "110105", seq: int | None = None) -> str:
    """A valid resident identity number with the given birth date and sex."""
    if isinstance(birth, date):
        birth = birth.strftime("%Y%m%d")
    n = (seq if seq is not None else next(_seq)) % 500
    order = 2 * n + (1 if sex == "male" else 0)
    if order == 0:
        order = 2
    body = f"{region}{birth}{order:03d}"
    number = body + ric.calc_check_digit(body + "0")  # the function ignores the last character
    ISSUED_ID_NUMBERS.add(number)
    return number


# Every bank account number a test makes: likewise never in a response (but a
# payment batch export, text/csv) nor in a log line.
ISSUED_ACCOUNT_NUMBERS: set[str] = set()


def make_account_no() -> str:
    """A 19-digit debit card number, unique within the run."""
    number = f"6222{uuid.uuid4().int % 10**15:015d}"
    ISSUED_ACCOUNT_NUMBERS.add(number)
    return number


# Every phone number a test makes: never in a log line, and never in a response to
# a citizen or an anonymous caller (only the organisation that must call the person,
# with its staff key, sees one in full; see tests/conftest.py).
ISSUED_PHONES: set[str] = set()


def make_phone() -> str:
    """A mainland mobile number, unique within the run."""
    number = f"139{uuid.uuid4().int % 10**8:08d}"
    ISSUED_PHONES.add(number)
    return number


def born_years_ago(years: int, today: date, extra_days: int = 0) -> date:
    try:
        d = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        d = today.replace(year=today.year - years, day=28)
    return d - timedelta(days=extra_days)


# Random hex, its digits turned into letters: a subject made of digits (all 12 of
# them now and then) is redacted from events as a bank account, and one with a run
# of 11 masked in the logs as a phone number, as a real account's would be.
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def random_subject(prefix: str = "citizen", length: int = 12) -> str:
    """A fresh account subject that no number-shaped redaction touches."""
    return f"{prefix}-{uuid.uuid4().hex[:length].translate(_NO_DIGITS)}"


def citizen_headers(settings: Settings, subject: str | None = None) -> dict[str, str]:
    sub = subject or random_subject()
    return {"Authorization": f"Bearer {issue_citizen_token(settings, sub)}"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


ORG_EXAMPLES = {
    "registration_office": {"name": "朝阳区婚姻登记处", "division_code": "110105",
                            "address": "北京市朝阳区工体东路 20 号", "phone": "010-65099999",
                            "lat": 39.93, "lon": 116.447},
    "care_institution": {"name": "武侯区社会福利院", "division_code": "510107",
                         "address": "成都市武侯区", "phone": "028-85550000", "lat": 30.646,
                         "lon": 104.048, "ownership": "public", "rating": 4,
                         "medical_care": True},
    "home_care_provider": {"name": "黄浦区为老服务中心", "division_code": "310101",
                           "address": "上海市黄浦区", "phone": "021-63300000"},
    "civil_affairs_bureau": {"name": "朝阳区民政局", "division_code": "110105"},
    "platform_service": {"name": "实名认证服务", "division_code": "110000"},
}

ROLE_OF_KIND = {"registration_office": "office", "care_institution": "institution",
                "home_care_provider": "provider", "civil_affairs_bureau": "reviewer",
                "platform_service": "identity_verifier"}


async def create_org(client, admin_headers: dict[str, str], kind: str, **overrides) -> dict:
    body = {"kind": kind, **ORG_EXAMPLES[kind], **overrides}
    r = await client.post("/v1/admin/organisations", json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    return r.json()


async def staff_headers(client, admin_headers: dict[str, str], org_id: str, role: str,
                        name: str = "staff") -> dict[str, str]:
    r = await client.post(f"/v1/admin/organisations/{org_id}/api-keys",
                          json={"role": role, "name": name}, headers=admin_headers)
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


async def org_with_staff(client, admin_headers: dict[str, str], kind: str,
                         **overrides) -> tuple[dict, dict[str, str]]:
    org = await create_org(client, admin_headers, kind, **overrides)
    headers = await staff_headers(client, admin_headers, org["id"], ROLE_OF_KIND[kind])
    return org, headers
