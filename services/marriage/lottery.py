"""Marriage lotteries: the fair release of a peak date (API.md "Fair release of
peak dates").

An office schedules a lottery for a date in its booking window; from then until
the draw, first-come booking of that date is refused (`appointments.book` reads
the lottery in its one read). Citizens enter between `entries_open_at` and
`entries_close_at`, checked by the same rules as a booking (`rules`), one entry per
person per lottery (the unique index on the entrants' blind indexes decides). At
`entries_close_at` the maintenance sweep (every server process runs it, and
`huimin sweep`) draws: the conditional UPDATE `scheduled -> drawn` is the lease, so
however many processes try, one transaction draws and the others find nothing to
do; if the drawing transaction fails, it rolls back whole and the next sweep draws.

Entries take the lottery's lock shared (`marriage_lottery_enter`), so the draw
waits for entries in flight and an entry that comes after the draw sees it drawn.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import clock, utc
from core.db import is_unique_violation, sqlstate
from core.errors import (
    DomainError,
    DuplicateEntry,
    DuplicateLottery,
    InvalidLottery,
    InvalidPreferences,
    InvalidState,
    LotteryNotDrawn,
    NotFound,
    OutsideBookingWindow,
)
from core.ids import new_id
from core.prepared import Sql
from core.principal import Principal
from core.protected import PHONE, Protected
from core.settings import Settings
from core.writes import insert_if_absent
from schemas.common import Page
from schemas.marriage import (
    AppointmentStatus,
    MarriageAppointment,
    MarriageParty,
    MarriagePartyHold,
    MarriageSchedule,
)
from schemas.marriage_lottery import (
    EntryStatus,
    LotteryCreate,
    LotteryEntryCreate,
    LotteryEntryCreated,
    LotteryEntryPublic,
    LotteryEntryView,
    LotteryPublic,
    LotterySession,
    LotteryStatus,
    MarriageLottery,
    MarriageLotteryEntrant,
    MarriageLotteryEntry,
)
from services import audit, capacity, commands, idempotency, identity, scopes
from services.marriage import calendar, events, lottery_order, office_days, rules, schedules
from services.marriage.calendar import Session

EXCLUDED_ACTIVE = "party_has_active_appointment"
# The table itself for the executemany UPDATEs (an ORM UPDATE given a list of rows is
# a bulk update by primary key, which takes no WHERE of its own).
_ENTRY_TABLE = MarriageLotteryEntry.__table__


def status_of(lottery: MarriageLottery, now: dt.datetime | None = None) -> LotteryStatus:
    """The status as shown: stored `scheduled` reads `open` from entries_open_at and
    `closed` from entries_close_at until the draw."""
    if lottery.status != LotteryStatus.scheduled:
        return LotteryStatus(lottery.status)
    now = now or clock.now()
    if now < utc(lottery.entries_open_at):
        return LotteryStatus.scheduled
    if now < utc(lottery.entries_close_at):
        return LotteryStatus.open
    return LotteryStatus.closed


# --- the office's side -------------------------------------------------------------


async def _sessions_of(session: AsyncSession, schedule: MarriageSchedule,
                       day: dt.date) -> list[Session]:
    cal = await schedules.load_calendar(session, schedule, day, day)
    return cal.sessions_on(day)


async def create(session: AsyncSession, principal: Principal, office_id: str,
                 body: LotteryCreate) -> MarriageLottery:
    schedules.own_office(principal, office_id)
    # The schedule's row lock (FOR UPDATE) waits for bookings in flight (they hold it
    # FOR KEY SHARE) and makes the next ones see the lottery.
    schedule = await schedules._locked_schedule(session, office_id)  # noqa: SLF001
    now, today = clock.now(), clock.today()
    day = body.date
    held = await _sessions_of(session, schedule, day)
    if not held:
        raise InvalidLottery(reason_zh=f"{day} 没有场次。",
                             reason_en=f"The office holds no sessions on {day}.")
    if day <= today or day > today + dt.timedelta(days=schedule.booking_opens_days_ahead):
        raise calendar.outside_window(schedule, held[0], today) if day > today else \
            OutsideBookingWindow(closed_at=held[0].starts_at - dt.timedelta(
                hours=schedule.min_notice_hours), notice_hours=schedule.min_notice_hours)
    deadline = held[0].starts_at - dt.timedelta(hours=schedule.min_notice_hours)
    close_at = body.entries_close_at.astimezone(dt.UTC)
    open_at = body.entries_open_at.astimezone(dt.UTC)
    if close_at <= now:
        raise InvalidLottery(reason_zh="报名截止时间须晚于当前时间。",
                             reason_en="entries_close_at must be in the future.")
    if close_at > deadline:
        raise InvalidLottery(
            reason_zh="报名截止时间不得晚于首个场次的预约截止时间"
                      f"（{deadline.astimezone(calendar.CHINA_TZ):%Y-%m-%d %H:%M}）。",
            reason_en="entries_close_at may be no later than the booking deadline of the "
                      f"date's first session ({deadline.isoformat()}).")
    seed = secrets.token_bytes(32)
    values = {"id": new_id("mlot"), "office_id": office_id, "lottery_date": day,
              "entries_open_at": open_at, "entries_close_at": close_at,
              "status": LotteryStatus.scheduled, "seed_hex": seed.hex(),
              "seed_sha256": lottery_order.seed_digest(seed), "created_at": now}
    created = await insert_if_absent(session, MarriageLottery, values,
                                     conflict=["office_id", "lottery_date"],
                                     where=text("status != 'cancelled'"))
    if not created:
        raise DuplicateLottery(date=day.isoformat())
    await audit.record(session, principal, "marriage_lottery.create", "marriage_lottery",
                       values["id"], org_id=office_id)
    return await session.get(MarriageLottery, values["id"])


LOTTERY = scopes.Resource(model=MarriageLottery, noun="lottery", audit_type="marriage_lottery",
                          rules={"office": scopes.of_org(MarriageLottery.office_id)},
                          personal=False, org_attr="office_id")


async def cancel(session: AsyncSession, principal: Principal,
                 lottery_id: str) -> MarriageLottery:
    """Before entries open only; after that the couples who entered are owed the draw."""
    lottery = await scopes.load(session, principal, LOTTERY, lottery_id)
    now = clock.now()
    if status_of(lottery, now) != LotteryStatus.scheduled:
        raise InvalidState(status=status_of(lottery, now), action="cancel")
    await _exclude_entries(session, lottery_id)
    result = await session.execute(
        update(MarriageLottery)
        .where(MarriageLottery.id == lottery_id,
               MarriageLottery.status == LotteryStatus.scheduled,
               MarriageLottery.entries_open_at > now)
        .values(status=LotteryStatus.cancelled, cancelled_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        fresh = await _reload(session, lottery_id)
        raise InvalidState(status=status_of(fresh, now), action="cancel")
    await audit.record(session, principal, "marriage_lottery.cancel", "marriage_lottery",
                       lottery_id, org_id=lottery.office_id)
    return await _reload(session, lottery_id)


async def _reload(session: AsyncSession, lottery_id: str) -> MarriageLottery:
    return (await session.execute(
        select(MarriageLottery).where(MarriageLottery.id == lottery_id)
        .execution_options(populate_existing=True))).scalar_one()


BY_DATE = pages.Keyset(pages.Key(MarriageLottery.lottery_date, pages.DAY),
                       pages.Key(MarriageLottery.id, pages.IdOf("mlot")))


async def list_for_office(session: AsyncSession, principal: Principal, office_id: str, *,
                          limit: int, cursor: str | None) -> Page[LotteryPublic]:
    schedules.own_office(principal, office_id)
    page = await BY_DATE.page(session, scopes.select_visible(LOTTERY, principal),
                              limit=limit, cursor=cursor)
    return Page(items=[await to_public(session, x) for x in page.items],
                next_cursor=page.next_cursor)


# --- the public view ---------------------------------------------------------------


async def get_public(session: AsyncSession, lottery_id: str) -> LotteryPublic:
    lottery = await session.get(MarriageLottery, lottery_id)
    if lottery is None:
        raise NotFound(what="lottery")
    return await to_public(session, lottery)


async def _seats_now(session: AsyncSession, lottery: MarriageLottery) -> list[LotterySession]:
    schedule = await session.get(MarriageSchedule, lottery.office_id)
    if schedule is None:
        return []
    held = await _sessions_of(session, schedule, lottery.lottery_date)
    used = await capacity.usage(session, [s.slot_id for s in held])
    return [LotterySession(start=s.start, end=s.end,
                           seats=max(used.get(s.slot_id, (s.capacity, 0))[0]
                                     - used.get(s.slot_id, (s.capacity, 0))[1], 0))
            for s in held]


async def to_public(session: AsyncSession, lottery: MarriageLottery) -> LotteryPublic:
    status = status_of(lottery)
    drawn = status == LotteryStatus.drawn
    if drawn:
        sessions = [LotterySession.model_validate(s) for s in lottery.sessions or []]
        entries = lottery.entries or 0
        winners = (await session.execute(
            select(func.count()).select_from(MarriageLotteryEntry)
            .where(MarriageLotteryEntry.lottery_id == lottery.id,
                   MarriageLotteryEntry.status == EntryStatus.won))).scalar_one()
    else:
        sessions = await _seats_now(session, lottery)
        entries = (await session.execute(
            select(func.count()).select_from(MarriageLotteryEntry)
            .where(MarriageLotteryEntry.lottery_id == lottery.id))).scalar_one()
        winners = None
    return LotteryPublic(
        id=lottery.id, office_id=lottery.office_id, date=lottery.lottery_date, status=status,
        entries_open_at=lottery.entries_open_at, entries_close_at=lottery.entries_close_at,
        seed_sha256=lottery.seed_sha256, seed=lottery.seed_hex if drawn else None,
        entries=entries, seats=sum(s.seats for s in sessions), sessions=sessions,
        winners=winners, created_at=lottery.created_at, drawn_at=lottery.drawn_at,
        cancelled_at=lottery.cancelled_at)


ENTRIES_BY_ID = pages.Keyset(pages.Key(MarriageLotteryEntry.id, pages.IdOf("mlen")))


def _entry_public(e: MarriageLotteryEntry) -> LotteryEntryPublic:
    return LotteryEntryPublic(id=e.id, status=e.status,
                              session_preferences=list(e.session_preferences),
                              session=e.session_start, excluded_reason=e.excluded_reason)


async def list_entries(session: AsyncSession, lottery_id: str, *, limit: int,
                       cursor: str | None) -> Page[LotteryEntryPublic]:
    lottery = await session.get(MarriageLottery, lottery_id)
    if lottery is None:
        raise NotFound(what="lottery")
    if lottery.status != LotteryStatus.drawn:
        raise LotteryNotDrawn()
    stmt = select(MarriageLotteryEntry).where(MarriageLotteryEntry.lottery_id == lottery_id)
    page = await ENTRIES_BY_ID.page(session, stmt, limit=limit, cursor=cursor)
    return page.map(_entry_public)


# --- the citizen's side --------------------------------------------------------------

# One round trip for what an entry reads: the lottery (not locked: on PostgreSQL
# `marriage_lottery_enter` takes the lottery's lock and checks it again), the
# office's weekly sessions, the date's special sessions and closure, and the
# schedule's version (the write checks the people, so the read is the same for
# every couple and kept a while: `office_days.LOTTERIES`). $1 the lottery.
_ENTRY_READ = Sql("""
SELECT l.status, l.entries_open_at, l.entries_close_at, l.lottery_date, l.office_id,
  s.sessions::text,
  (SELECT d.sessions::text FROM marriage_special_day AS d
   WHERE d.office_id = l.office_id AND d.special_date = l.lottery_date),
  EXISTS (SELECT 1 FROM marriage_closure AS c
          WHERE c.office_id = l.office_id AND c.closure_date = l.lottery_date),
  s.version
