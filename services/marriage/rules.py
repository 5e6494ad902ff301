"""The marriage rules of DOMAIN.md section 1 that look at the people, shared by
first-come booking (`appointments.book`) and lottery entries (`lottery.enter`):
who may be a party to which kind of appointment and the legal ages on the date,
decided here before the write; the no-show suspension and one active appointment
per person, decided inside the write by the SQL functions of rules.sql, whose
refusals `write_refusal` names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from core.clock import CHINA_TZ, utc
from core.db import sqlstate
from core.errors import (
    BookingSuspended,
    DomainError,
    IdempotencyInFlight,
    InvalidParties,
    PartyHasActiveAppointment,
    SlotFull,
    Underage,
)
from core.settings import Settings
from schemas.marriage import AppointmentKind
from services import capacity, citizens, idempotency, identity


class PartyLike(Protocol):
    id_number: str


def check_parties(kind: str, parties: Sequence[PartyLike], day: dt.date,
                  settings: Settings) -> list[identity.IdNumber]:
    """The parties' identity numbers, parsed, if they fit `kind` on `day`: the number of
    parties, two different people, and for a marriage one man and one woman of legal
    age on that date."""
    ids = [identity.parse(p.id_number, field=f"parties[{i}].id_number")
           for i, p in enumerate(parties)]
    if kind == AppointmentKind.reissue:
        if not 1 <= len(ids) <= 2:
            raise InvalidParties(reason_zh="补领需要一名或两名当事人。",
                                 reason_en="A reissue needs one or two parties.")
    elif len(ids) != 2:
        raise InvalidParties(reason_zh="该类预约需要两名当事人。",
                             reason_en="This kind of appointment needs exactly two parties.")
    if len({i.number for i in ids}) != len(ids):
        raise InvalidParties(reason_zh="两名当事人不能是同一人。",
                             reason_en="The two parties must be different people.")
    if kind == AppointmentKind.marriage:
        if {i.sex for i in ids} != {"male", "female"}:
            raise InvalidParties(reason_zh="结婚登记须为一男一女（以身份证号码为准）。",
                                 reason_en="A marriage needs one man and one woman, "
                                           "by their identity numbers.")
        male = settings.marriage_min_age_male
        female = settings.marriage_min_age_female
        for i in ids:
            if i.age_on(day) < (male if i.sex == "male" else female):
                raise Underage(male=male, female=female)
    return ids


def suspension_terms(settings: Settings) -> tuple[int, int, int]:
    """The no-show suspension's numbers (2 no-shows within 180 days -> no booking for
    30 days, from settings), as `marriage_not_suspended` takes them: the rule itself
    is that SQL function's (services/marriage/rules.sql), checked inside the write."""
    return (settings.marriage_no_show_window_days, settings.marriage_no_show_limit,
            settings.marriage_no_show_suspension_days)


# What the SQL rules of rules.sql and the kit raise inside a one-statement write.
_SUSPENDED, _HELD = "HMNS1", "HMPH1"


def write_refusal(exc: DBAPIError, blind: Sequence[str]) -> DomainError | None:
    """The refusal a one-statement write (`marriage_book`, `marriage_lottery_enter`)
    raised, as the domain error a client sees; None for anything else. `blind`: the
    people's blind indexes, in the parties' order."""
    code = sqlstate(exc)
    detail = getattr(exc.orig, "detail", None) or ""
    if code == _SUSPENDED:
        # The end as the couple reads it: China time, as every datetime shown is.
        until = utc(dt.datetime.fromisoformat(detail)).astimezone(CHINA_TZ)
        err = BookingSuspended(until=until.strftime("%Y-%m-%d %H:%M"))
        err.extra["suspended_until"] = until.isoformat()
        return err
    if code == _HELD:
        held = set(detail.split(","))
        return PartyHasActiveAppointment(
            party_indexes=[i for i, b in enumerate(blind) if b in held])
    if code == capacity.FULL:
        return SlotFull()
    if code == idempotency.IN_FLIGHT:
        return IdempotencyInFlight()
    return citizens.write_refusal(code)
