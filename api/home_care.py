"""Home and community care (居家社区养老服务): the catalogue, providers' offerings
and caregivers, availability, visits and their record, and the service subsidy."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Body, Depends, Query, Response

from api.conditional import NOT_MODIFIED, Conditional, ETagged
from api.deps import (
    AdminPrincipal,
    CaregiverStaff,
    CitizenPrincipal,
    Db,
    HotCitizen,
    HotKey,
    Idempotent,
    IfMatch,
    Paging,
    ProviderStaff,
    SettingsDep,
    date_query,
    division_query,
    month_query,
    require_role,
)
from api.hotpath import hot, hot_read
from api.problems import PUBLIC_RESPONSES, responses, with_headers
from api.route import Router
from core import errors
from core.principal import Principal
from schemas.common import NEAR_PATTERN, Page
from schemas.home_care import (
    VISIT_CORRECTED_EXAMPLE,
    VISIT_CORRECTION_SUBMITTED_EXAMPLE,
    VISIT_EXCEPTION_EXAMPLE,
    VISIT_REJECTED_EXAMPLE,
    AllowanceMonthPublic,
    AvailabilityPublic,
    BookingCreate,
    BookingPublic,
    BookingStatus,
    CancelAffectedIn,
    CancelIn,
    CaregiverCreate,
    CaregiverKeyCreate,
    CaregiverKeyCreated,
    CaregiverKeyPublic,
    CaregiverPublic,
    CaregiverUpdate,
    CaregiverVisitPublic,
    CataloguePublic,
    CentreBookingCreate,
    CentreBookingPublic,
    CentreSessionCreate,
    CentreSessionPublic,
    CorrectionApproveIn,
    CorrectionIn,
    CorrectionRejectIn,
    LedgerEntryPublic,
    LocationIn,
    OfferingIn,
    OfferingPublic,
    ProviderPublic,
    RatingIn,
    ServiceCode,
    SubsidyIn,
    SubsidyPublic,
    TimeOffCreate,
    TimeOffPublic,
    VerificationStatus,
)
from services.home_care import (
    bookings,
    caregiver_keys,
    caregiver_visits,
    caregivers,
    catalogue,
    centre,
    corrections,
    providers,
    subsidies,
)

router = Router(tags=["home-care"])
public_router = Router(tags=["home-care"], public=True)

CitizenOrProvider = Annotated[Principal, Depends(require_role("citizen", "provider"))]
# A visit's own caregiver acts on it beside the provider (the `caregiver` rule of
# `bookings.BOOKING` says which visits are its own: any other is 404).
ProviderOrCaregiver = Annotated[Principal, Depends(require_role("provider", "caregiver"))]
VisitReader = Annotated[Principal, Depends(require_role("citizen", "provider", "caregiver"))]
Month = Annotated[str, month_query("The month")]
_STAFF = (errors.Forbidden, errors.NotFound)


def _public(*errs: type[errors.DomainError]) -> dict:
    return {**PUBLIC_RESPONSES, **{k: v for k, v in responses(*errs).items() if k != 401}}


# --- catalogue and offerings ------------------------------------------------------


@public_router.get("/v1/home-care/services", response_model=Page[CataloguePublic],
                   summary="The service catalogue (助餐 助洁 助浴 助医 助行 ...)",
                   description="All eight services in one page (`next_cursor` is null).",
                   responses=_public())
async def list_home_care_services() -> Page[CataloguePublic]:
    return Page(items=catalogue.catalogue(), next_cursor=None)


@public_router.get(
    "/v1/home-care/providers", response_model=Page[ProviderPublic],
    summary="Find a provider: who offers a service, nearest first (public)",
    description="The home-care providers offering `service_code` (every provider "
                "without it), within `division_code` (a province's or city's code covers "
                "its counties). With `near=lat,lon`: nearest first, each with `distance_m` "
                "(providers without a location are left out); without it: by name. Each "
                "provider lists all its `offerings`, the service asked for first (its "
                "price and duration), then the others by code; `rating_avg` is the mean "
                "stars of its rated visits, null below 5 ratings (`rating_count` is "
                "always shown). A cursor belongs to its order: one from a `near` search "
                "is refused (400 `invalid_cursor`) without `near`, and the other way round.",
    responses=_public(errors.ValidationFailed, errors.InvalidDivisionCode,
                      errors.InvalidCursor))
@hot_read
async def list_home_care_providers(
    session: Db, paging: Paging,
    service_code: Annotated[ServiceCode | None, Query(
        description="Only providers offering this service")] = None,
    # The pattern is checked by the service (organisations.parse_near), whose refusal
    # names the expected form in both languages.
    near: Annotated[str | None, Query(max_length=40, json_schema_extra={"pattern": NEAR_PATTERN},
                                      description="`lat,lon` in decimal degrees",
                                      examples=["31.23,121.47"])] = None,
    division_code: Annotated[str | None, division_query(
        "Six-digit division code: the division and those within it (`310100`: every "
        "district of Shanghai)", example="310101")] = None,
) -> Response:
    # A hot read (api.hotpath): served without FastAPI's per-request dependency
    # solving; the JSON is built by the service (the response model stays declared
    # for the document, and the tests hold every item to it).
    return Response(await providers.search(
        session, service_code=service_code, near=near, division_code=division_code,
        limit=paging.limit, cursor=paging.cursor), media_type="application/json")


@router.put(
    "/v1/providers/{provider_id}/offerings/{service_code}", response_model=OfferingPublic,
    summary="Set the provider's price and duration of a service (If-Match once it exists)",
    description="The first PUT creates the offering; later ones need the `ETag` as "
                "`If-Match` (428 without, 412 when stale). `duration_minutes` left out "
                "takes the catalogue's default.",
    responses=responses(*_STAFF, errors.PreconditionFailed, errors.PreconditionRequired,
                        errors.ValidationFailed))
async def put_offering(provider_id: str, service_code: ServiceCode, body: OfferingIn,
                       session: Db, principal: ProviderStaff, if_match: IfMatch,
                       cond: ETagged) -> OfferingPublic:
    row = await catalogue.put_offering(session, principal, provider_id, service_code, body,
                                       if_match)
    return cond.respond(catalogue.to_public(row), catalogue.offering_etag(row))


@public_router.get(
    "/v1/providers/{provider_id}/offerings", response_model=Page[OfferingPublic],
    summary="A provider's offerings with prices and durations",
    responses=_public(errors.NotFound, errors.InvalidCursor))
async def list_offerings(provider_id: str, session: Db,
                         paging: Paging) -> Page[OfferingPublic]:
    return await catalogue.list_offerings(session, provider_id, limit=paging.limit,
                                          cursor=paging.cursor)


@public_router.get(
    "/v1/providers/{provider_id}/offerings/{service_code}", response_model=OfferingPublic,
    summary="One offering, with its ETag",
    responses={**NOT_MODIFIED, **_public(errors.NotFound)})
async def get_offering(provider_id: str, service_code: ServiceCode, session: Db,
                       cond: Conditional) -> OfferingPublic:
    row = await catalogue.get_offering(session, provider_id, service_code.value)
    return cond.respond(catalogue.to_public(row), catalogue.offering_etag(row))


# --- caregivers --------------------------------------------------------------------


@router.post("/v1/providers/{provider_id}/caregivers", status_code=201,
             response_model=CaregiverPublic, summary="Add a caregiver with skills and hours",
             responses=responses(*_STAFF, errors.ValidationFailed)
             | with_headers(201, "Location"))
async def create_caregiver(provider_id: str, body: CaregiverCreate, session: Db,
                           principal: ProviderStaff, cond: ETagged,
                           response: Response) -> CaregiverPublic:
    c = await caregivers.create(session, principal, provider_id, body)
    response.headers["Location"] = f"/v1/providers/{provider_id}/caregivers/{c.id}"
    return cond.respond(caregivers.to_public(c), caregivers.caregiver_etag(c))


@router.get("/v1/providers/{provider_id}/caregivers", response_model=Page[CaregiverPublic],
            summary="The provider's caregivers", responses=responses(*_STAFF,
                                                                     errors.InvalidCursor))
async def list_caregivers(provider_id: str, session: Db, principal: ProviderStaff,
                          paging: Paging, active: bool | None = None) -> Page[CaregiverPublic]:
    return await caregivers.list_(session, principal, provider_id, active=active,
                                  limit=paging.limit, cursor=paging.cursor)


@router.get("/v1/providers/{provider_id}/caregivers/{caregiver_id}",
            response_model=CaregiverPublic, summary="One caregiver, with its ETag",
            responses={**NOT_MODIFIED, **responses(*_STAFF)})
async def get_caregiver(provider_id: str, caregiver_id: str, session: Db,
                        principal: ProviderStaff, cond: Conditional) -> CaregiverPublic:
    c = await caregivers.get(session, principal, provider_id, caregiver_id)
    return cond.respond(caregivers.to_public(c), caregivers.caregiver_etag(c))


@router.patch(
    "/v1/providers/{provider_id}/caregivers/{caregiver_id}", response_model=CaregiverPublic,
    summary="Change a caregiver's name, skills or weekly hours (If-Match)",
    description="New skills or hours that a booked future visit no longer fits answer 409 "
                "`bookings_affected` with `affected_bookings`; with `cancel_affected: true` "
                "those visits are cancelled (`cancelled_by` provider, `cancel_reason` "
                "`caregiver_unavailable`).",
    responses=responses(*_STAFF, errors.PreconditionFailed, errors.PreconditionRequired,
                        errors.BookingsAffected, errors.ValidationFailed))
async def update_caregiver(provider_id: str, caregiver_id: str, body: CaregiverUpdate,
                           session: Db, principal: ProviderStaff, if_match: IfMatch,
                           cond: ETagged) -> CaregiverPublic:
    c = await caregivers.update_(session, principal, provider_id, caregiver_id, body, if_match)
    return cond.respond(caregivers.to_public(c), caregivers.caregiver_etag(c))


@router.action("/v1/providers/{provider_id}/caregivers/{caregiver_id}/deactivate",
               response_model=CaregiverPublic,
               summary="Deactivate a caregiver (409 bookings_affected unless cancel_affected)",
               errors=(errors.BookingsAffected,))
async def deactivate_caregiver(provider_id: str, caregiver_id: str, session: Db,
                               principal: ProviderStaff,
                               body: Annotated[CancelAffectedIn | None, Body(openapi_examples={
                                   "refuse": {"summary": "Refuse if visits are booked",
                                              "value": {}},
                                   "cancel": {"summary": "Cancel the booked visits",
                                              "value": {"cancel_affected": True}},
                               })] = None,
                               ) -> CaregiverPublic:
    c = await caregivers.deactivate(session, principal, provider_id, caregiver_id,
                                    body or CancelAffectedIn())
    return caregivers.to_public(c)


@router.post("/v1/providers/{provider_id}/caregivers/{caregiver_id}/time-off",
             status_code=201, response_model=TimeOffPublic,
             summary="Record a caregiver's leave (409 bookings_affected unless cancel_affected)",
             responses=responses(*_STAFF, errors.BookingsAffected, errors.ValidationFailed)
             | with_headers(201, "Location"))
async def add_time_off(provider_id: str, caregiver_id: str, body: TimeOffCreate, session: Db,
                       principal: ProviderStaff, response: Response) -> TimeOffPublic:
    leave = await caregivers.add_time_off(session, principal, provider_id, caregiver_id, body)
    response.headers["Location"] = \
        f"/v1/providers/{provider_id}/caregivers/{caregiver_id}/time-off/{leave.id}"
    return leave


@router.delete("/v1/providers/{provider_id}/caregivers/{caregiver_id}/time-off/{time_off_id}",
               status_code=204, summary="Take a caregiver's leave back",
               responses=responses(*_STAFF))
async def remove_time_off(provider_id: str, caregiver_id: str, time_off_id: str, session: Db,
                          principal: ProviderStaff) -> Response:
    await caregivers.remove_time_off(session, principal, provider_id, caregiver_id,
                                     time_off_id)
    return Response(status_code=204)


@router.get("/v1/providers/{provider_id}/caregivers/{caregiver_id}/time-off",
            response_model=Page[TimeOffPublic], summary="A caregiver's leave",
            responses=responses(*_STAFF, errors.InvalidCursor))
async def list_time_off(provider_id: str, caregiver_id: str, session: Db,
                        principal: ProviderStaff, paging: Paging) -> Page[TimeOffPublic]:
    return await caregivers.list_time_off(session, principal, provider_id, caregiver_id,
                                          limit=paging.limit, cursor=paging.cursor)


# --- caregivers' own keys --------------------------------------------------------------

_KEYS = "/v1/providers/{provider_id}/caregivers/{caregiver_id}/api-keys"


@router.post(
    _KEYS, status_code=201, response_model=CaregiverKeyCreated,
    summary="Issue a caregiver's own key (shown once)",
    description="A key of role `caregiver`, bound to this caregiver of the provider: with "
                "it the caregiver reads its day (`GET /v1/caregivers/me/visits`), reads, "
                "checks in and checks out its own visits, and nothing else (any other "
                "caregiver's visit is 404, every provider-only operation 403). The key is "
                "in the answer once and stored only as a hash. Another provider's or an "
                "unknown caregiver: 404; a deactivated one: 409 `invalid_state` "
                "(`current_status` `inactive`). Once the caregiver is deactivated its keys "
                "answer 401 `invalid_api_key`; revoke a key for good with `DELETE`.",
    responses=responses(*_STAFF, errors.InvalidState, errors.ValidationFailed)
    | with_headers(201, "Location"))
async def issue_caregiver_key(provider_id: str, caregiver_id: str, body: CaregiverKeyCreate,
                              session: Db, principal: ProviderStaff,
                              response: Response) -> CaregiverKeyCreated:
    created = await caregiver_keys.issue(session, principal, provider_id, caregiver_id, body)
    response.headers["Location"] = (f"/v1/providers/{provider_id}/caregivers/{caregiver_id}"
                                    f"/api-keys/{created.id}")
    return created


@router.get(
    _KEYS, response_model=Page[CaregiverKeyPublic],
    summary="A caregiver's keys (never the keys themselves)",
    description="Revoked keys too (`revoked_at` set), by id.",
    responses=responses(*_STAFF, errors.InvalidCursor))
async def list_caregiver_keys(provider_id: str, caregiver_id: str, session: Db,
                              principal: ProviderStaff,
                              paging: Paging) -> Page[CaregiverKeyPublic]:
    return await caregiver_keys.list_(session, principal, provider_id, caregiver_id,
                                      limit=paging.limit, cursor=paging.cursor)


@router.delete(
    _KEYS + "/{key_id}", response_model=CaregiverKeyPublic,
    summary="Revoke a caregiver's key at once (a lost phone)",
    description="Answers the key as it now is, `revoked_at` set; the key answers 401 "
                "`invalid_api_key` from now on. Revoking it again changes nothing. A key "
                "that is not this caregiver's: 404.",
    responses=responses(*_STAFF))
async def revoke_caregiver_key(provider_id: str, caregiver_id: str, key_id: str, session: Db,
                               principal: ProviderStaff) -> CaregiverKeyPublic:
    return await caregiver_keys.revoke(session, principal, provider_id, caregiver_id, key_id)


@router.get(
    "/v1/caregivers/me/visits", response_model=Page[CaregiverVisitPublic],
    summary="The caregiver's own visits of a day, with the elder's address and phone",
    description="For a caregiver's own key only (any other role: 403). The visits assigned "
                "to the caregiver on `date` (China time; absent: today) that hold its time "
                "(`booked`, `in_service`, `completed`), earliest first, each with the "
                "elder's name, full address and full phone, so the caregiver finds the home "
                "and calls the family. Reading them is audited "
                "(`home_care_booking.list` of the caregiver).",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_my_visits(session: Db, principal: CaregiverStaff, settings: SettingsDep,
                    paging: Paging,
                    date: Annotated[dt.date | None, date_query(
                        "The day (China time); absent: today", example="2026-12-08")] = None,
                    ) -> Page[CaregiverVisitPublic]:
    return await caregiver_visits.day(session, principal, settings, on=date,
                                      limit=paging.limit, cursor=paging.cursor)


# --- availability and bookings -------------------------------------------------------


@public_router.get(
    "/v1/home-care/availability", response_model=AvailabilityPublic,
    summary="Start times at which at least one skilled caregiver is free",
    description="On the grid (`HUIMIN_HOME_CARE_GRID_MINUTES`), the whole visit inside a "
                "caregiver's weekly hours, not on leave, the travel buffer clear before and "
                "after their other visits; only times at least the minimum notice ahead and "
                "dates within the booking window.",
    responses=_public(errors.NotFound))
@hot_read
async def get_home_care_availability(session: Db, settings: SettingsDep, provider_id: str,
                       service_code: ServiceCode,
                       date: Annotated[dt.date, date_query("The day (China time)",
                                                           example="2026-12-08")],
                       ) -> Response:
    # The JSON is built by the service (the response model stays declared for the
    # OpenAPI document).
    return Response(await bookings.availability(session, settings, provider_id,
                                                service_code, date),
                    media_type="application/json")


@router.post(
    "/v1/home-care/bookings", status_code=201, response_model=BookingPublic,
    summary="Book a home visit for an elder (Idempotency-Key)",
    description="Without `caregiver_id`, the least-booked skilled caregiver free then is "
                "assigned (fewest visits that day, ties by id); with it, that caregiver or "
                "409 `no_caregiver_available`.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.IdempotencyKeyRequired,
                        errors.NoCaregiverAvailable, errors.IdempotencyInFlight,
                        errors.ElderUnderage, errors.InvalidIdNumber,
                        errors.OutsideBookingWindow, errors.InvalidStartTime,
                        errors.IdempotencyKeyReused, errors.ValidationFailed)
    | with_headers(201, "Location"))
@hot
async def create_home_care_booking(body: BookingCreate, session: Db, principal: HotCitizen,
                         settings: SettingsDep, claim: HotKey) -> Response:
    booked = await bookings.book(session, principal, settings, body, claim=claim)
    # Serialised once, by the service, which stored it as the idempotent record.
    return Response(booked.json, status_code=201, media_type="application/json",
                    headers={"Location": f"/v1/home-care/bookings/{booked.booking_id}"})


@router.get(
    "/v1/home-care/bookings", response_model=Page[BookingPublic],
    summary="The citizen's own visits, or the provider's (by date and caregiver: the roster)",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_home_care_bookings(session: Db, principal: CitizenOrProvider, settings: SettingsDep,
                        paging: Paging,
                        date: Annotated[dt.date | None, date_query(
                            "The visits' day (China time)", example="2026-12-08")] = None,
                        caregiver_id: Annotated[str | None, Query(max_length=40)] = None,
                        status: BookingStatus | None = None) -> Page[BookingPublic]:
    return await bookings.list_(session, principal, settings, day=date,
                                caregiver_id=caregiver_id, status=status,
                                limit=paging.limit, cursor=paging.cursor)


@router.get("/v1/home-care/bookings/{booking_id}", response_model=BookingPublic,
            summary="One visit (its citizen, its provider or its caregiver)",
            responses=responses(errors.Forbidden, errors.NotFound))
async def get_home_care_booking(booking_id: str, session: Db, principal: VisitReader,
                      settings: SettingsDep) -> BookingPublic:
    return await bookings.public(session, settings, principal,
                                 await bookings.get(session, principal, booking_id))


@router.action("/v1/home-care/bookings/{booking_id}/check-in", response_model=BookingPublic,
               summary="Check in at the elder's home (provider or the visit's caregiver)",
               description="By the provider, or by the visit's own caregiver with its own "
                           "key (another caregiver's visit, even of the same provider: 404).",
               errors=(errors.CheckInOutsideWindow,))
async def check_in_home_care_booking(booking_id: str, body: LocationIn, session: Db,
                   principal: ProviderOrCaregiver,
                   settings: SettingsDep) -> BookingPublic:
    b = await bookings.check_in(session, principal, settings, booking_id, body)
    return await bookings.public(session, settings, principal, b)


@router.action("/v1/home-care/bookings/{booking_id}/check-out", response_model=BookingPublic,
               summary="Check out: the visit is completed, verified, and paid or held",
               description="By the provider, or by the visit's own caregiver with its own "
                           "key (another caregiver's visit, even of the same provider: 404). "
                           "The visit's `verification` is `verified` (paid from the month's "
                           "allowance first) or `exception` with its `exceptions` codes (the "
                           "subsidy held, `subsidy_held_fen`, until the bureau decides a "
                           "correction).")
async def check_out_home_care_booking(booking_id: str, body: LocationIn, session: Db,
                    principal: ProviderOrCaregiver,
                    settings: SettingsDep) -> BookingPublic:
    b = await bookings.check_out(session, principal, settings, booking_id, body)
    return await bookings.public(session, settings, principal, b)


@router.action("/v1/home-care/bookings/{booking_id}/no-show", response_model=BookingPublic,
               summary="Mark a visit not made (provider, after its end)",
               errors=(errors.VisitNotEnded,))
async def mark_home_care_no_show(booking_id: str, session: Db, principal: ProviderStaff,
                  settings: SettingsDep) -> BookingPublic:
    return await bookings.public(session, settings, principal,
                                 await bookings.no_show(session, principal, booking_id))


@router.action("/v1/home-care/bookings/{booking_id}/cancel", response_model=BookingPublic,
               summary="Cancel a visit (citizen until the deadline; provider with a reason)",
               errors=(errors.VisitCancelDeadlinePassed, errors.CancelReasonRequired))
async def cancel_home_care_booking(booking_id: str, session: Db, principal: CitizenOrProvider,
                 settings: SettingsDep,
                 body: Annotated[CancelIn | None, Body(openapi_examples={
                     "citizen": {"summary": "The family cancels", "value": {}},
                     "provider": {"summary": "The provider cancels, with a reason",
                                  "value": {"reason": "护理员生病"}},
                 })] = None) -> BookingPublic:
    b = await bookings.cancel(session, principal, settings, booking_id, body)
    return await bookings.public(session, settings, principal, b)


@router.action("/v1/home-care/bookings/{booking_id}/rate", response_model=BookingPublic,
               summary="Rate a completed visit, once (the booking citizen)",
               errors=(errors.AlreadyRated,))
async def rate_home_care_booking(booking_id: str, body: RatingIn, session: Db,
                                 principal: CitizenPrincipal,
                                 settings: SettingsDep) -> BookingPublic:
    return await bookings.public(session, settings, principal,
                                 await bookings.rate(session, principal, booking_id, body))


# --- visit verification (EVV): corrections, the bureau's decision, the exceptions list ----

CorrectionDecider = Annotated[Principal, Depends(require_role("reviewer", "approver"))]
ExceptionReader = Annotated[Principal, Depends(require_role("provider", "reviewer",
                                                            "approver"))]


def _visit_examples(**named: dict) -> dict:
    """A 200 answer's examples: the visit as it now is."""
    return {200: {"content": {"application/json": {"examples": {
        name: {"summary": name.replace("_", " "), "value": value}
        for name, value in named.items()}}}}}


