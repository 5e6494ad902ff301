"""An institution's own beds: add, change (If-Match), residents admitted outside
huimin, discharge, and the occupancy history. Every caller is staff of the
institution in the path; any other institution's objects are simply not found."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import (
    DuplicateBedCode,
    ElderAlreadyResident,
    InvalidState,
    NoBedAvailable,
    NotFound,
)
from core.ids import new_id
from core.principal import Principal
from core.settings import Settings
from core.writes import constraint_of, unique_violation, versioned_update
from schemas.beds import (
    ApplicationStatus,
    Bed,
    BedApplication,
    BedCreate,
    BedOccupancy,
    BedPublic,
    BedStatus,
    BedUpdate,
    OccupancyPublic,
    OutsideResident,
)
from schemas.common import Page
from schemas.organisation import OrgKind
from services import audit, identity, organisations, scopes
from services.beds import pool
from services.etag import check_if_match, etag

# Residents' records: the institution's own staff only.
OCCUPANCY = scopes.Resource(
    model=BedOccupancy, noun="occupancy", audit_type="bed_occupancy",
    rules={"institution": scopes.of_org(BedOccupancy.institution_id)},
    org_attr="institution_id")
BEDS_BY_ID = pages.Keyset(pages.Key(Bed.id, pages.IdOf("bed")))
OCCUPANCIES_NEWEST_FIRST = pages.Keyset(pages.Key(BedOccupancy.id, pages.IdOf("occ"),
                                                  descending=True))


async def own_institution(session: AsyncSession, principal: Principal, institution_id: str):  # noqa: ANN201
    """The caller's own care institution, else 404 (never 403: not the caller's)."""
    if principal.org_id != institution_id:
        raise NotFound(what="institution")
    try:
        return await organisations.get(session, institution_id, kind=OrgKind.care_institution)
    except NotFound as exc:
        raise NotFound(what="institution") from exc


async def _bed(session: AsyncSession, institution_id: str, bed_id: str) -> Bed:
    bed = (await session.execute(
        select(Bed).where(Bed.id == bed_id).execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if bed is None or bed.institution_id != institution_id:
        raise NotFound(what="bed")
    return bed


def bed_etag(bed: Bed) -> str:
    return etag(bed.id, bed.version)


async def bed_public(session: AsyncSession, bed: Bed) -> BedPublic:
    return (await beds_public(session, [bed]))[0]


async def beds_public(session: AsyncSession, beds: list[Bed]) -> list[BedPublic]:
    """Beds as the institution sees them; a hold whose offer expired shows as
    `available`, the state it is in as soon as anything settles the pool."""
    held = [b.id for b in beds if b.status == BedStatus.held]
    occupied = [b.id for b in beds if b.status == BedStatus.occupied]
    holders: dict[str, BedApplication] = {}
    if held:
        rows = await session.execute(
            select(BedApplication).where(
                BedApplication.bed_id.in_(held),
                BedApplication.status.in_((ApplicationStatus.offered,
                                           ApplicationStatus.accepted))))
        holders = {app.bed_id: app for app in rows.scalars() if app.bed_id}
    occupants: dict[str, str | None] = {}
    if occupied:
        rows = await session.execute(
            select(BedOccupancy.bed_id, BedOccupancy.application_id).where(
                BedOccupancy.bed_id.in_(occupied), BedOccupancy.ended_at.is_(None)))
        occupants = {r[0]: r[1] for r in rows}
    out = []
    now = clock.now()
    for b in beds:
        status, application_id, expires = b.status, occupants.get(b.id), None
        holder = holders.get(b.id)
        if holder is not None:
            application_id = holder.id
            if holder.status == ApplicationStatus.offered:
                expires = holder.offer_expires_at
            if pool.effective_status(holder, now) == ApplicationStatus.expired:
                status, application_id, expires = BedStatus.available, None, None
        out.append(BedPublic(
            id=b.id, institution_id=b.institution_id, code=b.code, category=b.category,
            monthly_fee_fen=b.monthly_fee_fen, reserved_for_destitute=b.reserved_for_destitute,
            status=status, application_id=application_id, offer_expires_at=expires,
            etag=etag(b.id, b.version), created_at=b.created_at, updated_at=b.updated_at))
    return out


async def list_beds(session: AsyncSession, principal: Principal, institution_id: str, *,
                    category: str | None, status: str | None, limit: int,
                    cursor: str | None) -> Page[BedPublic]:
    await own_institution(session, principal, institution_id)
    stmt = select(Bed).where(Bed.institution_id == institution_id)
    if category:
        stmt = stmt.where(Bed.category == category)
    if status:
        stmt = stmt.where(Bed.status == status)
    page = await BEDS_BY_ID.page(session, stmt, limit=limit, cursor=cursor)
    return Page(items=await beds_public(session, page.items), next_cursor=page.next_cursor)


async def get_bed(session: AsyncSession, principal: Principal, institution_id: str,
                  bed_id: str) -> BedPublic:
    await own_institution(session, principal, institution_id)
    return await bed_public(session, await _bed(session, institution_id, bed_id))


async def add_bed(session: AsyncSession, principal: Principal, institution_id: str,
                  body: BedCreate, settings: Settings) -> BedPublic:
    await own_institution(session, principal, institution_id)
    category = body.category.value
    await pool.lock(session, institution_id, category)
    await pool.settle(session, institution_id, category)
    now = clock.now()
    bed = Bed(id=new_id("bed"), institution_id=institution_id, code=body.code,
              category=category, monthly_fee_fen=body.monthly_fee_fen,
              reserved_for_destitute=body.reserved_for_destitute, status=body.status,
              version=1, created_at=now, updated_at=now)
    session.add(bed)
    with unique_violation(DuplicateBedCode(code=body.code),
                          constraint=constraint_of(Bed, "uq_bed_institution_code")):
        await session.flush()
    await pool.adjust_pool(session, institution_id, category, total=1,
                           vacant=int(body.status == BedStatus.available))
    await audit.record(session, principal, "bed.create", "bed", bed.id, org_id=institution_id)
    await pool.match(session, institution_id, category, settings)
    return await bed_public(session, await _bed(session, institution_id, bed.id))


async def update_bed(session: AsyncSession, principal: Principal, institution_id: str,
                     bed_id: str, body: BedUpdate, if_match: str | None,
                     settings: Settings) -> BedPublic:
    await own_institution(session, principal, institution_id)
    bed = await _bed(session, institution_id, bed_id)
    check_if_match(if_match, bed.id, bed.version)
    await pool.lock(session, institution_id, bed.category)
    await pool.settle(session, institution_id, bed.category)
    bed = await _bed(session, institution_id, bed_id)
    old_status = bed.status
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    new_status = changes.get("status", old_status)

    def checked(current: Bed) -> dict:
        if new_status != current.status and current.status not in (BedStatus.available,
                                                                   BedStatus.maintenance):
            raise InvalidState(status=current.status, action=f"set_{new_status}")
        return {**changes, "updated_at": clock.now()}

    # Again under the pool lock (another editor may have committed meanwhile), and
    # the UPDATE is conditional on the version: two editors with one ETag, one winner.
    await versioned_update(session, bed, if_match=if_match, etag=bed_etag, values=checked,
                           where=[Bed.status == old_status])
    delta = (new_status == BedStatus.available) - (old_status == BedStatus.available)
    if delta:
        await pool.adjust_pool(session, institution_id, bed.category, vacant=delta)
    await audit.record(session, principal, "bed.update", "bed", bed.id, org_id=institution_id)
    await pool.match(session, institution_id, bed.category, settings)
    return await bed_public(session, await _bed(session, institution_id, bed.id))


async def discharge(session: AsyncSession, principal: Principal, institution_id: str,
                    bed_id: str, reason: str | None, settings: Settings) -> BedPublic:
    await own_institution(session, principal, institution_id)
    bed = await _bed(session, institution_id, bed_id)
    await pool.lock(session, institution_id, bed.category)
    await pool.settle(session, institution_id, bed.category)
    bed = await _bed(session, institution_id, bed_id)
    if bed.status != BedStatus.occupied:
        raise InvalidState(status=bed.status, action="discharge")
    now = clock.now()
    await session.execute(
        update(BedOccupancy)
        .where(BedOccupancy.bed_id == bed.id, BedOccupancy.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason or "discharged")
        .execution_options(synchronize_session=False))
    if not await pool.change_bed_status(session, bed.id, institution_id, bed.category,
                                        BedStatus.occupied, BedStatus.available):
        raise InvalidState(status=bed.status, action="discharge")
    await audit.record(session, principal, "bed.discharge", "bed", bed.id, org_id=institution_id)
    await pool.match(session, institution_id, bed.category, settings)
    return await bed_public(session, await _bed(session, institution_id, bed.id))


async def refuse_if_resident(session: AsyncSession, id_blind: str | None) -> None:
    """409 `elder_already_resident` when the person occupies a bed anywhere."""
    if id_blind is None:
        return
    open_stay = (await session.execute(
        select(BedOccupancy.id).where(BedOccupancy.resident_id_blind == id_blind,
                                      BedOccupancy.ended_at.is_(None)).limit(1))
    ).scalar_one_or_none()
    if open_stay is not None:
        raise ElderAlreadyResident()


async def start_occupancy(session: AsyncSession, bed: Bed, *, name: str,
                          id_number: identity.ProtectedId | None,
                          application_id: str | None) -> BedOccupancy:
    """Open the bed's stay; one open stay per person (the unique index on the
    resident's blind index), else 409 `elder_already_resident`."""
    occ = BedOccupancy(
        id=new_id("occ"), institution_id=bed.institution_id, bed_id=bed.id,
        application_id=application_id, resident_name=name,
        resident_id_encrypted=id_number.encrypted if id_number else None,
        resident_id_blind=id_number.blind_index if id_number else None,
        resident_id_masked=id_number.masked if id_number else None,
        outside_huimin=application_id is None, started_at=clock.now())
    session.add(occ)
    with unique_violation(ElderAlreadyResident(), constraint=constraint_of(
            BedOccupancy, "uq_bed_occupancy_open_resident")):
        await session.flush()
    return occ


