"""Organisations of the four kinds and their staff API keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NotFound, RoleNotAllowed
from core.ids import new_id
from core.principal import Principal
from core.security import api_keys_equal, new_api_key, parse_api_key
from core.writes import versioned_update
from schemas.common import Page
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
    if org_id is not None:
        org = await get(session, org_id)
        if body.role not in ROLES_BY_KIND[OrgKind(org.kind)]:
            raise RoleNotAllowed(kind=org.kind, role=body.role.value)
    elif body.role != Role.admin:
        raise RoleNotAllowed(kind="platform", role=body.role.value)
    clear, lookup, key_hash = new_api_key()
    key = ApiKey(id=new_id("key"), org_id=org_id, name=body.name, role=body.role,
                 lookup=lookup, key_hash=key_hash, created_at=clock.now())
    session.add(key)
    await session.flush()
    await audit.record(session, principal, "api_key.create", "api_key", key.id, org_id=org_id)
    return ApiKeyCreated(id=key.id, key=clear, role=body.role, org_id=org_id, name=key.name)


async def list_api_keys(session: AsyncSession, org_id: str, *, limit: int = 20,
                        cursor: str | None = None) -> Page[ApiKey]:
    await get(session, org_id)
    return await KEYS_BY_ID.page(session, select(ApiKey).where(ApiKey.org_id == org_id),
                                 limit=limit, cursor=cursor)


async def revoke_api_key(session: AsyncSession, principal: Principal, org_id: str,
                         key_id: str) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or key.org_id != org_id:
        raise NotFound(what="API key")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.add(key)
        await session.flush()
        await audit.record(session, principal, "api_key.revoke", "api_key", key.id,
                           org_id=org_id)
    return key


async def authenticate_api_key(session: AsyncSession, clear: str) -> Principal | None:
    lookup = parse_api_key(clear)
    if lookup is None:
        return None
    row = (await session.execute(
        select(ApiKey, Organisation.division_code)
        .outerjoin(Organisation, Organisation.id == ApiKey.org_id)
        .where(ApiKey.lookup == lookup))).one_or_none()
    if row is None:
        return None
    key, division_code = row
    if key.revoked_at is not None or not api_keys_equal(clear, key.key_hash):
        return None
    return Principal(kind="staff", subject=key.id, role=key.role, org_id=key.org_id,
                     staff_name=key.name, division_code=division_code)