@router.action(
    "/v1/home-care/bookings/{booking_id}/corrections", response_model=BookingPublic,
    summary="Correct a visit whose record is an exception (provider)",
    description="On a completed visit whose `verification` is `exception`: the reason "
                "(`device_problem`, `no_signal`, `ended_early_at_elder_request`, "
                "`forgot_to_check`, `address_changed`, or `other` with a `note`) and the "
                "actual start and end, with an offset, between the check-in window before "
                "the booked start (60 minutes) and the missing-check-out limit after its "
                "end (2 hours), not in the future (422 `correction_outside_visit`). -> "
                "`correction_submitted`; `subsidy_held_fen` is then what the allowance "
                "would pay for the corrected time (the price prorated by the corrected "
                "over the booked minutes). Any other verification: 409 `invalid_state`. "
                "Writes `home_care.booking.correction_submitted`.",
    errors=(errors.CorrectionOutsideVisit,),
    responses=_visit_examples(correction_submitted=VISIT_CORRECTION_SUBMITTED_EXAMPLE))
async def submit_correction(booking_id: str, body: CorrectionIn, session: Db,
                            principal: ProviderStaff, settings: SettingsDep) -> BookingPublic:
    b = await corrections.submit(session, principal, settings, booking_id, body)
    return await bookings.public(session, settings, principal, b)


