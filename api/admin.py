"""Platform administration: organisations, their staff keys, the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from pydantic import AwareDatetime

from api.conditional import NOT_MODIFIED, Conditional, ETagged
from api.deps import (
    AdminPrincipal,
    Db,
    DivisionPrefix,
    IfMatch,
    OptionalIdempotent,
    Paging,
    datetime_query,
)
from api.problems import responses, with_headers
from api.route import Router
from core import errors
from schemas.audit import AuditEventPublic
from schemas.common import Page
from schemas.organisation import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    OrganisationCreate,
    OrganisationPublic,
    OrganisationUpdate,
    OrgKind,
)
from services import audit, organisations

router = Router(prefix="/v1/admin", tags=["admin"])


@router.post("/organisations", status_code=201, response_model=OrganisationPublic,
             summary="Create an organisation",
             responses=responses(errors.Forbidden, errors.InvalidDivisionCode,
                                 errors.IdempotencyKeyReused, errors.IdempotencyInFlight)
             | with_headers(201, "Location"))
async def create_organisation(body: OrganisationCreate, session: Db, principal: AdminPrincipal,
                              response: Response, cond: ETagged,
                              _: OptionalIdempotent) -> OrganisationPublic:
    org = await organisations.create(session, principal, body)
    response.headers["Location"] = f"/v1/admin/organisations/{org.id}"
    return cond.respond(organisations.to_public(org), organisations.org_etag(org))


@router.get("/organisations", response_model=Page[OrganisationPublic],
            summary="List organisations", responses=responses(errors.Forbidden))
async def list_organisations(
    session: Db, _: AdminPrincipal, paging: Paging,
    kind: OrgKind | None = None,
    division_code: DivisionPrefix = None,
) -> Page[OrganisationPublic]:
    page = await organisations.list_(session, kind=kind, division_code=division_code,
                                     limit=paging.limit, cursor=paging.cursor)
    return Page(items=[organisations.to_public(o) for o in page.items],
                next_cursor=page.next_cursor)


@router.get("/organisations/{org_id}", response_model=OrganisationPublic,
            summary="Read an organisation (with ETag)",
            responses={**NOT_MODIFIED, **responses(errors.Forbidden, errors.NotFound)})
async def get_organisation(org_id: str, session: Db, _: AdminPrincipal,
                           cond: Conditional) -> OrganisationPublic:
    org = await organisations.get(session, org_id)
    return cond.respond(organisations.to_public(org), organisations.org_etag(org))


@router.patch("/organisations/{org_id}", response_model=OrganisationPublic,
              summary="Update an organisation (If-Match)",
              responses=responses(errors.Forbidden, errors.NotFound, errors.PreconditionFailed,
                                  errors.PreconditionRequired, errors.InvalidDivisionCode))
async def update_organisation(org_id: str, body: OrganisationUpdate, session: Db,
                              principal: AdminPrincipal, if_match: IfMatch,
                              cond: ETagged) -> OrganisationPublic:
    org = await organisations.update_(session, principal, org_id, body, if_match)
    return cond.respond(organisations.to_public(org), organisations.org_etag(org))


@router.post("/organisations/{org_id}/api-keys", status_code=201, response_model=ApiKeyCreated,
             summary="Issue a staff API key (shown once)",
             description="`role` must be one the organisation's kind holds (else 422 "
                         "`role_not_allowed`): `office`, `institution`, `provider`, "
                         "`reviewer` or `approver`, `identity_verifier`. A `caregiver` key "
                         "is refused here too: it is bound to one caregiver, and the "
                         "provider issues it (`POST /v1/providers/{provider_id}/caregivers/"
                         "{caregiver_id}/api-keys`).",
             responses=responses(errors.Forbidden, errors.NotFound, errors.RoleNotAllowed)
             | with_headers(201, "Location"))
async def create_api_key(org_id: str, body: ApiKeyCreate, session: Db,
                         principal: AdminPrincipal, response: Response) -> ApiKeyCreated:
    created = await organisations.create_api_key(session, principal, org_id, body)
    response.headers["Location"] = f"/v1/admin/organisations/{org_id}/api-keys/{created.id}"
    return created


@router.get("/organisations/{org_id}/api-keys", response_model=Page[ApiKeyPublic],
            summary="List an organisation's staff keys (never the keys themselves)",
            responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def list_api_keys(org_id: str, session: Db, _: AdminPrincipal,
                        paging: Paging) -> Page[ApiKeyPublic]:
    page = await organisations.list_api_keys(session, org_id, limit=paging.limit,
                                             cursor=paging.cursor)
    return page.map(lambda k: ApiKeyPublic.model_validate(k.model_dump()))


@router.post("/organisations/{org_id}/api-keys/{key_id}/revoke", response_model=ApiKeyPublic,
             summary="Revoke a staff key at once",
             responses=responses(errors.Forbidden, errors.NotFound))
async def revoke_api_key(org_id: str, key_id: str, session: Db,
                         principal: AdminPrincipal) -> ApiKeyPublic:
    key = await organisations.revoke_api_key(session, principal, org_id, key_id)
    return ApiKeyPublic.model_validate(key.model_dump())


@router.get("/audit-events", response_model=Page[AuditEventPublic],
            summary="Search the audit trail",
            description="Newest first. A staff member's row names its key (`actor_id`) and, "
                        "read with it, the key's name (`actor_name`) and, for a caregiver's "
                        "own key, the caregiver (`actor_caregiver_id`).",
            responses=responses(errors.Forbidden))
async def list_audit_events(
    session: Db, _: AdminPrincipal, paging: Paging,
    actor_id: Annotated[str | None, Query(max_length=128)] = None,
    org_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[AwareDatetime | None, datetime_query("Events at or after this instant")
                     ] = None,
    until: Annotated[AwareDatetime | None, datetime_query("Events before this instant")
                     ] = None,
) -> Page[AuditEventPublic]:
    return await audit.list_events(session, actor_id=actor_id, org_id=org_id, action=action,
                                   object_type=object_type, object_id=object_id, since=since,
                                   until=until, limit=paging.limit, cursor=paging.cursor)
