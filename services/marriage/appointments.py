"""Booking and the life of an appointment: booked -> checked_in -> completed,
or cancelled / no_show.

One active appointment per person is the primary key of `marriage_party_hold`
(the blind index of the identity number): a row exists while the person's
appointment is `booked` and is deleted when it leaves that state. Seats are taken
with the conditional UPDATE of `services.capacity`. Neither rule reads first.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

import segno
from icalendar import Calendar, Event
from sqlalchemy import (
    exists,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import CHINA_TZ, clock, utc
from core.db import sqlstate
from core.errors import (
    CancelDeadlinePassed,
    CheckInNotToday,
    DateInLottery,
    DomainError,
    InvalidCheckInCode,
    NotFound,
    OfficeCancelReasonRequired,
    SessionEnded,
    SessionNotEnded,
    SlotFull,
    ValidationFailed,
)
from core.ids import new_id
from core.prepared import Sql
from core.principal import Principal
from core.protected import PHONE
from core.settings import Settings
from schemas.common import Page
from schemas.marriage import (
    QR_PREFIX,
    AppointmentCancel,
    AppointmentKind,
    AppointmentLookup,
    AppointmentOffice,
    AppointmentPublic,
    AppointmentRequest,
    AppointmentSlot,
    AppointmentStatus,
    CancelledBy,
    CancelReason,
    CitizenAppointmentPublic,
    MarriageAppointment,
    MarriageParty,
    MarriageSchedule,
    PartyPublic,
)
from schemas.organisation import Organisation, OrgKind
from services import (
    audit,
    capacity,
    citizens,
    commands,
    idempotency,
    identity,
    organisations,
    outbox,
    scopes,
    transitions,
)
from services.marriage import (
    calendar,
    cancellation,
    divorce,
    events,
    office_days,
    official_calendar,
    rules,
)
from services.marriage.calendar import Session, bookable_now, outside_window

KIND_LABELS = {
    AppointmentKind.marriage: ("结婚登记", "Marriage registration"),
    AppointmentKind.divorce: ("离婚登记申请", "Divorce application"),
    AppointmentKind.divorce_confirmation: ("离婚登记确认", "Divorce confirmation"),
    AppointmentKind.reissue: ("补领婚姻登记证", "Certificate reissue"),
}


@dataclass(frozen=True, slots=True)
class OfficeTerms:
    """What an appointment shows of its office: where it is, and how long before a
    session the couple may still cancel (the schedule's `cancel_deadline_hours`,
    the same number `cancel` enforces)."""

    office: AppointmentOffice
    cancel_deadline_hours: int


@dataclass
class AppointmentView:
    appointment: MarriageAppointment
    parties: list[MarriageParty]
    terms: OfficeTerms


def cancel_deadline(starts_at: dt.datetime, hours: int) -> dt.datetime:
    """Until when the couple may cancel a session starting at `starts_at`."""
    return utc(starts_at) - dt.timedelta(hours=hours)


def party_public(p: MarriageParty, *, full_phone: bool) -> PartyPublic:
    """A party as shown: the phone masked, and in full only to the office
    (`full_phone`), which must be able to call the couple."""
    phone = (PHONE.reveal(p.phone_encrypted) if full_phone and p.phone_encrypted else None)
    return PartyPublic(name=p.name, id_number_masked=p.id_number_masked,
                       phone_masked=p.phone_masked, phone=phone)


def _hhmm(at: dt.datetime) -> str:
    """`09:00`: the hour of `at` on the office's wall clock (China time)."""
    return utc(at).astimezone(CHINA_TZ).strftime("%H:%M")