@router.action(
    "/v1/home-care/bookings/{booking_id}/corrections/approve", response_model=BookingPublic,
    summary="Approve a visit's correction: paid on the corrected time (bureau)",
    description="A reviewer or approver of a civil-affairs bureau whose division contains "
                "the provider's (a bureau outside: 404; the provider: 403). "
                "`correction_submitted` -> `corrected`: the visit bills its price "
                "prorated by the corrected over the booked minutes (down to the fen, at "
                "most the price), paid from the month's allowance first, the rest by the "
                "family. Decided once: a second decision is 409 `invalid_state`. Writes "
                "`home_care.booking.corrected`.",
    responses=_visit_examples(corrected=VISIT_CORRECTED_EXAMPLE))
async def approve_correction(booking_id: str, session: Db, principal: CorrectionDecider,
                             settings: SettingsDep,
                             body: Annotated[CorrectionApproveIn | None, Body(
                                 openapi_examples={
                                     "none": {"summary": "No note", "value": {}},
                                     "note": {"summary": "With a note",
                                              "value": {"note": "家属电话确认服务时间"}},
                                 })] = None) -> BookingPublic:
    b = await corrections.approve(session, principal, booking_id,
                                  body or CorrectionApproveIn())
    return await bookings.public(session, settings, principal, b)


