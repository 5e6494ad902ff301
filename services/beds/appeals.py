"""What an appeal (复核, services.appeals) needs of a bed application.

- `appealable`: the application as the citizen sees it (`lifecycle.APPLICATION`'s
  citizen rule decides who may appeal; others get 404), refused only when
  `rejected` (by the institution: no other role rejects), with its `closed_at`
  and the institution's division (the bureaus in charge). Refusers: none are
  named, since the institution's staff are never a bureau's staff (a staff
  identity is organisation and name).
- `overturn`: the application returns to `waitlisted` with its original
  `applied_at`, so the waiting-list order (`pool.waitlist_order`: class, then
  `applied_at`) puts it where it would have been had it never been refused;
  `closed_at` is cleared. One rejected before its assessment has no class yet: it
  returns to `submitted`, for the institution to assess. The elder's active
  counter (`bed_applicant`) is raised again, unconditionally: the bureau's decision
  restores a right, so the limit of active applications does not refuse it (the
  elder then applies for no more until below the limit). If the elder applied
  again to the same institution and category meanwhile and that newer application
  still waits (`submitted`, `waitlisted`), it is closed (`appeal_supersede`,
  `withdrawn`): the restored one holds the earlier place, and only one may be
  active (`uq_bed_application_active_elder`). Then free beds are matched as usual.
  If instead the newer one already holds a bed there (`offered`, `accepted`) or
  the elder lives in one through it (`admitted`, the stay open), the place the
  appeal restores is one the elder already has: the newer application keeps its
  bed (never taken from an elder by a decision in their favour, nor handed to an
  application whose fee limit it may exceed), and the refused one is closed at
  once as superseded (`appeal_moot`, `withdrawn`), so the refusal no longer
  stands on the record.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.errors import NotAppealable
from core.principal import Principal
from core.settings import Settings
from core.writes import insert_if_absent
from schemas.beds import (
    ACTIVE_STATUSES,
    ApplicationStatus,
    BedApplicant,
    BedApplication,
    BedOccupancy,
)
from services import organisations, scopes
from services.beds import lifecycle, pool
from services.refusals import Refusal

S = ApplicationStatus
BED_HOLDING = (S.offered, S.accepted)


async def appealable(session: AsyncSession, principal: Principal,
                     application_id: str) -> Refusal:
    app = await scopes.load(session, principal, lifecycle.APPLICATION, application_id,
                            audit_read=False)
    if app.status != S.rejected or app.closed_at is None:
        raise NotAppealable()
    institution = await organisations.get(session, app.institution_id)
    return Refusal(refused_at=app.closed_at, division_code=institution.division_code)


async def overturn(session: AsyncSession, principal: Principal, application_id: str,
                   settings: Settings, *, refusers: tuple[str, ...] = (),
                   note: str | None = None) -> None:
    app = await pool.load_application(session, application_id)
    if app is None:  # pragma: no cover - an appeal names an existing application
        raise NotAppealable()
    await pool.lock(session, app.institution_id, app.category)
    await pool.settle(session, app.institution_id, app.category)
    newer = (await session.execute(
        select(BedApplication).where(
            BedApplication.elder_id_blind == app.elder_id_blind,
            BedApplication.institution_id == app.institution_id,
            BedApplication.category == app.category,
            BedApplication.status.in_(ACTIVE_STATUSES)))).scalars().first()
    if newer is not None and newer.status in BED_HOLDING or await _lives_there(session, app):
        await lifecycle.LIFE.move(session, principal, app, "appeal_moot")
        return
    if newer is not None:
        await pool.close_application(session, newer, "appeal_supersede", principal=principal)
    now = clock.now()
    await insert_if_absent(session, BedApplicant, {
        "elder_id_blind": app.elder_id_blind, "active_count": 0, "updated_at": now},
        conflict=["elder_id_blind"])
    await session.execute(
        update(BedApplicant).where(BedApplicant.elder_id_blind == app.elder_id_blind)
        .values(active_count=BedApplicant.active_count + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    action = "appeal_overturn" if app.priority_class is not None else "appeal_reopen"
    # applied_at is left as it was: the original place in the order.
    await lifecycle.LIFE.move(session, principal, app, action,
                              values={"closed_at": None, "bed_id": None,
                                      "offer_expires_at": None})
    await pool.match(session, app.institution_id, app.category, settings)


async def _lives_there(session: AsyncSession, app: BedApplication) -> bool:
    """The elder was admitted to this institution and category by a later
    application of theirs and has not left."""
    return (await session.execute(
        select(BedOccupancy.id)
        .join(BedApplication, BedApplication.id == BedOccupancy.application_id)
        .where(BedOccupancy.resident_id_blind == app.elder_id_blind,
               BedOccupancy.ended_at.is_(None),
               BedApplication.institution_id == app.institution_id,
               BedApplication.category == app.category).limit(1))).first() is not None
