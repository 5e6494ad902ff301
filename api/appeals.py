"""Appeals (复核): a citizen asks for a refusal to be looked at again; an approver of
a bureau in charge, who took no part in the refusal, decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from api.deps import (
    ApproverStaff,
    CitizenPrincipal,
    Db,
    OptionalIdempotent,
    Paging,
    SettingsDep,
    require_role,
)
from api.problems import responses, with_headers
from api.route import Router
from core import errors
from core.principal import Principal
from schemas.appeals import AppealCreate, AppealDecideIn, AppealPublic, AppealStatus
from schemas.common import Page
from services import appeals

router = Router(tags=["appeals"])

AppealReader = Annotated[Principal, Depends(require_role("citizen", "reviewer", "approver"))]


@router.post(
    "/v1/appeals", status_code=201, response_model=AppealPublic,
    summary="Appeal a refusal (复核) (citizen)",
    description="Appealable: a bed application `rejected` by the institution, a burial claim "
                "`rejected` (at review or approval), a home-care visit whose correction was "
                "`rejected`; anything else is 422 `not_appealable`. The citizen must see the "
                "record (its owner, the person it names, or their delegate in its scope), "
                "else 404. Within 60 days of the refusal (China dates, counted from the day "
                "after it, the 60th day included), else 422 `appeal_deadline_passed`. One "
                "open appeal per record (409 `duplicate_appeal`). `decide_by` is the 20th "
                "working day after the day of filing on the official calendar.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.IdempotencyKeyRequired,
                        errors.DuplicateAppeal, errors.IdempotencyInFlight,
                        errors.IdempotencyKeyReused, errors.NotAppealable,
                        errors.AppealDeadlinePassed)
    | with_headers(201, "Location"))
async def file_appeal(body: AppealCreate, session: Db, principal: CitizenPrincipal,
                      _idem: OptionalIdempotent, response: Response) -> AppealPublic:
    appeal = await appeals.file(session, principal, body)
    response.headers["Location"] = f"/v1/appeals/{appeal.id}"
    return appeal


@router.get(
    "/v1/appeals", response_model=Page[AppealPublic],
    summary="List appeals: the appellant's own, or those a bureau is in charge of",
    description="Newest first. `?status=` filters by status; `?overdue=true` keeps the "
                "appeals still `submitted` after the end of their `decide_by` day.",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_appeals(session: Db, principal: AppealReader, paging: Paging,
                       status: AppealStatus | None = None,
                       overdue: Annotated[bool | None, Query(
                           description="`true`: only overdue appeals; `false`: none")] = None,
                       ) -> Page[AppealPublic]:
    return await appeals.list_(session, principal, status=status.value if status else None,
                               overdue=overdue, limit=paging.limit, cursor=paging.cursor)


@router.get(
    "/v1/appeals/{appeal_id}", response_model=AppealPublic,
    summary="Read one appeal (the appellant; reviewers and approvers of a bureau in charge)",
    responses=responses(errors.Forbidden, errors.NotFound))
async def get_appeal(appeal_id: str, session: Db, principal: AppealReader) -> AppealPublic:
    return await appeals.get(session, principal, appeal_id)


@router.action(
    "/v1/appeals/{appeal_id}/decide", response_model=AppealPublic,
    summary="Decide an appeal: uphold or overturn the refusal (approver of a bureau in charge)",
    description="Not by a staff member who took part in the refusal (403 "
                "`separation_of_duties`). Overturned: a bed application returns to "
                "`waitlisted` with its original `applied_at`; a burial claim to `submitted`, "
                "and its refusers may not review or approve it again; a visit becomes "
                "`corrected` and draws its subsidy. Decided once: a second decision, or one "
                "racing a withdrawal, is 409 `invalid_state`.",
    errors=(errors.SeparationOfDuties, errors.DuplicateClaim))
async def decide_appeal(appeal_id: str, body: AppealDecideIn, session: Db,
                        principal: ApproverStaff, settings: SettingsDep) -> AppealPublic:
    return await appeals.decide(session, principal, appeal_id, body, settings)


@router.action(
    "/v1/appeals/{appeal_id}/withdraw", response_model=AppealPublic,
    summary="Withdraw an appeal before it is decided (the appellant)")
async def withdraw_appeal(appeal_id: str, session: Db,
                          principal: CitizenPrincipal) -> AppealPublic:
    return await appeals.withdraw(session, principal, appeal_id)