@router.action(
    "/v1/home-care/bookings/{booking_id}/corrections/reject", response_model=BookingPublic,
    summary="Reject a visit's correction: no subsidy (bureau)",
    description="As approval, with a `note` the provider sees. `correction_submitted` -> "
                "`rejected`, final: the subsidy pays nothing and the family's share is the "
                "whole price. Writes `home_care.booking.rejected`.",
    responses=_visit_examples(rejected=VISIT_REJECTED_EXAMPLE))
async def reject_correction(booking_id: str, body: CorrectionRejectIn, session: Db,
                            principal: CorrectionDecider,
                            settings: SettingsDep) -> BookingPublic:
    b = await corrections.reject(session, principal, booking_id, body)
    return await bookings.public(session, settings, principal, b)


@router.get(
    "/v1/home-care/exceptions", response_model=Page[BookingPublic],
    summary="Visits awaiting a verification decision, oldest first",
    description="The provider's own visits; a bureau reviewer's or approver's, those of "
                "the providers within its division. Without `verification`: `exception` "
                "and `correction_submitted`; with it, the visits of that one verification. "
                "Oldest first (by start, then id); a page.",
    responses=responses(errors.Forbidden, errors.InvalidCursor)
    | {200: {"content": {"application/json": {"example": {
        "items": [VISIT_EXCEPTION_EXAMPLE, VISIT_CORRECTION_SUBMITTED_EXAMPLE],
        "next_cursor": None}}}}})
