"""Citizen accounts' real-name identity (实名认证): the person an account is bound to.

The platform's verification service (role `identity_verifier`) binds an account
(the token's `sub`) to the person it verified; the account then acts as that
person (API.md "Authentication and roles"). The identity number is a protected
value (services.identity): encrypted, blind-indexed, masked.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, IdNumberIn, Name, StrictModel, utc_datetime


class CitizenIdentity(SQLModel, table=True):
    __tablename__ = "citizen_identity"

    subject: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=100)
    id_number_encrypted: str = Field(max_length=200)
    # Not unique: one person may sign in through more than one mini-program.
    id_blind_index: str = Field(max_length=64, index=True)
    id_number_masked: str = Field(max_length=18)
    verified_at: datetime = utc_datetime()
    # Who bound it: the verifier's organisation and API key.
    verified_by_org_id: str | None = Field(default=None, foreign_key="organisation.id",
                                           max_length=40)
    verified_by_key_id: str | None = Field(default=None, max_length=40)


class IdentityBind(StrictModel):
    name: Name
    id_number: IdNumberIn

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "张伟", "id_number": "440305198503151238"}]})


class IdentityPublic(BaseModel):
    subject: str
    name: str
    id_number_masked: str
    verified_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "name": "张伟",
        "id_number_masked": "440305********1238",
        "verified_at": "2026-12-01T18:00:00+08:00"}]})


class MeIdentity(BaseModel):
    """The person a citizen account is bound to, as `GET /v1/me` shows it."""

    name: str
    id_number_masked: str

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "张伟", "id_number_masked": "440305********1238"}]})