def to_public(view: AppointmentView, *, show_code: bool) -> AppointmentPublic:
    """The citizen's view (with the check-in code, phones masked) when `show_code`,
    else the office's (phones in full)."""
    a = view.appointment
    parsed = calendar.parse_slot_id(a.slot_id)
    start = parsed[2] if parsed else _hhmm(a.starts_at)
    model = CitizenAppointmentPublic if show_code else AppointmentPublic
    code = {"check_in_code": a.check_in_code} if show_code else {}
    return model(
        id=a.id, status=a.status, kind=a.kind, office_id=a.office_id,
        slot=AppointmentSlot(slot_id=a.slot_id, office_id=a.office_id, date=a.session_date,
                             start=start, end=_hhmm(a.ends_at)),
        office=view.terms.office, starts_at=a.starts_at, ends_at=a.ends_at,
        cancel_deadline_at=cancel_deadline(a.starts_at, view.terms.cancel_deadline_hours),
        parties=[party_public(p, full_phone=not show_code)
                 for p in sorted(view.parties, key=lambda p: p.position)],
        **code,
        divorce_case_id=a.divorce_case_id, cancelled_by=a.cancelled_by,
        cancel_reason=a.cancel_reason,
        created_at=a.created_at, cancelled_at=a.cancelled_at, checked_in_at=a.checked_in_at,
        completed_at=a.completed_at, no_show_at=a.no_show_at,
    )


# --- booking ---------------------------------------------------------------------


# Booking's statements are plain SQL prepared once per connection (core.prepared):
# SQLAlchemy's per-statement cost was most of a booking's CPU.

class _SlotRead(NamedTuple):
    sessions: list[dict[str, Any]]
    booking_opens_days_ahead: int
    min_notice_hours: int
    closed: bool
    special: list[dict[str, Any]] | None
    cancel_deadline_hours: int
    lottery_id: str | None
    version: int
    special_text: str | None  # as stored: `marriage_book` compares it
    office: AppointmentOffice
    full: bool  # the session's seats were all taken when read
    org_version: int  # the office's organisation row: `marriage_book` compares it


# One round trip for what booking reads before it writes: the schedule's booking
# settings and version, whether the office closed the day, its special sessions
# that day, the lottery that holds the day (until its draw the day is not bookable
# first-come), the office's contact (shown on the appointment) and whether the
# session's seats are all taken (a full session is refused without a write). $1
# office, $2 day, $3 the slot. The same for every couple, so each process keeps it
# a while (`office_days`). Nothing is locked: `marriage_book` locks the schedule
# and checks all of it again.
_SLOT_READ = Sql("""
SELECT s.sessions::text, s.booking_opens_days_ahead, s.min_notice_hours,
  EXISTS (SELECT 1 FROM marriage_closure AS c
          WHERE c.office_id = $1 AND c.closure_date = $2),
  (SELECT d.sessions::text FROM marriage_special_day AS d
   WHERE d.office_id = $1 AND d.special_date = $2),
  s.cancel_deadline_hours,
  (SELECT l.id FROM marriage_lottery AS l
   WHERE l.office_id = $1 AND l.lottery_date = $2 AND l.status = 'scheduled'),
  s.version, o.name, o.address, o.phone,
  EXISTS (SELECT 1 FROM capacity_slot AS cs WHERE cs.id = $3 AND cs.booked >= cs.capacity),
  o.version
FROM marriage_schedule AS s JOIN organisation AS o ON o.id = s.office_id
WHERE s.office_id = $1
""")

# Every write of a booking in one call of `marriage_book`
# (services/marriage/marriage_book.sql), outside any transaction block. A refusal
# raises (`rules.write_refusal`) and nothing of it is kept.
_BOOK = Sql("SELECT marriage_book(" + ", ".join(f"${n}" for n in range(1, 38)) + ")")
_RECHECK = "40001"  # what was read changed: the request runs again (api.route)


async def book(session: AsyncSession, principal: Principal, settings: Settings,
               body: AppointmentRequest, claim: idempotency.Claim | None = None) -> Booked:
    """Book, and the 201 body: a hot command (services.commands). The write is one
    statement that also stores `claim`'s record of that body (`marriage_book`); a
    refusal is a `commands.Refusal`."""
    try:
        return await _book(session, principal, settings, body, claim)
    except DomainError as refusal:  # before the write, and before the people are known
        raise commands.Refusal(refusal) from None


