"""Every datetime a person reads is in China time (API.md Conventions): a response
carries it as RFC 3339 with `+08:00`, the same instant as the UTC value stored.

The guard below walks every response model the application declares, so a new
field cannot be a plain `datetime` (which pydantic writes as `Z`); the HTTP tests
check a representative answer of each domain, the hot paths included."""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select

from api.app import create_app
from core.settings import Settings
from schemas.beds import Bed, BedApplication
from schemas.burial import BurialClaim
from schemas.common import ChinaTime
from schemas.home_care import HomeCareBooking
from schemas.marriage import MarriageAppointment
from schemas.organisation import ApiKey, Organisation
from tests.api.test_beds_support import add_bed, apply, assess, institution
from tests.api.test_burial_support import file_claim, policy
from tests.api.test_home_care_support import DAY, at, book, caregiver, provider, set_china_time
from tests.api.test_marriage_support import book as book_marriage
from tests.api.test_marriage_support import office_with_schedule, slot_id
from tests.api.test_marriage_support import set_china_time as set_marriage_time

# --- the guard: no response model has a plain datetime ---------------------------

_CHINA = get_args(ChinaTime)[1]  # the serializer that makes a datetime ChinaTime


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(r, APIRoute):
            yield r


def _declared(route: APIRoute) -> list[Any]:
    """What the route says it answers: its response model and any `model` of its
    other responses."""
    found = [route.response_model] if route.response_model is not None else []
    found += [r["model"] for r in (route.responses or {}).values() if "model" in r]
    return found


def _datetimes(annotation: Any, metadata: tuple[Any, ...], where: str,
               models: list[type[BaseModel]]) -> list[tuple[str, bool]]:
    """The datetimes in `annotation`, each with whether it is ChinaTime; the models
    it names are added to `models` (to be walked in turn)."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _datetimes(base, (*metadata, *extra), where, models)
    if isinstance(annotation, type) and issubclass(annotation, dt.datetime):
        return [(where, _CHINA in metadata)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        models.append(annotation)
        return []
    if get_origin(annotation) in (typing.Union, types.UnionType) or get_args(annotation):
        return [d for arg in get_args(annotation) for d in _datetimes(arg, (), where, models)]
    return []


def response_datetimes(roots: list[Any]) -> tuple[dict[str, bool], set[type[BaseModel]]]:
    """Every datetime of the response models `roots` (nested models, lists, unions,
    generics followed), by `module.Model.field`, with whether it is ChinaTime; and
    the models walked."""
    pending: list[Any] = []
    for root in roots:
        _datetimes(root, (), "", pending)
    seen: set[type[BaseModel]] = set()
    found: dict[str, bool] = {}
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            where = f"{model.__module__}.{model.__qualname__}.{name}"
            for _, china in _datetimes(field.annotation, tuple(field.metadata), where, pending):
                found[where] = found.get(where, True) and china
    return found, seen


def plain_datetime_fields(roots: list[Any]) -> tuple[list[str], set[str]]:
    """The response-model fields whose datetime is not ChinaTime, and the names of
    the models walked."""
    found, seen = response_datetimes(roots)
    return sorted(w for w, china in found.items() if not china), {m.__name__ for m in seen}


def _app() -> Any:
    # The app is only built (no request is made): the database is never reached.
    settings = Settings(env="test", database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none",
                        redis_url=None, _env_file=None)
    return create_app(settings)


def _app_response_models(app: Any) -> list[Any]:
    return [m for route in _routes(app.routes) for m in _declared(route)]


def test_no_response_model_has_a_plain_datetime() -> None:
    plain, walked = plain_datetime_fields(_app_response_models(_app()))
    # The walk reaches the models of every domain, nested ones and list items too.
    assert {"BookingPublic", "BedApplicationPublic", "BedPublic", "CitizenAppointmentPublic",
            "ClaimPublic", "ReviewPublic", "ApiKeyPublic", "OrganisationPublic",
            "AuditEventPublic", "DeliveryPublic", "LotteryPublic", "IdentityPublic",
            "OfficialCalendarPublic", "SlotPublic", "CentreSessionPublic"} <= walked
    assert not plain, "response datetimes that are not ChinaTime:\n" + "\n".join(plain)


def test_the_guard_finds_a_plain_datetime_wherever_it_is() -> None:
    class Inner(BaseModel):
        at: dt.datetime | None = None

    class Outer(BaseModel):
        ok: ChinaTime
        maybe: ChinaTime | None = None
        many: list[ChinaTime]
        plain: dt.datetime
        listed: list[dt.datetime]
        nested: list[Inner]

    plain, _ = plain_datetime_fields([Outer])
    where = f"{__name__}.test_the_guard_finds_a_plain_datetime_wherever_it_is.<locals>"
    assert plain == [f"{where}.Inner.at", f"{where}.Outer.listed", f"{where}.Outer.plain"]


def _states_date_time(schema: dict[str, Any]) -> bool:
    """The property's schema says an RFC 3339 datetime (alone, in a list, or beside null)."""
    if schema.get("format") == "date-time" and schema.get("type") == "string":
        return True
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if branches:
        return all(_states_date_time(b) for b in branches)
    return isinstance(schema.get("items"), dict) and _states_date_time(schema["items"])


def test_the_document_still_says_each_response_datetime_is_a_date_time() -> None:
    """ChinaTime changes how a datetime is written, not what the document says it is."""
    app = _app()
    found, models = response_datetimes(_app_response_models(app))
    components = app.openapi()["components"]["schemas"]
    unstated = []
    for model in models:
        schema = components.get(f"{model.__name__}-Output") or components.get(model.__name__)
        if schema is None:  # a generic (a Page) or a model named otherwise
            continue
        for name, prop in schema.get("properties", {}).items():
            if f"{model.__module__}.{model.__qualname__}.{name}" in found \
                    and not _states_date_time(prop):
                unstated.append(f"{model.__name__}.{name}: {prop}")
    assert len(found) > 50
    assert not unstated, "\n".join(unstated)


