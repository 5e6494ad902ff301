"""Finding a home-care provider: nearest first, by service, at 10,000 providers.

`GET /v1/home-care/providers` (services/home_care/providers.py) orders providers by
distance with a GiST index scan ordered by `<->`, not by computing distances in
Python. This creates, in order:

1. the extension `cube` (contrib, trusted: any owner of the database may create it);
2. `organisation.pos`: the organisation's point on the unit sphere, a stored column
   generated from `lat` and `lon` (`schemas.common.sphere_point`; existing rows get
   theirs as the table is rewritten), with the GiST index
   `ix_organisation_kind_pos_division` (kind, pos, division_code), and
   `ix_organisation_kind_name` (kind, name, id) for the directory by name;
3. `home_care_offering.pos` and `.division_code`, the provider's place on each
   offering row, and the GiST index `ix_home_care_offering_service_pos_division`
   (service_code, pos, division_code): "the nearest providers of this service"
   starts within the service and prunes by division;
4. `home_care_provider_rating`, a provider's rated visits counted as they are rated
   (`rating_count`, `rating_sum`);
5. the triggers of services/home_care/providers.sql, which keep each offering's
   `pos` and `division_code` equal to its provider's, as alembic_utils wrote them;
6. the backfill: every existing offering's place (through the trigger; then
   `division_code` is NOT NULL and indexed), and every provider's rating counts from
   its rated visits.

Written by `alembic revision --autogenerate` (tables, columns, indexes; the
functions and triggers in a second pass, once the columns they name existed),
then reviewed: the types spelled as the baseline spells them, the extension, the
backfill and this docstring added. The downgrade removes all of it, `cube` included
(nothing else of huimin uses it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:04:27+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from sqlalchemy.types import UserDefinedType

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Cube(UserDefinedType):
    """The extension's type, as this revision writes it (schemas.common.Cube)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "cube"


# schemas.common.sphere_point("lat", "lon") as of this revision.
ORGANISATION_POS = (
    "CASE WHEN lat IS NULL OR lon IS NULL THEN NULL ELSE "
    "cube(ARRAY[cos(radians(lat)) * cos(radians(lon)), "
    "cos(radians(lat)) * sin(radians(lon)), sin(radians(lat))]) END")

# services/home_care/providers.sql as of this revision, whole.
public_home_care_offering_place = PGFunction(
    schema="public",
    signature="home_care_offering_place()",
    definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n  SELECT o.pos, o.division_code INTO NEW.pos, NEW.division_code\n    FROM organisation AS o WHERE o.id = NEW.provider_id;\n  RETURN NEW;\nEND $$",  # noqa: E501
)

public_home_care_offering_follow = PGFunction(
    schema="public",
    signature="home_care_offering_follow()",
    definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n  UPDATE home_care_offering SET provider_id = provider_id WHERE provider_id = NEW.id;\n  RETURN NULL;\nEND $$",  # noqa: E501
)

public_home_care_offering_home_care_offering_place = PGTrigger(
    schema="public",
    signature="home_care_offering_place",
    on_entity="public.home_care_offering",
    is_constraint=False,
    definition="BEFORE INSERT OR UPDATE OF provider_id, pos, division_code ON public.home_care_offering\n  FOR EACH ROW EXECUTE FUNCTION public.home_care_offering_place()",  # noqa: E501
)

public_organisation_home_care_offering_follow = PGTrigger(
    schema="public",
    signature="home_care_offering_follow",
    on_entity="public.organisation",
    is_constraint=False,
    definition="AFTER UPDATE OF lat, lon, division_code ON public.organisation\n  FOR EACH ROW WHEN (OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon\n                     OR OLD.division_code IS DISTINCT FROM NEW.division_code)\n  EXECUTE FUNCTION public.home_care_offering_follow()",  # noqa: E501
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    op.add_column("organisation", sa.Column(
        "pos", Cube(), sa.Computed(ORGANISATION_POS, persisted=True), nullable=True))
    op.create_index("ix_organisation_kind_name", "organisation", ["kind", "name", "id"],
                    unique=False)
    op.create_index("ix_organisation_kind_pos_division", "organisation",
                    ["kind", "pos", "division_code"], unique=False, postgresql_using="gist")
    op.add_column("home_care_offering", sa.Column("pos", Cube(), nullable=True))
    # Filled below (the trigger), then required.
    op.add_column("home_care_offering", sa.Column("division_code", sa.String(length=6),
                                                  nullable=True))
    op.create_table(
        "home_care_provider_rating",
        sa.Column("provider_id", sa.String(length=40), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating_count >= 0",
                           name=op.f("ck_home_care_provider_rating_count_non_negative")),
        sa.CheckConstraint("rating_sum BETWEEN rating_count AND 5 * rating_count",
                           name=op.f("ck_home_care_provider_rating_sum_within_stars")),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["organisation.id"],
            name=op.f("fk_home_care_provider_rating_provider_id_organisation")),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_home_care_provider_rating")),
    )
    op.create_entity(public_home_care_offering_place)
    op.create_entity(public_home_care_offering_follow)
    op.create_entity(public_home_care_offering_home_care_offering_place)
    op.create_entity(public_organisation_home_care_offering_follow)
    # The backfill. Naming `provider_id` fires home_care_offering_place, which takes
    # the provider's place (the one rule of those columns).
    op.execute("UPDATE home_care_offering SET provider_id = provider_id")
    op.alter_column("home_care_offering", "division_code", nullable=False)
    op.create_index("ix_home_care_offering_service_pos_division", "home_care_offering",
                    ["service_code", "pos", "division_code"], unique=False,
                    postgresql_using="gist")
    op.execute("""
INSERT INTO home_care_provider_rating (provider_id, rating_count, rating_sum, updated_at)
SELECT provider_id, count(*), sum(rating_stars), now()
FROM home_care_booking WHERE rating_stars IS NOT NULL
GROUP BY provider_id""")


def downgrade() -> None:
    op.drop_entity(public_organisation_home_care_offering_follow)
    op.drop_entity(public_home_care_offering_home_care_offering_place)
    op.drop_entity(public_home_care_offering_follow)
    op.drop_entity(public_home_care_offering_place)
    op.drop_table("home_care_provider_rating")
    op.drop_index("ix_home_care_offering_service_pos_division",
                  table_name="home_care_offering", postgresql_using="gist")
    op.drop_column("home_care_offering", "division_code")
    op.drop_column("home_care_offering", "pos")
    op.drop_index("ix_organisation_kind_pos_division", table_name="organisation",
                  postgresql_using="gist")
    op.drop_index("ix_organisation_kind_name", table_name="organisation")
    op.drop_column("organisation", "pos")
    op.execute("DROP EXTENSION IF EXISTS cube")