async def list_home_care_exceptions(session: Db, principal: ExceptionReader, settings: SettingsDep,
                          paging: Paging,
                          verification: VerificationStatus | None = None,
                          ) -> Page[BookingPublic]:
    return await corrections.list_exceptions(session, principal, settings,
                                             status=verification, limit=paging.limit,
                                             cursor=paging.cursor)


# --- subsidy and ledger --------------------------------------------------------------


@router.put("/v1/admin/home-care-subsidies", response_model=SubsidyPublic,
            summary="Set an elder's monthly home-care service allowance",
            responses=responses(errors.Forbidden, errors.InvalidIdNumber,
                                errors.ValidationFailed))
async def put_home_care_subsidy(body: SubsidyIn, session: Db,
                      principal: AdminPrincipal) -> SubsidyPublic:
    return await subsidies.put(session, principal, body)


@router.get("/v1/admin/home-care-ledger", response_model=Page[AllowanceMonthPublic],
            summary="A month's allowance ledger: each elder's allowance, used and remaining",
            description="Identity numbers are shown masked; none is taken in the query "
                        "string (URLs end up in access logs).",
            responses=responses(errors.Forbidden, errors.InvalidCursor))
async def get_home_care_ledger(session: Db, principal: AdminPrincipal, paging: Paging,
                       month: Month) -> Page[AllowanceMonthPublic]:
    return await subsidies.month_ledger(session, principal, month, limit=paging.limit,
                                        cursor=paging.cursor)


