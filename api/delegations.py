"""Delegation (代办) and guardianship: a citizen lets another act for it in named
services; a civil-affairs bureau registers a guardian on paper evidence."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from api.deps import (
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
from schemas.common import Page
from schemas.delegation import DelegationCreate, DelegationPublic, GuardianshipCreate
from services import delegations

router = Router(tags=["delegation"])

DelegationReader = Annotated[Principal, Depends(require_role("citizen", "reviewer",
                                                             "approver"))]
BureauStaff = Annotated[Principal, Depends(require_role("reviewer", "approver"))]

_RULES = (errors.InvalidIdNumber, errors.SelfDelegation, errors.InvalidExpiry,
          errors.DuplicateDelegation, errors.IdempotencyKeyRequired,
          errors.IdempotencyInFlight, errors.IdempotencyKeyReused)


@router.post(
    "/v1/delegations", status_code=201, response_model=DelegationPublic,
    summary="Let another verified citizen act for you in named services (citizen, bound)",
    description="The principal is the caller's bound person (an unbound account: 403 "
                "`identity_not_verified`). `pending` until the delegate's bound account "
                "accepts it. No delegation to oneself (422 `self_delegation`); `expires_on` "
                "from tomorrow to 5 years ahead (422 `invalid_expiry`); one pending or "
                "active delegation per principal and delegate (409 `duplicate_delegation`). "
                "While active, the delegate sees and acts on the principal's bed "
                "applications (`beds`), home-care bookings (`home_care`) and burial claims "
                "(`burial`) as the principal's own account would.",
    responses=responses(errors.Forbidden, errors.IdentityNotVerified, *_RULES)
    | with_headers(201, "Location"))
async def create_delegation(body: DelegationCreate, session: Db, principal: CitizenPrincipal,
                            settings: SettingsDep, _idem: OptionalIdempotent,
                            response: Response) -> DelegationPublic:
    d = await delegations.create(session, principal, body, settings)
    response.headers["Location"] = f"/v1/delegations/{d.id}"
    return d


@router.get(
    "/v1/delegations", response_model=Page[DelegationPublic],
    summary="Delegations given or held by the caller's person; a bureau's registrations",
    description="Newest first. A delegate bound only after the delegation was made finds "
                "it here once bound.",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_delegations(session: Db, principal: DelegationReader,
                           paging: Paging) -> Page[DelegationPublic]:
    return await delegations.list_(session, principal, limit=paging.limit,
                                   cursor=paging.cursor)


@router.get(
    "/v1/delegations/{delegation_id}", response_model=DelegationPublic,
    summary="Read one delegation (principal, delegate, registering bureau)",
    responses=responses(errors.Forbidden, errors.NotFound))
async def get_delegation(delegation_id: str, session: Db,
                         principal: DelegationReader) -> DelegationPublic:
    return await delegations.get(session, principal, delegation_id)


@router.action(
    "/v1/delegations/{delegation_id}/accept", response_model=DelegationPublic,
    summary="Accept a pending delegation (the delegate's bound account)",
    description="`pending` -> `active`; emits `delegation.activated`. Only the delegate "
                "(403 `not_the_delegate` for the principal).",
    errors=(errors.IdentityNotVerified, errors.NotTheDelegate))
async def accept_delegation(delegation_id: str, session: Db,
                            principal: CitizenPrincipal) -> DelegationPublic:
    return await delegations.accept(session, principal, delegation_id)


@router.action(
    "/v1/delegations/{delegation_id}/decline", response_model=DelegationPublic,
    summary="Decline a pending delegation (the delegate's bound account)",
    errors=(errors.IdentityNotVerified, errors.NotTheDelegate))
async def decline_delegation(delegation_id: str, session: Db,
                             principal: CitizenPrincipal) -> DelegationPublic:
    return await delegations.decline(session, principal, delegation_id)


@router.action(
    "/v1/delegations/{delegation_id}/revoke", response_model=DelegationPublic,
    summary="Revoke a delegation (principal, delegate, or the registering bureau)",
    description="`pending` or `active` -> `revoked`, at once: the delegate's access to the "
                "principal's records ends with it. Emits `delegation.revoked`.")
async def revoke_delegation(delegation_id: str, session: Db,
                            principal: DelegationReader) -> DelegationPublic:
    return await delegations.revoke(session, principal, delegation_id)


@router.post(
    "/v1/guardianships", status_code=201, response_model=DelegationPublic,
    summary="Register a guardian on paper evidence (bureau reviewer or approver)",
    description="For a principal living within the bureau's division (else 403 "
                "`outside_jurisdiction`); `evidence.kind` is `guardianship_certificate`, "
                "`notarised_authorisation` or `court_order`. The delegation is `active` at "
                "once, shows `registered_by` `{org_id, staff_name}`, and emits "
                "`delegation.activated`.",
    responses=responses(errors.Forbidden, errors.OutsideJurisdiction,
                        errors.InvalidDivisionCode, *_RULES)
    | with_headers(201, "Location"))
async def register_guardianship(body: GuardianshipCreate, session: Db,
                                principal: BureauStaff, settings: SettingsDep,
                                _idem: OptionalIdempotent, response: Response) -> DelegationPublic:
    d = await delegations.register_guardianship(session, principal, body, settings)
    response.headers["Location"] = f"/v1/delegations/{d.id}"
    return d
