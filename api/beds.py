"""Elderly-care institution beds (养老机构床位): the public search and profiles,
the institution's beds and waiting list, and the citizen's applications."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Body, Depends, Query, Response

from api.conditional import NOT_MODIFIED, Conditional, ETagged
from api.deps import (
    CitizenPrincipal,
    Db,
    DivisionPrefix,
    Idempotent,
    IfMatch,
    InstitutionStaff,
    Paging,
    SettingsDep,
    require_role,
)
from api.problems import PUBLIC_RESPONSES, responses, with_headers
from api.route import Router
from core import errors
from core.principal import Principal
from schemas.beds import (
    ApplicationStatus,
    AssessmentIn,
    BedApplicationCreate,
    BedApplicationPublic,
    BedCategory,
    BedCreate,
    BedPublic,
    BedStatus,
    BedUpdate,
    DischargeIn,
    InstitutionPublic,
    InstitutionUpdate,
    OccupancyPublic,
    OutsideResidentIn,
)
from schemas.common import NEAR_PATTERN, Page
from services.beds import applications, institutions, inventory

router = Router(tags=["beds"])
public_router = Router(tags=["beds"], public=True)

CitizenOrInstitution = Annotated[Principal, Depends(require_role("citizen", "institution"))]

_STAFF = (errors.Forbidden, errors.NotFound)


# --- public ------------------------------------------------------------------


@public_router.get(
    "/v1/institutions", response_model=Page[InstitutionPublic],
    summary="Search care institutions, with vacancies per category",
    description="Filters combine. `category` narrows `has_vacancy` and `max_fee_fen` to that "
                "category (and alone lists institutions that have such beds). `max_fee_fen`: "
                "some bed (a vacant one with `has_vacancy=true`) costs at most this much a "
                "month. `near=lat,lon` adds `distance_km` to each item; `sort=distance` orders "
                "by it (institutions without a location are then left out). Each item shows "
                "`monthly_fees`, the fee range of each category's beds.",
    responses={**PUBLIC_RESPONSES, **{k: v for k, v in responses(
        errors.ValidationFailed, errors.NearRequired, errors.InvalidCursor).items()
        if k != 401}})
async def search_institutions(
    session: Db, paging: Paging,
    division_code: DivisionPrefix = None,
    category: BedCategory | None = None,
    has_vacancy: bool | None = None,
    max_fee_fen: Annotated[int | None, Query(ge=0, le=100_000_000, examples=[400000],
                                             description="Monthly fee in fen")] = None,
    min_rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    medical_care: Annotated[bool | None, Query(
        description="`true`: only institutions that integrate medical care (医养结合); "
                    "`false`: only those that do not")] = None,
    # The pattern is checked by the service (organisations.parse_near), whose refusal
    # names the expected form in both languages.
    near: Annotated[str | None, Query(max_length=40, json_schema_extra={"pattern": NEAR_PATTERN},
                                      description="`lat,lon` in decimal degrees",
                                      examples=["30.65,104.05"])] = None,
    sort: Literal["id", "distance"] = "id",
) -> Page[InstitutionPublic]:
    filters = institutions.SearchFilters(
        division_code=division_code, category=category.value if category else None,
        has_vacancy=has_vacancy, max_fee_fen=max_fee_fen, min_rating=min_rating,
        medical_care=medical_care)
    return await institutions.search(session, filters, near=near, sort=sort,
                                     limit=paging.limit, cursor=paging.cursor)


@public_router.get(
    "/v1/institutions/{institution_id}", response_model=InstitutionPublic,
    summary="Read a care institution's profile and vacancies (with ETag)",
    description="The ETag changes with the profile and with the vacancies it shows.",
    responses={**NOT_MODIFIED, **PUBLIC_RESPONSES, **{
        k: v for k, v in responses(errors.NotFound).items() if k != 401}})
async def get_institution(institution_id: str, session: Db,
                          cond: Conditional) -> InstitutionPublic:
    item, tag = await institutions.get(session, institution_id)
    return cond.respond(item, tag)


# --- the institution ---------------------------------------------------------


@router.patch(
    "/v1/institutions/{institution_id}", response_model=InstitutionPublic,
    summary="Update the institution's own profile (If-Match)",
    description="Address, phone, location, ownership and `medical_care`. The name, the "
                "division code and the star rating are set by the platform admin "
                "(`PATCH /v1/admin/organisations/{org_id}`); a body naming one of them is "
                "refused with 422 `validation_error`.",
    responses=responses(*_STAFF, errors.PreconditionFailed, errors.PreconditionRequired,
                        errors.InvalidDivisionCode, errors.ValidationFailed))
async def update_institution(institution_id: str, body: InstitutionUpdate, session: Db,
                             principal: InstitutionStaff, if_match: IfMatch,
                             cond: ETagged) -> InstitutionPublic:
    item, tag = await institutions.update(session, principal, institution_id, body, if_match)
    return cond.respond(item, tag)


@router.get(
    "/v1/institutions/{institution_id}/beds", response_model=Page[BedPublic],
    summary="List the institution's beds with status and ETag",
    responses=responses(*_STAFF, errors.InvalidCursor))
async def list_beds(institution_id: str, session: Db, principal: InstitutionStaff,
                    paging: Paging, category: BedCategory | None = None,
                    status: BedStatus | None = None) -> Page[BedPublic]:
    return await inventory.list_beds(
        session, principal, institution_id, category=category.value if category else None,
        status=status.value if status else None, limit=paging.limit, cursor=paging.cursor)


@router.post(
    "/v1/institutions/{institution_id}/beds", status_code=201, response_model=BedPublic,
    summary="Add a bed (offered at once to the waiting list when available)",
    responses=responses(*_STAFF, errors.DuplicateBedCode, errors.ValidationFailed)
    | with_headers(201, "Location"))
async def add_bed(institution_id: str, body: BedCreate, session: Db,
                  principal: InstitutionStaff, settings: SettingsDep,
                  response: Response, cond: ETagged) -> BedPublic:
    bed = await inventory.add_bed(session, principal, institution_id, body, settings)
    response.headers["Location"] = f"/v1/institutions/{institution_id}/beds/{bed.id}"
    return cond.respond(bed, bed.etag)


@router.get(
    "/v1/institutions/{institution_id}/beds/{bed_id}", response_model=BedPublic,
    summary="Read one bed (with ETag)", responses={**NOT_MODIFIED, **responses(*_STAFF)})
async def get_bed(institution_id: str, bed_id: str, session: Db, principal: InstitutionStaff,
                  cond: Conditional) -> BedPublic:
    bed = await inventory.get_bed(session, principal, institution_id, bed_id)
    return cond.respond(bed, bed.etag)


@router.patch(
    "/v1/institutions/{institution_id}/beds/{bed_id}", response_model=BedPublic,
    summary="Change a bed: status available/maintenance, fee, reserved flag (If-Match)",
    responses=responses(*_STAFF, errors.InvalidState, errors.PreconditionFailed,
                        errors.PreconditionRequired, errors.ValidationFailed))
async def update_bed(institution_id: str, bed_id: str, body: BedUpdate, session: Db,
                     principal: InstitutionStaff, if_match: IfMatch, settings: SettingsDep,
                     cond: ETagged) -> BedPublic:
    bed = await inventory.update_bed(session, principal, institution_id, bed_id, body,
                                     if_match, settings)
    return cond.respond(bed, bed.etag)


@router.action(
    "/v1/institutions/{institution_id}/beds/{bed_id}/discharge", response_model=BedPublic,
    summary="Discharge the resident: the occupancy ends and the bed is offered on")
async def discharge_resident(institution_id: str, bed_id: str, session: Db,
                    principal: InstitutionStaff, settings: SettingsDep, cond: ETagged,
                    body: Annotated[DischargeIn | None, Body(openapi_examples={
                        "reason": {"summary": "With a reason",
                                   "value": {"reason": "moved to a hospital"}},
                        "none": {"summary": "No body", "value": {}},
                    })] = None) -> BedPublic:
    bed = await inventory.discharge(session, principal, institution_id, bed_id,
                                    body.reason if body else None, settings)
    return cond.respond(bed, bed.etag)


@router.post(
    "/v1/institutions/{institution_id}/residents", status_code=201,
    response_model=OccupancyPublic,
    summary="Record a resident admitted outside huimin (the bed becomes occupied)",
    description="With `id_number`, a person who already occupies a bed anywhere is refused "
                "with 409 `elder_already_resident`.",
    responses=responses(*_STAFF, errors.InvalidState, errors.NoBedAvailable,
                        errors.ElderAlreadyResident, errors.InvalidIdNumber,
                        errors.ValidationFailed)
    | with_headers(201, "Location"))
async def admit_outside_resident(institution_id: str, body: OutsideResidentIn, session: Db,
                        principal: InstitutionStaff, settings: SettingsDep,
                        response: Response) -> OccupancyPublic:
    occupancy = await inventory.admit_outside(session, principal, institution_id, body.root,
                                             settings)
    # No single occupancy has a path of its own: the bed's occupancy history lists it.
    response.headers["Location"] = \
        f"/v1/institutions/{institution_id}/beds/{occupancy.bed_id}/occupancies"
    return occupancy


@router.get(
    "/v1/institutions/{institution_id}/occupancies", response_model=Page[OccupancyPublic],
    summary="Occupancy history of the institution (who occupied which bed when)",
    responses=responses(*_STAFF, errors.InvalidCursor))
async def list_institution_occupancies(institution_id: str, session: Db,
                                  principal: InstitutionStaff,
                                  paging: Paging) -> Page[OccupancyPublic]:
    return await inventory.occupancies(session, principal, institution_id, bed_id=None,
                                       limit=paging.limit, cursor=paging.cursor)


@router.get(
    "/v1/institutions/{institution_id}/beds/{bed_id}/occupancies",
    response_model=Page[OccupancyPublic], summary="Occupancy history of one bed",
    responses=responses(*_STAFF, errors.InvalidCursor))
async def list_bed_occupancies(institution_id: str, bed_id: str, session: Db,
                          principal: InstitutionStaff, paging: Paging) -> Page[OccupancyPublic]:
    return await inventory.occupancies(session, principal, institution_id, bed_id=bed_id,
                                       limit=paging.limit, cursor=paging.cursor)


@router.get(
    "/v1/institutions/{institution_id}/waitlist", response_model=Page[BedApplicationPublic],
    summary="The waiting list in priority order (the class on today's date: an elder "
            "who reaches a priority age moves up)",
    responses=responses(*_STAFF, errors.InvalidCursor))
async def get_waitlist(institution_id: str, session: Db, principal: InstitutionStaff,
                   paging: Paging,
                   category: BedCategory | None = None) -> Page[BedApplicationPublic]:
    return await applications.waitlist(session, principal, institution_id, category=category,
                                       limit=paging.limit, cursor=paging.cursor)


# --- applications ------------------------------------------------------------


@router.post(
    "/v1/bed-applications", status_code=201, response_model=BedApplicationPublic,
    summary="Apply for a bed for an elder (Idempotency-Key)",
    responses=responses(errors.Forbidden, errors.NotFound, errors.IdempotencyKeyRequired,
                        errors.DuplicateApplication, errors.TooManyActiveApplications,
                        errors.IdempotencyInFlight, errors.ApplicantUnderage,
                        errors.InvalidIdNumber, errors.IdempotencyKeyReused,
                        errors.ValidationFailed)
    | with_headers(201, "Location"))
async def create_bed_application(body: BedApplicationCreate, session: Db,
                             principal: CitizenPrincipal, settings: SettingsDep,
                             _idem: Idempotent, response: Response) -> BedApplicationPublic:
    app = await applications.create(session, principal, body, settings)
    response.headers["Location"] = f"/v1/bed-applications/{app.id}"
    return app


@router.get(
    "/v1/bed-applications", response_model=Page[BedApplicationPublic],
    summary="The citizen's own applications, or the institution's",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_bed_applications(session: Db, principal: CitizenOrInstitution, paging: Paging,
                            status: ApplicationStatus | None = None
                            ) -> Page[BedApplicationPublic]:
    return await applications.list_(session, principal, status=status.value if status else None,
                                    limit=paging.limit, cursor=paging.cursor)


@router.get(
    "/v1/bed-applications/{application_id}", response_model=BedApplicationPublic,
    summary="Read an application (status, waitlist position, offer expiry)",
    responses=responses(errors.Forbidden, errors.NotFound))
async def get_bed_application(application_id: str, session: Db,
                          principal: CitizenOrInstitution) -> BedApplicationPublic:
    return await applications.get(session, principal, application_id)


@router.action(
    "/v1/bed-applications/{application_id}/assess", response_model=BedApplicationPublic,
    summary="Record the assessment: waitlisted, or offered at once when a bed is free",
    errors=(errors.ValidationFailed,))
async def assess_bed_application(application_id: str, body: AssessmentIn, session: Db,
                 principal: InstitutionStaff, settings: SettingsDep) -> BedApplicationPublic:
    return await applications.assess(session, principal, application_id, body, settings)


@router.action(
    "/v1/bed-applications/{application_id}/accept", response_model=BedApplicationPublic,
    summary="Accept the offered bed (kept until admission)")
async def accept_bed_offer(application_id: str, session: Db, principal: CitizenPrincipal,
                 settings: SettingsDep) -> BedApplicationPublic:
    return await applications.accept(session, principal, application_id, settings)


@router.action(
    "/v1/bed-applications/{application_id}/decline", response_model=BedApplicationPublic,
    summary="Decline the offered bed (it goes to the next applicant)")
async def decline_bed_offer(application_id: str, session: Db, principal: CitizenPrincipal,
                  settings: SettingsDep) -> BedApplicationPublic:
    return await applications.decline(session, principal, application_id, settings)


@router.action(
    "/v1/bed-applications/{application_id}/withdraw", response_model=BedApplicationPublic,
    summary="Withdraw the application (a held bed goes to the next applicant)")
async def withdraw_bed_application(application_id: str, session: Db, principal: CitizenPrincipal,
                   settings: SettingsDep) -> BedApplicationPublic:
    return await applications.withdraw(session, principal, application_id, settings)


@router.action(
    "/v1/bed-applications/{application_id}/admit", response_model=BedApplicationPublic,
    summary="Admit the elder: the bed becomes occupied, an occupancy record starts",
    description="An elder lives in one institution at a time: while the elder occupies a "
                "bed anywhere (here or elsewhere), admission is refused with 409 "
                "`elder_already_resident` until that stay is discharged.",
    errors=(errors.ElderAlreadyResident,))
async def admit_bed_application(application_id: str, session: Db, principal: InstitutionStaff,
                settings: SettingsDep) -> BedApplicationPublic:
    return await applications.admit(session, principal, application_id, settings)


@router.action(
    "/v1/bed-applications/{application_id}/reject", response_model=BedApplicationPublic,
    summary="Reject the application (a held bed goes to the next applicant)")
async def reject_bed_application(application_id: str, session: Db, principal: InstitutionStaff,
                 settings: SettingsDep) -> BedApplicationPublic:
    return await applications.reject(session, principal, application_id, settings)
