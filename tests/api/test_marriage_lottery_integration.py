"""The lottery beside the audit chain, encrypted phones, real-name identity and the
outbox: its entries and draw are links of the chain, entrants' phones are stored
encrypted and shown masked, a bound account enters only with its own person, and
the draw writes `marriage.lottery.drawn`."""

from __future__ import annotations

from sqlalchemy import select

from core.protected import PHONE
from schemas.marriage import MarriageParty
from schemas.marriage_lottery import MarriageLotteryEntrant
from schemas.notifications import OutboxEvent
from services import audit, maintenance
from tests.api.test_identity import account, bind, verifier
from tests.api.test_marriage_lottery_support import enter, lottery_office, schedule_lottery
from tests.api.test_marriage_support import citizen, couple, person, set_china_time


async def _lottery(client, admin_headers):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    return office, lot


async def test_a_bound_account_enters_only_with_its_own_person(client, admin_headers,
                                                                settings, db):
    v = await verifier(client, admin_headers)
    _office, lot = await _lottery(client, admin_headers)
    groom, bride = person("male"), person("female")
    stranger_subject, stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    r = await enter(client, settings, lot["id"], [groom, bride], headers=stranger)
    assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text
    async with db.session() as s:
        assert not (await s.execute(select(MarriageLotteryEntrant))).scalars().all()
    groom_subject, groom_account = account(settings)
    await bind(client, v, groom_subject, groom)
    r = await enter(client, settings, lot["id"], [groom, bride], headers=groom_account)
    assert r.status_code == 201, r.text


async def test_entries_and_draw_chain_phones_encrypted_and_drawn_event(client, admin_headers,
                                                                        settings, db):
    _office, lot = await _lottery(client, admin_headers)
    who, phones = {}, set()
    for _ in range(7):  # 5 seats: some win, some do not
        me, parties = citizen(settings), couple()
        phones |= {p["phone"] for p in parties}
        r = await enter(client, settings, lot["id"], parties, headers=me)
        assert r.status_code == 201, r.text
        assert not [p for p in phones if p in r.text]
        who[r.json()["id"]] = me
    async with db.session() as s:
        entrants = (await s.execute(select(MarriageLotteryEntrant))).scalars().all()
    assert len(entrants) == 14
    assert {PHONE.reveal(e.phone_encrypted, settings) for e in entrants} == phones
    assert all(e.phone_masked and "****" in e.phone_masked for e in entrants)

    set_china_time("2026-12-10", "18:00")
    assert (await maintenance.run_once(db, settings))["lotteries_drawn"] == 1
    # Every audit row, the entries', the draw's and its appointments', is a link
    # (PostgreSQL: once the pending rows are linked, as `huimin audit verify` does).
    async with db.session() as s:
        await audit.link(s)
        await s.commit()
    async with db.session() as s:
        report = await audit.verify(s)
    assert report.pending == 0
    assert report.broken_at is None, report
    assert report.rows >= 7 + 1 + 5
    # The winners' parties carry the phones encrypted, as a booking's do.
    async with db.session() as s:
        parties = (await s.execute(select(MarriageParty))).scalars().all()
        evts = (await s.execute(select(OutboxEvent).where(
            OutboxEvent.type == "marriage.lottery.drawn"))).scalars().all()
    assert len(parties) == 10
    assert {PHONE.reveal(p.phone_encrypted, settings) for p in parties} <= phones
    assert all(p.phone_masked for p in parties)
    assert len(evts) == 1
    e = evts[0]
    assert e.object_id == lot["id"] and e.object_type == "marriage_lottery"
    assert e.data["entries"] == 7 and e.data["seats"] == 5 and e.data["winners"] == 5
    assert not [p for p in phones if p in repr(e.data)]
    # No lottery response shows a phone in full.
    for entry_id, me in who.items():
        r = await client.get(f"/v1/marriage/lottery-entries/{entry_id}", headers=me)
        assert r.status_code == 200 and not [p for p in phones if p in r.text], r.text
        assert all(p["phone_masked"] for p in r.json()["parties"])
    r = await client.get(f"/v1/marriage/lotteries/{lot['id']}/entries")
    assert not [p for p in phones if p in r.text]
