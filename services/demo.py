"""Demo data: one organisation of each kind in real division codes, with keys,
and how to call the API as each of them (the home-care provider with offerings and
caregivers).

It can run again on the same database: each demo organisation has a fixed id made
from its demo key (`demo_org_id`), so a later run finds its own organisations by id,
never by a name that anyone may also give an organisation. Keys are shown once and
stored hashed, so every run makes and prints new keys; earlier ones keep working.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from core.db import Database
from core.errors import NotFound
from core.principal import Principal
from core.security import issue_citizen_token
from core.settings import Settings
from schemas.beds import BedCreate
from schemas.burial import PolicyCreate
from schemas.home_care import CaregiverCreate, OfferingIn, ServiceCode
from schemas.marriage import WeeklyScheduleUpdate
from schemas.organisation import ApiKeyCreate, Organisation, OrganisationCreate, OrgKind, Role
from services import organisations
from services.beds import inventory
from services.burial import policies
from services.home_care import caregivers, catalogue
from services.marriage import schedules

# (stable demo key, organisation fields, staff keys). The key makes the id: never
# change one, or a later run on an existing database makes that organisation again.
DEMO_ORGS: list[tuple[str, dict, list[tuple[Role, str]]]] = [
    ("office-110105",
     {"kind": OrgKind.registration_office, "name": "朝阳区婚姻登记处", "division_code": "110105",
      "address": "北京市朝阳区工体东路 20 号", "phone": "010-65099999", "lat": 39.930,
      "lon": 116.447}, [(Role.office, "窗口-王芳")]),
    ("office-310101",
     {"kind": OrgKind.registration_office, "name": "黄浦区婚姻登记中心", "division_code": "310101",
      "address": "上海市黄浦区南京东路 100 号", "phone": "021-63210000", "lat": 31.235,
      "lon": 121.485}, [(Role.office, "窗口-陈静")]),
    ("institution-510107",
     {"kind": OrgKind.care_institution, "name": "武侯区社会福利院", "division_code": "510107",
      "address": "成都市武侯区武侯祠大街 1 号", "phone": "028-85550000", "lat": 30.646,
      "lon": 104.048, "ownership": "public", "rating": 4, "medical_care": True},
     [(Role.institution, "院长-李强")]),
    ("institution-110105",
     {"kind": OrgKind.care_institution, "name": "朝阳区康乐养老院", "division_code": "110105",
      "address": "北京市朝阳区望京街 8 号", "phone": "010-64700000", "lat": 39.996,
      "lon": 116.470, "ownership": "private", "rating": 3, "medical_care": False},
     [(Role.institution, "主任-赵敏")]),
    ("provider-310101",
     {"kind": OrgKind.home_care_provider, "name": "黄浦区为老服务中心", "division_code": "310101",
      "address": "上海市黄浦区淮海中路 50 号", "phone": "021-63300000", "lat": 31.222,
      "lon": 121.470}, [(Role.provider, "调度-周洁")]),
    ("bureau-110105",
     {"kind": OrgKind.civil_affairs_bureau, "name": "北京市朝阳区民政局", "division_code": "110105",
      "address": "北京市朝阳区日坛北路 33 号", "phone": "010-65000000"},
     [(Role.reviewer, "审核-孙伟"), (Role.approver, "审批-钱丽")]),
    ("platform-identity",
     {"kind": OrgKind.platform_service, "name": "惠民实名认证服务", "division_code": "110000"},
     [(Role.identity_verifier, "实名核验")]),
]


def demo_org_id(demo_key: str) -> str:
    """The fixed id of a demo organisation: shaped like every id (`org_` and 32 hex
    digits), with a zero time part, so demo organisations list first."""
    digest = hashlib.sha256(f"huimin-demo:{demo_key}".encode()).hexdigest()
    return f"org_{'0' * 12}{digest[:20]}"


async def _demo_org(session, demo_key: str, fields: dict) -> Organisation:  # noqa: ANN001
    org_id = demo_org_id(demo_key)
    try:
        return await organisations.get(session, org_id)
    except NotFound:
        return await organisations.create(session, None, OrganisationCreate(**fields),
                                          org_id=org_id)


async def _demo_schedule(session, settings: Settings, staff: Principal,  # noqa: ANN001
                         office_id: str) -> None:
    """Weekday sessions 09:00-12:00 and 13:30-17:00, 20 couples each."""
    try:
        await schedules.get_schedule(session, staff, office_id)
        return  # already published on an earlier run
    except NotFound:
        pass
    sessions = [{"weekday": d, "start": start, "end": end, "capacity": 20}
                for d in range(1, 6) for start, end in (("09:00", "12:00"), ("13:30", "17:00"))]
    await schedules.put_schedule(session, staff, settings, office_id,
                                 WeeklyScheduleUpdate(sessions=sessions), None)


async def _demo_beds(session, settings: Settings, staff: Principal,  # noqa: ANN001
                     org: Organisation) -> None:
    """A dozen beds over the four categories; public homes reserve two for the destitute."""
    existing = await inventory.list_beds(session, staff, org.id, category=None, status=None,
                                         limit=1, cursor=None)
    if existing.items:
        return
    # Codes: room prefix from the category's pinyin initials (自理 半失能 护理 失智).
    plan = [("self_care", "ZL", 3, 260_000), ("semi_care", "BS", 3, 420_000),
            ("full_care", "HL", 4, 580_000), ("dementia", "SZ", 2, 650_000)]
    for category, prefix, count, fee in plan:
        for n in range(1, count + 1):
            reserved = org.ownership == "public" and category == "full_care" and n <= 2
            await inventory.add_bed(session, staff, org.id, BedCreate(
                code=f"{prefix}-{n:02d}", category=category, monthly_fee_fen=fee,
                reserved_for_destitute=reserved), settings)


async def _demo_home_care(session, staff: Principal, provider_id: str) -> None:  # noqa: ANN001
    """Offerings of four services and three caregivers working weekdays 08:00-17:00."""
    existing = await caregivers.list_(session, staff, provider_id, active=None, limit=1,
                                      cursor=None)
    if existing.items:
        return
    for code, price in ((ServiceCode.meal_assist, 1500), (ServiceCode.cleaning, 8000),
                        (ServiceCode.bathing, 12000), (ServiceCode.medical_escort, 15000)):
        await catalogue.put_offering(session, staff, provider_id, code, OfferingIn(
            price_fen=price), None)
    weekdays = [{"weekday": d, "start": "08:00", "end": "17:00"} for d in range(1, 6)]
    for name, skills in (("李秀英", ["cleaning", "meal_assist"]),
                         ("张桂兰", ["bathing", "cleaning"]),
                         ("刘建华", ["medical_escort", "meal_assist"])):
        await caregivers.create(session, staff, provider_id, CaregiverCreate(
            name=name, skills=skills, weekly_hours=weekdays))


# Eco-burial subsidy policies from local examples (DOMAIN.md section 4), in fen.
DEMO_BURIAL_POLICIES = [
    ("110000", "sea", 400_000),  # 北京 海葬
    ("310000", "sea", 460_000),  # 上海 海葬
    *(("610400", m, 300_000) for m in ("scattering", "deep_burial", "tree", "flower", "lawn")),
    ("610400", "wall", 50_000),  # 咸阳 壁葬
    ("630000", "scattering", 300_000),  # 青海
    ("630000", "tree", 150_000),
    ("630000", "lawn", 150_000),
]


async def _demo_burial_policies(session) -> None:  # noqa: ANN001
    """A few subsidy policies in force since 1 January, claims within 180 days."""
    for division, method, amount in DEMO_BURIAL_POLICIES:
        existing = await policies.list_(session, division_code=division, method=method,
                                        in_force_on=None, limit=1, cursor=None)
        if existing.items:
            continue  # loaded on an earlier run
        await policies.create(session, None, PolicyCreate(
            division_code=division, method=method, amount_fen=amount,
            effective_from=date(2026, 1, 1), claim_deadline_days=180))


async def load_demo(settings: Settings, echo: Callable[[str], object],
                    base_url: str = "http://127.0.0.1:8000") -> None:
    db = Database.from_settings(settings)
    lines: list[str] = []
    try:
        async with db.session() as session:
            admin = await organisations.create_api_key(
                session, None, None, ApiKeyCreate(role=Role.admin, name="demo-admin"))
            lines.append(f"admin                      X-API-Key: {admin.key}")
            for demo_key, fields, keys in DEMO_ORGS:
                org = await _demo_org(session, demo_key, fields)
                for role, name in keys:
                    created = await organisations.create_api_key(
                        session, None, org.id, ApiKeyCreate(role=role, name=name))
                    lines.append(f"{role.value:<10} {org.name} ({org.division_code}, {org.id})"
                                 f"\n                           X-API-Key: {created.key}")
                    staff = Principal(kind="staff", subject=created.id, role=role.value,
                                      org_id=org.id, staff_name=name)
                    if role == Role.office:
                        await _demo_schedule(session, settings, staff, org.id)
                    elif role == Role.institution:
                        await _demo_beds(session, settings, staff, org)
                    elif role == Role.provider:
                        await _demo_home_care(session, staff, org.id)
            await _demo_burial_policies(session)
            await session.commit()
    finally:
        await db.dispose()
    # HS256 is off when only the platform's public keys are configured: no token then.
    token = (issue_citizen_token(settings, "demo-citizen-0001")
             if settings.hs256_secret is not None else None)
    echo("huimin demo data loaded. Call the API as (new keys on every run; keys from "
         "earlier runs still work):")
    for line in lines:
        echo("  " + line)
    if token is not None:
        echo("  citizen                    Authorization: Bearer " + token)
    else:
        echo("  citizen                    (no token: the platform's sign-in service "
             "signs them; HUIMIN_JWT_SECRET is not set)")
    echo(f"Example: curl -s {base_url}/v1/me -H 'X-API-Key: <key above>'")
