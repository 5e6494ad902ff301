"""China's official calendar (API.md "Official calendar"): public holidays and
adjusted working days by year, and the admin's loading of the State Council notice."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import AdminPrincipal, Db
from api.problems import PUBLIC_RESPONSES, responses
from api.route import Router
from core import errors
from schemas.official_calendar import (
    FIRST_YEAR,
    LAST_YEAR,
    OfficialCalendarIn,
    OfficialCalendarPublic,
)
from services.marriage import official_calendar

router = Router(tags=["calendar"])
public_router = Router(tags=["calendar"], public=True)

Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR, examples=[2027],
                           description=f"{FIRST_YEAR} to {LAST_YEAR}")]


@public_router.get(
    "/v1/official-calendar/{year}", response_model=OfficialCalendarPublic,
    summary="Read a year's public holidays and adjusted working days",
    description="`source` says where they come from: `notice` (the State Council notice "
                "the admin loaded, which wins), `library` (chinese-calendar), or `estimated` "
                "(neither knows the year: its statutory holidays are computed from their "
                "rules, and no adjusted working day is known). Marriage registration "
                "offices are closed on the holidays and open on the working days.",
    responses={**PUBLIC_RESPONSES, **{k: v for k, v in responses(errors.ValidationFailed).items()
                                      if k != 401}})
async def get_official_calendar(year: Year, session: Db) -> OfficialCalendarPublic:
    return await official_calendar.get(session, year)


@router.put(
    "/v1/official-calendar/{year}", response_model=OfficialCalendarPublic,
    summary="Load the State Council's holiday notice for a year (admin)",
    description="Replaces whatever the year had: from now on its `holidays` are closed "
                "and its `working_days` (Saturdays and Sundays worked, 调休) open, whatever "
                "a library or the estimate says. Every date must fall in the year; a "
                "working day must be a Saturday or Sunday and not also a holiday.",
    responses=responses(errors.Forbidden, errors.ValidationFailed))
async def put_official_calendar(year: Year, body: OfficialCalendarIn, session: Db,
                                principal: AdminPrincipal) -> OfficialCalendarPublic:
    return await official_calendar.load_notice(session, principal, year, body)