async def _book(session: AsyncSession, principal: Principal, settings: Settings,
                body: AppointmentRequest, claim: idempotency.Claim | None) -> Booked:
    parsed = calendar.parse_slot_id(body.slot_id)
    if parsed is None:
        raise NotFound(what="slot")
    office_id, day, start = parsed
    now = clock.now()
    # The parties are checked first; their errors are raised where they always
    # were, after the slot's (a missing slot is still 404 whatever the parties).
    # Only the blind indexes are made here: the numbers and phones are encrypted
    # once nothing before the write has refused the booking (a full session's
    # refusals never pay for it).
    party_error: DomainError | None = None
    blind: list[str] = []
    ids: list[identity.IdNumber] = []
    phones_clean: list[str | None] = []
    try:
        ids = rules.check_parties(body.kind, body.parties, day, settings)
        phones_clean = [PHONE.clean(p.phone, field=f"parties[{i}].phone")
                        if p.phone else None for i, p in enumerate(body.parties)]
    except DomainError as exc:
        party_error = exc
    else:
        blind = [identity.blind_index(i.number, settings) for i in ids]
    db = await prepared.driver(session)
    # What this process last read of the office's day, if anything
    # (`marriage_book` re-checks every part of it); the seats are then checked by
    # the write and the full-session memo.
    await official_calendar.refresh(session)  # a no-op unless the copy is old
    row = office_days.get(office_id, day)
    cached = row is not None
    held = _held(row, office_id, day, start) if row is not None else None
    refusal = _refused_by(row, held, day, now) if row is not None else None
    if refusal is not None:
        # A kept read is checked again by the write, but a refusal never gets there:
        # refused only by what the database says now.
        office_days.forget(office_id, day)
        row, cached = None, False
    if row is None:
        found = await db.fetchrow_alone(_SLOT_READ, office_id, day, body.slot_id)
        if found is None:
            raise NotFound(what="slot")
        row = _SlotRead(calendar.week_of(found[0]), found[1], found[2], bool(found[3]),
                        prepared.json_value(found[4]), found[5], found[6], found[7],
                        found[4], AppointmentOffice(id=office_id, name=found[8],
                                                    address=found[9], phone=found[10]),
                        bool(found[11]), found[12])
        office_days.remember(office_id, day, row._replace(full=False))
        if row.full:
            capacity.note_full(body.slot_id)
        held = _held(row, office_id, day, start)
        refusal = _refused_by(row, held, day, now)
    if refusal is not None:
        raise refusal
    assert held is not None
    starts_at, ends_at = held.starts_at, held.ends_at
    if party_error is not None:
        raise party_error
    slot_id = held.slot_id
    case_id = None
    try:
        if body.kind == AppointmentKind.divorce_confirmation:
            assert body.divorce_case_id is not None
            # The case's rules read the account's person.
            reader = await citizens.resolved(session, principal, settings)
            case = await divorce.case_for_confirmation(session, reader, settings,
                                                       body.divorce_case_id, blind, day)
            case_id = case.id
        if row.full or held.capacity < 1 or (cached and capacity.known_full(slot_id)):
            # Every seat taken when read: refused before anything is written (a seat
            # given back since is found by the next request).
            raise SlotFull()
    except DomainError as refusal:
        # Before the write, which checks the identity rules first: they are settled
        # with the refusal (the applicant rule, which needs the people, first).
        raise commands.Refusal(refusal, people=blind) from None
    protected = [identity.protect(i, settings, blind_index=b) for i, b in zip(ids, blind,
                                                                               strict=True)]
    phones = [PHONE.protect_clean(c, settings) if c is not None else None for c in phones_clean]
    appointment = {
        "id": new_id("mapt"), "office_id": office_id, "slot_id": slot_id,
        "session_date": day, "starts_at": starts_at, "ends_at": ends_at, "kind": body.kind,
        "status": AppointmentStatus.booked, "owner_subject": principal.subject,
        "check_in_code": f"{secrets.randbelow(10**8):08d}", "divorce_case_id": case_id,
        "created_at": now}
    appointment_id = appointment["id"]
    parties = [
        {"id": new_id("mpty"), "appointment_id": appointment_id, "position": n,
         "name": p.name, "id_number_encrypted": prot.encrypted,
         "id_blind_index": prot.blind_index, "id_number_masked": prot.masked,
         "phone_encrypted": phone.encrypted if phone else None,
         "phone_masked": phone.masked if phone else None}
        for n, (p, prot, phone) in enumerate(zip(body.parties, protected, phones, strict=True))
    ]
    audit_row = audit.row(principal, "marriage_appointment.create", "marriage_appointment",
                          appointment_id, at=now, org_id=office_id)
    booked = MarriageAppointment.model_construct(**appointment)
    event_row = (events.APPOINTMENT.row("booked", booked, at=now)
                 if outbox.enabled() else None)
    # The response is built from what is written, not read back (model_construct:
    # plain carriers of the values, never added to the session).
    view = AppointmentView(booked, [MarriageParty.model_construct(**p) for p in parties],
                           OfficeTerms(row.office, row.cancel_deadline_hours))
    answer = to_public(view, show_code=True).model_dump_json()
    await _write(db, settings, principal, claim, answer, row, held.capacity, appointment,
                 blind, parties, audit_row, event_row)
    return Booked(view, answer)