FROM marriage_lottery AS l LEFT JOIN marriage_schedule AS s ON s.office_id = l.office_id
WHERE l.id = $1
""")

# The whole entry in one call of `marriage_lottery_enter`
# (services/marriage/marriage_lottery_enter.sql), outside any transaction block. A
# refusal raises (`rules.write_refusal`); nothing of it is kept.
_ENTER = Sql("SELECT marriage_lottery_enter("
             + ", ".join(f"${n}" for n in range(1, 29)) + ")")
_RECHECK = "40001"
_HOLD = Sql("SELECT marriage_hold($1, $2, $3, $4)")
_RECORD = Sql("SELECT record_writes($1, $2)")


async def _exclude_entries(session: AsyncSession, lottery_id: str) -> None:
    """Before the lottery's status changes (the draw, the cancellation): wait for
    the entries in flight, and make the next ones see the change. This process's kept
    read of the lottery is forgotten at once."""
    office_days.LOTTERIES.forget(lottery_id)
    await prepared.exclusive_lock(session, f"marriage_lottery:{lottery_id}")

@dataclass(frozen=True)
class EntryRead:
    status: str
    open_at: dt.datetime
    close_at: dt.datetime
    day: dt.date
    office_id: str
    weekly: list[dict[str, Any]]
    special_text: str | None  # as stored, for the write to compare
    special: list[dict[str, Any]] | None
    closed: bool
    version: int | None

    @property
    def sessions(self) -> list[Session]:
        return calendar.sessions_on(self.office_id, self.day, self.weekly, self.closed,
                                    self.special)


async def _read_for_entry(db: Any, lottery_id: str) -> tuple[EntryRead, bool]:
    """The entry's read, and whether it is this process's kept one."""
    kept = office_days.LOTTERIES.get(lottery_id)
    if kept is not None:
        return kept, True
    row = await db.fetchrow_alone(_ENTRY_READ, lottery_id)
    if row is None:
        raise NotFound(what="lottery")
    weekly = calendar.week_of(row[5]) if row[5] is not None else []
    read = EntryRead(row[0], utc(row[1]), utc(row[2]), row[3], row[4],
                     weekly, row[6], prepared.json_value(row[6]) if row[6] is not None else None,
                     bool(row[7]), row[8])
    office_days.LOTTERIES.remember(lottery_id, read)
    return read, False


def _shown(read: EntryRead, now: dt.datetime) -> str:
    if read.status != LotteryStatus.scheduled:
        return read.status
    return (LotteryStatus.scheduled if now < read.open_at else
            LotteryStatus.open if now < read.close_at else LotteryStatus.closed)


def _preference_refusal(prefs: list[str], read: EntryRead) -> InvalidPreferences | None:
    """What is wrong with `prefs` on the read's day, if anything."""
    if len(set(prefs)) != len(prefs):
        return InvalidPreferences(reason_zh="意向场次不能重复。",
                                  reason_en="A session may be named only once.")
    starts = {s.start for s in read.sessions}
    unknown = [p for p in prefs if p not in starts]
    if unknown:
        return InvalidPreferences(
            reason_zh=f"{read.day} 没有 {'、'.join(unknown)} 开始的场次。",
            reason_en=f"No session starts at {', '.join(unknown)} on {read.day}.")
    return None