@router.get("/v1/providers/{provider_id}/home-care-ledger",
            response_model=Page[LedgerEntryPublic],
            summary="The provider's completed visits of a month, subsidy and family parts",
            responses=responses(*_STAFF, errors.InvalidCursor))
async def get_provider_home_care_ledger(provider_id: str, session: Db, principal: ProviderStaff,
                          paging: Paging, month: Month) -> Page[LedgerEntryPublic]:
    return await bookings.provider_ledger(session, principal, provider_id, month,
                                          limit=paging.limit, cursor=paging.cursor)


# --- centre services (day care, canteen meals) -----------------------------------------


@router.post("/v1/providers/{provider_id}/centre-sessions", status_code=201,
             response_model=CentreSessionPublic,
             summary="Publish a centre session (day care, canteen meal) with its capacity",
             responses=responses(*_STAFF, errors.ValidationFailed))
async def publish_centre_session(provider_id: str, body: CentreSessionCreate, session: Db,
                                 principal: ProviderStaff,
                                 settings: SettingsDep) -> CentreSessionPublic:
    return await centre.publish(session, principal, settings, provider_id, body)


@public_router.get(
    "/v1/home-care/centre-sessions", response_model=Page[CentreSessionPublic],
    summary="A provider's centre sessions between two dates, with seats remaining",
    description="`from` and `to` inclusive, at most 31 days.",
    responses=_public(errors.NotFound, errors.DateRangeTooLong, errors.InvalidCursor))
