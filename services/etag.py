"""ETags from row versions, and the If-Match check every organisation-edited
resource goes through."""

from __future__ import annotations

from core.errors import PreconditionFailed, PreconditionRequired


def etag(object_id: str, version: int) -> str:
    return f'"{object_id}.{version}"'


def check_if_match(if_match: str | None, object_id: str, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired()
    candidates = {c.strip().removeprefix("W/") for c in if_match.split(",")}
    if "*" not in candidates and etag(object_id, version) not in candidates:
        raise PreconditionFailed()