class _EntryWrite(NamedTuple):
    claim: idempotency.Claim | None
    answer: str
    entry_id: str
    lottery_id: str
    kind: str
    prefs_json: str
    now: dt.datetime
    entrants: list[tuple]
    audit_row: tuple
    read: EntryRead


async def _write(db: Any, settings: Settings, principal: Principal, w: _EntryWrite,
                 blind: list[str]) -> None:
    """One call of `marriage_lottery_enter`, with the idempotent record of this very
    answer; the account's identity rules are checked there first."""
    claim = w.claim
    record = claim.record_values(201, w.answer) if claim is not None else (None,) * 4
    try:
        await db.fetchrow_alone(
            _ENTER, principal.subject, settings.identity_required,
            claim.scope if claim else None, claim.key if claim else None, *record,
            w.lottery_id, w.read.office_id, w.read.version, w.read.closed, w.read.special_text,
            *rules.suspension_terms(settings),
            w.now, w.entry_id, w.kind, w.prefs_json,
            blind, *([e[k] for e in w.entrants] for k in (0, 1, 2, 4, 5, 6)),
            audit.as_json([w.audit_row]))
    except DBAPIError as exc:
        if claim is not None:
            claim.stored = False  # nothing of it was kept
        if sqlstate(exc) == _RECHECK:  # the lottery or its day changed: read afresh, run again
            office_days.LOTTERIES.forget(w.lottery_id)
            raise
        refusal = DuplicateEntry() if is_unique_violation(exc) else rules.write_refusal(exc, blind)
        if refusal is not None:
            raise commands.Refusal(refusal, people=blind, checked=True) from None
        raise


