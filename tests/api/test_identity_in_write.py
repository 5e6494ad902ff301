"""A booking leaves the account's real-name identity to its write, and so does a
lottery entry (hot commands, services.commands: `citizen_acts_for` in the write,
`command_refused` for a refusal before it): the answers are the ones a request that
read the identity first would get, whichever check refuses it and wherever (the
write itself, this process's memo of a full session, the body's validation; with
identity required, see test_identity_required.py)."""

from __future__ import annotations

from tests.api.test_audit_refusals import events
from tests.api.test_identity import account, bind, verifier
from tests.api.test_marriage_lottery_support import enter, lottery_office, schedule_lottery
from tests.api.test_marriage_support import (
    book,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)

ONE_SEAT = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}]


async def test_the_applicant_rule_comes_before_a_full_session(client, admin_headers, settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _ = await office_with_schedule(client, admin_headers, sessions=ONE_SEAT)
    slot = slot_id(office["id"], "2026-12-08")
    assert (await book(client, settings, slot)).status_code == 201
    # The account's own person: the session is full (and this process now knows).
    me = person("male")
    subject, mine = account(settings)
    await bind(client, v, subject, me)
    for _ in range(2):
        r = await book(client, settings, slot, [me, person("female")], headers=mine)
        assert r.status_code == 409 and r.json()["code"] == "slot_full", r.text
    stranger_subject, stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    # Full (this process's memo of it), and not the stranger's person: the
    # applicant rule answers, as it does before a session's seats are looked at.
    for _ in range(2):
        r = await book(client, settings, slot, couple(), headers=stranger)
        assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text
    # Each refusal is audited as the refusal it was (the identity, the key's look-up
    # and the audit row are one statement, `command_refused`).
    assert [e["outcome"] for e in await events(client, admin_headers,
                                               actor_id=stranger_subject)] \
        == ["refused:applicant_not_a_party"] * 2
    assert [e["outcome"] for e in await events(client, admin_headers, actor_id=subject)] \
        == ["refused:slot_full"] * 2


async def test_the_applicant_rule_comes_first_in_a_lottery_too(client, admin_headers,
                                                                settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, staff = await lottery_office(client, admin_headers)
    lot = (await schedule_lottery(client, office, staff)).json()
    set_china_time("2026-12-06")
    stranger_subject, stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    # Refused by the write (everything else is right), and before it (a session
    # the day has not, a person who entered already): the applicant rule each time.
    taken = couple()
    assert (await enter(client, settings, lot["id"], taken)).status_code == 201
    for parties, prefs in ((couple(), ("09:00",)), (couple(), ("07:00",)),
                           (taken, ("09:00",))):
        r = await enter(client, settings, lot["id"], parties, prefs, headers=stranger)
        assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text
    me = person("male")
    subject, mine = account(settings)
    await bind(client, v, subject, me)
    r = await enter(client, settings, lot["id"], [me, person("female")], ("07:00",),
                    headers=mine)
    assert r.status_code == 422 and r.json()["code"] == "invalid_session_preferences", r.text
    r = await enter(client, settings, lot["id"], [me, person("female")], headers=mine)
    assert r.status_code == 201, r.text
