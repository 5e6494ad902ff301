"""Divorce cases (Civil Code art. 1077).

A completed `divorce` appointment is the office receiving the application. For
`marriage_cooling_off_days` (30) either party may withdraw it; in the following
`marriage_confirmation_days` (30) both return (`divorce_confirmation`, bookable only
for sessions in that window); otherwise it lapses. The status is never stored: it
is computed from the stored dates and the clock whenever it is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, or_, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import InvalidParties, InvalidState, NotFound, OutsideConfirmationWindow
from core.ids import new_id
from core.principal import Principal
from core.settings import Settings
from schemas.common import Page
from schemas.marriage import (
    DivorceCasePublic,
    DivorceCaseStatus,
    MarriageAppointment,
    MarriageDivorceCase,
    MarriageParty,
    PartyPublic,
)
from services import audit, scopes, transitions
from services.marriage import cancellation


@dataclass(frozen=True, slots=True)
class CaseDates:
    received: dt.date
    cooling_off_ends: dt.date  # last day a party may withdraw
    confirmation_first: dt.date  # first session date for the confirmation
    confirmation_deadline: dt.date  # last session date for the confirmation


def dates_of(case: MarriageDivorceCase, settings: Settings) -> CaseDates:
    cooling = case.received_date + dt.timedelta(days=settings.marriage_cooling_off_days)
    return CaseDates(
        received=case.received_date, cooling_off_ends=cooling,
        confirmation_first=cooling + dt.timedelta(days=1),
        confirmation_deadline=cooling + dt.timedelta(days=settings.marriage_confirmation_days))


def status_of(case: MarriageDivorceCase, settings: Settings,
              today: dt.date | None = None) -> DivorceCaseStatus:
    today = today or clock.today()
    if case.registered_at is not None:
        return DivorceCaseStatus.registered
    if case.withdrawn_at is not None:
        return DivorceCaseStatus.withdrawn
    d = dates_of(case, settings)
    if today <= d.cooling_off_ends:
        return DivorceCaseStatus.cooling_off
    if today <= d.confirmation_deadline:
        return DivorceCaseStatus.awaiting_confirmation
    return DivorceCaseStatus.lapsed


def to_public(case: MarriageDivorceCase, settings: Settings) -> DivorceCasePublic:
    d = dates_of(case, settings)
    return DivorceCasePublic(
        id=case.id, status=status_of(case, settings), office_id=case.office_id,
        received_date=d.received, cooling_off_ends=d.cooling_off_ends,
        confirmation_deadline=d.confirmation_deadline,
        parties=[PartyPublic.model_validate(p) for p in case.parties],
        divorce_appointment_id=case.divorce_appointment_id,
        confirmation_appointment_id=case.confirmation_appointment_id,
        withdrawn_at=case.withdrawn_at, registered_at=case.registered_at)


async def open_case(session: AsyncSession, principal: Principal, appointment: MarriageAppointment,
                    parties: list[MarriageParty]) -> MarriageDivorceCase:
    a, b = sorted(parties, key=lambda p: p.position)
    case = MarriageDivorceCase(
        id=new_id("mdc"), office_id=appointment.office_id,
        divorce_appointment_id=appointment.id, owner_subject=appointment.owner_subject,
        party_a_blind_index=a.id_blind_index, party_b_blind_index=b.id_blind_index,
        parties=[{"name": p.name, "id_number_masked": p.id_number_masked} for p in (a, b)],
        received_date=clock.today(), created_at=clock.now())
    session.add(case)
    await session.flush()
    await audit.record(session, principal, "marriage_divorce_case.open",
                       "marriage_divorce_case", case.id, org_id=appointment.office_id)
    return case


def _is_party(blind: str) -> Any:
    return or_(MarriageDivorceCase.party_a_blind_index == blind,
               MarriageDivorceCase.party_b_blind_index == blind)


def _confirming_office(p: Principal) -> Any:
    """An office that holds the case's confirmation appointment sees the case too."""
    return exists().where(MarriageAppointment.divorce_case_id == MarriageDivorceCase.id,
                          MarriageAppointment.office_id == p.org_id)


