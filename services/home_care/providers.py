"""The home-care provider directory (`GET /v1/home-care/providers`): the providers
offering a service (or any), nearest to a point first or by name, in a division,
with their offerings and rating; and the ratings it counts.

How "nearest first" stays a couple of index scans at 10,000 providers (measured with
EXPLAIN ANALYZE on PostgreSQL 15.20 and 18.6, 10,000 providers over seven cities,
about 20,000 offerings: bench/home_care.py's `seed_directory`):

- Every position is a point on the unit sphere (`schemas.common.sphere_point`):
  `organisation.pos`, generated from `lat`/`lon`, and a copy on each of the
  provider's offering rows (`home_care_offering.pos`, with its `division_code`, kept
  equal to the provider's by the triggers of providers.sql). `a <-> b` between two
  such points is the chord, which grows with the great-circle distance, so the order
  by chord is the order by distance, and `distance_m = 2 R asin(chord / 2)`.
- With `service_code`: the GiST index on (service_code, pos, division_code) of the
  offering rows (btree_gist for the codes). The plan (a generic one, kept by
  PostgreSQL: planning 0.015 ms): `knn`, an `Index Scan using
  ix_home_care_offering_service_pos_division`, `Index Cond: service_code = $1 AND
  pos IS NOT NULL`, `Order By: pos <-> origin`, under a `Limit` (it reads the page's
  rows, two more, and stops); a sort of those few by (chord, id); then the page's
  organisations, rating rows and offerings by primary key. Execution 0.3-0.7 ms for
  a common service (meal_assist, 5,500 providers) or a rare one (rehab_nursing, 300
  all over the country), 0.3-2 ms within a division, near the point or far from it:
  the tree is split by service, then by place, and a division is a range its
  subtrees prune by.
- Without it: the GiST index on (kind, pos, division_code) of the organisations, the
  same plan.
- Without `near`: by name, then id (`ix_organisation_kind_name`; a division by
  `ix_organisation_kind_division`), 0.6-2.5 ms.

Why not one scan ordered by (chord, id): PostgreSQL 18 puts an incremental sort on
the ordered index scan, 15 does not and sorts the whole service (10 ms at 5,500
rows). So `knn` is ordered by the chord alone and reads one row more than the page
(which is itself one more than asked, for `next_cursor`). Let `d` be the distance of
the page's last row and `e` that of the row after it: when `e > d` (or there is no
such row) the page is exactly `knn`'s rows up to `d`, in (chord, id) order. When
`e = d`, rows at that distance may be cut at the page's end in whatever order the
scan met them, so the page is instead every row at most `d` away, through the same
index: a box around the origin (`cube_enlarge` by a hair more than `d`, so no
rounding keeps a row of distance `d` out) and the exact distance (0.2 ms more; that
branch is a one-time filter, not run otherwise). Rows at equal distances are never
cut arbitrarily.

The next page is "after (chord, id)": the same scans from the start, skipping what
came before (a GiST scan cannot start at a distance), so page k reads about k pages
of index entries. The cursor carries the chord exactly as the database computed it,
and the origin is computed the same way on every page, so equal distances compare
equal and ties go by id: no row is repeated or missed.

A page is one statement, sent on its own (`prepared`: no transaction, a prepared
statement per connection), one per combination of the filters, never a statement
with optional parts that a generic plan could not index. PostgreSQL writes each
item's JSON; Python only joins them and adds the cursor. Measured in process at
10,000 providers (direct ASGI calls, one at a time, on a shared machine), building
the items as pydantic models and serialising them cost 0.8-1.1 ms of the server's CPU
per page of 20; this, 0.45-0.75 ms, for the same 0.7-0.9 ms of PostgreSQL's. Reading
the page from `knn` unless a tie crosses its end, and the page size written into the
statement, then took PostgreSQL's share to 0.43-0.47 ms.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import clock
from core.errors import InvalidCursor
from schemas.common import sphere_point
from schemas.home_care import HomeCareProviderRating, ServiceCode
from schemas.organisation import OrgKind
from services import divisions, organisations

EARTH_RADIUS_M = organisations.EARTH_RADIUS_KM * 1000
MIN_RATINGS = 5  # below this many rated visits, no mean is shown (API.md)


class _Name(pages.Kind):
    """An organisation's name in a cursor: any text a name may hold (`Name`), which
    `pages.Text` would refuse where it is not printable (an ideographic space)."""

    def dump(self, value: Any) -> Any:
        return str(value)

    def load(self, raw: Any) -> Any:
        if not isinstance(raw, str) or not 0 < len(raw) <= 100 \
                or any(ord(c) < 32 for c in raw):
            raise InvalidCursor()
        return raw


# The two orders of the list, and their cursors.
NEAREST = pages.Keyset(pages.Key(None, pages.Float(lo=0.0), attr="chord"),
                       pages.Key(None, pages.IdOf("org"), attr="id"))
BY_NAME = pages.Keyset(pages.Key(None, _Name(), attr="name"),
                       pages.Key(None, pages.IdOf("org"), attr="id"))

_PROVIDER = f"'{OrgKind.home_care_provider.value}'"
_ORIGIN = sphere_point("@lat::float8", "@lon::float8")
_PLACEHOLDER = re.compile(r"@(\w+)")


def _hit(near: bool, service: bool, division: bool, after: bool,
         rows: int) -> tuple[str, str]:
    """The page's providers, in order, `rows` of them at most (one more than the page):
    their ids and chords; and the outer ORDER BY that keeps that order."""
    if near:
        # Nearest first, within the service if one is asked (its offering rows), else
        # within the providers: the page is `knn`'s rows up to `d`, or, when a tie
        # crosses the page's end, every row at most `d` away (the module's docstring).
        if service:  # the offering rows, only ever a provider's own: no kind to check
            t, key, source = "f", "f.provider_id", "home_care_offering AS f"
            conds = ["f.service_code = @service"]
        else:
            t, key, source = "o", "o.id", "organisation AS o"
            conds = [f"o.kind = {_PROVIDER}"]
        conds.append(f"{t}.pos IS NOT NULL")
        if division:
            conds += [f"{t}.division_code >= @low", f"{t}.division_code < @high"]
        pos, dist = f"{t}.pos", f"{t}.pos <-> {_ORIGIN}"
        if after:
            conds.append(f"({dist} > @chord OR ({dist} = @chord AND {key} > @after_id))")
        where = " AND ".join(conds)
        return (f"WITH knn AS MATERIALIZED (SELECT {key} AS id, {dist} AS chord "  # noqa: S608
                f"FROM {source} WHERE {where} ORDER BY {dist} LIMIT {rows + 1}), "
                f"edge AS (SELECT max(chord) FILTER (WHERE n <= {rows}) AS d, "
                f"max(chord) FILTER (WHERE n > {rows}) AS e FROM ("
                "SELECT chord, row_number() OVER (ORDER BY chord) AS n FROM knn) AS ranked) "
                # No tie across the page's end: the page is in `knn`.
                "SELECT id, chord FROM knn WHERE chord <= (SELECT d FROM edge) "
                "AND ((SELECT e FROM edge) IS NULL OR (SELECT e FROM edge) > (SELECT d FROM edge)) "
                # A tie across it: every row at most `d` away (a box, then the distance).
                f"UNION ALL SELECT {key}, {dist} FROM {source} WHERE {where} "
                "AND (SELECT e FROM edge) = (SELECT d FROM edge) "
                f"AND {pos} <@ cube_enlarge({_ORIGIN}, (SELECT d FROM edge) * 1.000001 + 1e-12, 3) "
                f"AND {dist} <= (SELECT d FROM edge) "
                f"ORDER BY chord, id LIMIT {rows}",
                "hit.chord, hit.id")
    conds = [f"o.kind = {_PROVIDER}"]
    if division:
        conds += ["o.division_code >= @low", "o.division_code < @high"]
    if service:
        conds.append("EXISTS (SELECT FROM home_care_offering AS f "
                     "WHERE f.provider_id = o.id AND f.service_code = @service)")
    if after:
        conds.append("(o.name, o.id) > (@after_name, @after_id)")
    return (f"SELECT o.id, NULL::float8 AS chord FROM organisation AS o "  # noqa: S608
            f"WHERE {' AND '.join(conds)} ORDER BY o.name, o.id LIMIT {rows}",
            "o.name, o.id")


@cache
def _statement(near: bool, service: bool, division: bool, after: bool,
               limit: int) -> tuple[prepared.Sql, tuple[str, ...]]:
    """One combination's statement, with its parameters' names in `$n` order. The
    page's size is written into it, not passed: with `LIMIT $n` PostgreSQL's generic
    plan expects a tenth of the table and joins it by hashing whole tables, so it
    kept planning each call anew (0.3 ms); with the number, the generic plan is the
    custom one and is kept (limit is 1-100: at most 100 statements per combination,
    one in practice). Each
    row: the provider's id, name and chord (for the cursor), and its item of the page
    as JSON text, shaped as `ProviderPublic` (the tests validate every item against
    it): `distance_m` and `rating_avg` are computed here and nowhere else."""
    hit, order = _hit(near, service, division, after, limit + 1)
    first = "f.service_code = @service DESC, " if service else ""
    distance = (f"round(2 * {EARTH_RADIUS_M!r} * asin(least(1.0, hit.chord / 2)))::bigint"
                if near else "NULL")
    text = f"""
