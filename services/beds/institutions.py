"""Institution profiles and the public search.

Vacancies come from `bed_pool` (kept with every bed status change), never from
counting beds per request, plus any hold whose offer has expired but is not
settled yet (it is no longer held). Nearest first is the directory's own search
(`services.organisations.nearest`: great-circle kilometres computed in Python,
the database only narrowing the candidates to a growing box).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.errors import NotFound
from core.principal import Principal
from schemas.beds import (
    ApplicationStatus,
    Bed,
    BedApplication,
    BedPool,
    BedStatus,
    FeeRange,
    InstitutionPublic,
    InstitutionUpdate,
    MonthlyFees,
    Vacancies,
)
from schemas.common import Page
from schemas.organisation import Organisation, OrganisationUpdate, OrgKind
from services import divisions, organisations
from services.beds.inventory import own_institution
from services.etag import institution_etag

# The kit's (services.organisations): beds only add their own filters.
haversine_km = organisations.haversine_km


async def vacancies_of(session: AsyncSession, ids: list[str]) -> dict[str, Vacancies]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if ids:
        for inst, cat, vacant in await session.execute(
                select(BedPool.institution_id, BedPool.category, BedPool.vacant)
                .where(BedPool.institution_id.in_(ids))):
            counts[inst][cat] = vacant
        for inst, cat, n in await session.execute(
                select(BedApplication.institution_id, BedApplication.category, func.count())
                .where(BedApplication.institution_id.in_(ids),
                       BedApplication.status == ApplicationStatus.offered,
                       BedApplication.offer_expires_at <= clock.now())
                .group_by(BedApplication.institution_id, BedApplication.category)):
            counts[inst][cat] = counts[inst].get(cat, 0) + n
    return {i: Vacancies(**counts.get(i, {})) for i in ids}


async def fees_of(session: AsyncSession, ids: list[str]) -> dict[str, MonthlyFees]:
    """Each institution's lowest and highest monthly fee per bed category."""
    ranges: dict[str, dict[str, FeeRange]] = defaultdict(dict)
    if ids:
        for inst, cat, lo, hi in await session.execute(
                select(Bed.institution_id, Bed.category, func.min(Bed.monthly_fee_fen),
                       func.max(Bed.monthly_fee_fen))
                .where(Bed.institution_id.in_(ids))
                .group_by(Bed.institution_id, Bed.category)):
            ranges[inst][cat] = FeeRange(min_fen=lo, max_fen=hi)
    return {i: MonthlyFees(**ranges.get(i, {})) for i in ids}


def to_public(org: Organisation, vacancies: Vacancies,
              distance_km: float | None = None,
              fees: MonthlyFees | None = None) -> InstitutionPublic:
    return InstitutionPublic(
        id=org.id, name=org.name, division_code=org.division_code,
        division_name=divisions.name_of(org.division_code), address=org.address,
        phone=org.phone, lat=org.lat, lon=org.lon, ownership=org.ownership, rating=org.rating,
        medical_care=org.medical_care, vacancies=vacancies,
        monthly_fees=fees or MonthlyFees(),
        distance_km=round(distance_km, 3) if distance_km is not None else None,
        updated_at=org.updated_at)


async def _institution(session: AsyncSession, institution_id: str) -> Organisation:
    try:
        return await organisations.get(session, institution_id, kind=OrgKind.care_institution)
    except NotFound as exc:
        raise NotFound(what="institution") from exc


def etag_of(org: Organisation, vacancies: Vacancies, fees: MonthlyFees) -> str:
    """The profile's ETag: its version and the vacancies and fee ranges it shows (see
    services.etag)."""
    shown: dict[str, object] = dict(vacancies.model_dump())
    for cat, r in fees.model_dump().items():
        shown[f"fee_{cat}"] = f"{r['min_fen']}-{r['max_fen']}" if r else "-"
    return institution_etag(org.id, org.version, shown)


async def get(session: AsyncSession, institution_id: str) -> tuple[InstitutionPublic, str]:
    """The public profile and its ETag."""
    org = await _institution(session, institution_id)
    vac = (await vacancies_of(session, [org.id]))[org.id]
    fees = (await fees_of(session, [org.id]))[org.id]
    return to_public(org, vac, fees=fees), etag_of(org, vac, fees)