async def admit_outside(session: AsyncSession, principal: Principal, institution_id: str,
                        body: OutsideResident, settings: Settings) -> OccupancyPublic:
    """A resident admitted outside huimin: the bed is occupied, with no application."""
    await own_institution(session, principal, institution_id)
    protected = None
    if body.id_number:
        protected = identity.ID_NUMBER.protect(body.id_number, settings, field="id_number")
    if body.bed_id is not None:
        category = (await _bed(session, institution_id, body.bed_id)).category
    else:
        assert body.category is not None
        category = body.category.value
    await pool.lock(session, institution_id, category)
    await pool.settle(session, institution_id, category)
    await refuse_if_resident(session, protected.blind_index if protected else None)
    if body.bed_id is not None:
        bed = await _bed(session, institution_id, body.bed_id)
        if bed.status not in (BedStatus.available, BedStatus.maintenance):
            raise InvalidState(status=bed.status, action="occupy")
    else:
        bed = (await session.execute(
            select(Bed).where(Bed.institution_id == institution_id, Bed.category == category,
                              Bed.status == BedStatus.available)
            .order_by(Bed.reserved_for_destitute, Bed.id).limit(1))).scalar_one_or_none()
        if bed is None:
            raise NoBedAvailable(category=category)
    if not await pool.change_bed_status(session, bed.id, institution_id, category, bed.status,
                                        BedStatus.occupied):
        raise InvalidState(status=bed.status, action="occupy")
    occ = await start_occupancy(session, bed, name=body.name, id_number=protected,
                                application_id=None)
    await audit.record(session, principal, "bed.admit_outside", "bed_occupancy", occ.id,
                       org_id=institution_id)
    return occupancy_public(occ, bed.code)


