"""Organisations of the four kinds and their staff API keys."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NearRequired, NotFound, RoleNotAllowed, ValidationFailed
from core.ids import new_id
from core.principal import Principal, person_name
from core.security import api_keys_equal, new_api_key, parse_api_key
from core.writes import versioned_update
from schemas.common import NEAR_PATTERN, Page
from schemas.home_care import HomeCareCaregiver
from schemas.organisation import (
    ROLES_BY_KIND,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Organisation,
    OrganisationCreate,
    OrganisationPublic,
    OrganisationUpdate,
    OrgKind,
    Role,
)
from services import audit, divisions
from services.etag import etag


def to_public(org: Organisation) -> OrganisationPublic:
    data = org.model_dump()
    data["division_name"] = divisions.name_of(org.division_code)
    return OrganisationPublic.model_validate(data)


async def create(session: AsyncSession, principal: Principal, body: OrganisationCreate,
                 *, org_id: str | None = None) -> Organisation:
    """`org_id` only for fixed ids (the demo's); otherwise a fresh one."""
    divisions.validate(body.division_code)
    now = clock.now()
    fields = body.model_dump()
    if body.kind != OrgKind.care_institution:
        # Ownership, rating and medical care describe care institutions only.
        fields.update(ownership=None, rating=None, medical_care=None)
    org = Organisation(id=org_id or new_id("org"), created_at=now, updated_at=now, version=1,
                       **fields)
    session.add(org)
    await session.flush()
    await audit.record(session, principal, "organisation.create", "organisation", org.id,
                       org_id=org.id)
    return org


async def get(session: AsyncSession, org_id: str, *, kind: OrgKind | None = None) -> Organisation:
    org = await session.get(Organisation, org_id)
    if org is None or (kind is not None and org.kind != kind):
        raise NotFound(what="organisation")
    return org


BY_ID = pages.Keyset(pages.Key(Organisation.id, pages.IdOf("org")))
KEYS_BY_ID = pages.Keyset(pages.Key(ApiKey.id, pages.IdOf("key")))


# Conditions another domain adds to a directory search, correlated to the
# organisation's id (e.g. "has a free bed": EXISTS over that domain's own table).
Correlated = Callable[[Any], list[Any]]


@dataclass(frozen=True, slots=True)
class Box:
    """A latitude/longitude box (degrees); `lon_lo`/`lon_hi` None: any longitude."""

    lat_lo: float
    lat_hi: float
    lon_lo: float | None = None
    lon_hi: float | None = None


def _directory(kind: OrgKind | None, division_code: str | None, min_rating: int | None,
               where: Correlated | None) -> list[Any]:
    conds: list[Any] = []
    if kind is not None:
        conds.append(Organisation.kind == kind)
    if division_code:
        conds.append(divisions.prefix_condition(Organisation.division_code, division_code))
    if min_rating is not None:
        conds.append(Organisation.rating >= min_rating)
    if where is not None:
        conds.extend(where(Organisation.id))
    return conds


async def search(session: AsyncSession, *, kind: OrgKind, division_code: str | None = None,
                 min_rating: int | None = None, where: Correlated | None = None,
                 limit: int, cursor: str | None) -> Page[Organisation]:
    """A page of one kind's directory by id: the division (prefix), the rating, and
    whatever `where` adds for the asking domain."""
    stmt = select(Organisation).where(*_directory(kind, division_code, min_rating, where))
    return await BY_ID.page(session, stmt, limit=limit, cursor=cursor)


async def located(session: AsyncSession, *, kind: OrgKind, box: Box | None,
                  division_code: str | None = None, min_rating: int | None = None,
                  where: Correlated | None = None) -> list[tuple[str, float, float]]:
    """(id, lat, lon) of the directory's organisations with coordinates in `box`."""
    conds = _directory(kind, division_code, min_rating, where)
    conds += [Organisation.lat.is_not(None), Organisation.lon.is_not(None)]
    if box is not None:
        conds += [Organisation.lat >= box.lat_lo, Organisation.lat <= box.lat_hi]
        if box.lon_lo is not None and box.lon_hi is not None:
            conds += [Organisation.lon >= box.lon_lo, Organisation.lon <= box.lon_hi]
    rows = await session.execute(
        select(Organisation.id, Organisation.lat, Organisation.lon).where(*conds))
    return [(r[0], r[1], r[2]) for r in rows]


# --- nearest first ---------------------------------------------------------------
# Distances are great-circle kilometres computed here in Python from the stored
# coordinates; the database only narrows the candidates to a latitude/longitude box (`located`)
# that grows until it holds the page. Any directory (care institutions,
# registration offices) searches near a point through `nearest`.

EARTH_RADIUS_KM = 6371.0088
HALF_CIRCUMFERENCE_KM = EARTH_RADIUS_KM * math.pi
FIRST_RADIUS_KM = 10.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def parse_near(near: str) -> tuple[float, float]:
    """`near=lat,lon` as the document states it (`NEAR_PATTERN`), else 422
    `validation_error` naming the expected form."""
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


def origin_of(near: str | None, sort: str) -> tuple[float, float] | None:
    """The point of `near=lat,lon` (None without one); `sort=distance` needs it (422
    `near_required`, a rule between two parameters that a schema cannot state)."""
    origin = parse_near(near) if near is not None else None
    if sort == "distance" and origin is None:
        err = NearRequired()
        err.extra["errors"] = [{"loc": ["query", "near"], "type": "missing",
                                "msg": ("按距离排序（sort=distance）须提供 near（纬度,经度）",
                                        "sort=distance needs near=lat,lon")}]
        raise err
    return origin


def box_around(lat0: float, lon0: float, r_km: float) -> Box | None:
    """A box that holds every point within r_km of (lat0, lon0) (None: the globe)."""
    if r_km >= HALF_CIRCUMFERENCE_KM:
        return None
    ang = r_km / EARTH_RADIUS_KM
    dlat = math.degrees(ang) + 1e-9
    cos_lat = math.cos(math.radians(lat0))
    if lat0 - dlat > -90 and lat0 + dlat < 90 and math.sin(ang) < cos_lat:
        dlon = math.degrees(math.asin(math.sin(ang) / cos_lat)) + 1e-9
        if -180 <= lon0 - dlon and lon0 + dlon <= 180:
            return Box(lat0 - dlat, lat0 + dlat, lon0 - dlon, lon0 + dlon)
    return Box(lat0 - dlat, lat0 + dlat)


# Computed in Python (the same on both databases): nearest first, then by id.
BY_DISTANCE = pages.Keyset(pages.Key(None, pages.Float(lo=0.0), attr="distance_km"),
                           pages.Key(None, pages.IdOf("org"), attr="id"))


@dataclass(frozen=True, slots=True)
class Near:
    """One page of a directory, nearest first: (distance in km, id) pairs."""

    found: list[tuple[float, str]]
    next_cursor: str | None


async def nearest(session: AsyncSession, *, kind: OrgKind, origin: tuple[float, float],
                  division_code: str | None = None, min_rating: int | None = None,
                  where: Correlated | None = None, limit: int,
                  cursor: str | None) -> Near:
    """The organisations of a directory with a location, nearest to `origin` first
    (organisations without coordinates are left out)."""
    after = BY_DISTANCE.decode(cursor) if cursor else None
    lat0, lon0 = origin
    r = max(FIRST_RADIUS_KM, after[0] * 2 if after else 0.0)
    while True:
        rows = await located(session, kind=kind, box=box_around(lat0, lon0, r),
                             division_code=division_code, min_rating=min_rating, where=where)
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
    return Near(page, BY_DISTANCE.encode(page[-1]) if len(found) > limit else None)


async def get_many(session: AsyncSession, ids: list[str]) -> dict[str, Organisation]:
    if not ids:
        return {}
    rows = await session.execute(select(Organisation).where(Organisation.id.in_(ids)))
    return {o.id: o for o in rows.scalars()}


async def list_(session: AsyncSession, *, kind: OrgKind | None = None,
                division_code: str | None = None, limit: int = 20,
                cursor: str | None = None) -> Page[Organisation]:
    stmt = select(Organisation).where(*_directory(kind, division_code, None, None))
    return await BY_ID.page(session, stmt, limit=limit, cursor=cursor)


def org_etag(org: Organisation) -> str:
    return etag(org.id, org.version)


async def update_(session: AsyncSession, principal: Principal, org_id: str,
                  body: OrganisationUpdate, if_match: str | None, *,
                  etag_of: Callable[[Organisation], str] = org_etag) -> Organisation:
    """Change an organisation under `If-Match` (`etag_of` says which representation's
    ETag it must name: the admin's organisation, or an institution's profile)."""
    org = await get(session, org_id)

    def changes_of(current: Organisation) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        if changes.get("division_code"):
            divisions.validate(changes["division_code"])
        if current.kind != OrgKind.care_institution:
            for field in ("ownership", "rating", "medical_care"):
                changes.pop(field, None)
        for field in ("name", "division_code"):
            if field in changes and changes[field] is None:
                changes.pop(field)
        return {**changes, "updated_at": clock.now()}

    org = await versioned_update(session, org, if_match=if_match, etag=etag_of,
                                 values=changes_of)
    await audit.record(session, principal, "organisation.update", "organisation", org.id,
                       org_id=org.id)
    return org


async def create_api_key(session: AsyncSession, principal: Principal | None,
                         org_id: str | None, body: ApiKeyCreate) -> ApiKeyCreated:
    """A key the admin issues (or `huimin apikey create`): a role the organisation's
    kind holds (`ROLES_BY_KIND`), or, without an organisation, `admin`. A `caregiver`
    key is in no kind's roles: it names its caregiver, so only the provider issues it
    (`services.home_care.caregiver_keys`, through `issue_key`)."""
    if org_id is not None:
        org = await get(session, org_id)
        if body.role not in ROLES_BY_KIND[OrgKind(org.kind)]:
            raise RoleNotAllowed(kind=org.kind, role=body.role.value)
    elif body.role != Role.admin:
        raise RoleNotAllowed(kind="platform", role=body.role.value)
    return await issue_key(session, principal, org_id=org_id, role=body.role, name=body.name)


async def issue_key(session: AsyncSession, principal: Principal | None, *,
                    org_id: str | None, role: Role, name: str,
                    caregiver_id: str | None = None) -> ApiKeyCreated:
    """Make a key, store its hash (never the key), audit it, and answer the key in
    clear, the only time it is shown. Who may hold `role` is the caller's to decide
    (`create_api_key`; a caregiver's key, `caregiver_keys.issue`)."""
    name = person_name(name)
    if not name:  # only invisible characters
        err = ValidationFailed()
        err.extra["errors"] = [{"loc": ["body", "name"], "type": "value_error",
                                "msg": ("名称不能只含不可见字符",
                                        "the name holds only invisible characters")}]
        raise err
    clear, lookup, key_hash = new_api_key()
    key = ApiKey(id=new_id("key"), org_id=org_id, name=name, role=role,
                 caregiver_id=caregiver_id, lookup=lookup, key_hash=key_hash,
                 created_at=clock.now())
    session.add(key)
    await session.flush()
    await audit.record(session, principal, "api_key.create", "api_key", key.id, org_id=org_id)
    return ApiKeyCreated(id=key.id, key=clear, role=role, org_id=org_id, name=key.name,
                         caregiver_id=caregiver_id)


async def list_api_keys(session: AsyncSession, org_id: str, *, limit: int = 20,
                        cursor: str | None = None,
                        caregiver_id: str | None = None) -> Page[ApiKey]:
    """An organisation's keys by id (`caregiver_id`: only that caregiver's)."""
    await get(session, org_id)
    stmt = select(ApiKey).where(ApiKey.org_id == org_id)
    if caregiver_id is not None:
        stmt = stmt.where(ApiKey.caregiver_id == caregiver_id)
    return await KEYS_BY_ID.page(session, stmt, limit=limit, cursor=cursor)


async def revoke_api_key(session: AsyncSession, principal: Principal, org_id: str,
                         key_id: str, *, caregiver_id: str | None = None) -> ApiKey:
    """Revoke one of the organisation's keys (`caregiver_id`: one of that caregiver's)
    at once; revoking a revoked key changes nothing."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.org_id != org_id or (
            caregiver_id is not None and key.caregiver_id != caregiver_id):
        raise NotFound(what="API key")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.add(key)
        await session.flush()
        await audit.record(session, principal, "api_key.revoke", "api_key", key.id,
                           org_id=org_id)
    return key


async def authenticate_api_key(session: AsyncSession, clear: str) -> Principal | None:
    """The caller a key names, None for a key that is unknown, revoked, or wrong, or
    bound to a caregiver who is no longer active: read with the key, in the one
    statement every key's check runs, so no route and no way of deactivating a
    caregiver can forget it (a caregiver active again has working keys again)."""
    lookup = parse_api_key(clear)
    if lookup is None:
        return None
    row = (await session.execute(
        select(ApiKey, Organisation.division_code, HomeCareCaregiver.active)
        .outerjoin(Organisation, Organisation.id == ApiKey.org_id)
        .outerjoin(HomeCareCaregiver, HomeCareCaregiver.id == ApiKey.caregiver_id)
        .where(ApiKey.lookup == lookup))).one_or_none()
    if row is None:
        return None
    key, division_code, caregiver_active = row
    if key.revoked_at is not None or not api_keys_equal(clear, key.key_hash):
        return None
    if key.caregiver_id is not None and not caregiver_active:
        return None
    return Principal(kind="staff", subject=key.id, role=key.role, org_id=key.org_id,
                     staff_name=key.name, caregiver_id=key.caregiver_id,
                     division_code=division_code)