class Entered(NamedTuple):
    entry: MarriageLotteryEntry
    json: str  # the 201 body, as stored for an idempotent replay


async def enter(session: AsyncSession, principal: Principal, settings: Settings,
                lottery_id: str, body: LotteryEntryCreate,
                claim: idempotency.Claim | None = None) -> Entered:
    """Enter, and the 201 body: a hot command (services.commands). The write is one
    statement that also stores `claim`'s record of that body
    (`marriage_lottery_enter`); a refusal is a `commands.Refusal`."""
    try:
        return await _enter(session, principal, settings, lottery_id, body, claim)
    except DomainError as refusal:  # before the write, and before the people are known
        raise commands.Refusal(refusal) from None


async def _enter(session: AsyncSession, principal: Principal, settings: Settings,
                 lottery_id: str, body: LotteryEntryCreate,
                 claim: idempotency.Claim | None) -> Entered:
    now = clock.now()
    # The numbers are parsed first (the blind indexes ride along with the read); their
    # errors, like the rules', are said after the lottery's own (a missing or closed
    # lottery first, whatever the parties).
    party_error: DomainError | None = None
    protected: list[identity.ProtectedId] = []
    phones: list[Protected | None] = []
    try:
        ids = [identity.parse(p.id_number, field=f"parties[{i}].id_number")
               for i, p in enumerate(body.parties)]
        phones = [PHONE.protect(p.phone, settings, field=f"parties[{i}].phone")
                  if p.phone else None for i, p in enumerate(body.parties)]
    except DomainError as exc:
        party_error = exc
    else:
        protected = [identity.protect(i, settings) for i in ids]
    blind = [p.blind_index for p in protected]
    db = await prepared.driver(session)
    prefs = list(body.session_preferences)
    read, kept = await _read_for_entry(db, lottery_id)
    bad_prefs = _preference_refusal(prefs, read)
    if kept and (_shown(read, now) != LotteryStatus.open or bad_prefs is not None):
        # A kept read is checked again by the write, but a refusal never gets there:
        # refused only by what the database says now.
        office_days.LOTTERIES.forget(lottery_id)
        read, _ = await _read_for_entry(db, lottery_id)
        bad_prefs = _preference_refusal(prefs, read)
    shown = _shown(read, now)
    if shown != LotteryStatus.open:
        raise InvalidState(status=shown, action="enter")
    if party_error is not None:
        raise party_error
    rules.check_parties(body.kind, body.parties, read.day, settings)
    if bad_prefs is not None:
        # Before the write, which checks the identity rules first: they are settled
        # with the refusal (the applicant rule, which needs the people, first).
        raise commands.Refusal(bad_prefs, people=blind)
    entry_id = new_id("mlen")
    entrants = [(new_id("mlep"), p.name, prot.encrypted, prot.blind_index, prot.masked,
                 phone.encrypted if phone else None, phone.masked if phone else None)
                for p, prot, phone in zip(body.parties, protected, phones, strict=True)]
    prefs_json = json.dumps(prefs)
    aud = audit.row(principal, "marriage_lottery_entry.create", "marriage_lottery_entry",
                    entry_id, at=now, org_id=read.office_id)
    answer = LotteryEntryCreated(id=entry_id, status=EntryStatus.entered,
                                 lottery_id=lottery_id).model_dump_json()
    await _write(db, settings, principal,
                 _EntryWrite(claim, answer, entry_id, lottery_id, body.kind, prefs_json, now,
                             entrants, aud, read), blind)
    return Entered(MarriageLotteryEntry.model_construct(
        id=entry_id, lottery_id=lottery_id, owner_subject=principal.subject, kind=body.kind,
        session_preferences=prefs, status=EntryStatus.entered, created_at=now), answer)


