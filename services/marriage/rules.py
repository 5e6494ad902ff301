"""The marriage rules of DOMAIN.md section 1 that look at the people, shared by
first-come booking (`appointments.book`) and lottery entries (`lottery.enter`):
who may be a party to which kind of appointment, the legal ages on the date, and
the no-show suspension. (One active appointment per person is the primary key of
`marriage_party_hold`; see `appointments`.)"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ, clock, utc
from core.errors import BookingSuspended, InvalidParties, Underage
from core.settings import Settings
from schemas.marriage import (
    AppointmentKind,
    AppointmentStatus,
    MarriageAppointment,
    MarriageParty,
)
from services import identity


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


def no_show_since(settings: Settings) -> dt.datetime:
    """No-shows older than this cannot suspend anyone today."""
    return clock.now() - dt.timedelta(days=settings.marriage_no_show_window_days
                                      + settings.marriage_no_show_suspension_days)


async def check_suspension(session: AsyncSession, settings: Settings,
                           blind: list[str]) -> None:
    """2 no-shows within 180 days -> no booking for 30 days (numbers from settings)."""
    window = dt.timedelta(days=settings.marriage_no_show_window_days)
    suspension = dt.timedelta(days=settings.marriage_no_show_suspension_days)
    now = clock.now()
    rows = (await session.execute(
        select(MarriageParty.id_blind_index, MarriageAppointment.no_show_at)
        .join(MarriageAppointment, MarriageAppointment.id == MarriageParty.appointment_id)
        .where(MarriageParty.id_blind_index.in_(blind),
               MarriageAppointment.status == AppointmentStatus.no_show,
               MarriageAppointment.no_show_at >= now - window - suspension)
    )).all()
    by_person: dict[str, list[dt.datetime]] = defaultdict(list)
    for person, at in rows:
        by_person[person].append(utc(at))
    until: dt.datetime | None = None
    for times in by_person.values():
        times.sort()
        for i, t in enumerate(times):
            recent = [x for x in times[: i + 1] if x > t - window]
            if len(recent) >= settings.marriage_no_show_limit:
                end = t + suspension
                if end > now and (until is None or end > until):
                    until = end
    if until is not None:
        err = BookingSuspended(until=until.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"))
        err.extra["suspended_until"] = until.isoformat()
        raise err