SELECT o.id, o.name, hit.chord, json_build_object(
  'id', o.id, 'name', o.name, 'address', o.address, 'phone', o.phone, 'lat', o.lat,
  'lon', o.lon, 'division_code', o.division_code,
  'distance_m', {distance},
  'offerings', coalesce((
    SELECT json_agg(json_build_object('service_code', f.service_code,
                                      'price_fen', f.price_fen,
                                      'duration_minutes', f.duration_minutes)
                    ORDER BY {first}f.service_code)
    FROM home_care_offering AS f WHERE f.provider_id = hit.id), '[]'),
  'rating_avg', CASE WHEN r.rating_count >= {MIN_RATINGS}
                     THEN round(r.rating_sum::numeric / r.rating_count, 2) END,
  'rating_count', coalesce(r.rating_count, 0))::text
FROM ({hit}) AS hit
JOIN organisation AS o ON o.id = hit.id
LEFT JOIN home_care_provider_rating AS r ON r.provider_id = hit.id
ORDER BY {order}"""  # noqa: S608 - constants of this module; values are parameters
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return prepared.Sql(_PLACEHOLDER.sub(number, text)), tuple(names)


async def search(session: AsyncSession, *, service_code: ServiceCode | None,
                 near: str | None, division_code: str | None, limit: int,
                 cursor: str | None) -> bytes:
    """A page (`Page[ProviderPublic]` as JSON) of the providers offering
    `service_code` (any service when None) within `division_code` (prefix
    containment: a city's code covers its counties), nearest to `near` first
    (providers without a location left out), else by name."""
    if type(limit) is not int or not 0 < limit <= 100:  # it goes into the statement
        raise ValueError(f"limit {limit!r}")
    origin = organisations.parse_near(near) if near is not None else None
    bounds = None
    if division_code is not None:
        bounds = divisions.prefix_range(
            divisions.jurisdiction_prefix(divisions.validate(division_code)))
    keyset = NEAREST if origin is not None else BY_NAME
    after = keyset.decode(cursor) if cursor else None
    sql, names = _statement(origin is not None, service_code is not None,
                            bounds is not None, after is not None, limit)
    values: dict[str, Any] = {}
    if service_code is not None:
        values["service"] = service_code.value
    if origin is not None:
        values["lat"], values["lon"] = origin
    if bounds is not None:
        values["low"], values["high"] = bounds
    if after is not None:
        values["chord" if origin is not None else "after_name"] = after[0]
        values["after_id"] = after[1]
    db = await prepared.driver(session)
    rows = await db.fetch_alone(sql, *(values[n] for n in names))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = keyset.encode((last[2], last[0]) if origin is not None
                                    else (last[1], last[0]))
    return (f'{{"items":[{",".join(r[3] for r in rows[:limit])}],'
            f'"next_cursor":{json.dumps(next_cursor)}}}').encode()


async def count_rating(session: AsyncSession, provider_id: str, stars: int) -> None:
    """One more rated visit of the provider, in the rating's own transaction."""
    stmt = insert(HomeCareProviderRating).values(
        provider_id=provider_id, rating_count=1, rating_sum=stars, updated_at=clock.now())
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["provider_id"],
        set_={"rating_count": HomeCareProviderRating.rating_count + 1,
              "rating_sum": HomeCareProviderRating.rating_sum + stmt.excluded.rating_sum,
              "updated_at": stmt.excluded.updated_at}))