def _held(row: _SlotRead, office_id: str, day: dt.date, start: str) -> Session | None:
    """The session of `row`'s day that starts at `start`, if it has one."""
    return next((s for s in calendar.sessions_on(office_id, day, row.sessions, row.closed,
                                                 row.special) if s.start == start), None)


def _refused_by(row: _SlotRead, held: Session | None, day: dt.date,
                now: dt.datetime) -> DomainError | None:
    """What the office's day alone refuses: no such session, outside the booking
    window, a date held by a lottery."""
    if held is None:
        return NotFound(what="slot")
    if not bookable_now(row, held, now, clock.today()):
        return outside_window(row, held, clock.today())
    if row.lottery_id is not None:
        err = DateInLottery(date=day.isoformat())
        err.extra["lottery_id"] = row.lottery_id
        return err
    return None


class Booked(NamedTuple):
    view: AppointmentView
    json: str  # the 201 body, as stored for an idempotent replay


async def _write(db: prepared.Driver, settings: Settings, principal: Principal,
                 claim: idempotency.Claim | None, answer: str, row: _SlotRead, capacity_: int,
                 a: dict[str, Any], blind: list[str], parties: list[dict[str, Any]],
                 audit_row: tuple, event_row: tuple | None) -> None:
    """One call of `marriage_book`, with the idempotent record of this very answer;
    the account's identity rules are checked there first."""
    record = claim.record_values(201, answer) if claim is not None else (None,) * 4
    try:
        await db.fetchrow_alone(
            _BOOK,
            principal.subject, settings.identity_required,
            claim.scope if claim else None, claim.key if claim else None, *record,
            a["office_id"], a["session_date"], row.version, row.closed, row.special_text,
            row.lottery_id, row.org_version,
            *rules.suspension_terms(settings),
            a["slot_id"], calendar.SLOT_KIND, capacity_,
            a["created_at"], a["id"], a["starts_at"], a["ends_at"], a["kind"],
            a["check_in_code"], a["divorce_case_id"],
            blind, *([p[k] for p in parties] for k in ("id", "name", "id_number_encrypted",
                                                       "id_number_masked", "phone_encrypted",
                                                       "phone_masked")),
            audit.as_json([audit_row]), outbox.as_json([event_row]))
    except DBAPIError as exc:
        if claim is not None:
            claim.stored = False  # nothing of it was kept
        code = sqlstate(exc)
        if code == capacity.FULL:
            capacity.note_full(a["slot_id"])
        elif code == _RECHECK:
            office_days.forget(a["office_id"], a["session_date"])
        refusal = rules.write_refusal(exc, blind)
        if refusal is not None:
            raise commands.Refusal(refusal, people=blind, checked=True) from None
        raise


# --- who sees an appointment, and its life ---------------------------------------------


