"""Institution profiles and the public search.

Vacancies come from `bed_pool` (kept with every bed status change), never from
counting beds per request, plus any hold whose offer has expired but is not
settled yet (it is no longer held). Distances are great-circle kilometres
computed here in Python from the stored coordinates, so SQLite and PostgreSQL
give identical numbers and order; the database only narrows the candidates to a
latitude/longitude box that grows until it holds the page.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NearRequired, NotFound, ValidationFailed
from core.principal import Principal
from schemas.beds import (
    NEAR_PATTERN,
    ApplicationStatus,
    Bed,
    BedApplication,
    BedPool,
    BedStatus,
    InstitutionPublic,
    InstitutionUpdate,
    Vacancies,
)
from schemas.common import Page
from schemas.organisation import Organisation, OrgKind
from services import divisions, organisations
from services.beds.inventory import own_institution
from services.etag import institution_etag

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
HALF_CIRCUMFERENCE_KM = EARTH_RADIUS_KM * math.pi
FIRST_RADIUS_KM = 10.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def parse_near(near: str) -> tuple[float, float]:
    try:
        if not re.fullmatch(NEAR_PATTERN, near):  # exactly what the document says
            raise ValueError(near)
        lat_s, lon_s = near.split(",")
        lat, lon = float(lat_s), float(lon_s)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat + lon):
            raise ValueError(near)
    except ValueError as exc:
        err = ValidationFailed()
        err.extra["errors"] = [{"loc": ["query", "near"], "type": "value_error",
                                "msg": ("near 须为“纬度,经度”（单位为度）",
                                        "near must be 'lat,lon' in degrees")}]
        raise err from exc
    return lat, lon


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


def to_public(org: Organisation, vacancies: Vacancies,
              distance_km: float | None = None) -> InstitutionPublic:
    return InstitutionPublic(
        id=org.id, name=org.name, division_code=org.division_code,
        division_name=divisions.name_of(org.division_code), address=org.address,
        phone=org.phone, lat=org.lat, lon=org.lon, ownership=org.ownership, rating=org.rating,
        medical_care=org.medical_care, vacancies=vacancies,
        distance_km=round(distance_km, 3) if distance_km is not None else None,
        updated_at=org.updated_at)


async def _institution(session: AsyncSession, institution_id: str) -> Organisation:
    try:
        return await organisations.get(session, institution_id, kind=OrgKind.care_institution)
    except NotFound as exc:
        raise NotFound(what="institution") from exc


def etag_of(org: Organisation, vacancies: Vacancies) -> str:
    """The profile's ETag: its version and the vacancies it shows (see services.etag)."""
    return institution_etag(org.id, org.version, vacancies.model_dump())


async def get(session: AsyncSession, institution_id: str) -> tuple[InstitutionPublic, str]:
    """The public profile and its ETag."""
    org = await _institution(session, institution_id)
    vac = (await vacancies_of(session, [org.id]))[org.id]
    return to_public(org, vac), etag_of(org, vac)


async def update(session: AsyncSession, principal: Principal, institution_id: str,
                 body: InstitutionUpdate, if_match: str | None) -> tuple[InstitutionPublic, str]:
    """The institution's own profile under `If-Match` (the ETag its GET gave)."""
    await own_institution(session, principal, institution_id)
    vac = (await vacancies_of(session, [institution_id]))[institution_id]
    org = await organisations.update_(session, principal, institution_id, body, if_match,
                                      etag_of=lambda o: etag_of(o, vac))
    return to_public(org, vac), etag_of(org, vac)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    division_code: str | None = None
    category: str | None = None
    has_vacancy: bool | None = None
    max_fee_fen: int | None = None
    min_rating: int | None = None


def _beds_conditions(f: SearchFilters) -> organisations.Correlated:
    """What the beds filters add to the directory search, correlated to the
    institution's id: EXISTS over this domain's own pools, offers and beds."""
    return lambda institution_id: _filtered(f, institution_id)