ENTRY = scopes.Resource(model=MarriageLotteryEntry, noun="lottery entry",
                        audit_type="marriage_lottery_entry",
                        rules={"citizen": scopes.own(MarriageLotteryEntry.owner_subject)})


async def get_entry(session: AsyncSession, principal: Principal,
                    entry_id: str) -> LotteryEntryView:
    e = await scopes.load(session, principal, ENTRY, entry_id)
    people = (await session.execute(
        select(MarriageLotteryEntrant).where(MarriageLotteryEntrant.entry_id == e.id)
        .order_by(MarriageLotteryEntrant.position))).scalars().all()
    return LotteryEntryView(
        id=e.id, status=e.status, lottery_id=e.lottery_id, kind=e.kind,
        session_preferences=list(e.session_preferences), session=e.session_start,
        excluded_reason=e.excluded_reason, appointment_id=e.appointment_id,
        parties=[{"name": p.name, "id_number_masked": p.id_number_masked,
                  "phone_masked": p.phone_masked} for p in people],
        created_at=e.created_at)


# --- the draw ------------------------------------------------------------------------


async def due(session: AsyncSession) -> list[str]:
    """Lotteries whose entries have closed and that are not drawn yet."""
    return list((await session.execute(
        select(MarriageLottery.id)
        .where(MarriageLottery.status == LotteryStatus.scheduled,
               MarriageLottery.entries_close_at <= clock.now())
        .order_by(MarriageLottery.entries_close_at, MarriageLottery.id))).scalars())