def _is_party(blind: str) -> Any:
    return exists().where(MarriageParty.appointment_id == MarriageAppointment.id,
                          MarriageParty.id_blind_index == blind)


# Its citizen (the account that booked it, or a party bound to the account by
# real-name identity), or its office's staff.
APPOINTMENT = scopes.Resource(
    model=MarriageAppointment, noun="appointment", audit_type="marriage_appointment",
    rules={"citizen": scopes.own_or_party(MarriageAppointment.owner_subject, _is_party),
           "office": scopes.of_org(MarriageAppointment.office_id)},
    org_attr="office_id")

S = AppointmentStatus
LIFE = transitions.Machine(APPOINTMENT, {
    "cancel": transitions.Transition(frm={S.booked}, to=S.cancelled, stamp="cancelled_at"),
    # The office cancels one appointment (a counter closed, a registrar ill), with a
    # reason the couple sees, any time before its session ends.
    "office_cancel": transitions.Transition(frm={S.booked, S.checked_in}, to=S.cancelled,
                                            stamp="cancelled_at"),
    "check_in": transitions.Transition(frm={S.booked}, to=S.checked_in,
                                       stamp="checked_in_at"),
    "complete": transitions.Transition(frm={S.checked_in}, to=S.completed,
                                       stamp="completed_at"),
    "no_show": transitions.Transition(frm={S.booked}, to=S.no_show, stamp="no_show_at"),
})
_LEAVES_BOOKED = frozenset(a for a, t in LIFE.transitions.items() if S.booked in t.allowed())


async def _release_hold(session: AsyncSession, _principal: Principal | None,
                        a: MarriageAppointment, action: str) -> None:
    if action in _LEAVES_BOOKED:
        await cancellation.release_holds(session, [a.id])


LIFE.after.append(_release_hold)
LIFE.emits(events.APPOINTMENT, {"cancel": "cancelled", "office_cancel": "cancelled"})

NEWEST_FIRST = pages.Keyset(pages.Key(MarriageAppointment.id, pages.IdOf("mapt"),
                                      descending=True))
BY_SESSION_TIME = pages.Keyset(pages.Key(MarriageAppointment.starts_at, pages.AT),
                               pages.Key(MarriageAppointment.id, pages.IdOf("mapt")))


async def _parties_of(session: AsyncSession, ids: list[str]) -> dict[str, list[MarriageParty]]:
    out: dict[str, list[MarriageParty]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(MarriageParty).where(MarriageParty.appointment_id.in_(ids)))
        for p in rows.scalars():
            out[p.appointment_id].append(p)
    return out


def _office_of(org: Organisation) -> AppointmentOffice:
    return AppointmentOffice(id=org.id, name=org.name, address=org.address, phone=org.phone)


async def _terms_of(session: AsyncSession, office_ids: set[str]) -> dict[str, OfficeTerms]:
    """Each office's contact and cancellation deadline, for the appointments shown."""
    if not office_ids:
        return {}
    offices = await organisations.get_many(session, sorted(office_ids))
    hours = dict((await session.execute(
        select(MarriageSchedule.office_id, MarriageSchedule.cancel_deadline_hours)
        .where(MarriageSchedule.office_id.in_(sorted(office_ids))))).all())
    return {oid: OfficeTerms(_office_of(org), hours[oid])
            for oid, org in offices.items() if oid in hours}


async def _views(session: AsyncSession,
                 appointments: list[MarriageAppointment]) -> list[AppointmentView]:
    parties = await _parties_of(session, [a.id for a in appointments])
    terms = await _terms_of(session, {a.office_id for a in appointments})
    return [AppointmentView(a, parties[a.id], terms[a.office_id]) for a in appointments]


async def _view(session: AsyncSession, a: MarriageAppointment) -> AppointmentView:
    return (await _views(session, [a]))[0]


async def get(session: AsyncSession, principal: Principal, appointment_id: str) -> AppointmentView:
    a = await scopes.load(session, principal, APPOINTMENT, appointment_id)
    return await _view(session, a)