async def update(session: AsyncSession, principal: Principal, institution_id: str,
                 body: InstitutionUpdate, if_match: str | None) -> tuple[InstitutionPublic, str]:
    """The institution's own profile under `If-Match` (the ETag its GET gave)."""
    await own_institution(session, principal, institution_id)
    vac = (await vacancies_of(session, [institution_id]))[institution_id]
    fees = (await fees_of(session, [institution_id]))[institution_id]
    # Only the fields an institution may set reach the organisation (InstitutionUpdate
    # has no name, division code or rating: those are the admin's).
    changes = OrganisationUpdate(**body.model_dump(exclude_unset=True))
    org = await organisations.update_(session, principal, institution_id, changes, if_match,
                                      etag_of=lambda o: etag_of(o, vac, fees))
    return to_public(org, vac, fees=fees), etag_of(org, vac, fees)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    division_code: str | None = None
    category: str | None = None
    has_vacancy: bool | None = None
    max_fee_fen: int | None = None
    min_rating: int | None = None
    medical_care: bool | None = None


def _beds_conditions(f: SearchFilters) -> organisations.Correlated:
    """What the beds filters add to the directory search, correlated to the
    institution's id: EXISTS over this domain's own pools, offers and beds."""
    return lambda institution_id: _filtered(f, institution_id)


def _filtered(f: SearchFilters, institution_id: Any) -> list[Any]:
    conds: list[Any] = []
    if f.medical_care is not None:
        conds.append(Organisation.medical_care.is_(True) if f.medical_care
                     else or_(Organisation.medical_care.is_(False),
                              Organisation.medical_care.is_(None)))
    pool_conds = [BedPool.institution_id == institution_id]
    if f.category:
        pool_conds.append(BedPool.category == f.category)
    if f.has_vacancy is not None:
        expired_conds = [BedApplication.institution_id == institution_id,
                         BedApplication.status == ApplicationStatus.offered,
                         BedApplication.offer_expires_at <= clock.now()]
        if f.category:
            expired_conds.append(BedApplication.category == f.category)
        vacant = or_(exists().where(and_(*pool_conds, BedPool.vacant > 0)),
                     exists().where(and_(*expired_conds)))
        conds.append(vacant if f.has_vacancy else not_(vacant))
    elif f.category:
        conds.append(exists().where(and_(*pool_conds, BedPool.total > 0)))
    if f.max_fee_fen is not None:
        bed_conds = [Bed.institution_id == institution_id, Bed.monthly_fee_fen <= f.max_fee_fen]
        if f.category:
            bed_conds.append(Bed.category == f.category)
        if f.has_vacancy:
            bed_conds.append(Bed.status == BedStatus.available)
        conds.append(exists().where(and_(*bed_conds)))
    return conds


async def search(session: AsyncSession, f: SearchFilters, *, near: str | None, sort: str,
                 limit: int, cursor: str | None) -> Page[InstitutionPublic]:
    origin = organisations.origin_of(near, sort)
    if sort == "distance":
        assert origin is not None
        return await _search_by_distance(session, f, origin, limit, cursor)
    found = await organisations.search(
        session, kind=OrgKind.care_institution, division_code=f.division_code,
        min_rating=f.min_rating, where=_beds_conditions(f), limit=limit, cursor=cursor)
    next_cursor, page = found.next_cursor, found.items
    vac = await vacancies_of(session, [o.id for o in page])
    fees = await fees_of(session, [o.id for o in page])
    items = []
    for o in page:
        d = None
        if origin is not None and o.lat is not None and o.lon is not None:
            d = haversine_km(origin[0], origin[1], o.lat, o.lon)
        items.append(to_public(o, vac[o.id], d, fees[o.id]))
    return Page(items=items, next_cursor=next_cursor)


async def _search_by_distance(session: AsyncSession, f: SearchFilters,
                              origin: tuple[float, float], limit: int,
                              cursor: str | None) -> Page[InstitutionPublic]:
    near = await organisations.nearest(
        session, kind=OrgKind.care_institution, origin=origin, division_code=f.division_code,
        min_rating=f.min_rating, where=_beds_conditions(f), limit=limit, cursor=cursor)
    ids = [oid for _, oid in near.found]
    orgs = await organisations.get_many(session, ids)
    vac = await vacancies_of(session, ids)
    fees = await fees_of(session, ids)
    return Page(items=[to_public(orgs[oid], vac[oid], d, fees[oid]) for d, oid in near.found],
                next_cursor=near.next_cursor)
