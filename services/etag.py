"""ETags of the resources organisations edit, and the conditional-request checks
they go through (`If-Match` on writes, `If-None-Match` on reads).

An ETag names one representation: `"{id}.{version}"` for a row with a version
column. An institution's public profile also shows its vacancies, which change
with its beds (and with time, as offers expire), so its ETag adds a digest of the
vacancies it shows: whatever changes them changes the ETag, at no extra query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from core.writes import check_if_match as _check_if_match
from core.writes import if_match_matches


def etag(object_id: str, version: int) -> str:
    return f'"{object_id}.{version}"'


def institution_etag(org_id: str, version: int, vacancies: Mapping[str, object]) -> str:
    shown = ",".join(f"{k}={vacancies[k]}" for k in sorted(vacancies))
    digest = hashlib.blake2b(shown.encode(), digest_size=6).hexdigest()
    return f'"{org_id}.{version}.{digest}"'


def check_if_match(if_match: str | None, object_id: str, version: int) -> None:
    """428 without `If-Match`, 412 (with the current ETag) when it is stale."""
    _check_if_match(if_match, etag(object_id, version))


def none_match(if_none_match: str | None, current: str) -> bool:
    """True when `If-None-Match` names the current representation (weak
    comparison, as RFC 9110 says for If-None-Match): answer 304."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or current.removeprefix("W/") in tags


__all__ = ["check_if_match", "etag", "if_match_matches", "institution_etag", "none_match"]