async def _page_of(session: AsyncSession, page: Page[MarriageAppointment],
                   ) -> Page[AppointmentView]:
    views = {v.appointment.id: v for v in await _views(session, page.items)}
    return page.map(lambda a: views[a.id])


async def list_for(session: AsyncSession, principal: Principal, *, on: dt.date | None,
                   status: AppointmentStatus | None, limit: int,
                   cursor: str | None) -> Page[AppointmentView]:
    """A citizen's own appointments (newest first), or an office's appointments
    (by session time, for the front desk)."""
    stmt = scopes.select_visible(APPOINTMENT, principal)
    if status is not None:
        stmt = stmt.where(MarriageAppointment.status == status)
    if on is not None:
        stmt = stmt.where(MarriageAppointment.session_date == on)
    order = NEWEST_FIRST if principal.is_citizen else BY_SESSION_TIME
    page = await order.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, APPOINTMENT)
    return await _page_of(session, page)


async def lookup(session: AsyncSession, principal: Principal, settings: Settings,
                 body: AppointmentLookup, *, limit: int,
                 cursor: str | None) -> Page[AppointmentView]:
    """The front desk finds a person's appointments at its own office, by the
    identity number on the card in front of it (by session time). The number is
    validated, used only through its blind index, and the read is audited as
    `marriage_appointment.lookup`."""
    person = identity.protect(identity.parse(body.id_number, field="id_number"), settings)
    stmt = scopes.select_visible(APPOINTMENT, principal).where(_is_party(person.blind_index))
    if body.status is not None:
        stmt = stmt.where(MarriageAppointment.status == body.status)
    if body.date is not None:
        stmt = stmt.where(MarriageAppointment.session_date == body.date)
    page = await BY_SESSION_TIME.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, APPOINTMENT, read="lookup")
    return await _page_of(session, page)


async def _cancel_hours(session: AsyncSession, a: MarriageAppointment) -> int:
    """The office's cancellation deadline, read under a key-share lock of its
    schedule: a schedule change (FOR UPDATE) and a cancellation never interleave."""
    return (await session.execute(
        select(MarriageSchedule.cancel_deadline_hours)
        .where(MarriageSchedule.office_id == a.office_id)
        .with_for_update(read=True, key_share=True))).scalar_one()


