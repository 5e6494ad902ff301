"""Appeals (复核, DOMAIN.md section 5, API.md "Appeals"): a citizen refused a
service asks for the refusal to be looked at again by someone who did not make it.

**Who files**: whoever may see the refused record as a citizen: each domain loads it
through its own `scopes.Resource` (`services.beds.appeals`,
`services.burial.appeals`, `services.home_care.appeals`), so the citizen rules there
(the owner, the person it names, a delegate in its scope) decide; anyone else gets
404. This module never reads another domain's tables: a domain tells it a
`services.refusals.Refusal` and carries out an overturn.

**Rules at filing**: the record must be refused (else 422 `not_appealable`); the
appeal is filed within 60 days of the refusal, counted in China dates from the day
after the refusal, the 60th day included (refused on 2026-12-01: the last day is
2027-01-30; else 422 `appeal_deadline_passed`); one `submitted` appeal per record
(the unique partial index `uq_appeal_open_subject`, so two at once give one 201
and one 409 `duplicate_appeal`). `decide_by` is the 20th working day after the day
of filing on the official calendar (`calendar.working_days_after`: weekends and
statutory holidays do not count, the 调休 Saturdays and Sundays do).

**Who sees and decides**: the appellant sees their own appeals; reviewers and
approvers of a bureau in charge (whose division contains the appeal's
`division_code`) see them; only such an approver decides, and not one who took part
in the refusal (403 `separation_of_duties`, compared by normalised staff identity).
Deciding and withdrawing are transitions (`services.transitions`): of two at once,
one wins and the other is 409 `invalid_state`; an overturn's effect on the record
runs in the winner's transaction only.

**Overdue**: an appeal still `submitted` after the end of its `decide_by` day (China
time) reads `overdue: true`, computed from the stored date; the worker's job writes
`appeal.overdue` once, guarded by a conditional stamp (`overdue_notified_at IS
NULL`), however many workers run it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import CHINA_TZ, clock, utc
from core.context import delegation_var
from core.errors import AppealDeadlinePassed, DuplicateAppeal, SeparationOfDuties
from core.ids import new_id
from core.principal import Principal
from core.settings import Settings
from core.writes import constraint_of, unique_violation
from schemas.appeals import (
    Appeal,
    AppealCreate,
    AppealDecideIn,
    AppealDeciderPublic,
    AppealDecision,
    AppealPublic,
    AppealStatus,
    AppealSubjectPublic,
    AppealSubjectType,
)
from schemas.common import Page
from services import audit, outbox, scopes, transitions
from services.beds import appeals as beds
from services.burial import appeals as burial
from services.home_care import appeals as home_care
from services.marriage import calendar, official_calendar
from services.refusals import Refusal

S = AppealStatus
T = transitions.Transition

WINDOW_DAYS = 60  # Administrative Reconsideration Law: 60 days to apply
DECIDE_WITHIN_WORKING_DAYS = 20
OPEN_SUBJECT = "uq_appeal_open_subject"
BATCH = 500


class Domain(Protocol):
    async def appealable(self, session: AsyncSession, principal: Principal,
                         subject_id: str) -> Refusal: ...

    async def overturn(self, session: AsyncSession, principal: Principal, subject_id: str,
                       settings: Settings, *, refusers: tuple[str, ...] = (),
                       note: str | None = None) -> None: ...


DOMAINS: dict[str, Domain] = {
    AppealSubjectType.bed_application: beds,
    AppealSubjectType.burial_claim: burial,
    AppealSubjectType.home_care_visit: home_care,
}

APPEAL = scopes.Resource(
    model=Appeal, noun="appeal", audit_type="appeal",
    rules={"citizen": scopes.own(Appeal.appellant_subject),
           "reviewer": scopes.within_division(Appeal.division_code),
           "approver": scopes.within_division(Appeal.division_code)})

LIFE = transitions.Machine(APPEAL, {
    "uphold": T(frm={S.submitted}, to=S.upheld, stamp="decided_at"),
    "overturn": T(frm={S.submitted}, to=S.overturned, stamp="decided_at"),
    "withdraw": T(frm={S.submitted}, to=S.withdrawn, stamp="withdrawn_at"),
}, touched="updated_at")


def _data(a: Appeal) -> dict[str, Any]:
    return {"appeal_id": a.id, "status": a.status,
            "subject": {"type": a.subject_type, "id": a.subject_id},
            "division_code": a.division_code, "decide_by": a.decide_by_date.isoformat(),
            "decision": a.decision}


EVENTS = outbox.Events("appeal", object_type="appeal", data=_data,
                       subject=lambda a: a.appellant_subject,
                       division=lambda a: a.division_code)
LIFE.emits(EVENTS, {"uphold": "decided", "overturn": "decided"})


def is_overdue(a: Appeal, today: dt.date | None = None) -> bool:
    """Still `submitted` after the end of its `decide_by` day, China time."""
    return a.status == S.submitted and a.decide_by_date < (today or clock.today())


def to_public(a: Appeal) -> AppealPublic:
    decider = (AppealDeciderPublic(org_id=a.decided_org_id, staff_name=a.decided_by_name)
               if a.decided_org_id and a.decided_by_name else None)
    return AppealPublic(
        id=a.id, status=a.status,
        subject=AppealSubjectPublic(type=a.subject_type, id=a.subject_id), reason=a.reason,
        filed_at=a.filed_at, decide_by=a.decide_by_date, overdue=is_overdue(a),
        division_code=a.division_code, refused_at=a.refused_at,
        delegation_id=a.delegation_id, decision=a.decision, note=a.note,
        decided_at=a.decided_at, decided_by=decider, withdrawn_at=a.withdrawn_at)


def last_filing_day(refused_at: dt.datetime) -> dt.date:
    """The 60th day after the day of the refusal (China dates), the last day to file."""
    return refused_at.astimezone(CHINA_TZ).date() + dt.timedelta(days=WINDOW_DAYS)


async def decide_by(session: AsyncSession, filed_on: dt.date) -> dt.date:
    await official_calendar.refresh(session)  # the admin's loaded notices win
    return calendar.working_days_after(filed_on, DECIDE_WITHIN_WORKING_DAYS)


async def file(session: AsyncSession, principal: Principal, body: AppealCreate) -> AppealPublic:
    kind = body.subject.type
    refusal: Refusal = await DOMAINS[kind].appealable(session, principal, body.subject.id)
    today = clock.today()
    last = last_filing_day(refusal.refused_at)
    if today > last:
        raise AppealDeadlinePassed(days=WINDOW_DAYS, deadline=last.isoformat())
    now = clock.now()
    appeal = Appeal(
        id=new_id("apl"), subject_type=kind.value, subject_id=body.subject.id,
        appellant_subject=principal.subject, reason=body.reason, status=S.submitted,
        filed_at=now, decide_by_date=await decide_by(session, today),
        division_code=refusal.division_code, refused_at=refusal.refused_at,
        refusers=sorted(set(refusal.refusers)), updated_at=now,
        # A delegate filing for its principal: the delegation its load went through.
        delegation_id=delegation_var.get())
    session.add(appeal)
    # The unique partial index decides when two appeals of one record arrive at once.
    with unique_violation(DuplicateAppeal(), constraint=constraint_of(Appeal, OPEN_SUBJECT)):
        await session.flush()
    await audit.record(session, principal, "appeal.create", "appeal", appeal.id)
    await EVENTS.emit(session, "submitted", appeal)
    return to_public(appeal)


async def get(session: AsyncSession, principal: Principal, appeal_id: str) -> AppealPublic:
    return to_public(await scopes.load(session, principal, APPEAL, appeal_id))


NEWEST_FIRST = pages.Keyset(pages.Key(Appeal.id, pages.IdOf("apl"), descending=True))


async def list_(session: AsyncSession, principal: Principal, *, status: str | None,
                overdue: bool | None, limit: int, cursor: str | None) -> Page[AppealPublic]:
    """The appellant's own appeals, or those a bureau is in charge of; newest first."""
    stmt = scopes.select_visible(APPEAL, principal)
    if status is not None:
        stmt = stmt.where(Appeal.status == status)
    today = clock.today()
    if overdue is True:
        stmt = stmt.where(Appeal.status == S.submitted, Appeal.decide_by_date < today)
    elif overdue is False:
        stmt = stmt.where((Appeal.status != S.submitted) | (Appeal.decide_by_date >= today))
    page = await NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, APPEAL)
    return page.map(to_public)


