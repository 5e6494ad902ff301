"""Organisations (the four kinds) and their staff API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import CheckConstraint, Column, Computed, Index
from sqlmodel import Field, SQLModel

from schemas.common import (
    ChinaTime,
    Cube,
    DivisionCode,
    Name,
    Phone,
    StrictModel,
    id_field,
    sphere_point,
    utc_datetime,
)


class OrgKind(StrEnum):
    registration_office = "registration_office"
    care_institution = "care_institution"
    home_care_provider = "home_care_provider"
    civil_affairs_bureau = "civil_affairs_bureau"
    platform_service = "platform_service"


class Ownership(StrEnum):
    public = "public"
    private = "private"
    public_private = "public_private"


class Role(StrEnum):
    office = "office"
    institution = "institution"
    provider = "provider"
    reviewer = "reviewer"
    approver = "approver"
    identity_verifier = "identity_verifier"
    # A home-care provider's caregiver, with a key of their own bound to them
    # (`ApiKey.caregiver_id`): issued by the provider for that caregiver, never by the
    # admin (it is in no kind's `ROLES_BY_KIND`).
    caregiver = "caregiver"
    admin = "admin"


# The roles the admin issues keys of (`POST /v1/admin/organisations/{org_id}/api-keys`,
# `huimin apikey create`), by the organisation's kind. A `caregiver` key names its
# caregiver, so only the provider issues it (`services.home_care.caregiver_keys`).
ROLES_BY_KIND: dict[OrgKind, set[Role]] = {
    OrgKind.registration_office: {Role.office},
    OrgKind.care_institution: {Role.institution},
    OrgKind.home_care_provider: {Role.provider},
    OrgKind.civil_affairs_bureau: {Role.reviewer, Role.approver},
    # The platform's real-name verification service (实名认证) binds citizen accounts.
    OrgKind.platform_service: {Role.identity_verifier},
}


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating_range"),
        Index("ix_organisation_kind_division", "kind", "division_code"),
    )

    id: str = id_field()
    kind: str = Field(max_length=32)
    name: str = Field(max_length=100)
    division_code: str = Field(max_length=6)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=32)
    lat: float | None = None
    lon: float | None = None
    ownership: str | None = Field(default=None, max_length=32)
    rating: int | None = None
    medical_care: bool | None = None
    version: int = Field(default=1)
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()



# `pos`: where the organisation is, as a point on the unit sphere (`sphere_point`),
# computed by PostgreSQL from `lat` and `lon` (a stored generated column: no writer
# can forget it). It is on the table, not on the model: nothing reads it into Python;
# queries measure with it (`pos <-> origin`). The GiST index on (kind, pos,
# division_code) serves "the nearest organisations of a kind" as an index scan
# ordered by distance, within a division too (btree_gist for the codes: the tree is
# split by kind, then by place, so a division is a range its subtrees prune by, and
# a division far from the point costs no walk through everything nearer). The
# b-tree on (kind, name, id): a kind's directory by name.
_org = Organisation.__table__
_org.append_column(Column("pos", Cube(), Computed(sphere_point("lat", "lon"), persisted=True),
                          nullable=True))
Index("ix_organisation_kind_pos_division", _org.c.kind, _org.c.pos, _org.c.division_code,
      postgresql_using="gist")
Index("ix_organisation_kind_name", _org.c.kind, _org.c.name, _org.c.id)

class OrganisationCreate(StrictModel):
    kind: OrgKind
    name: Name
    division_code: DivisionCode
    address: str | None = PField(default=None, max_length=300)
    phone: Phone | None = None
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    ownership: Ownership | None = None
    rating: int | None = PField(default=None, ge=1, le=5)
    medical_care: bool | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "kind": "registration_office", "name": "朝阳区婚姻登记处",
            "division_code": "110105", "address": "北京市朝阳区朝阳路 1 号",
            "phone": "010-65090000", "lat": 39.92, "lon": 116.44,
        }, {
            "kind": "care_institution", "name": "武侯区社会福利院", "division_code": "510107",
            "address": "成都市武侯区", "phone": "028-85550000", "lat": 30.64, "lon": 104.04,
            "ownership": "public", "rating": 4, "medical_care": True,
        }]},
    )


class OrganisationUpdate(StrictModel):
    name: Name | None = None
    division_code: DivisionCode | None = None
    address: str | None = PField(default=None, max_length=300)
    phone: Phone | None = None
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    ownership: Ownership | None = None
    rating: int | None = PField(default=None, ge=1, le=5)
    medical_care: bool | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone": "010-65090001"}]}
    )


class OrganisationContact(BaseModel):
    """What the public sees of any organisation: who and where it is."""

    id: str
    name: str
    division_code: str
    division_name: str | None = None
    address: str | None = None
    phone: str | None = None
    lat: float | None = None
    lon: float | None = None


class InstitutionFacts(OrganisationContact):
    """And what describes a care institution (None for the other kinds)."""

    ownership: Ownership | None = None
    rating: int | None = None
    medical_care: bool | None = None


class OrganisationPublic(InstitutionFacts):
    kind: OrgKind
    created_at: ChinaTime
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "武侯区社会福利院",
        "division_code": "510107", "division_name": "四川省成都市武侯区",
        "address": "成都市武侯区武侯祠大街 1 号", "phone": "028-85550000", "lat": 30.646,
        "lon": 104.048, "ownership": "public", "rating": 4, "medical_care": True,
        "kind": "care_institution", "created_at": "2026-11-29T18:00:00+08:00",
        "updated_at": "2026-11-29T18:00:00+08:00"}]})


class ApiKey(SQLModel, table=True):
    """A staff key, stored hashed. A `caregiver` key, and only such a key, is bound to
    one caregiver of its organisation (`caregiver_id`); its name and caregiver never
    change, so an audit row's `actor_id` (the key's id) names them for good."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("(role = 'caregiver') = (caregiver_id IS NOT NULL)",
                        name="caregiver_bound"),
    )

    id: str = id_field()
    org_id: str | None = Field(default=None, foreign_key="organisation.id", index=True,
                               max_length=40)
    name: str = Field(max_length=100)
    role: str = Field(max_length=32)
    caregiver_id: str | None = Field(default=None, foreign_key="home_care_caregiver.id",
                                     index=True, max_length=40)
    lookup: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64)
    created_at: datetime = utc_datetime()
    revoked_at: datetime | None = utc_datetime(default=None, nullable=True)


class ApiKeyCreate(StrictModel):
    role: Role
    name: Name

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "office", "name": "窗口-王芳"}]}
    )


class ApiKeyCreated(BaseModel):
    id: str
    key: str = PField(description="The key in clear. Shown once; store it now.")
    role: Role
    org_id: str | None
    name: str
    caregiver_id: str | None = PField(
        default=None, description="A `caregiver` key's caregiver; null for every other role")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "key_0193a1b2c3d4e5f6a7b8c9d0e1",
        "key": "hm_3f9a1c2b4d5e_Jx0wq3Vt1m2s8y4Zr6Pb0nLk5Hc7Ga9Df1Ee3Ui5Oo7",
        "role": "office", "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "窗口-王芳",
        "caregiver_id": None}]})


class ApiKeyPublic(BaseModel):
    id: str
    role: Role
    org_id: str | None
    name: str
    caregiver_id: str | None = PField(
        default=None, description="A `caregiver` key's caregiver; null for every other role")
    created_at: ChinaTime
    revoked_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "key_0193a1b2c3d4e5f6a7b8c9d0e1", "role": "office",
        "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "窗口-王芳",
        "caregiver_id": None, "created_at": "2026-11-29T18:00:00+08:00", "revoked_at": None}]})
