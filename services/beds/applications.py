"""Bed applications: the citizen applies for an elder, the institution assesses
(which places the application on the waiting list, or offers a free bed at once),
the citizen accepts, declines or withdraws, the institution admits or rejects.

The applicant's data is visible to the applying citizen and to the institution
applied to, nobody else (404); staff reads are audited.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.db import is_unique_violation
from core.errors import (
    ApplicantUnderage,
    DuplicateApplication,
    InvalidState,
    NotFound,
    TooManyActiveApplications,
)
from core.ids import new_id
from core.principal import Principal
from core.settings import Settings
from schemas.beds import (
    ACTIVE_STATUSES,
    ApplicationStatus,
    AssessmentIn,
    Bed,
    BedApplicant,
    BedApplication,
    BedApplicationCreate,
    BedApplicationPublic,
    BedCategory,
    BedStatus,
    ElderPublic,
)
from schemas.common import Page
from schemas.organisation import OrgKind
from services import audit, identity, organisations
from services.beds import cursors, inventory, pool, priority

S = ApplicationStatus


async def to_public(session: AsyncSession, app: BedApplication) -> BedApplicationPublic:
    status = pool.effective_status(app)
    cls = await pool.effective_class(session, app)
    bed_code = None
    if app.bed_id is not None:
        bed_code = (await session.execute(select(Bed.code).where(Bed.id == app.bed_id))
                    ).scalar_one_or_none()
    return BedApplicationPublic(
        id=app.id, institution_id=app.institution_id, category=app.category, status=status,
        elder=ElderPublic(name=app.elder_name, id_number_masked=app.elder_id_masked,
                          phone=app.elder_phone),
        priority_groups=app.priority_groups, declared_ability_level=app.declared_ability_level,
        ability_level=app.ability_level, verified_priority_groups=app.verified_priority_groups,
        priority_class=cls, waitlist_position=await pool.waitlist_position(session, app, cls),
        bed_id=app.bed_id, bed_code=bed_code,
        offer_expires_at=app.offer_expires_at if status == S.offered else None,
        applied_at=app.applied_at, assessed_at=app.assessed_at, offered_at=app.offered_at,
        accepted_at=app.accepted_at, admitted_at=app.admitted_at, closed_at=app.closed_at)


async def _visible(session: AsyncSession, principal: Principal,
                   application_id: str) -> BedApplication:
    app = await pool.load_application(session, application_id)
    if app is None:
        raise NotFound(what="bed application")
    if principal.is_citizen:
        if app.citizen_subject != principal.subject:
            raise NotFound(what="bed application")
    elif principal.role != "institution" or app.institution_id != principal.org_id:
        raise NotFound(what="bed application")
    return app


async def create(session: AsyncSession, principal: Principal, body: BedApplicationCreate,
                 settings: Settings) -> BedApplicationPublic:
    try:
        await organisations.get(session, body.institution_id, kind=OrgKind.care_institution)
    except NotFound as exc:
        raise NotFound(what="institution") from exc
    idn = identity.parse(body.elder.id_number, field="elder.id_number")
    if idn.age_on(clock.today()) < settings.beds_min_applicant_age:
        raise ApplicantUnderage(min_age=settings.beds_min_applicant_age)
    protected = identity.protect(idn, settings)
    category = body.category.value

    # An offer of this elder's that expired but is not settled yet is not active:
    # settle those pools first (pool locks before the elder's row, in order).
    for inst, cat in await pool.pools_with_expired_offers(
            session, elder_id_blind=protected.blind_index):
        await pool.lock(session, inst, cat)
        await pool.settle_and_match(session, inst, cat, settings)
    await pool.ensure(session, body.institution_id, category)

    duplicate = (await session.execute(
        select(BedApplication.id).where(
            BedApplication.elder_id_blind == protected.blind_index,
            BedApplication.institution_id == body.institution_id,
            BedApplication.category == category,
            BedApplication.status.in_(ACTIVE_STATUSES)).limit(1))).scalar_one_or_none()
    if duplicate is not None:
        raise DuplicateApplication()

    # The elder's counter: one conditional UPDATE serialises an elder's applications.
    now = clock.now()
    await session.execute(
        pool._insert_ignore(session, BedApplicant, ["elder_id_blind"]).values(
            elder_id_blind=protected.blind_index, active_count=0, updated_at=now))
    taken = await session.execute(
        update(BedApplicant)
        .where(BedApplicant.elder_id_blind == protected.blind_index,
               BedApplicant.active_count < settings.beds_max_active_applications)
        .values(active_count=BedApplicant.active_count + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise TooManyActiveApplications(limit=settings.beds_max_active_applications)

    app = BedApplication(
        id=new_id("bap"), institution_id=body.institution_id, category=category,
        citizen_subject=principal.subject, elder_name=body.elder.name,
        elder_id_encrypted=protected.encrypted, elder_id_blind=protected.blind_index,
        elder_id_masked=protected.masked, elder_phone=body.elder.phone,
        priority_groups=[g.value for g in body.priority_groups],
        declared_ability_level=body.ability_level, status=S.submitted, applied_at=now,
        updated_at=now)
    session.add(app)
    try:
        await session.flush()
    except IntegrityError as exc:  # the unique partial index, when two arrive at once
        if is_unique_violation(exc):
            raise DuplicateApplication() from exc
        raise
    await audit.record(session, principal, "bed_application.create", "bed_application", app.id,
                       org_id=body.institution_id)
    return await to_public(session, app)


async def get(session: AsyncSession, principal: Principal,
              application_id: str) -> BedApplicationPublic:
    app = await _visible(session, principal, application_id)
    if not principal.is_citizen:
        await audit.record(session, principal, "bed_application.read", "bed_application",
                           app.id, org_id=app.institution_id)
    return await to_public(session, app)


async def list_(session: AsyncSession, principal: Principal, *, status: str | None,
                limit: int, cursor: str | None) -> Page[BedApplicationPublic]:
    """The citizen's own applications, or the institution's, newest first."""
    stmt = select(BedApplication)
    if principal.is_citizen:
        stmt = stmt.where(BedApplication.citizen_subject == principal.subject)
    else:
        stmt = stmt.where(BedApplication.institution_id == principal.org_id)
    now = clock.now()
    if status == S.offered:  # statuses as read: an offer past its time is expired
        stmt = stmt.where(BedApplication.status == S.offered,
                          BedApplication.offer_expires_at > now)
    elif status == S.expired:
        stmt = stmt.where((BedApplication.status == S.expired)
                          | ((BedApplication.status == S.offered)
                             & (BedApplication.offer_expires_at <= now)))
    elif status is not None:
        stmt = stmt.where(BedApplication.status == status)
    if cursor:
        stmt = stmt.where(BedApplication.id < cursors.decode_id(cursor, "bap"))
    rows = list((await session.execute(stmt.order_by(BedApplication.id.desc()).limit(limit + 1))
                 ).scalars())
    next_cursor = cursors.encode_id(rows[limit - 1].id) if len(rows) > limit else None
    if not principal.is_citizen:
        await audit.record(session, principal, "bed_application.list", "organisation",
                           principal.org_id, org_id=principal.org_id)
    return Page(items=[await to_public(session, a) for a in rows[:limit]],
                next_cursor=next_cursor)


async def _locked(session: AsyncSession, principal: Principal, application_id: str,
                  settings: Settings) -> BedApplication:
    """The application, visible to the caller, with its pool locked and settled."""
    app = await _visible(session, principal, application_id)
    await pool.lock(session, app.institution_id, app.category)
    await pool.settle_and_match(session, app.institution_id, app.category, settings)
    return await pool.load_application(session, app.id) or app


async def assess(session: AsyncSession, principal: Principal, application_id: str,
                 body: AssessmentIn, settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    if app.status not in (S.submitted, S.waitlisted):
        raise InvalidState(status=pool.effective_status(app), action="assessed")
    institution = await organisations.get(session, app.institution_id)
    birth_date = identity.parse(identity.decrypt(app.elder_id_encrypted, settings)).birth_date
    groups = [g.value for g in body.verified_priority_groups]
    plan = priority.schedule(groups, body.ability_level, birth_date, clock.today(),
                             institution.division_code)
    now = clock.now()
    result = await session.execute(
        update(BedApplication)
        .where(BedApplication.id == app.id, BedApplication.status == app.status)
        .values(status=S.waitlisted, ability_level=body.ability_level,
                verified_priority_groups=groups, priority_class=plan.base_class,
                destitute=priority.is_destitute(groups), assessed_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InvalidState(status=app.status, action="assessed")
    await pool.store_priority_schedule(session, app.id, plan)
    await audit.record(session, principal, "bed_application.assess", "bed_application", app.id,
                       org_id=app.institution_id)
    await pool.match(session, app.institution_id, app.category, settings)
    return await to_public(session, await pool.load_application(session, app.id) or app)


async def accept(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    if app.status != S.offered:
        raise InvalidState(status=app.status, action="accepted")
    now = clock.now()
    result = await session.execute(
        update(BedApplication)
        .where(BedApplication.id == app.id, BedApplication.status == S.offered,
               BedApplication.offer_expires_at > now)
        .values(status=S.accepted, accepted_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InvalidState(status=pool.effective_status(app), action="accepted")
    await audit.record(session, principal, "bed_application.accept", "bed_application", app.id,
                       org_id=app.institution_id)
    return await to_public(session, await pool.load_application(session, app.id) or app)


async def _close(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings, to: str, allowed: tuple[str, ...],
                 action: str) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    app = await pool.close_application(session, app, to, allowed=allowed,
                                       principal=principal, action=action)
    await pool.match(session, app.institution_id, app.category, settings)
    return await to_public(session, app)


async def decline(session: AsyncSession, principal: Principal, application_id: str,
                  settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, S.declined,
                        (S.offered,), "decline")


async def withdraw(session: AsyncSession, principal: Principal, application_id: str,
                   settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, S.withdrawn,
                        ACTIVE_STATUSES, "withdraw")


async def reject(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, S.rejected,
                        ACTIVE_STATUSES, "reject")


async def admit(session: AsyncSession, principal: Principal, application_id: str,
                settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    if app.status != S.accepted or app.bed_id is None:
        raise InvalidState(status=pool.effective_status(app), action="admitted")
    now = clock.now()
    result = await session.execute(
        update(BedApplication)
        .where(BedApplication.id == app.id, BedApplication.status == S.accepted)
        .values(status=S.admitted, admitted_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1 or not await pool.change_bed_status(
            session, app.bed_id, app.institution_id, app.category, BedStatus.held,
            BedStatus.occupied):
        raise InvalidState(status=app.status, action="admitted")
    await pool.release_elder(session, app.elder_id_blind)
    bed = (await session.execute(select(Bed).where(Bed.id == app.bed_id))).scalar_one()
    occupant = identity.ProtectedId(encrypted=app.elder_id_encrypted,
                                    blind_index=app.elder_id_blind, masked=app.elder_id_masked)
    await inventory.start_occupancy(session, bed, name=app.elder_name, id_number=occupant,
                                    application_id=app.id)
    await audit.record(session, principal, "bed_application.admit", "bed_application", app.id,
                       org_id=app.institution_id)
    return await to_public(session, await pool.load_application(session, app.id) or app)


async def waitlist(session: AsyncSession, principal: Principal, institution_id: str, *,
                   category: BedCategory | None, limit: int,
                   cursor: str | None) -> Page[BedApplicationPublic]:
    """Waiting applications in priority order (class, then application time)."""
    await inventory.own_institution(session, principal, institution_id)
    stmt = select(BedApplication).where(BedApplication.institution_id == institution_id,
                                        BedApplication.status == S.waitlisted)
    if category is not None:
        stmt = stmt.where(BedApplication.category == category.value)
    order = (BedApplication.category, *pool.waitlist_order())
    offset = cursors.decode_offset(cursor) if cursor else 0
    rows = list((await session.execute(stmt.order_by(*order).offset(offset).limit(limit + 1))
                 ).scalars())
    next_cursor = cursors.encode_offset(offset + limit) if len(rows) > limit else None
    await audit.record(session, principal, "bed_application.waitlist_read", "organisation",
                       institution_id, org_id=institution_id)
    return Page(items=[await to_public(session, a) for a in rows[:limit]],
                next_cursor=next_cursor)
