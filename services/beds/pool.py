"""A pool is one institution's beds of one category and that category's waiting
list. Everything that changes either goes through here, holding the pool's lock:

1. `lock` the pool row first (an UPDATE, so PostgreSQL takes a row lock). Rows are
   then touched in
   a fixed order: pool, beds, applications, the elder's counter.
2. `settle` expired offers: the stored `offer_expires_at` decides, so a late
   settlement changes nothing a reader saw (reads compute expiry themselves).
3. make the change, each bed status change through `change_bed_status`, which
   keeps the pool's vacancy count in the same transaction.
4. `match`: while a bed is free and an eligible application waits, offer it.

So a bed is never free while an eligible applicant waits, and never held twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock, utc
from core.errors import InvalidState
from core.principal import Principal
from core.settings import Settings
from core.writes import insert_if_absent
from schemas.beds import (
    ACTIVE_STATUSES,
    ApplicationStatus,
    Bed,
    BedApplicant,
    BedApplication,
    BedApplicationPriorityStep,
    BedPool,
    BedStatus,
)
from services import alarm
from services.beds import lifecycle, priority


async def ensure(session: AsyncSession, institution_id: str, category: str) -> None:
    await insert_if_absent(session, BedPool, {
        "institution_id": institution_id, "category": category, "total": 0, "vacant": 0,
        "lock_seq": 0}, conflict=["institution_id", "category"])


async def lock(session: AsyncSession, institution_id: str, category: str) -> None:
    await ensure(session, institution_id, category)
    await session.execute(
        update(BedPool)
        .where(BedPool.institution_id == institution_id, BedPool.category == category)
        .values(lock_seq=BedPool.lock_seq + 1)
        .execution_options(synchronize_session=False))


async def change_bed_status(session: AsyncSession, bed: Bed | str, institution_id: str,
                            category: str, frm: str, to: str, **values: object) -> bool:
    """Move a bed from `frm` to `to` (conditionally) and keep the vacancy count."""
    bed_id = bed if isinstance(bed, str) else bed.id
    result = await session.execute(
        update(Bed)
        .where(Bed.id == bed_id, Bed.status == frm)
        .values(status=to, version=Bed.version + 1, updated_at=clock.now(), **values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    delta = (to == BedStatus.available) - (frm == BedStatus.available)
    if delta:
        await adjust_pool(session, institution_id, category, vacant=delta)
    return True


async def adjust_pool(session: AsyncSession, institution_id: str, category: str, *,
                      vacant: int = 0, total: int = 0) -> None:
    await session.execute(
        update(BedPool)
        .where(BedPool.institution_id == institution_id, BedPool.category == category)
        .values(vacant=BedPool.vacant + vacant, total=BedPool.total + total)
        .execution_options(synchronize_session=False))


async def release_elder(session: AsyncSession, elder_id_blind: str) -> None:
    await session.execute(
        update(BedApplicant)
        .where(BedApplicant.elder_id_blind == elder_id_blind, BedApplicant.active_count > 0)
        .values(active_count=BedApplicant.active_count - 1, updated_at=clock.now())
        .execution_options(synchronize_session=False))


effective_status = lifecycle.effective_status


async def load_application(session: AsyncSession, application_id: str) -> BedApplication | None:
    return (await session.execute(
        select(BedApplication).where(BedApplication.id == application_id)
        .execution_options(populate_existing=True))).scalar_one_or_none()


async def close_application(session: AsyncSession, app: BedApplication, action: str, *,
                            principal: Principal | None) -> BedApplication:
    """End an active application (`decline`, `withdraw`, `reject`, `expire`); a bed it
    held goes back to the pool (the caller holds the pool lock and calls `match`
    afterwards)."""
    app = await load_application(session, app.id) or app
    was, bed_id = app.status, app.bed_id
    closed = await lifecycle.LIFE.move(session, principal, app, action)
    if was in (ApplicationStatus.offered, ApplicationStatus.accepted) and bed_id:
        await change_bed_status(session, bed_id, app.institution_id, app.category,
                                BedStatus.held, BedStatus.available)
    if was in ACTIVE_STATUSES:
        await release_elder(session, app.elder_id_blind)
    return closed


async def settle(session: AsyncSession, institution_id: str, category: str) -> int:
    """Expire the pool's offers whose time has passed; their beds go back."""
    expired = list((await session.execute(
        select(BedApplication)
        .where(BedApplication.institution_id == institution_id,
               BedApplication.category == category,
               BedApplication.status == ApplicationStatus.offered,
               BedApplication.offer_expires_at <= clock.now())
        # Elder rows are the only ones shared between pools: lock them in one order.
        .order_by(BedApplication.elder_id_blind, BedApplication.id))).scalars())
    for app in expired:
        await close_application(session, app, "expire", principal=None)
    return len(expired)


