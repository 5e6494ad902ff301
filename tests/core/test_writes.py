"""core.writes on its own, on the test database, with a
scratch table of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from core.db import Database
from core.errors import Conflict, DomainError, PreconditionFailed, PreconditionRequired
from core.writes import (
    check_if_match,
    constraint_of,
    if_match_matches,
    insert_if_absent,
    unique_violation,
    versioned_update,
    violates,
)


class Base(DeclarativeBase):
    metadata = MetaData()


class Probe(Base):
    __tablename__ = "kit_probe"
    __table_args__ = (
        UniqueConstraint("code", name="uq_kit_probe_code"),
        Index("uq_kit_probe_tag", "tag", unique=True),
    )
    id = Column(String(20), primary_key=True)
    code = Column(String(20), nullable=False)
    tag = Column(String(20))
    note = Column(String(40))
    version = Column(Integer, nullable=False, default=1)


Dup = type("Dup", (Conflict,), {"code": "dup_code"})


def tag_of(row: Probe) -> str:
    return f'"{row.id}.{row.version}"'


@pytest.fixture
async def probe_db(db: Database) -> AsyncIterator[Database]:
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    yield db
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def _count(db: Database) -> int:
    async with db.session() as s:
        return (await s.execute(text("SELECT count(*) FROM kit_probe"))).scalar_one()


async def test_insert_if_absent_says_whether_it_inserted(probe_db):
    async with probe_db.session() as s:
        assert await insert_if_absent(s, Probe, {"id": "a", "code": "A", "version": 1},
                                      conflict=["id"]) is True
        assert await insert_if_absent(s, Probe, {"id": "a", "code": "B", "version": 1},
                                      conflict=["id"]) is False
        # Without a target any unique violation is skipped (here: the code).
        assert await insert_if_absent(s, Probe, {"id": "b", "code": "A", "version": 1}) is False
        await s.commit()
    async with probe_db.session() as s:
        rows = (await s.execute(select(Probe.id, Probe.code))).all()
    assert [tuple(r) for r in rows] == [("a", "A")]


async def test_insert_if_absent_with_another_target_still_raises(probe_db):
    async with probe_db.session() as s:
        await insert_if_absent(s, Probe, {"id": "a", "code": "A", "version": 1})
        with pytest.raises(IntegrityError):
            await insert_if_absent(s, Probe, {"id": "b", "code": "A", "version": 1},
                                   conflict=["id"])


async def test_unique_violation_becomes_the_domain_error(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code="A", tag="t", version=1))
        await s.flush()
        s.add(Probe(id="b", code="A", version=1))
        with pytest.raises(Dup) as caught:
            with unique_violation(Dup(), constraint=constraint_of(Probe, "uq_kit_probe_code")):
                await s.flush()
        assert caught.value.__cause__ is None  # no SQL chained into what reaches a handler


async def test_unique_violation_of_another_constraint_is_not_mapped(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code="A", tag="t", version=1))
        await s.flush()
        s.add(Probe(id="b", code="B", tag="t", version=1))
        with pytest.raises(IntegrityError) as caught:
            with unique_violation(Dup, constraint=constraint_of(Probe, "uq_kit_probe_code")):
                await s.flush()
        assert violates(caught.value, constraint_of(Probe, "uq_kit_probe_tag"))
        assert violates(caught.value, None)
        assert not violates(caught.value, constraint_of(Probe, "uq_kit_probe_code"))


async def test_other_integrity_errors_pass_through(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code=None, version=1))  # NOT NULL, not uniqueness
        with pytest.raises(IntegrityError):
            with unique_violation(Dup()):
                await s.flush()


def test_if_match_forms():
    assert if_match_matches('"a.1"', '"a.1"')
    assert if_match_matches('"x.1", "a.1"', '"a.1"')
    assert if_match_matches("*", '"a.1"')
    assert if_match_matches('W/"a.1"', '"a.1"')
    assert not if_match_matches('"a.2"', '"a.1"')
    with pytest.raises(PreconditionRequired):
        check_if_match(None, '"a.1"')
    with pytest.raises(PreconditionFailed) as caught:
        check_if_match('"a.0"', '"a.1"')
    assert caught.value.headers == {"ETag": '"a.1"'}


async def _row(s, id_: str = "a") -> Probe:
    return (await s.execute(select(Probe).where(Probe.id == id_))).scalar_one()


async def test_versioned_update_checks_then_bumps_the_version(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code="A", version=1))
        await s.commit()
    async with probe_db.session() as s:
        row = await _row(s)
        with pytest.raises(PreconditionRequired):
            await versioned_update(s, row, if_match=None, etag=tag_of, values={"note": "x"})
        with pytest.raises(PreconditionFailed) as caught:
            await versioned_update(s, row, if_match='"a.0"', etag=tag_of, values={"note": "x"})
        assert caught.value.headers == {"ETag": '"a.1"'}
        seen: list[int] = []

        def values(current: Probe) -> dict:
            seen.append(current.version)
            return {"note": "changed"}

        row = await versioned_update(s, row, if_match='"a.1"', etag=tag_of, values=values)
        assert seen == [1]
        assert (row.version, row.note) == (2, "changed")
        await s.commit()
    async with probe_db.session() as s:
        row = await _row(s)
        assert (row.version, row.note) == (2, "changed")


async def test_versioned_update_that_loses_the_race_is_412_with_the_new_etag(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code="A", version=1))
        await s.commit()
    async with probe_db.session() as s:
        row = await _row(s)  # read at version 1 ...
        # ... then another editor's change lands before this one's UPDATE.
        await s.execute(update(Probe).where(Probe.id == "a").values(version=2, note="theirs")
                        .execution_options(synchronize_session=False))
        with pytest.raises(PreconditionFailed) as caught:
            await versioned_update(s, row, if_match='"a.1"', etag=tag_of,
                                   values={"note": "mine"})
        assert caught.value.headers == {"ETag": '"a.2"'}
        assert row.note == "theirs"


async def test_versioned_update_values_errors_come_after_the_precondition(probe_db):
    async with probe_db.session() as s:
        s.add(Probe(id="a", code="A", version=1))
        await s.commit()

    class Refused(DomainError):
        code = "refused"

    def refuse(_row: Probe) -> dict:
        raise Refused()

    async with probe_db.session() as s:
        row = await _row(s)
        with pytest.raises(PreconditionFailed):
            await versioned_update(s, row, if_match='"a.9"', etag=tag_of, values=refuse)
        with pytest.raises(Refused):
            await versioned_update(s, row, if_match='"a.1"', etag=tag_of, values=refuse)
    assert await _count(probe_db) == 1