# --- through HTTP: each domain's answer, in China time, the stored instant -------


def china(value: str) -> dt.datetime:
    """A response datetime: written with +08:00, read back as the instant."""
    assert value.endswith("+08:00"), value
    return dt.datetime.fromisoformat(value)


async def _row(db, model: type, key: str) -> Any:
    async with db.session() as s:
        return (await s.execute(select(model).where(model.id == key))).scalar_one()


async def test_home_care_booking_times_are_china_time(client, settings, admin_headers, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    r = await book(client, settings, org["id"], at(DAY, "09:00"))
    assert r.status_code == 201, r.text
    booking = r.json()
    stored = await _row(db, HomeCareBooking, booking["id"])
    assert china(booking["created_at"]) == stored.created_at
    assert china(booking["starts_at"]) == stored.starts_at
    assert china(booking["cancel_deadline_at"]) == stored.starts_at - dt.timedelta(
        hours=settings.home_care_cancel_deadline_hours)

    set_china_time(DAY, "08:55")
    r = await client.post(f"/v1/home-care/bookings/{booking['id']}/check-in",
                          json={"lat": 31.235, "lon": 121.48}, headers=staff)
    assert r.status_code == 200, r.text
    stored = await _row(db, HomeCareBooking, booking["id"])
    assert china(r.json()["check_in_at"]) == stored.check_in_at
    assert r.json()["check_in_at"].startswith(f"{DAY}T08:55")


async def test_a_bed_offer_expires_in_china_time(client, settings, admin_headers, db):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "3-301-1")
    app, citizen = await apply(client, settings, inst["id"])
    offered = await assess(client, staff, app["id"])
    assert offered["status"] == "offered", offered
    stored = await _row(db, BedApplication, app["id"])
    assert china(offered["offer_expires_at"]) == stored.offer_expires_at
    assert china(offered["applied_at"]) == stored.applied_at
    assert china(offered["offered_at"]) == stored.offered_at

    r = await client.get(f"/v1/institutions/{inst['id']}/beds/{bed['id']}", headers=staff)
    assert r.status_code == 200, r.text
    stored_bed = await _row(db, Bed, bed["id"])
    assert china(r.json()["offer_expires_at"]) == stored.offer_expires_at
    assert china(r.json()["created_at"]) == stored_bed.created_at
    assert china(bed["created_at"]) == stored_bed.created_at


async def test_a_marriage_appointment_is_created_in_china_time(client, settings,
                                                                admin_headers, db):
    set_marriage_time("2026-11-25")
    office, staff = await office_with_schedule(client, admin_headers)
    # The hot command's answer (built without FastAPI's response machinery)...
    r = await book_marriage(client, settings, slot_id(office["id"], "2026-12-01"))
    assert r.status_code == 201, r.text
    booked = r.json()
    stored = await _row(db, MarriageAppointment, booked["id"])
    assert china(booked["created_at"]) == stored.created_at
    assert china(booked["starts_at"]) == stored.starts_at
    # ... and the office's read of it say the same.
    r = await client.get(f"/v1/marriage/appointments/{booked['id']}", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["created_at"] == booked["created_at"]
    assert r.json()["cancel_deadline_at"] == booked["cancel_deadline_at"]
    china(booked["cancel_deadline_at"])


async def test_a_burial_claim_is_created_in_china_time(client, settings, admin_headers, db):
    await policy(client, admin_headers)
    claim, _ = await file_claim(client, settings)
    stored = await _row(db, BurialClaim, claim["id"])
    assert china(claim["created_at"]) == stored.created_at
    assert china(claim["submitted_at"]) == stored.submitted_at


async def test_organisations_and_api_keys_are_created_in_china_time(client, admin_headers, db):
    r = await client.post("/v1/admin/organisations", headers=admin_headers, json={
        "kind": "civil_affairs_bureau", "name": "朝阳区民政局", "division_code": "110105"})
    assert r.status_code == 201, r.text
    org = r.json()
    assert china(org["created_at"]) == (await _row(db, Organisation, org["id"])).created_at

    r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys",
                          json={"role": "reviewer", "name": "审核-张伟"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    key = r.json()  # the key in clear, once (no times)
    r = await client.get(f"/v1/admin/organisations/{org['id']}/api-keys", headers=admin_headers)
    assert r.status_code == 200, r.text
    [listed] = r.json()["items"]
    stored = await _row(db, ApiKey, key["id"])
    assert china(listed["created_at"]) == stored.created_at
    r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys/{key['id']}/revoke",
                          headers=admin_headers)
    assert r.status_code == 200, r.text
    stored = await _row(db, ApiKey, key["id"])
    assert china(r.json()["created_at"]) == stored.created_at
    assert china(r.json()["revoked_at"]) == stored.revoked_at


@pytest.mark.parametrize("utc_text", ["2026-12-01T02:00:00Z", "2026-12-01T02:00:00+00:00",
                                      "2026-12-01T05:00:00+03:00"])
def test_chinatime_writes_any_instant_at_plus_eight(utc_text: str) -> None:
    class Shown(BaseModel):
        at: ChinaTime

    shown = Shown(at=dt.datetime.fromisoformat(utc_text)).model_dump(mode="json")
    assert shown == {"at": "2026-12-01T10:00:00+08:00"}
