"""Real-name identity of citizen accounts (API.md "Authentication and roles"): the
verification service binds an account to a person, and the account then acts as
that person, whoever booked."""

from __future__ import annotations

from sqlalchemy import text

from core.clock import clock
from tests.api.test_burial_support import claim_body, file_claim, policy
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import (
    born_years_ago,
    create_org,
    make_id_number,
    random_subject,
    staff_headers,
)

APPT = "/v1/marriage/appointments"
CASES = "/v1/marriage/divorce-cases"


async def verifier(client, admin_headers) -> dict[str, str]:
    """A key of role `identity_verifier` of a `platform_service` organisation."""
    org = await create_org(client, admin_headers, "platform_service")
    assert org["kind"] == "platform_service"
    return await staff_headers(client, admin_headers, org["id"], "identity_verifier",
                               name="实名核验")


async def bind(client, verifier_headers, subject: str, who: dict, expect: int = 200) -> dict:
    r = await client.put(f"/v1/citizens/{subject}/identity", headers=verifier_headers,
                         json={"name": who["name"], "id_number": who["id_number"]})
    assert r.status_code == expect, r.text
    return r.json()


def account(settings) -> tuple[str, dict[str, str]]:
    subject = random_subject("wx")
    return subject, citizen(settings, subject)


async def test_the_verifier_binds_an_account_and_me_shows_it_masked(client, admin_headers,
                                                                    settings):
    v = await verifier(client, admin_headers)
    subject, me = account(settings)
    r = await client.get("/v1/me", headers=me)
    assert r.status_code == 200 and r.json()["identity"] is None
    who = person("female", name="李娜")
    bound = await bind(client, v, subject, who)
    masked = who["id_number"][:6] + "********" + who["id_number"][-4:]
    assert bound["subject"] == subject and bound["name"] == "李娜"
    assert bound["id_number_masked"] == masked and bound["verified_at"]
    r = await client.get("/v1/me", headers=me)
    assert r.json()["identity"] == {"name": "李娜", "id_number_masked": masked}
    # Audited, with the verifier's organisation.
    r = await client.get("/v1/admin/audit-events", headers=admin_headers,
                         params={"action": "citizen_identity.bind", "object_id": subject})
    assert [(e["object_id"], e["actor_role"]) for e in r.json()["items"]] == [
        (subject, "identity_verifier")]


async def test_the_number_is_stored_encrypted(client, admin_headers, settings, db):
    v = await verifier(client, admin_headers)
    subject, _me = account(settings)
    who = person("male")
    await bind(client, v, subject, who)
    async with db.session() as s:
        row = (await s.execute(text("SELECT * FROM citizen_identity WHERE subject = :s"),
                               {"s": subject})).one()
    assert who["id_number"] not in " ".join(str(x) for x in row)


async def test_binding_needs_the_verifier_role(client, admin_headers, settings):
    subject, me = account(settings)
    who = person("male")
    _office, office_staff = await office_with_schedule(client, admin_headers)
    for headers in (admin_headers, office_staff, me):
        r = await client.put(f"/v1/citizens/{subject}/identity", headers=headers,
                             json={"name": who["name"], "id_number": who["id_number"]})
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    r = await client.put(f"/v1/citizens/{subject}/identity",
                         json={"name": who["name"], "id_number": who["id_number"]})
    assert r.status_code == 401
    # Only a platform service holds the role.
    office = await create_org(client, admin_headers, "registration_office")
    r = await client.post(f"/v1/admin/organisations/{office['id']}/api-keys",
                          headers=admin_headers, json={"role": "identity_verifier", "name": "x"})
    assert r.status_code == 422 and r.json()["code"] == "role_not_allowed"
    assert (await client.get("/v1/me", headers=me)).json()["identity"] is None


