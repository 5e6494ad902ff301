"""Open statistics (公开数据, API.md "Open statistics"): four public JSON answers and
the `/stats` page. Public, no credentials; every answer is a kept one
(`services.stats.answers`), sent as the bytes it was kept as, with `ETag` and
`Cache-Control`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query, Response

from api.conditional import NOT_MODIFIED
from api.deps import Db, division_query, month_query
from api.hotpath import hot_read
from api.problems import PUBLIC_RESPONSES, responses
from api.route import Router
from core import errors
from core.clock import clock
from schemas.common import FIRST_DAY, LAST_DAY
from schemas.stats import MIN_PEOPLE, BedsStats, BurialStats, HomeCareStats, MarriageStats
from services.etag import none_match
from services.stats import beds, burial, home_care, marriage, page
from services.stats.answers import TTL_SECONDS, Answer

public_router = Router(tags=["stats"], public=True)

DivisionQuery = Annotated[str | None, division_query(
    "A six-digit division code; its jurisdiction is counted (a province's code covers its "
    "cities and counties, a city's its counties). Absent: the whole country. An unknown "
    "code is 422 `invalid_division_code`", example="510100")]
MonthQuery = Annotated[str | None, month_query(
    "The month; absent: the current month (China time)", example="2026-11")]
YearQuery = Annotated[int | None, Query(
    ge=FIRST_DAY.year, le=LAST_DAY.year, examples=[2026],
    description=f"The year of the claims' first submission, {FIRST_DAY.year} to "
                f"{LAST_DAY.year}; absent: the current year (China time)")]

_COMMON = (f"Public, no credentials. Figures are computed at `as_of` and kept for "
           f"{TTL_SECONDS} s (never more than 5 minutes old); `Cache-Control` says how long "
           f"a client may keep the answer, and `If-None-Match` with its `ETag` is answered "
           f"304. A figure about people (a count, sum, rate or median) computed from fewer "
           f"than {MIN_PEOPLE} of them is null and named in its object's `suppressed`; "
           f"figures about places and seats never are. No answer names a person.")
_HEADERS = {"ETag": {"description": "The answer's version", "schema": {"type": "string"}},
            "Cache-Control": {"description": "`public, max-age=N`: N seconds at most "
                                             f"{TTL_SECONDS}, what is left of the answer's "
                                             "time", "schema": {"type": "string"}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": _HEADERS}, **NOT_MODIFIED, **PUBLIC_RESPONSES,
    **{k: v for k, v in responses(errors.InvalidDivisionCode).items() if k != 401}}


IfNoneMatch = Annotated[str | None, Header(
    alias="If-None-Match", description="An ETag read before: 304 with no body while the "
                                       "answer is still the same",
    examples=['"st-3f1c0e5a9b7d2c4e6f8a0b1c"'])]


def _send(if_none_match: str | None, answer: Answer, media_type: str) -> Response:
    """The kept bytes as they are, with their ETag and how long they may be kept;
    304 when `If-None-Match` names them."""
    headers = {"ETag": answer.etag,
               "Cache-Control": f"public, max-age={answer.max_age(clock.now())}"}
    if none_match(if_none_match, answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=media_type, headers=headers)


@public_router.get(
    "/v1/stats/beds", response_model=BedsStats,
    summary="Open statistics: care beds by category, occupancy and waiting time",
    description="The beds of the care institutions in the division, by category: `beds` "
                "(every bed), `available` (vacant), `occupied`, `occupancy_rate` = occupied / "
                "beds; `median_wait_days`: the median, over the admissions of the 365 days "
                "before `as_of`, of the days (China dates) from application to admission "
                "(`admissions`: how many). " + _COMMON,
    responses=_RESPONSES)
@hot_read
async def get_bed_statistics(session: Db, if_none_match: IfNoneMatch = None,
                             division_code: DivisionQuery = None) -> Response:
    return _send(if_none_match, await beds.answer(session, division_code), "application/json")


@public_router.get(
    "/v1/stats/marriage", response_model=MarriageStats,
    summary="Open statistics: marriage registration sessions, seats and bookings",
    description="Each registration office of the division in the month: `sessions` its "
                "calendar holds, their `seats`, `booked` (appointments not cancelled), "
                "`fill_rate` = booked / seats, `no_show_rate` = no-shows / appointments that "
                "were due (not cancelled, session started by `as_of`). `month` defaults to the "
                "current month, China time. " + _COMMON,
    responses=_RESPONSES)
@hot_read
async def get_marriage_statistics(session: Db, if_none_match: IfNoneMatch = None,
                                  division_code: DivisionQuery = None,
                                  month: MonthQuery = None) -> Response:
    return _send(if_none_match, await marriage.answer(session, division_code, month),
                 "application/json")


@public_router.get(
    "/v1/stats/burial", response_model=BurialStats,
    summary="Open statistics: eco-burial subsidy claims, decisions and time to payment",
    description="The claims first submitted in the year (China time) for deceased "
                "registered in the division, by burial method: `submitted` (withdrawn ones "
                "included), of those `approved` (paid included), `rejected`, `paid`, "
                "`amount_paid_fen`, and the median and 90th percentile of the days (China "
                "dates) from first submission to payment over the paid ones. `year` defaults "
                "to the current year. " + _COMMON,
    responses=_RESPONSES)
@hot_read
async def get_burial_statistics(session: Db, if_none_match: IfNoneMatch = None,
                                division_code: DivisionQuery = None,
                                year: YearQuery = None) -> Response:
    return _send(if_none_match, await burial.answer(session, division_code, year),
                 "application/json")


@public_router.get(
    "/v1/stats/home-care", response_model=HomeCareStats,
    summary="Open statistics: home-care visits, verification and subsidy",
    description="The visits of the month (by visit date, China time) of the providers in "
                "the division, by service: `visits_completed`, `verified_rate` = visits "
                "verified without correction / completed visits, `exceptions` (completed "
                "visits carrying each exception code), `subsidy_paid_fen` (paid on verified "
                "and corrected visits). `month` defaults to the current month. " + _COMMON,
    responses=_RESPONSES)
@hot_read
async def get_home_care_statistics(session: Db, if_none_match: IfNoneMatch = None,
                                   division_code: DivisionQuery = None,
                                   month: MonthQuery = None) -> Response:
    return _send(if_none_match, await home_care.answer(session, division_code, month),
                 "application/json")


@public_router.get(
    "/stats", response_class=Response,
    summary="Open statistics page (HTML, in Chinese, with SVG charts)",
    description="The four sets of figures of the current month and year as charts drawn on "
                "the server: no script, nothing from another host (a Content-Security-Policy "
                "says so). Suppressed figures read “—（少于5例，不公开）”. Kept like the "
                "answers it shows. " + _COMMON,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}, "example": (
                         "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                         "<title>惠民公开数据 · 全国</title>...</head><body>...<svg ...>"
                         "</svg>...</body></html>")}},
                     "headers": {**_HEADERS, "Content-Security-Policy": {
                         "description": "Only this page's inline styles; nothing loaded",
                         "schema": {"type": "string"}}}},
               **{k: v for k, v in _RESPONSES.items() if k != 200}})
@hot_read
async def get_statistics_page(session: Db, if_none_match: IfNoneMatch = None,
                              division_code: DivisionQuery = None) -> Response:
    sent = _send(if_none_match, await page.answer(session, division_code),
                 "text/html; charset=utf-8")
    sent.headers["Content-Security-Policy"] = page.CONTENT_SECURITY_POLICY
    return sent
