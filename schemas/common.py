"""Shared column types, the metadata naming convention, and list envelopes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

T = TypeVar("T")


def utc_datetime(**kwargs: Any) -> Any:
    """A timezone-aware datetime column (stored as UTC)."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)


def id_field(**kwargs: Any) -> Any:
    return Field(primary_key=True, max_length=40, **kwargs)


DivisionCode = Annotated[
    str, StringConstraints(pattern=r"^\d{6}$"),
    PField(description="Six-digit administrative division code", examples=["110105"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9\- ]{5,19}$"),
    PField(examples=["13800138000"]),
]
IdNumberIn = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=15, max_length=18,
                           pattern=r"^[0-9]{17}[0-9Xx]$"),
    PField(description="Resident identity number (GB 11643); returned only masked",
           examples=["11010519491231002X"]),
]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Timestamps(SQLModel):
    created_at: datetime = utc_datetime()