async def cancel(session: AsyncSession, principal: Principal, appointment_id: str,
                 body: AppointmentCancel | None = None) -> AppointmentView:
    """The citizen until the deadline; the office, with a reason, until the session
    ends. Either way the seat goes back to the pool once, with the one move that
    wins (`LIFE`'s conditional UPDATE)."""
    reason = body.reason if body is not None else None
    a = await scopes.load(session, principal, APPOINTMENT, appointment_id, audit_read=False)
    if principal.is_citizen:
        if reason is not None:
            err = ValidationFailed()
            err.extra["errors"] = [{"loc": ["body", "reason"], "type": "extra_forbidden",
                                    "msg": ("市民取消预约无需填写原因",
                                            "a citizen's cancellation takes no reason")}]
            raise err

        async def before_deadline(a: MarriageAppointment) -> None:
            hours = await _cancel_hours(session, a)
            if clock.now() > cancel_deadline(a.starts_at, hours):
                raise CancelDeadlinePassed(hours=hours)

        a = await LIFE.move(session, principal, a, "cancel", guard=before_deadline,
                            values={"cancel_reason": CancelReason.citizen,
                                    "cancelled_by": CancelledBy.citizen})
    else:
        async def before_session_ends(a: MarriageAppointment) -> None:
            if not reason:
                raise OfficeCancelReasonRequired()
            await _cancel_hours(session, a)
            if clock.now() >= utc(a.ends_at):
                raise SessionEnded(
                    ends_at=utc(a.ends_at).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"))

        a = await LIFE.move(session, principal, a, "office_cancel", guard=before_session_ends,
                            values={"cancel_reason": reason,
                                    "cancelled_by": CancelledBy.office})
    await capacity.give_back(session, a.slot_id)
    return await _view(session, a)


def _scanned_code(scanned: str, a: MarriageAppointment) -> str:
    """The check-in code from what the desk scanned or typed: the bare code, or the
    QR code's whole payload (`qr_payload`), which must name this very appointment."""
    prefix = f"{QR_PREFIX}:"
    if not scanned.startswith(prefix):
        return scanned
    appointment_id, sep, code = scanned[len(prefix):].rpartition(":")
    if not sep or not hmac.compare_digest(appointment_id.encode(), a.id.encode()):
        raise InvalidCheckInCode()
    return code


async def check_in(session: AsyncSession, principal: Principal, appointment_id: str,
                   code: str) -> AppointmentView:
    def on_the_day_with_code(a: MarriageAppointment) -> None:
        if a.session_date != clock.today():
            raise CheckInNotToday(date=a.session_date.isoformat())
        if not hmac.compare_digest(_scanned_code(code, a).encode(), a.check_in_code.encode()):
            raise InvalidCheckInCode()

    a = await LIFE.apply(session, principal, appointment_id, "check_in",
                         guard=on_the_day_with_code)
    return await _view(session, a)


async def complete(session: AsyncSession, principal: Principal, settings: Settings,
                   appointment_id: str) -> AppointmentView:
    a = await LIFE.apply(session, principal, appointment_id, "complete")
    parties = (await _parties_of(session, [a.id]))[a.id]
    if a.kind == AppointmentKind.divorce:
        case = await divorce.open_case(session, principal, a, parties)
        await session.execute(update(MarriageAppointment).where(MarriageAppointment.id == a.id)
                              .values(divorce_case_id=case.id))
        a = await LIFE.reload(session, a)
    elif a.kind == AppointmentKind.divorce_confirmation and a.divorce_case_id:
        await divorce.register(session, principal, a.divorce_case_id, a.id)
    return AppointmentView(a, parties, (await _terms_of(session, {a.office_id}))[a.office_id])


async def no_show(session: AsyncSession, principal: Principal,
                  appointment_id: str) -> AppointmentView:
    def session_ended(a: MarriageAppointment) -> None:
        if clock.now() < utc(a.ends_at):
            raise SessionNotEnded(
                ends_at=utc(a.ends_at).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"))

    a = await LIFE.apply(session, principal, appointment_id, "no_show", guard=session_ended)
    return await _view(session, a)


# --- the citizen's calendar entry and check-in QR code ----------------------------------


async def calendar_ics(session: AsyncSession, principal: Principal,
                       appointment_id: str) -> bytes:
    a = await scopes.load(session, principal, APPOINTMENT, appointment_id)
    office = await organisations.get(session, a.office_id, kind=OrgKind.registration_office)
    zh, en = KIND_LABELS[AppointmentKind(a.kind)]
    cal = Calendar()
    cal.add("prodid", "-//huimin//marriage registration//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{a.id}@huimin")
    event.add("dtstamp", clock.now())
    event.add("dtstart", utc(a.starts_at).astimezone(CHINA_TZ))
    event.add("dtend", utc(a.ends_at).astimezone(CHINA_TZ))
    event.add("summary", f"{zh}（{office.name}）")
    event.add("location", " ".join(x for x in (office.name, office.address) if x))
    lines = [f"{zh} / {en}", f"预约号 Appointment: {a.id}"]
    if a.status == AppointmentStatus.booked:
        lines.append(f"签到码 Check-in code: {a.check_in_code}")
    if office.phone:
        lines.append(f"电话 Phone: {office.phone}")
    event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if a.status == AppointmentStatus.cancelled else "CONFIRMED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def qr_payload(a: MarriageAppointment) -> str:
    return f"{QR_PREFIX}:{a.id}:{a.check_in_code}"


async def check_in_qr_svg(session: AsyncSession, principal: Principal,
                          appointment_id: str) -> bytes:
    a = await scopes.load(session, principal, APPOINTMENT, appointment_id)
    LIFE.check(a, "check_in")  # a code is only worth showing while it can be used
    out = io.BytesIO()
    segno.make(qr_payload(a), error="m").save(out, kind="svg", scale=6, border=2,
                                                xmldecl=False)
    return out.getvalue()