async def match(session: AsyncSession, institution_id: str, category: str,
                settings: Settings) -> list[str]:
    """Offer every free bed to the first eligible waiting application; reserved
    beds first, and only to destitute elders; no bed above an application's
    `max_monthly_fee_fen` (that application waits for one it can pay, and the bed
    goes to the next). Returns the applications offered."""
    free = list((await session.execute(
        select(Bed.id, Bed.reserved_for_destitute, Bed.monthly_fee_fen)
        .where(Bed.institution_id == institution_id, Bed.category == category,
               Bed.status == BedStatus.available)
        .order_by(Bed.reserved_for_destitute.desc(), Bed.id))).all())
    if not free:
        return []
    waiting_q = (
        select(BedApplication)
        .where(BedApplication.institution_id == institution_id,
               BedApplication.category == category,
               BedApplication.status == ApplicationStatus.waitlisted)
        .order_by(*waitlist_order()))
    taken: set[str] = set()
    offered: list[str] = []
    expires = clock.now() + timedelta(hours=settings.beds_offer_hold_hours)
    for bed_id, is_reserved, fee in free:
        # The first in order whom this bed suits: a reserved bed only for the
        # destitute, and never above what the family said it can pay a month.
        stmt = waiting_q.where(or_(BedApplication.max_monthly_fee_fen.is_(None),
                                   BedApplication.max_monthly_fee_fen >= fee))
        if is_reserved:
            stmt = stmt.where(BedApplication.destitute.is_(True))
        if taken:
            stmt = stmt.where(BedApplication.id.not_in(taken))
        app = (await session.execute(stmt.limit(1))).scalars().first()
        if app is None:
            continue
        taken.add(app.id)
        await lifecycle.LIFE.move(session, None, app, "offer",
                                  values={"bed_id": bed_id, "offer_expires_at": expires})
        held = await change_bed_status(session, bed_id, institution_id, category,
                                       BedStatus.available, BedStatus.held)
        if not held:  # cannot happen under the pool lock; never leave an offer bedless
            raise InvalidState(status="held", action="offer")
        offered.append(app.id)
    if offered:
        alarm.offers.note(expires)  # the sweep wakes then to pass the bed on if unanswered
    return offered


def waitlist_order() -> tuple:
    """Class on today's date (age moves it), then application time."""
    return (priority.effective_class_sql(clock.today()), BedApplication.applied_at,
            BedApplication.id)


async def store_priority_schedule(session: AsyncSession, application_id: str,
                                  plan: priority.PrioritySchedule) -> None:
    """The assessment's later classes by date; a reassessment replaces them."""
    await session.execute(
        delete(BedApplicationPriorityStep)
        .where(BedApplicationPriorityStep.application_id == application_id)
        .execution_options(synchronize_session=False))
    if plan.steps:
        await session.execute(insert(BedApplicationPriorityStep), [
            {"application_id": application_id, "from_date": day, "priority_class": cls}
            for day, cls in plan.steps])


async def effective_class(session: AsyncSession, app: BedApplication) -> int | None:
    """The application's priority class today (None before the assessment)."""
    if app.priority_class is None:
        return None
    return (await session.execute(
        select(priority.effective_class_sql(clock.today()))
        .where(BedApplication.id == app.id))).scalar_one_or_none()


async def waitlist_position(session: AsyncSession, app: BedApplication,
                            effective: int | None = None) -> int | None:
    """1-based, by the class on today's date (`effective`, when the caller has it)."""
    if app.status != ApplicationStatus.waitlisted or app.priority_class is None:
        return None
    cls = priority.effective_class_sql(clock.today())
    c = effective if effective is not None else await effective_class(session, app)
    t = app.applied_at
    ahead = (await session.execute(
        select(func.count()).select_from(BedApplication)
        .where(BedApplication.institution_id == app.institution_id,
               BedApplication.category == app.category,
               BedApplication.status == ApplicationStatus.waitlisted,
               (cls < c)
               | ((cls == c)
                  & ((BedApplication.applied_at < t)
                     | ((BedApplication.applied_at == t) & (BedApplication.id < app.id))))))
    ).scalar_one()
    return ahead + 1


async def pools_with_expired_offers(session: AsyncSession, *, elder_id_blind: str | None = None,
                                    institution_id: str | None = None) -> list[tuple[str, str]]:
    stmt = (select(BedApplication.institution_id, BedApplication.category)
            .where(BedApplication.status == ApplicationStatus.offered,
                   BedApplication.offer_expires_at <= clock.now()).distinct())
    if elder_id_blind is not None:
        stmt = stmt.where(BedApplication.elder_id_blind == elder_id_blind)
    if institution_id is not None:
        stmt = stmt.where(BedApplication.institution_id == institution_id)
    return sorted((r[0], r[1]) for r in await session.execute(stmt))


async def settle_and_match(session: AsyncSession, institution_id: str, category: str,
                           settings: Settings) -> None:
    """For a pool already locked: settle expired offers, then match."""
    await settle(session, institution_id, category)
    await match(session, institution_id, category, settings)


async def next_offer_expiry(session: AsyncSession) -> datetime | None:
    """When the earliest offer still open expires (None: no open offer)."""
    at = (await session.execute(
        select(func.min(BedApplication.offer_expires_at))
        .where(BedApplication.status == ApplicationStatus.offered,
               BedApplication.offer_expires_at > clock.now()))).scalar_one_or_none()
    return utc(at) if at is not None else None


async def sweep(session: AsyncSession, settings: Settings) -> int:
    """Tidy-up for a periodic job: settle every pool with expired offers and pass
    their beds on. Correctness never depends on it running."""
    pools = await pools_with_expired_offers(session)
    for institution_id, category in pools:
        await lock(session, institution_id, category)
        await settle_and_match(session, institution_id, category, settings)
    return len(pools)