async def list_centre_sessions(
        session: Db, settings: SettingsDep, paging: Paging, provider_id: str,
        first: Annotated[dt.date, date_query("First day", alias="from", example="2026-12-08")],
        last: Annotated[dt.date, date_query("Last day, inclusive", alias="to",
                                            example="2026-12-14")],
) -> Page[CentreSessionPublic]:
    return await centre.list_sessions(session, settings, provider_id, first, last,
                                      limit=paging.limit, cursor=paging.cursor)


@router.post(
    "/v1/home-care/centre-bookings", status_code=201, response_model=CentreBookingPublic,
    summary="Book a seat in a centre session for an elder (Idempotency-Key)",
    responses=responses(errors.Forbidden, errors.NotFound, errors.IdempotencyKeyRequired,
                        errors.SlotFull, errors.DuplicateSeat, errors.IdempotencyInFlight,
                        errors.ElderUnderage, errors.InvalidIdNumber,
                        errors.OutsideBookingWindow, errors.IdempotencyKeyReused,
                        errors.ValidationFailed)
    | with_headers(201, "Location"))
async def book_centre_seat(body: CentreBookingCreate, session: Db, principal: CitizenPrincipal,
                           settings: SettingsDep, _idem: Idempotent,
                           response: Response) -> CentreBookingPublic:
    seat = await centre.book(session, principal, settings, body)
    response.headers["Location"] = f"/v1/home-care/centre-bookings/{seat.id}"
    return seat