async def test_a_bad_identity_number_is_refused(client, admin_headers, settings):
    v = await verifier(client, admin_headers)
    subject, _me = account(settings)
    good = make_id_number("19900101")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # the check character is wrong
    r = await client.put(f"/v1/citizens/{subject}/identity", headers=v,
                         json={"name": "张伟", "id_number": bad})
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"
    assert r.json()["reason"] == "checksum"


async def test_the_bound_partner_sees_and_cancels_an_appointment_the_other_booked(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _staff = await office_with_schedule(client, admin_headers)
    groom, bride = couple()
    _g, groom_account = account(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), [groom, bride],
                   headers=groom_account)
    assert r.status_code == 201, r.text
    appt = r.json()
    bride_subject, bride_account = account(settings)
    # Not bound yet: the bride's account sees nothing of it.
    assert (await client.get(f"{APPT}/{appt['id']}", headers=bride_account)).status_code == 404
    assert (await client.get(APPT, headers=bride_account)).json()["items"] == []
    await bind(client, v, bride_subject, bride)
    r = await client.get(APPT, headers=bride_account)
    assert [a["id"] for a in r.json()["items"]] == [appt["id"]]
    r = await client.get(f"{APPT}/{appt['id']}", headers=bride_account)
    assert r.status_code == 200 and r.json()["check_in_code"] == appt["check_in_code"]
    # Someone else, bound to another person, still sees nothing.
    other_subject, other = account(settings)
    await bind(client, v, other_subject, person("female"))
    assert (await client.post(f"{APPT}/{appt['id']}/cancel", headers=other)).status_code == 404
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=bride_account)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    r = await client.get(f"{APPT}/{appt['id']}", headers=groom_account)
    assert r.json()["status"] == "cancelled"


async def test_the_second_spouse_sees_and_withdraws_the_divorce_case(client, admin_headers,
                                                                     settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, staff = await office_with_schedule(client, admin_headers)
    husband, wife = couple()
    _h, husband_account = account(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), [husband, wife],
                   kind="divorce", headers=husband_account)
    assert r.status_code == 201, r.text
    appt = r.json()
    set_china_time("2026-12-08", "09:10")
    assert (await client.post(f"{APPT}/{appt['id']}/check-in", headers=staff,
                              json={"check_in_code": appt["check_in_code"]})).status_code == 200
    done = (await client.post(f"{APPT}/{appt['id']}/complete", headers=staff)).json()
    case_id = done["divorce_case_id"]
    wife_subject, wife_account = account(settings)
    assert (await client.get(f"{CASES}/{case_id}", headers=wife_account)).status_code == 404
    assert (await client.get(CASES, headers=wife_account)).json()["items"] == []
    await bind(client, v, wife_subject, wife)
    r = await client.get(f"{CASES}/{case_id}", headers=wife_account)
    assert r.status_code == 200 and r.json()["status"] == "cooling_off"
    r = await client.get(CASES, headers=wife_account)
    assert [c["id"] for c in r.json()["items"]] == [case_id]
    set_china_time("2026-12-20")
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=wife_account)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"


async def test_a_bound_account_books_only_with_its_own_person(client, admin_headers, settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _staff = await office_with_schedule(client, admin_headers)
    subject, me = account(settings)
    myself = person("male")
    await bind(client, v, subject, myself)
    # Two other people's numbers: refused, nothing booked.
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), couple(), headers=me)
    assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party", r.text
    assert (await client.get(APPT, headers=me)).json()["items"] == []
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"),
                   [myself, person("female")], headers=me)
    assert r.status_code == 201, r.text


async def test_a_bound_account_claims_only_as_its_own_person(client, admin_headers, settings):
    await policy(client, admin_headers)
    v = await verifier(client, admin_headers)
    subject, me = account(settings)
    claimant = make_id_number(born_years_ago(50, clock.today()), sex="female")
    await bind(client, v, subject, {"name": "王丽", "id_number": claimant})
    await file_claim(client, settings, claim_body(), citizen=me, expect=422,
                     code="claimant_not_account_holder")
    await file_claim(client, settings, claim_body(claimant_id=claimant), citizen=me)
