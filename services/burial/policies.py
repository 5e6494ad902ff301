"""Subsidy policies: per division and burial method, an amount, an effective
period and a claim deadline (DOMAIN.md section 4).

Periods of one division and method never overlap. A policy is never edited in
place, so every claim keeps the amount it was decided under: a new period that
starts later than an open-ended policy (and after today, so no past day changes
its policy) supersedes it, which closes the old one the day before; any other
overlap is 409 `policy_overlap`. Writes to one line (division + method) are
serialised by a conditional UPDATE of its `burial_policy_line` row, taken first.

Which policy decides a claim: the one in force on the burial date, for the
method, at the most specific division that has one in force among the deceased's
county, its city and its province (`110105`, then `110100`, then `110000`).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NoApplicablePolicy, NotFound, PolicyOverlap
from core.ids import new_id
from core.principal import Principal
from core.writes import insert_if_absent
from schemas.burial import BurialPolicy, BurialPolicyLine, PolicyCreate, PolicyPublic
from schemas.common import Page
from services import audit, divisions

BY_DIVISION = pages.Keyset(
    pages.Key(BurialPolicy.division_code, pages.Text(6)),
    pages.Key(BurialPolicy.method, pages.Text(16)),
    pages.Key(BurialPolicy.effective_from, pages.DAY),
    pages.Key(BurialPolicy.id, pages.IdOf("bpol")))


def to_public(p: BurialPolicy) -> PolicyPublic:
    return PolicyPublic(
        id=p.id, division_code=p.division_code, division_name=divisions.name_of(p.division_code),
        method=p.method, amount_fen=p.amount_fen, effective_from=p.effective_from,
        effective_to=p.effective_to, claim_deadline_days=p.claim_deadline_days,
        superseded_by=p.superseded_by, created_at=p.created_at)


def _period(p: BurialPolicy) -> str:
    end = p.effective_to.isoformat() if p.effective_to else ""
    return f"{p.effective_from.isoformat()} ~ {end}"


async def _lock_line(session: AsyncSession, division_code: str, method: str) -> None:
    await insert_if_absent(session, BurialPolicyLine,
                           {"division_code": division_code, "method": method, "lock_seq": 0},
                           conflict=["division_code", "method"])
    await session.execute(
        update(BurialPolicyLine)
        .where(BurialPolicyLine.division_code == division_code,
               BurialPolicyLine.method == method)
        .values(lock_seq=BurialPolicyLine.lock_seq + 1)
        .execution_options(synchronize_session=False))


async def create(session: AsyncSession, principal: Principal | None,
                 body: PolicyCreate) -> PolicyPublic:
    """`principal` None: the demo loader (audited as the system)."""
    code = divisions.validate(body.division_code)
    method = body.method.value
    await _lock_line(session, code, method)
    start, end = body.effective_from, body.effective_to
    overlapping = (await session.execute(
        select(BurialPolicy).where(
            BurialPolicy.division_code == code, BurialPolicy.method == method,
            or_(BurialPolicy.effective_to.is_(None), BurialPolicy.effective_to >= start),
            *([BurialPolicy.effective_from <= end] if end is not None else []))
        .order_by(BurialPolicy.effective_from)
        .execution_options(populate_existing=True))).scalars().all()
    new = BurialPolicy(id=new_id("bpol"), division_code=code, method=method,
                       amount_fen=body.amount_fen, effective_from=start, effective_to=end,
                       claim_deadline_days=body.claim_deadline_days, created_at=clock.now())
    superseded: list[BurialPolicy] = []
    for old in overlapping:
        # Only an open-ended policy that began earlier, from a day still to come.
        if old.effective_to is None and old.effective_from < start and start > clock.today():
            superseded.append(old)
            continue
        err = PolicyOverlap(division_code=code, method=method, period=_period(old))
        err.extra["policy_id"] = old.id
        raise err
    session.add(new)
    await session.flush()
    for old in superseded:
        await session.execute(
            update(BurialPolicy).where(BurialPolicy.id == old.id,
                                       BurialPolicy.effective_to.is_(None))
            .values(effective_to=start - timedelta(days=1), superseded_by=new.id)
            .execution_options(synchronize_session=False))
        await audit.record(session, principal, "burial_policy.supersede", "burial_policy",
                           old.id)
    await audit.record(session, principal, "burial_policy.create", "burial_policy", new.id)
    return to_public(new)


async def get(session: AsyncSession, policy_id: str) -> PolicyPublic:
    p = await session.get(BurialPolicy, policy_id)
    if p is None:
        raise NotFound(what="burial policy")
    return to_public(p)


async def list_(session: AsyncSession, *, division_code: str | None, method: str | None,
                in_force_on: date | None, limit: int,
                cursor: str | None) -> Page[PolicyPublic]:
    """Policies by division (a prefix: `11` is every policy in Beijing), method and
    the date they are in force on."""
    stmt = select(BurialPolicy)
    if division_code:
        stmt = stmt.where(divisions.prefix_condition(BurialPolicy.division_code, division_code))
    if method:
        stmt = stmt.where(BurialPolicy.method == method)
    if in_force_on is not None:
        stmt = stmt.where(BurialPolicy.effective_from <= in_force_on,
                          or_(BurialPolicy.effective_to.is_(None),
                              BurialPolicy.effective_to >= in_force_on))
    page = await BY_DIVISION.page(session, stmt, limit=limit, cursor=cursor)
    return page.map(to_public)


def _candidate_divisions(code: str) -> list[str]:
    """The division, its city and its province, most specific first."""
    out = [code]
    for c in (code[:4] + "00", code[:2] + "0000"):
        if c not in out:
            out.append(c)
    return out


async def applicable(session: AsyncSession, *, division_code: str, method: str,
                     burial_date: date) -> BurialPolicy:
    """The policy that decides a claim (module docstring), else 422
    `no_applicable_policy`."""
    candidates = _candidate_divisions(division_code)
    rows = (await session.execute(
        select(BurialPolicy).where(
            BurialPolicy.division_code.in_(candidates), BurialPolicy.method == method,
            BurialPolicy.effective_from <= burial_date,
            or_(BurialPolicy.effective_to.is_(None),
                BurialPolicy.effective_to >= burial_date)))).scalars().all()
    by_code = {p.division_code: p for p in rows}
    for c in candidates:
        if c in by_code:
            return by_code[c]
    raise NoApplicablePolicy(division_code=division_code, method=method,
                             burial_date=burial_date.isoformat())


async def applicable_public(session: AsyncSession, *, division_code: str, method: str,
                            burial_date: date) -> PolicyPublic:
    divisions.validate(division_code)
    return to_public(await applicable(session, division_code=division_code, method=method,
                                      burial_date=burial_date))