@router.get("/v1/home-care/centre-bookings", response_model=Page[CentreBookingPublic],
            summary="The citizen's own seats, or the provider's (filter by session)",
            responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_centre_bookings(session: Db, principal: CitizenOrProvider, settings: SettingsDep,
                               paging: Paging,
                               session_id: Annotated[str | None, Query(max_length=40)] = None,
                               ) -> Page[CentreBookingPublic]:
    return await centre.list_bookings(session, principal, settings, session_id=session_id,
                                      limit=paging.limit, cursor=paging.cursor)


@router.get("/v1/home-care/centre-bookings/{booking_id}", response_model=CentreBookingPublic,
            summary="One seat (its citizen or its provider)",
            responses=responses(errors.Forbidden, errors.NotFound))
async def get_centre_booking(booking_id: str, session: Db, principal: CitizenOrProvider,
                             settings: SettingsDep) -> CentreBookingPublic:
    return await centre.get(session, principal, settings, booking_id)


@router.action("/v1/home-care/centre-bookings/{booking_id}/cancel",
               response_model=CentreBookingPublic,
               summary="Give a seat back (citizen until the session starts; provider with a "
                       "reason)",
               errors=(errors.VisitCancelDeadlinePassed, errors.CancelReasonRequired))
async def cancel_centre_seat(booking_id: str, session: Db, principal: CitizenOrProvider,
                             settings: SettingsDep,
                             body: Annotated[CancelIn | None, Body(openapi_examples={
                                 "citizen": {"summary": "The family cancels", "value": {}},
                                 "provider": {"summary": "The centre cancels, with a reason",
                                              "value": {"reason": "食堂停电"}},
                             })] = None) -> CentreBookingPublic:
    return await centre.cancel(session, principal, settings, booking_id,
                               body.reason if body else None)