def occupancy_public(occ: BedOccupancy, bed_code: str | None) -> OccupancyPublic:
    return OccupancyPublic(
        id=occ.id, institution_id=occ.institution_id, bed_id=occ.bed_id, bed_code=bed_code,
        application_id=occ.application_id, resident_name=occ.resident_name,
        resident_id_number_masked=occ.resident_id_masked, outside_huimin=occ.outside_huimin,
        started_at=occ.started_at, ended_at=occ.ended_at, end_reason=occ.end_reason)


async def occupancies(session: AsyncSession, principal: Principal, institution_id: str, *,
                      bed_id: str | None, limit: int, cursor: str | None
                      ) -> Page[OccupancyPublic]:
    """Who occupied which bed when, newest first. A staff read of people's
    records, so it is audited."""
    await own_institution(session, principal, institution_id)
    stmt = (scopes.select_visible(OCCUPANCY, principal, BedOccupancy, Bed.code)
            .join(Bed, Bed.id == BedOccupancy.bed_id)
            .where(BedOccupancy.institution_id == institution_id))
    if bed_id is not None:
        await _bed(session, institution_id, bed_id)
        stmt = stmt.where(BedOccupancy.bed_id == bed_id)
    page = await OCCUPANCIES_NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor,
                                               scalars=False, values_of=lambda r: (r[0].id,))
    await scopes.listed(session, principal, OCCUPANCY, bed_id or institution_id, read="read")
    return page.map(lambda r: occupancy_public(r[0], r[1]))
