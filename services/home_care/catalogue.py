"""The service catalogue (the State Council's 助餐 助洁 助浴 助医 助行 list, plus more),
and the provider's own offerings of it (price and duration, ETag'd)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NotFound
from core.principal import Principal
from core.writes import check_if_match, insert_if_absent, versioned_update
from schemas.common import Page
from schemas.home_care import (
    CataloguePublic,
    HomeCareOffering,
    OfferingIn,
    OfferingPublic,
    ServiceCode,
)
from schemas.organisation import OrgKind
from services import audit, organisations
from services.etag import etag


@dataclass(frozen=True)
class Service:
    code: ServiceCode
    name: str
    name_en: str
    default_duration_minutes: int
    centre: bool = False


CATALOGUE: dict[str, Service] = {s.code: s for s in (
    Service(ServiceCode.meal_assist, "助餐", "Meal assistance", 60, centre=True),
    Service(ServiceCode.cleaning, "助洁", "Cleaning", 120),
    Service(ServiceCode.bathing, "助浴", "Bathing", 90),
    Service(ServiceCode.medical_escort, "助医", "Escort to medical care", 180),
    Service(ServiceCode.mobility_assist, "助行", "Mobility assistance", 60),
    Service(ServiceCode.emergency_help, "助急", "Emergency help", 60),
    Service(ServiceCode.day_care, "日间照料", "Day care", 240, centre=True),
    Service(ServiceCode.rehab_nursing, "康复护理", "Rehabilitation nursing", 60),
)}


def catalogue() -> list[CataloguePublic]:
    return [CataloguePublic(code=s.code, name=s.name, name_en=s.name_en,
                            default_duration_minutes=s.default_duration_minutes,
                            centre=s.centre) for s in CATALOGUE.values()]


def own_provider(principal: Principal, provider_id: str) -> None:
    """Staff act only on their own organisation; any other is simply not found."""
    if principal.org_id != provider_id:
        raise NotFound(what="provider")


async def provider(session: AsyncSession, provider_id: str):  # noqa: ANN201
    try:
        return await organisations.get(session, provider_id, kind=OrgKind.home_care_provider)
    except NotFound:
        raise NotFound(what="provider") from None


def offering_etag(o: HomeCareOffering) -> str:
    return etag(f"offering:{o.provider_id}:{o.service_code}", o.version)


def to_public(o: HomeCareOffering) -> OfferingPublic:
    return OfferingPublic(provider_id=o.provider_id, service_code=o.service_code,
                          name=CATALOGUE[o.service_code].name, price_fen=o.price_fen,
                          duration_minutes=o.duration_minutes, etag=offering_etag(o),
                          updated_at=o.updated_at)


async def get_offering(session: AsyncSession, provider_id: str,
                       code: str) -> HomeCareOffering:
    row = (await session.execute(
        select(HomeCareOffering).where(HomeCareOffering.provider_id == provider_id,
                                       HomeCareOffering.service_code == code)
        .execution_options(populate_existing=True))).scalar_one_or_none()
    if row is None:
        raise NotFound(what="service offering")
    return row


async def put_offering(session: AsyncSession, principal: Principal, provider_id: str,
                       code: ServiceCode, body: OfferingIn,
                       if_match: str | None) -> HomeCareOffering:
    """Create the offering (no If-Match needed), or change it under If-Match. Two
    first PUTs at once: one creates it, the other is told to send If-Match (428)."""
    own_provider(principal, provider_id)
    duration = body.duration_minutes or CATALOGUE[code].default_duration_minutes
    now = clock.now()
    created = False
    if if_match is None:
        created = await insert_if_absent(session, HomeCareOffering, {
            "provider_id": provider_id, "service_code": code.value,
            "price_fen": body.price_fen, "duration_minutes": duration, "version": 1,
            "created_at": now, "updated_at": now}, conflict=["provider_id", "service_code"])
    row = await get_offering(session, provider_id, code.value)
    if not created:
        check_if_match(if_match, offering_etag(row))
        row = await versioned_update(session, row, if_match=if_match, etag=offering_etag,
                                     values={"price_fen": body.price_fen,
                                             "duration_minutes": duration,
                                             "updated_at": now})
    await audit.record(session, principal, "home_care_offering.put", "home_care_offering",
                       f"{provider_id}:{code.value}", org_id=provider_id)
    return row


BY_CODE = pages.Keyset(pages.Key(HomeCareOffering.service_code, pages.Text(32)))


async def list_offerings(session: AsyncSession, provider_id: str, *, limit: int,
                         cursor: str | None) -> Page[OfferingPublic]:
    await provider(session, provider_id)
    page = await BY_CODE.page(session, select(HomeCareOffering).where(
        HomeCareOffering.provider_id == provider_id), limit=limit, cursor=cursor)
    return page.map(to_public)