# Citizens: the cases they applied for (or, bound by real-name identity, are a
# party to); offices: the cases they received or hold a confirmation for.
CASE = scopes.Resource(
    model=MarriageDivorceCase, noun="divorce case", audit_type="marriage_divorce_case",
    rules={"citizen": scopes.own_or_party(MarriageDivorceCase.owner_subject, _is_party),
           "office": scopes.any_of(scopes.of_org(MarriageDivorceCase.office_id),
                                   _confirming_office)},
    org_attr="office_id")

_OPEN = (MarriageDivorceCase.withdrawn_at.is_(None), MarriageDivorceCase.registered_at.is_(None))


def _life(settings: Settings) -> transitions.Machine:
    """The case's status is computed from its dates and the clock, never stored."""
    return transitions.Machine(
        CASE, {"withdraw": transitions.Transition(frm={DivorceCaseStatus.cooling_off}, to=None,
                                                  stamp="withdrawn_at")},
        status_column=None, status_of=lambda case: status_of(case, settings))


async def get(session: AsyncSession, principal: Principal, settings: Settings,
              case_id: str) -> MarriageDivorceCase:
    return await scopes.load(session, principal, CASE, case_id)


NEWEST_FIRST = pages.Keyset(pages.Key(MarriageDivorceCase.id, pages.IdOf("mdc"),
                                      descending=True))


async def list_for(session: AsyncSession, principal: Principal, *, limit: int,
                   cursor: str | None) -> Page[MarriageDivorceCase]:
    """The cases the caller may see (a citizen's own, or those of the person the
    account is bound to; an office's), newest first."""
    page = await NEWEST_FIRST.page(session, scopes.select_visible(CASE, principal),
                                   limit=limit, cursor=cursor)
    await scopes.listed(session, principal, CASE)
    return page


async def withdraw(session: AsyncSession, principal: Principal, settings: Settings,
                   case_id: str) -> MarriageDivorceCase:
    case = await _life(settings).apply(session, principal, case_id, "withdraw", where=_OPEN)
    await cancellation.cancel_for_case(session, principal, case.id)
    return case


async def case_for_confirmation(session: AsyncSession, principal: Principal, settings: Settings,
                                case_id: str, blind: list[str],
                                day: dt.date) -> MarriageDivorceCase:
    """The case a `divorce_confirmation` booking confirms, checked: the same two
    people, still open, and the session inside the confirmation window."""
    case = await session.get(MarriageDivorceCase, case_id)
    same_people = case is not None and sorted(blind) == sorted(
        [case.party_a_blind_index, case.party_b_blind_index])
    if case is None or (case.owner_subject != principal.subject and not same_people):
        raise NotFound(what="divorce case")
    if not same_people:
        raise InvalidParties(reason_zh="确认登记的当事人须与离婚申请的双方一致。",
                             reason_en="The parties must be the two who applied for the divorce.")
    status = status_of(case, settings)
    if status not in (DivorceCaseStatus.cooling_off, DivorceCaseStatus.awaiting_confirmation):
        raise InvalidState(status=status, action="confirm")
    d = dates_of(case, settings)
    if not d.confirmation_first <= day <= d.confirmation_deadline:
        raise OutsideConfirmationWindow(first=d.confirmation_first.isoformat(),
                                        last=d.confirmation_deadline.isoformat())
    return case


async def register(session: AsyncSession, principal: Principal, case_id: str,
                   appointment_id: str) -> None:
    await session.execute(
        update(MarriageDivorceCase)
        .where(MarriageDivorceCase.id == case_id, MarriageDivorceCase.withdrawn_at.is_(None),
               MarriageDivorceCase.registered_at.is_(None))
        .values(registered_at=clock.now(), confirmation_appointment_id=appointment_id))
    await audit.record(session, principal, "marriage_divorce_case.register",
                       "marriage_divorce_case", case_id)



