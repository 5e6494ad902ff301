"""Bed applications: the citizen applies for an elder, the institution assesses
(which places the application on the waiting list, or offers a free bed at once),
the citizen accepts, declines or withdraws, the institution admits or rejects.

The applicant's data is visible to the applying citizen and to the institution
applied to, nobody else (404); staff reads are audited.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import (
    ApplicantUnderage,
    DuplicateApplication,
    InvalidState,
    NotFound,
    TooManyActiveApplications,
)
from core.ids import new_id
from core.principal import Principal
from core.protected import PHONE
from core.settings import Settings
from core.writes import constraint_of, insert_if_absent, unique_violation
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
from services import audit, identity, organisations, scopes
from services.beds import inventory, lifecycle, pool, priority

S = ApplicationStatus


async def to_public(session: AsyncSession, app: BedApplication,
                    viewer: Principal) -> BedApplicationPublic:
    """The application as `viewer` sees it: the elder's phone in full only to the
    institution (which must call the family), masked to everyone else."""
    status = pool.effective_status(app)
    cls = await pool.effective_class(session, app)
    bed_code = bed_fee = None
    if app.bed_id is not None:
        row = (await session.execute(select(Bed.code, Bed.monthly_fee_fen)
                                     .where(Bed.id == app.bed_id))).first()
        if row is not None:
            bed_code, bed_fee = row
    return BedApplicationPublic(
        id=app.id, institution_id=app.institution_id, category=app.category, status=status,
        elder=ElderPublic(name=app.elder_name, id_number_masked=app.elder_id_masked,
                          phone_masked=app.elder_phone_masked,
                          phone=PHONE.reveal(app.elder_phone_encrypted)
                          if viewer.role == "institution" else None),
        priority_groups=app.priority_groups, declared_ability_level=app.declared_ability_level,
        max_monthly_fee_fen=app.max_monthly_fee_fen, ability_level=app.ability_level,
        verified_priority_groups=app.verified_priority_groups,
        priority_class=cls, waitlist_position=await pool.waitlist_position(session, app, cls),
        bed_id=app.bed_id, bed_code=bed_code, bed_monthly_fee_fen=bed_fee,
        offer_expires_at=app.offer_expires_at if status == S.offered else None,
        applied_at=app.applied_at, assessed_at=app.assessed_at, offered_at=app.offered_at,
        accepted_at=app.accepted_at, admitted_at=app.admitted_at, closed_at=app.closed_at,
        delegation_id=app.delegation_id)


NEWEST_FIRST = pages.Keyset(pages.Key(BedApplication.id, pages.IdOf("bap"), descending=True))


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
    phone = PHONE.protect(body.elder.phone, settings, field="elder.phone")
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
    await insert_if_absent(session, BedApplicant, {
        "elder_id_blind": protected.blind_index, "active_count": 0, "updated_at": now},
        conflict=["elder_id_blind"])
    taken = await session.execute(
        update(BedApplicant)
        .where(BedApplicant.elder_id_blind == protected.blind_index,
               BedApplicant.active_count < settings.beds_max_active_applications)
        .values(active_count=BedApplicant.active_count + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise TooManyActiveApplications(limit=settings.beds_max_active_applications)

    delegation_id = await scopes.acting_for(session, principal, lifecycle.APPLICATION,
                                            protected.blind_index)
    app = BedApplication(
        id=new_id("bap"), institution_id=body.institution_id, category=category,
        citizen_subject=principal.subject, delegation_id=delegation_id,
        elder_name=body.elder.name,
        elder_id_encrypted=protected.encrypted, elder_id_blind=protected.blind_index,
        elder_id_masked=protected.masked, elder_phone_encrypted=phone.encrypted,
        elder_phone_masked=phone.masked,
        priority_groups=[g.value for g in body.priority_groups],
        declared_ability_level=body.ability_level,
        max_monthly_fee_fen=body.max_monthly_fee_fen, status=S.submitted, applied_at=now,
        updated_at=now)
    session.add(app)
    # The unique partial index decides when two arrive at once.
    with unique_violation(DuplicateApplication(), constraint=constraint_of(
            BedApplication, "uq_bed_application_active_elder")):
        await session.flush()
    await audit.record(session, principal, "bed_application.create", "bed_application", app.id,
                       org_id=body.institution_id)
    return await to_public(session, app, principal)


async def get(session: AsyncSession, principal: Principal,
              application_id: str) -> BedApplicationPublic:
    app = await scopes.load(session, principal, lifecycle.APPLICATION, application_id)
    return await to_public(session, app, principal)


async def list_(session: AsyncSession, principal: Principal, *, status: str | None,
                limit: int, cursor: str | None) -> Page[BedApplicationPublic]:
    """The citizen's own applications, or the institution's, newest first."""
    stmt = scopes.select_visible(lifecycle.APPLICATION, principal)
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
    page = await NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, lifecycle.APPLICATION, principal.org_id)
    return Page(items=[await to_public(session, a, principal) for a in page.items],
                next_cursor=page.next_cursor)


async def _locked(session: AsyncSession, principal: Principal, application_id: str,
                  settings: Settings) -> BedApplication:
    """The application, visible to the caller, with its pool locked and settled."""
    app = await scopes.load(session, principal, lifecycle.APPLICATION, application_id,
                            audit_read=False)
    await pool.lock(session, app.institution_id, app.category)
    await pool.settle_and_match(session, app.institution_id, app.category, settings)
    return await pool.load_application(session, app.id) or app


async def assess(session: AsyncSession, principal: Principal, application_id: str,
                 body: AssessmentIn, settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    lifecycle.LIFE.check(app, "assess")
    institution = await organisations.get(session, app.institution_id)
    birth_date = identity.parse(identity.decrypt(app.elder_id_encrypted, settings)).birth_date
    groups = [g.value for g in body.verified_priority_groups]
    plan = priority.schedule(groups, body.ability_level, birth_date, clock.today(),
                             institution.division_code)
    await lifecycle.LIFE.move(session, principal, app, "assess", values={
        "ability_level": body.ability_level, "verified_priority_groups": groups,
        "priority_class": plan.base_class, "destitute": priority.is_destitute(groups)})
    await pool.store_priority_schedule(session, app.id, plan)
    await pool.match(session, app.institution_id, app.category, settings)
    return await to_public(session, await pool.load_application(session, app.id) or app,
                           principal)


async def accept(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    app = await lifecycle.LIFE.move(session, principal, app, "accept",
                                    where=[BedApplication.offer_expires_at > clock.now()])
    return await to_public(session, app, principal)


async def _close(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings, action: str) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)
    app = await pool.close_application(session, app, action, principal=principal)
    await pool.match(session, app.institution_id, app.category, settings)
    return await to_public(session, app, principal)


async def decline(session: AsyncSession, principal: Principal, application_id: str,
                  settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, "decline")


async def withdraw(session: AsyncSession, principal: Principal, application_id: str,
                   settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, "withdraw")


async def reject(session: AsyncSession, principal: Principal, application_id: str,
                 settings: Settings) -> BedApplicationPublic:
    return await _close(session, principal, application_id, settings, "reject")


async def admit(session: AsyncSession, principal: Principal, application_id: str,
                settings: Settings) -> BedApplicationPublic:
    app = await _locked(session, principal, application_id, settings)

    def holds_a_bed(app: BedApplication) -> None:
        if app.bed_id is None:  # every accepted application holds one; never admit without
            raise InvalidState(status=lifecycle.effective_status(app), action="admit")

    # An elder lives in one institution at a time (the open-stay index decides when
    # two institutions admit the same elder at once; this read names it first).
    await inventory.refuse_if_resident(session, app.elder_id_blind)
    app = await lifecycle.LIFE.move(session, principal, app, "admit", guard=holds_a_bed)
    assert app.bed_id is not None
    if not await pool.change_bed_status(session, app.bed_id, app.institution_id, app.category,
                                        BedStatus.held, BedStatus.occupied):
        raise InvalidState(status=app.status, action="admit")
    await pool.release_elder(session, app.elder_id_blind)
    bed = (await session.execute(select(Bed).where(Bed.id == app.bed_id))).scalar_one()
    occupant = identity.ProtectedId(encrypted=app.elder_id_encrypted,
                                    blind_index=app.elder_id_blind, masked=app.elder_id_masked)
    await inventory.start_occupancy(session, bed, name=app.elder_name, id_number=occupant,
                                    application_id=app.id)
    return await to_public(session, app, principal)


async def waitlist(session: AsyncSession, principal: Principal, institution_id: str, *,
                   category: BedCategory | None, limit: int,
                   cursor: str | None) -> Page[BedApplicationPublic]:
    """Waiting applications in priority order (class, then application time)."""
    await inventory.own_institution(session, principal, institution_id)
    stmt = select(BedApplication).where(BedApplication.institution_id == institution_id,
                                        BedApplication.status == S.waitlisted)
    if category is not None:
        stmt = stmt.where(BedApplication.category == category.value)
    # The priority class on today's date is part of the order (age moves it).
    cls, applied_at, app_id = pool.waitlist_order()
    order = pages.Keyset(pages.Key(BedApplication.category, pages.Text(20)),
                         pages.Key(cls, pages.Int(0, 99), attr="cls"),
                         pages.Key(applied_at, pages.AT), pages.Key(app_id, pages.IdOf("bap")))
    page = await order.page(
        session, stmt.add_columns(cls.label("cls")), limit=limit, cursor=cursor, scalars=False,
        values_of=lambda r: (r[0].category, r.cls, r[0].applied_at, r[0].id))
    await scopes.listed(session, principal, lifecycle.APPLICATION, institution_id,
                        read="waitlist_read")
    return Page(items=[await to_public(session, r[0], principal) for r in page.items],
                next_cursor=page.next_cursor)
