"""Marriage lotteries (摇号放号): API.md "Fair release of peak dates".

An office turns a date into a lottery; citizens enter while it is open; the draw
runs by itself at `entries_close_at`. The lottery and, after the draw, its entries
(ids, preferences, outcomes, no person) are public, so anyone can check the seed
against `seed_sha256` and recompute the outcome (`huimin lottery verify ID`).
"""

from __future__ import annotations

from fastapi import Response

from api.deps import CitizenPrincipal, Db, HotCitizen, HotKey, OfficeStaff, Paging, SettingsDep
from api.hotpath import hot
from api.problems import PUBLIC_RESPONSES, responses, with_headers
from api.route import Router
from core import errors
from schemas.common import Page
from schemas.marriage_lottery import (
    LotteryCreate,
    LotteryEntryCreate,
    LotteryEntryCreated,
    LotteryEntryPublic,
    LotteryEntryView,
    LotteryPublic,
)
from services.marriage import lottery

router = Router(prefix="/v1/marriage", tags=["marriage"])
public_router = Router(prefix="/v1/marriage", tags=["marriage"], public=True)


def _public_errors(*errs: type[errors.DomainError]) -> dict:
    return {**PUBLIC_RESPONSES, **{k: v for k, v in responses(*errs).items() if k != 401}}


@router.post(
    "/offices/{office_id}/lotteries", response_model=LotteryPublic, status_code=201,
    summary="Release a date by lottery instead of first-come",
    description="The date must be inside the office's booking window and hold sessions; "
                "entries close at the latest at the booking deadline of its first session. "
                "From now until the draw, booking the date's sessions first-come is 422 "
                "`date_in_lottery`. The seed (32 random bytes) is chosen now and only its "
                "SHA-256 is shown until the draw. One lottery per office and date "
                "(409 `duplicate_lottery`).",
    responses=responses(errors.Forbidden, errors.NotFound, errors.ScheduleNotSet,
                        errors.DuplicateLottery, errors.InvalidLottery,
                        errors.OutsideBookingWindow, errors.ValidationFailed)
    | with_headers(201, "Location"))
async def create_lottery(office_id: str, body: LotteryCreate, session: Db,
                         principal: OfficeStaff, response: Response) -> LotteryPublic:
    created = await lottery.create(session, principal, office_id, body)
    response.headers["Location"] = f"/v1/marriage/lotteries/{created.id}"
    return await lottery.to_public(session, created)


@router.get("/offices/{office_id}/lotteries", response_model=Page[LotteryPublic],
            summary="The office's lotteries, by date",
            responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def list_lotteries(office_id: str, session: Db, principal: OfficeStaff,
                         paging: Paging) -> Page[LotteryPublic]:
    return await lottery.list_for_office(session, principal, office_id, limit=paging.limit,
                                         cursor=paging.cursor)


@router.action("/lotteries/{lottery_id}/cancel", response_model=LotteryPublic,
               summary="Cancel a lottery before its entries open (the office)",
               description="Once entries have opened the couples who entered are owed the "
                           "draw: 409 `invalid_state`. The date is bookable first-come again.")
async def cancel_lottery(lottery_id: str, session: Db, principal: OfficeStaff) -> LotteryPublic:
    cancelled = await lottery.cancel(session, principal, lottery_id)
    return await lottery.to_public(session, cancelled)


@public_router.get("/lotteries/{lottery_id}", response_model=LotteryPublic,
                   summary="A lottery: status, counts, seed_sha256, and after the draw the seed "
                           "(public)",
                   responses=_public_errors(errors.NotFound))
async def get_lottery(lottery_id: str, session: Db) -> LotteryPublic:
    return await lottery.get_public(session, lottery_id)


@public_router.get(
    "/lotteries/{lottery_id}/entries", response_model=Page[LotteryEntryPublic],
    summary="A drawn lottery's entries: id, preferences and outcome, no person (public)",
    description="Ordered by id. With the revealed seed anyone can recompute the draw: order "
                "the entries by hex HMAC-SHA256(seed, entry id), ascending; each in turn gets "
                "its first preferred session with a seat left (`sessions` of the lottery), "
                "entries with `excluded_reason` none. Before the draw 409 "
                "`lottery_not_drawn`.",
    responses=_public_errors(errors.NotFound, errors.LotteryNotDrawn, errors.InvalidCursor))
async def list_lottery_entries(lottery_id: str, session: Db,
                               paging: Paging) -> Page[LotteryEntryPublic]:
    return await lottery.list_entries(session, lottery_id, limit=paging.limit,
                                      cursor=paging.cursor)


@router.post(
    "/lotteries/{lottery_id}/entries", response_model=LotteryEntryCreated, status_code=201,
    summary="Enter a lottery (Idempotency-Key required)",
    description="While the lottery is open. The parties are checked as for a booking on the "
                "lottery's date (kinds, ages, sexes, no-show suspension, no active "
                "appointment); one entry per person per lottery (409 `duplicate_entry`). "
                "`session_preferences` name session starts of that date, most wanted first.",
    responses=responses(errors.IdempotencyKeyRequired, errors.Forbidden, errors.NotFound,
                        errors.InvalidState, errors.DuplicateEntry,
                        errors.PartyHasActiveAppointment, errors.IdempotencyInFlight,
                        errors.Underage, errors.InvalidParties, errors.InvalidIdNumber,
                        errors.InvalidPreferences, errors.BookingSuspended,
                        errors.IdempotencyKeyReused, errors.ValidationFailed)
    | with_headers(201, "Location"))
@hot
async def enter_lottery(lottery_id: str, body: LotteryEntryCreate, session: Db,
                        principal: HotCitizen, settings: SettingsDep,
                        claim: HotKey) -> Response:
    entered = await lottery.enter(session, principal, settings, lottery_id, body, claim=claim)
    # Serialised once, by the service (which may have stored it as the idempotent
    # record already), as for a booking.
    return Response(entered.json, status_code=201, media_type="application/json",
                    headers={"Location": f"/v1/marriage/lottery-entries/{entered.entry.id}"})


@router.get("/lottery-entries/{entry_id}", response_model=LotteryEntryView,
            summary="The citizen's own lottery entry and its outcome",
            responses=responses(errors.Forbidden, errors.NotFound))
async def get_lottery_entry(entry_id: str, session: Db,
                            principal: CitizenPrincipal) -> LotteryEntryView:
    return await lottery.get_entry(session, principal, entry_id)