def _filtered(f: SearchFilters, institution_id: Any) -> list[Any]:
    conds: list[Any] = []
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


# Computed in Python (the same on both databases): nearest first, then by id.
BY_DISTANCE = pages.Keyset(pages.Key(None, pages.Float(lo=0.0), attr="distance_km"),
                           pages.Key(None, pages.IdOf("org"), attr="id"))


async def search(session: AsyncSession, f: SearchFilters, *, near: str | None, sort: str,
                 limit: int, cursor: str | None) -> Page[InstitutionPublic]:
    origin = parse_near(near) if near is not None else None
    if sort == "distance":
        if origin is None:
            # A rule between two parameters, which the document cannot state as a
            # schema: its own code, like every business-rule refusal.
            err = NearRequired()
            err.extra["errors"] = [{"loc": ["query", "near"], "type": "missing",
                                    "msg": ("按距离排序（sort=distance）须提供 near（纬度,经度）",
                                            "sort=distance needs near=lat,lon")}]
            raise err
        return await _search_by_distance(session, f, origin, limit, cursor)
    found = await organisations.search(
        session, kind=OrgKind.care_institution, division_code=f.division_code,
        min_rating=f.min_rating, where=_beds_conditions(f), limit=limit, cursor=cursor)
    next_cursor, page = found.next_cursor, found.items
    vac = await vacancies_of(session, [o.id for o in page])
    items = []
    for o in page:
        d = None
        if origin is not None and o.lat is not None and o.lon is not None:
            d = haversine_km(origin[0], origin[1], o.lat, o.lon)
        items.append(to_public(o, vac[o.id], d))
    return Page(items=items, next_cursor=next_cursor)


def _box(lat0: float, lon0: float, r_km: float) -> organisations.Box | None:
    """A box that holds every point within r_km of (lat0, lon0) (None: the globe)."""
    if r_km >= HALF_CIRCUMFERENCE_KM:
        return None
    ang = r_km / EARTH_RADIUS_KM
    dlat = math.degrees(ang) + 1e-9
    cos_lat = math.cos(math.radians(lat0))
    if lat0 - dlat > -90 and lat0 + dlat < 90 and math.sin(ang) < cos_lat:
        dlon = math.degrees(math.asin(math.sin(ang) / cos_lat)) + 1e-9
        if -180 <= lon0 - dlon and lon0 + dlon <= 180:
            return organisations.Box(lat0 - dlat, lat0 + dlat, lon0 - dlon, lon0 + dlon)
    return organisations.Box(lat0 - dlat, lat0 + dlat)


async def _search_by_distance(session: AsyncSession, f: SearchFilters,
                              origin: tuple[float, float], limit: int,
                              cursor: str | None) -> Page[InstitutionPublic]:
    after = BY_DISTANCE.decode(cursor) if cursor else None
    lat0, lon0 = origin
    where = _beds_conditions(f)
    r = max(FIRST_RADIUS_KM, after[0] * 2 if after else 0.0)
    while True:
        rows = await organisations.located(
            session, kind=OrgKind.care_institution, box=_box(lat0, lon0, r),
            division_code=f.division_code, min_rating=f.min_rating, where=where)
        found = []
        for oid, lat, lon in rows:
            d = haversine_km(lat0, lon0, lat, lon)
            if d <= r and (after is None or BY_DISTANCE.is_after((d, oid), after)):
                found.append((d, oid))
        if len(found) > limit or r >= HALF_CIRCUMFERENCE_KM:
            break
        r *= 4
    found.sort()
    page = found[:limit]
    next_cursor = BY_DISTANCE.encode(page[-1]) if len(found) > limit else None
    ids = [oid for _, oid in page]
    orgs = await organisations.get_many(session, ids)
    vac = await vacancies_of(session, ids)
    return Page(items=[to_public(orgs[oid], vac[oid], d) for d, oid in page],
                next_cursor=next_cursor)