@dataclass
class DrawResult:
    lottery_id: str
    entries: int
    seats: int
    winners: int


async def draw(session: AsyncSession, lottery_id: str) -> DrawResult | None:
    """Draw the lottery if it is due and nobody has: None when there is nothing to do.

    The first statement is the lease: the conditional UPDATE moves the lottery to
    `drawn` only from `scheduled` and only after its close. A second process's same
    UPDATE waits for this transaction and then matches nothing (PostgreSQL re-checks
    the row). Everything else happens in the same transaction,
    so a failure leaves the lottery `scheduled` for the next sweep.
    """
    now = clock.now()
    await _exclude_entries(session, lottery_id)
    result = await session.execute(
        update(MarriageLottery)
        .where(MarriageLottery.id == lottery_id,
               MarriageLottery.status == LotteryStatus.scheduled,
               MarriageLottery.entries_close_at <= now)
        .values(status=LotteryStatus.drawn, drawn_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    lottery = await _reload(session, lottery_id)
    schedule = await session.get(MarriageSchedule, lottery.office_id)
    held = await _sessions_of(session, schedule, lottery.lottery_date) if schedule else []
    used = await capacity.usage(session, [s.slot_id for s in held])
    seats = {s.start: max(used.get(s.slot_id, (s.capacity, 0))[0]
                          - used.get(s.slot_id, (s.capacity, 0))[1], 0) for s in held}
    by_start = {s.start: s for s in held}

    preferences: dict[str, list[str]] = {}
    entries = (await session.execute(
        select(MarriageLotteryEntry.id, MarriageLotteryEntry.session_preferences)
        .where(MarriageLotteryEntry.lottery_id == lottery_id))).all()
    for entry_id, prefs in entries:
        preferences[entry_id] = list(prefs)
    # One active appointment per person: an entry a party of which holds a live
    # appointment now (booked elsewhere since entering, or won another lottery) is
    # left out of the draw, and the public list says so.
    excluded = set((await session.execute(
        select(MarriageLotteryEntrant.entry_id).distinct()
        .join(MarriagePartyHold,
              MarriagePartyHold.id_blind_index == MarriageLotteryEntrant.id_blind_index)
        .where(MarriageLotteryEntrant.lottery_id == lottery_id,
               MarriagePartyHold.expires_at > now))).scalars())
    outcome = lottery_order.assign(bytes.fromhex(lottery.seed_hex), preferences, seats,
                                   excluded)
    winners = {e: s for e, s in outcome.items() if s is not None}
    await _book_winners(session, lottery, winners, by_start, now)
    if excluded:
        await session.execute(
            update(_ENTRY_TABLE).where(_ENTRY_TABLE.c.id == bindparam("eid"))
            .values(excluded_reason=EXCLUDED_ACTIVE), [{"eid": e} for e in sorted(excluded)])
    await session.execute(
        update(MarriageLotteryEntry)
        .where(MarriageLotteryEntry.lottery_id == lottery_id,
               MarriageLotteryEntry.status == EntryStatus.entered)
        .values(status=EntryStatus.not_drawn)
        .execution_options(synchronize_session=False))
    await session.execute(
        update(MarriageLottery).where(MarriageLottery.id == lottery_id)
        .values(entries=len(preferences), seats=sum(seats.values()),
                sessions=[{"start": s.start, "end": s.end, "seats": seats[s.start]}
                          for s in held])
        .execution_options(synchronize_session=False))
    await audit.record(session, None, "marriage_lottery.draw", "marriage_lottery", lottery_id,
                       org_id=lottery.office_id)
    done = DrawResult(lottery_id, len(preferences), sum(seats.values()), len(winners))
    await drawn(session, done)
    return done


async def drawn(session: AsyncSession, result: DrawResult) -> None:
    """The draw's completion, in its transaction: `marriage.lottery.drawn` to the
    outbox (with the winners' count), so a draw that rolls back announces nothing."""
    lottery = await _reload(session, result.lottery_id)
    await events.LOTTERY.emit(session, "drawn", lottery, extra={"winners": result.winners})


_CHUNK = 500


async def _book_winners(session: AsyncSession, lottery: MarriageLottery,
                        winners: dict[str, str], by_start: dict[str, Session],
                        now: dt.datetime) -> None:
    """Each winner's appointment `booked`, with its parties, their holds (one active
    appointment per person: `marriage_hold`, as a booking takes them) and the seats,
    and their audit rows (`record_writes`, as every one-statement write)."""
    if not winners:
        return
    ids = sorted(winners)
    owners: dict[str, tuple[str, str]] = {}
    people: dict[str, list[MarriageLotteryEntrant]] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        for eid, owner, kind in (await session.execute(
                select(MarriageLotteryEntry.id, MarriageLotteryEntry.owner_subject,
                       MarriageLotteryEntry.kind)
                .where(MarriageLotteryEntry.id.in_(chunk)))).all():
            owners[eid] = (owner, kind)
        for p in (await session.execute(
                select(MarriageLotteryEntrant).where(MarriageLotteryEntrant.entry_id.in_(chunk))
                .order_by(MarriageLotteryEntrant.entry_id, MarriageLotteryEntrant.position)
        )).scalars():
            people.setdefault(p.entry_id, []).append(p)
    taken: dict[str, int] = {}
    for start in winners.values():
        taken[start] = taken.get(start, 0) + 1
    for start, units in sorted(taken.items()):
        s = by_start[start]
        await capacity.ensure_and_take(session, s.slot_id, owner_org_id=lottery.office_id,
                                       kind=calendar.SLOT_KIND, capacity=s.capacity,
                                       units=units)
    appointments, parties, outcomes = [], [], []
    holds: dict[str, tuple[list[str], dt.datetime]] = {}
    audits = []
    for eid in ids:
        s = by_start[winners[eid]]
        owner, kind = owners[eid]
        aid = new_id("mapt")
        appointments.append({
            "id": aid, "office_id": lottery.office_id, "slot_id": s.slot_id,
            "session_date": lottery.lottery_date, "starts_at": s.starts_at,
            "ends_at": s.ends_at, "kind": kind, "status": AppointmentStatus.booked,
            "owner_subject": owner, "check_in_code": f"{secrets.randbelow(10**8):08d}",
            "divorce_case_id": None, "created_at": now})
        for p in people[eid]:
            parties.append({"id": new_id("mpty"), "appointment_id": aid, "position": p.position,
                            "name": p.name, "id_number_encrypted": p.id_number_encrypted,
                            "id_blind_index": p.id_blind_index,
                            "id_number_masked": p.id_number_masked,
                            "phone_encrypted": p.phone_encrypted,
                            "phone_masked": p.phone_masked})
            holds.setdefault(aid, ([], s.ends_at))[0].append(p.id_blind_index)
        outcomes.append({"eid": eid, "aid": aid, "start": s.start})
        audits.append(audit.row(None, "marriage_appointment.create", "marriage_appointment",
                                aid, at=now, org_id=lottery.office_id))
    await session.execute(insert(MarriageAppointment), appointments)
    await session.execute(insert(MarriageParty), parties)
    db = await prepared.driver(session)
    # Live holds were excluded above; one booked since raises (HMPH1), the draw rolls
    # back whole and the next sweep draws again.
    await db.executemany(_HOLD, [(aid, blinds, ends, now)
                                 for aid, (blinds, ends) in holds.items()])
    await db.execute(_RECORD, audit.as_json(audits), None)
    await session.execute(
        update(_ENTRY_TABLE).where(_ENTRY_TABLE.c.id == bindparam("eid"))
        .values(status=EntryStatus.won, appointment_id=bindparam("aid"),
                session_start=bindparam("start")), outcomes)