async def decide(session: AsyncSession, principal: Principal, appeal_id: str,
                 body: AppealDecideIn, settings: Settings) -> AppealPublic:
    appeal = await scopes.load(session, principal, APPEAL, appeal_id, audit_read=False)

    def took_no_part(a: Appeal) -> None:
        if principal.staff_identity in (a.refusers or ()):
            raise SeparationOfDuties()

    action = "overturn" if body.decision == AppealDecision.overturned else "uphold"
    fresh = await LIFE.move(session, principal, appeal, action, guard=took_no_part, values={
        "decision": body.decision.value, "note": body.note,
        "decided_by": principal.staff_identity, "decided_by_name": principal.staff_name,
        "decided_org_id": principal.org_id})
    if action == "overturn":  # only the winner of the move gets here
        await DOMAINS[fresh.subject_type].overturn(
            session, principal, fresh.subject_id, settings,
            refusers=tuple(fresh.refusers or ()), note=body.note)
    return to_public(fresh)


async def withdraw(session: AsyncSession, principal: Principal, appeal_id: str) -> AppealPublic:
    return to_public(await LIFE.apply(session, principal, appeal_id, "withdraw"))


# --- the worker's timed job ----------------------------------------------------------


async def recount_deadlines(session: AsyncSession) -> int:
    """Count the `decide_by` of every open appeal again on the calendar as it now
    stands. A year nobody had published when an appeal was filed is counted on an
    estimate (services.marriage.calendar: statutory holidays by rule, no 调休 days);
    when the admin loads that year's notice, the deadlines it moves are moved here,
    before anything is judged overdue. An appeal already reported overdue keeps its
    date (its event was written once). Returns how many moved."""
    await official_calendar.refresh(session)
    rows = (await session.execute(
        select(Appeal.id, Appeal.filed_at, Appeal.decide_by_date)
        .where(Appeal.status == S.submitted, Appeal.overdue_notified_at.is_(None))
    )).all()
    moved = 0
    for appeal_id, filed_at, stored in rows:
        due = calendar.working_days_after(utc(filed_at).astimezone(CHINA_TZ).date(),
                                          DECIDE_WITHIN_WORKING_DAYS)
        if due == stored:
            continue
        result = await session.execute(
            update(Appeal)
            .where(Appeal.id == appeal_id, Appeal.status == S.submitted,
                   Appeal.overdue_notified_at.is_(None), Appeal.decide_by_date == stored)
            .values(decide_by_date=due)
            .execution_options(synchronize_session=False))
        moved += result.rowcount
    return moved


async def scheduled(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    """`appeal.overdue` for each appeal undecided after its `decide_by` day, once: the
    stamp is conditional (`overdue_notified_at IS NULL`), so of two runs at once only
    one stamps an appeal and writes its event. Deadlines a newly loaded notice moves
    are counted again first (`recount_deadlines`)."""
    await recount_deadlines(session)
    today = now.astimezone(CHINA_TZ).date()
    due = (await session.execute(
        select(Appeal).where(Appeal.status == S.submitted, Appeal.decide_by_date < today,
                             Appeal.overdue_notified_at.is_(None))
        .order_by(Appeal.id).limit(BATCH))).scalars().all()
    written = 0
    for a in due:
        stamped = await session.execute(
            update(Appeal)
            .where(Appeal.id == a.id, Appeal.status == S.submitted,
                   Appeal.overdue_notified_at.is_(None))
            .values(overdue_notified_at=now)
            .execution_options(synchronize_session=False))
        if stamped.rowcount == 1:
            await EVENTS.emit(session, "overdue", a)
            written += 1
    return written
