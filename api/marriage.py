"""Marriage registration appointments (婚姻登记预约): API.md "Marriage registration".

Public: the offices and their slots. Offices (role `office`) edit their calendar
and run the front desk; citizens book, cancel, and fetch their calendar entry and
check-in QR code.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Path, Query, Response

from api.conditional import NOT_MODIFIED, Conditional, ETagged
from api.deps import (
    DATE_PATTERN,
    FIRST_DAY,
    LAST_DAY,
    CitizenPrincipal,
    Db,
    DivisionPrefix,
    HotCitizen,
    HotKey,
    IfMatchOnceExists,
    OfficeStaff,
    Paging,
    SettingsDep,
    date_query,
    require_role,
)
from api.hotpath import hot, hot_read
from api.problems import PUBLIC_RESPONSES, responses, with_headers
from api.route import Router
from core import errors
from core.principal import Principal
from schemas.common import NEAR_PATTERN, Page
from schemas.marriage import (
    DATE_RANGE_NOTE,
    FIRST_DATE,
    LAST_DATE,
    AppointmentCancel,
    AppointmentCreate,
    AppointmentForCaller,
    AppointmentLookup,
    AppointmentPublic,
    AppointmentStatus,
    CheckInRequest,
    CitizenAppointmentPublic,
    ClosureCreate,
    ClosurePublic,
    DaySession,
    DivorceCasePublic,
    MarriageClosure,
    MarriageSchedule,
    MarriageSpecialDay,
    OfficePublic,
    SlotList,
    SpecialDayCreate,
    SpecialDayPublic,
    WeeklySchedulePublic,
    WeeklyScheduleUpdate,
    WeeklySession,
)
from services.marriage import appointments, divorce, schedules

router = Router(prefix="/v1/marriage", tags=["marriage"])
public_router = Router(prefix="/v1/marriage", tags=["marriage"], public=True)

CitizenOrOffice = Annotated[Principal, Depends(require_role("citizen", "office"))]

def _date_query(description: str, *, alias: str | None = None,
                example: str = "2026-12-01") -> Any:
    """A date query parameter, bounded like every date the marriage API takes."""
    assert (FIRST_DATE, LAST_DATE) == (FIRST_DAY, LAST_DAY)
    return date_query(description, alias=alias, example=example)


_FROM = _date_query("Only from this date on", alias="from")
_DATE_PATH = Path(ge=FIRST_DATE, le=LAST_DATE, description=f"The date, {DATE_RANGE_NOTE}",
                  examples=["2026-12-24"], json_schema_extra={"pattern": DATE_PATTERN})


def _schedule_public(s: MarriageSchedule, cancelled: int = 0) -> WeeklySchedulePublic:
    return WeeklySchedulePublic(
        office_id=s.office_id, sessions=[WeeklySession.model_validate(x) for x in s.sessions],
        booking_opens_days_ahead=s.booking_opens_days_ahead,
        min_notice_hours=s.min_notice_hours, cancel_deadline_hours=s.cancel_deadline_hours,
        version=s.version, updated_at=s.updated_at, cancelled_appointments=cancelled,
        calendar_estimated_from=schedules.estimated_from(s))


def _closure_public(c: MarriageClosure, cancelled: int = 0) -> ClosurePublic:
    return ClosurePublic(id=c.id, office_id=c.office_id, date=c.closure_date, reason=c.reason,
                         created_at=c.created_at, cancelled_appointments=cancelled)


def _special_public(s: MarriageSpecialDay, cancelled: int = 0) -> SpecialDayPublic:
    return SpecialDayPublic(id=s.id, office_id=s.office_id, date=s.special_date,
                            sessions=[DaySession.model_validate(x) for x in s.sessions],
                            created_at=s.created_at, updated_at=s.updated_at,
                            cancelled_appointments=cancelled)


# --- public ------------------------------------------------------------------------


@public_router.get(
    "/offices", response_model=Page[OfficePublic],
    summary="List registration offices, or find the nearest (public)",
    description="Each office says whether it `takes_bookings` (it publishes sessions). "
                "`near=lat,lon` adds `distance_km` to each item; `sort=distance` orders by "
                "it, nearest first (offices without a location are then left out).",
    responses={**PUBLIC_RESPONSES, **{k: v for k, v in responses(
        errors.InvalidCursor, errors.ValidationFailed, errors.NearRequired).items()
        if k != 401}})
async def list_offices(
    session: Db, paging: Paging,
    division_code: DivisionPrefix = None,
    # The pattern is checked by the service (organisations.parse_near), whose refusal
    # names the expected form in both languages.
    near: Annotated[str | None, Query(max_length=40, json_schema_extra={"pattern": NEAR_PATTERN},
                                      description="`lat,lon` in decimal degrees",
                                      examples=["39.92,116.44"])] = None,
    sort: Literal["id", "distance"] = "id",
) -> Page[OfficePublic]:
    return await schedules.list_offices(session, division_code=division_code, near=near,
                                        sort=sort, limit=paging.limit, cursor=paging.cursor)


@public_router.get(
    "/offices/{office_id}/slots", response_model=SlotList,
    summary="An office's sessions with remaining capacity (public, at most 62 days)",
    responses={**PUBLIC_RESPONSES, **{k: v for k, v in responses(
        errors.NotFound, errors.DateRangeTooLong).items() if k != 401}})
@hot_read
async def list_slots(
    office_id: str, session: Db,
    from_: Annotated[dt.date | None, _date_query("First date (default today, China time)",
                                                 alias="from")] = None,
    to: Annotated[dt.date | None, _date_query("Last date, inclusive (default: 62 days from "
                                              "`from`)", example="2026-12-31")] = None,
) -> Response:
    # The JSON is built by the service (the response model stays declared for the
    # OpenAPI document; returning a Response skips validating 300 items again).
    return Response(await schedules.list_slots(session, office_id, from_, to),
                    media_type="application/json")


# --- the office's calendar ------------------------------------------------------------


@router.put(
    "/offices/{office_id}/weekly-schedule", response_model=WeeklySchedulePublic,
    summary="Publish or change the weekly schedule (If-Match once it exists)",
    description="Sessions per weekday (1 = Monday) with capacities, and the booking settings. "
                "A change that would leave a session with more appointments than capacity, "
                "or drop a session that has appointments, is refused with 409 "
                "`capacity_below_booked` and `affected_appointments`, unless "
                "`cancel_affected` is true: then they are cancelled with reason "
                "`office_closed`.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.CapacityBelowBooked,
                        errors.PreconditionFailed, errors.PreconditionRequired,
                        errors.InvalidSessions, errors.ValidationFailed))
async def put_weekly_schedule(office_id: str, body: WeeklyScheduleUpdate, session: Db,
                              principal: OfficeStaff, settings: SettingsDep,
                              if_match: IfMatchOnceExists, cond: ETagged,
                              ) -> WeeklySchedulePublic:
    result = await schedules.put_schedule(session, principal, settings, office_id, body,
                                          if_match)
    return cond.respond(_schedule_public(result.schedule, result.cancelled),
                        schedules.schedule_etag(result.schedule))


@router.get("/offices/{office_id}/weekly-schedule", response_model=WeeklySchedulePublic,
            summary="Read the weekly schedule (with ETag)",
            responses={**NOT_MODIFIED, **responses(errors.Forbidden, errors.NotFound)})
async def get_weekly_schedule(office_id: str, session: Db, principal: OfficeStaff,
                              cond: Conditional) -> WeeklySchedulePublic:
    schedule = await schedules.get_schedule(session, principal, office_id)
    return cond.respond(_schedule_public(schedule), schedules.schedule_etag(schedule))


@router.post(
    "/offices/{office_id}/closures", response_model=ClosurePublic, status_code=201,
    summary="Close a date (201 new, 200 when the date was already closed)",
    description="Closes the office on a date, whatever the calendar says. Bookings on that "
                "date make it 409 `capacity_below_booked` unless `cancel_affected` is true.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.ScheduleNotSet,
                        errors.CapacityBelowBooked, errors.ValidationFailed)
    | with_headers(201, "Location"))
async def add_closure(office_id: str, body: ClosureCreate, session: Db, principal: OfficeStaff,
                      response: Response) -> ClosurePublic:
    result = await schedules.add_closure(session, principal, office_id, body)
    if not result.created:
        response.status_code = 200
    else:
        response.headers["Location"] = \
            f"/v1/marriage/offices/{office_id}/closures/{result.closure.closure_date}"
    return _closure_public(result.closure, result.cancelled)


@router.get("/offices/{office_id}/closures", response_model=Page[ClosurePublic],
            summary="The office's closures (from a date), by date",
            responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def list_closures(office_id: str, session: Db, principal: OfficeStaff, paging: Paging,
                        from_: Annotated[dt.date | None, _FROM] = None,
                        ) -> Page[ClosurePublic]:
    page = await schedules.list_closures(session, principal, office_id, from_,
                                         limit=paging.limit, cursor=paging.cursor)
    return page.map(_closure_public)


@router.delete("/offices/{office_id}/closures/{date}", status_code=204,
               summary="Reopen a closed date",
               responses=responses(errors.Forbidden, errors.NotFound, errors.ScheduleNotSet))
async def remove_closure(office_id: str, date: Annotated[dt.date, _DATE_PATH], session: Db,
                         principal: OfficeStaff) -> Response:
    await schedules.remove_closure(session, principal, office_id, date)
    return Response(status_code=204)


@router.post(
    "/offices/{office_id}/special-days", response_model=SpecialDayPublic, status_code=201,
    summary="Open a date with its own sessions (201 new, 200 replaced)",
    description="Opens a holiday, a weekend or a peak date (5.20, 七夕) with its own sessions, "
                "or replaces a special day's sessions. A closure of the same date still wins. "
                "Dropping booked sessions is 409 `capacity_below_booked` unless "
                "`cancel_affected` is true.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.ScheduleNotSet,
                        errors.CapacityBelowBooked, errors.InvalidSessions,
                        errors.ValidationFailed)
    | with_headers(201, "Location"))
async def put_special_day(office_id: str, body: SpecialDayCreate, session: Db,
                          principal: OfficeStaff, response: Response) -> SpecialDayPublic:
    result = await schedules.put_special_day(session, principal, office_id, body)
    if not result.created:
        response.status_code = 200
    else:
        response.headers["Location"] = \
            f"/v1/marriage/offices/{office_id}/special-days/{result.special.special_date}"
    return _special_public(result.special, result.cancelled)


@router.get("/offices/{office_id}/special-days", response_model=Page[SpecialDayPublic],
            summary="The office's special days (from a date), by date",
            responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def list_special_days(office_id: str, session: Db, principal: OfficeStaff,
                            paging: Paging, from_: Annotated[dt.date | None, _FROM] = None,
                            ) -> Page[SpecialDayPublic]:
    page = await schedules.list_special_days(session, principal, office_id, from_,
                                             limit=paging.limit, cursor=paging.cursor)
    return page.map(_special_public)


@router.delete("/offices/{office_id}/special-days/{date}", status_code=204,
               summary="Remove a special day (its date follows the calendar again)",
               responses=responses(errors.Forbidden, errors.NotFound, errors.ScheduleNotSet,
                                   errors.CapacityBelowBooked))
async def remove_special_day(office_id: str, date: Annotated[dt.date, _DATE_PATH],
                             session: Db,
                             principal: OfficeStaff,
                             cancel_affected: bool = False) -> Response:
    await schedules.remove_special_day(session, principal, office_id, date,
                                       cancel_affected=cancel_affected)
    return Response(status_code=204)


# --- appointments -------------------------------------------------------------------------


@router.post(
    "/appointments", response_model=CitizenAppointmentPublic, status_code=201,
    summary="Book an appointment (Idempotency-Key required)",
    description="Marriage: one man and one woman, at least 22 and 20 on the appointment date "
                "(from the identity numbers). Divorce and divorce confirmation: two parties; "
                "reissue: one or two. A person holds at most one booked appointment in any "
                "office. `divorce_confirmation` needs `divorce_case_id` and a session in the "
                "case's confirmation window (days 31-60 after receipt).",
    responses=responses(errors.IdempotencyKeyRequired, errors.Forbidden, errors.NotFound,
                        errors.SlotFull, errors.PartyHasActiveAppointment,
                        errors.IdempotencyInFlight, errors.InvalidState, errors.Underage,
                        errors.InvalidParties, errors.InvalidIdNumber,
                        errors.OutsideBookingWindow, errors.OutsideConfirmationWindow,
                        errors.BookingSuspended, errors.IdempotencyKeyReused,
                        errors.ValidationFailed)
    | with_headers(201, "Location"))
@hot
async def book_appointment(body: AppointmentCreate, session: Db, principal: HotCitizen,
                           settings: SettingsDep, claim: HotKey) -> Response:
    booked = await appointments.book(session, principal, settings, body.root, claim=claim)
    # Serialised once, by the service (which may have stored it as the idempotent
    # record already): FastAPI's second pass through `response_model` (kept for the
    # OpenAPI document) is skipped.
    return Response(booked.json, status_code=201, media_type="application/json",
                    headers={"Location":
                             f"/v1/marriage/appointments/{booked.view.appointment.id}"})


@router.get("/appointments", response_model=Page[AppointmentForCaller],
            summary="A citizen's own appointments, or an office's (by date and status)",
            responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_appointments(
    session: Db, principal: CitizenOrOffice, paging: Paging,
    date: Annotated[dt.date | None, _date_query("Session date (China time)")] = None,
    status: AppointmentStatus | None = None,
) -> Page[AppointmentForCaller]:
    page = await appointments.list_for(session, principal, on=date, status=status,
                                       limit=paging.limit, cursor=paging.cursor)
    return page.map(lambda v: appointments.to_public(v, show_code=principal.is_citizen))


@router.post(
    "/appointments/lookup", response_model=Page[AppointmentPublic],
    summary="Find a person's appointments at this office by identity number (front desk)",
    description="The office's staff type or scan the identity number of the person at the "
                "desk and get that person's appointments at their own office (never another "
                "office's), by session time; `date` and `status` narrow it. The number goes "
                "in the body, never in a URL; it is validated (422 `invalid_id_number`), "
                "comes back only masked, and every look-up is audited as "
                "`marriage_appointment.lookup`.",
    responses=responses(errors.Forbidden, errors.InvalidCursor, errors.InvalidIdNumber,
                        errors.ValidationFailed))
async def lookup_appointments(body: AppointmentLookup, session: Db, principal: OfficeStaff,
                              settings: SettingsDep, paging: Paging,
                              ) -> Page[AppointmentPublic]:
    page = await appointments.lookup(session, principal, settings, body, limit=paging.limit,
                                     cursor=paging.cursor)
    return page.map(lambda v: appointments.to_public(v, show_code=False))


@router.get("/appointments/{appointment_id}", response_model=AppointmentForCaller,
            summary="Read an appointment (its citizen, or its office's staff)",
            responses=responses(errors.Forbidden, errors.NotFound))
async def get_appointment(appointment_id: str, session: Db,
                          principal: CitizenOrOffice) -> AppointmentForCaller:
    view = await appointments.get(session, principal, appointment_id)
    return appointments.to_public(view, show_code=principal.is_citizen)


@router.action("/appointments/{appointment_id}/cancel",
               response_model=AppointmentForCaller,
               summary="Cancel (the citizen until the deadline; the office with a reason)",
               description="A citizen (no body) until `cancel_deadline_at` (else 422 "
                           "`cancel_deadline_passed`). The office cancels one appointment "
                           "with `{\"reason\"}` (422 `cancel_reason_required` without) any "
                           "time before its session ends (else 422 `session_ended`); the "
                           "appointment then shows `cancelled_by` `office` and the reason "
                           "as `cancel_reason`, which the couple sees. Either way the seat "
                           "returns to the pool at once.",
               errors=(errors.CancelDeadlinePassed, errors.OfficeCancelReasonRequired,
                       errors.SessionEnded, errors.ValidationFailed))
async def cancel_appointment(
    appointment_id: str, session: Db, principal: CitizenOrOffice,
    body: Annotated[AppointmentCancel | None, Body(openapi_examples={
        "citizen": {"summary": "The couple cancels (no body, or {})", "value": {}},
        "office": {"summary": "The office cancels one appointment, with a reason",
                   "value": {"reason": "登记员因病缺勤"}},
    })] = None,
) -> AppointmentPublic:
    view = await appointments.cancel(session, principal, appointment_id, body)
    return appointments.to_public(view, show_code=principal.is_citizen)


@router.action("/appointments/{appointment_id}/check-in",
               response_model=AppointmentPublic,
               summary="Check a couple in with their check-in code (the office, on the day)",
               description="`check_in_code` is the code the couple reads out, or the whole "
                           "payload of their QR code (`huimin-marriage:<appointment id>:"
                           "<code>`). A payload of another appointment (another office's) or "
                           "an altered one is 422 `invalid_check_in_code`.",
               errors=(errors.InvalidCheckInCode, errors.CheckInNotToday, errors.ValidationFailed))
async def check_in_appointment(appointment_id: str, body: CheckInRequest, session: Db,
                               principal: OfficeStaff) -> AppointmentPublic:
    view = await appointments.check_in(session, principal, appointment_id, body.check_in_code)
    return appointments.to_public(view, show_code=False)


@router.action("/appointments/{appointment_id}/complete",
               response_model=AppointmentPublic,
               summary="Complete a checked-in appointment (a divorce opens a divorce case)")
async def complete_appointment(appointment_id: str, session: Db, principal: OfficeStaff,
                               settings: SettingsDep) -> AppointmentPublic:
    view = await appointments.complete(session, principal, settings, appointment_id)
    return appointments.to_public(view, show_code=False)


@router.action("/appointments/{appointment_id}/no-show",
               response_model=AppointmentPublic,
               summary="Mark a no-show (only after the session ended)",
               description="2 no-shows within 180 days suspend booking for 30 days "
                           "(settings `HUIMIN_MARRIAGE_NO_SHOW_*`).",
               errors=(errors.SessionNotEnded,))
async def mark_appointment_no_show(appointment_id: str, session: Db,
                              principal: OfficeStaff) -> AppointmentPublic:
    view = await appointments.no_show(session, principal, appointment_id)
    return appointments.to_public(view, show_code=False)


@router.get("/appointments/{appointment_id}/calendar.ics", response_class=Response,
            summary="The appointment as an iCalendar event (Asia/Shanghai)",
            responses={200: {"content": {"text/calendar": {"example": (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n...\r\nBEGIN:VEVENT\r\n"
                "SUMMARY:结婚登记（朝阳区婚姻登记处）\r\n"
                "DTSTART;TZID=Asia/Shanghai:20261201T090000\r\n...\r\nEND:VCALENDAR\r\n")}}},
                **responses(errors.Forbidden, errors.NotFound)})
async def get_appointment_calendar(appointment_id: str, session: Db,
                               principal: CitizenPrincipal) -> Response:
    body = await appointments.calendar_ics(session, principal, appointment_id)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{appointment_id}.ics"'})


@router.get("/appointments/{appointment_id}/check-in-qr.svg", response_class=Response,
            summary="The check-in code as a QR code (SVG)",
            description="The QR code holds `huimin-marriage:<appointment id>:<check-in code>`.",
            responses={200: {"content": {"image/svg+xml": {"example": "<svg ...>...</svg>"}}},
                       **responses(errors.Forbidden, errors.NotFound, errors.InvalidState)})
async def get_appointment_check_in_qr(appointment_id: str, session: Db,
                         principal: CitizenPrincipal) -> Response:
    body = await appointments.check_in_qr_svg(session, principal, appointment_id)
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --- divorce cases ----------------------------------------------------------------------


@router.get("/divorce-cases", response_model=Page[DivorceCasePublic],
            summary="Divorce cases: a citizen's own (or their person's), or an office's",
            description="Newest first. A citizen sees the cases they applied for and, once "
                        "the account is bound to a person, every case of that person; an "
                        "office the cases it received or holds a confirmation for (audited).",
            responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_divorce_cases(session: Db, principal: CitizenOrOffice, settings: SettingsDep,
                             paging: Paging) -> Page[DivorceCasePublic]:
    page = await divorce.list_for(session, principal, limit=paging.limit, cursor=paging.cursor)
    return page.map(lambda case: divorce.to_public(case, settings))


@router.get("/divorce-cases/{case_id}", response_model=DivorceCasePublic,
            summary="A divorce case and its cooling-off dates",
            responses=responses(errors.Forbidden, errors.NotFound))
async def get_divorce_case(case_id: str, session: Db, principal: CitizenOrOffice,
                           settings: SettingsDep) -> DivorceCasePublic:
    case = await divorce.get(session, principal, settings, case_id)
    return divorce.to_public(case, settings)


@router.action("/divorce-cases/{case_id}/withdraw", response_model=DivorceCasePublic,
               summary="Withdraw a divorce application (during the cooling-off period)")
async def withdraw_divorce_case(case_id: str, session: Db, principal: CitizenPrincipal,
                                settings: SettingsDep) -> DivorceCasePublic:
    case = await divorce.withdraw(session, principal, settings, case_id)
    return divorce.to_public(case, settings)
