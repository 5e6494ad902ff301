"""Acting through a delegation (API.md "Delegation"): while a delegation is active
and not past its date, its delegate sees and acts on the principal's bed
applications, home-care bookings and burial claims in its scopes, as the
principal's own bound account does; once revoked, declined or expired, or outside
its scopes, they are 404 to it. Records made through one carry `delegation_id`,
and every act through one is audited with it."""

from __future__ import annotations

from sqlalchemy import text

from core.clock import clock
from tests.api.test_audit_chain import owner_sql, verify
from tests.api.test_beds_support import apply, institution
from tests.api.test_burial_support import claim_body, file_claim, policy
from tests.api.test_delegation_support import (
    Citizen,
    act,
    active,
    audit_rows,
    citizen,
    delegate,
    in_days,
    past,
    verifier,
)
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    provider,
    set_china_time,
)
from tests.factories import citizen_headers, idem

APPS = "/v1/bed-applications"
BOOKINGS = "/v1/home-care/bookings"
CLAIMS = "/v1/burial/claims"


async def _family(client, settings, admin_headers) -> tuple[Citizen, Citizen, Citizen]:
    """A father (80, bound), his daughter (bound) and a stranger (bound)."""
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    stranger = await citizen(client, settings, v, age=70, name="赵敏")
    return father, daughter, stranger


def _elder(who: Citizen) -> dict:
    return {"name": who.name, "id_number": who.id_number, "phone": "13800138000"}


async def _status(client, who: Citizen, url: str) -> int:
    return (await client.get(url, headers=who.headers)).status_code


async def _listed(client, who: Citizen, url: str) -> list[str]:
    r = await client.get(url, headers=who.headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


# --- beds ------------------------------------------------------------------------------


async def test_the_elders_own_account_sees_an_application_made_by_someone_else(
        client, settings, admin_headers):
    father, _daughter, stranger = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    app, _son = await apply(client, settings, inst["id"], id_number=father.id_number)
    assert app["delegation_id"] is None
    url = f"{APPS}/{app['id']}"
    assert await _status(client, father, url) == 200
    assert app["id"] in await _listed(client, father, APPS)
    assert await _status(client, stranger, url) == 404
    r = await client.post(f"{url}/withdraw", headers=father.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


async def test_a_delegate_sees_and_acts_on_the_principals_application_while_active(
        client, settings, admin_headers, db):
    father, daughter, _stranger = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    app, _son = await apply(client, settings, inst["id"], id_number=father.id_number)
    url = f"{APPS}/{app['id']}"
    assert await _status(client, daughter, url) == 404  # no delegation yet
    d = await delegate(client, father, daughter, ("beds",))
    assert await _status(client, daughter, url) == 404  # pending gives nothing
    await act(client, daughter, d["id"], "accept")
    assert await _status(client, daughter, url) == 200
    assert app["id"] in await _listed(client, daughter, APPS)
    r = await client.post(f"{url}/withdraw", headers=daughter.headers)
    assert r.status_code == 200, r.text
    (row,) = await audit_rows(db, "bed_application.withdraw", app["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    # Revoked: at once, as to anyone.
    await act(client, father, d["id"], "revoke")
    assert await _status(client, daughter, url) == 404
    assert app["id"] not in await _listed(client, daughter, APPS)


async def test_an_application_made_through_a_delegation_names_it(client, settings,
                                                                admin_headers, db):
    father, daughter, stranger = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    d = await active(client, father, daughter, ("beds", "burial"))
    app, _ = await apply(client, settings, inst["id"], id_number=father.id_number,
                         citizen=daughter.headers)
    assert app["delegation_id"] == d["id"]
    assert (await client.get(f"{APPS}/{app['id']}", headers=father.headers)
            ).json()["delegation_id"] == d["id"]
    (row,) = await audit_rows(db, "bed_application.create", app["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    # Families still apply for any elder; no delegation, none named.
    other, _ = await apply(client, settings, inst["id"], id_number=stranger.id_number,
                           citizen=daughter.headers)
    assert other["delegation_id"] is None
    (row,) = await audit_rows(db, "bed_application.create", other["id"])
    assert row.delegation_id is None


async def test_a_record_made_through_a_delegation_is_the_principals_once_revoked(
        client, settings, admin_headers, db):
    father, daughter, _stranger = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    d = await active(client, father, daughter, ("beds",))
    kept, _ = await apply(client, settings, inst["id"], id_number=father.id_number,
                          citizen=daughter.headers, category="full_care")
    dropped, _ = await apply(client, settings, inst["id"], id_number=father.id_number,
                             citizen=daughter.headers, category="self_care")
    # Her acts on a record she made through the delegation are acts through it.
    r = await client.post(f"{APPS}/{dropped['id']}/withdraw", headers=daughter.headers)
    assert r.status_code == 200, r.text
    (row,) = await audit_rows(db, "bed_application.withdraw", dropped["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    await act(client, father, d["id"], "revoke")
    url = f"{APPS}/{kept['id']}"
    assert await _status(client, daughter, url) == 404
    assert kept["id"] not in await _listed(client, daughter, APPS)
    r = await client.post(f"{url}/withdraw", headers=daughter.headers)
    assert r.status_code == 404, r.text
    assert await _status(client, father, url) == 200


async def test_a_scope_not_granted_gives_nothing(client, settings, admin_headers):
    father, daughter, _ = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    app, _ = await apply(client, settings, inst["id"], id_number=father.id_number)
    await active(client, father, daughter, ("home_care", "burial"))
    assert await _status(client, daughter, f"{APPS}/{app['id']}") == 404
    r = await client.post(f"{APPS}/{app['id']}/withdraw", headers=daughter.headers)
    assert r.status_code == 404


async def test_after_a_decline_or_past_the_date_the_principals_records_are_404(
        client, settings, admin_headers):
    father, daughter, _ = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    app, _ = await apply(client, settings, inst["id"], id_number=father.id_number)
    url = f"{APPS}/{app['id']}"
    d = await delegate(client, father, daughter, ("beds",))
    await act(client, daughter, d["id"], "decline")
    assert await _status(client, daughter, url) == 404
    d = await active(client, father, daughter, ("beds",), expires_on=in_days(2))
    assert await _status(client, daughter, url) == 200
    past(d["expires_on"], days=0)  # the last day counts
    assert await _status(client, daughter, url) == 200
    past(d["expires_on"])
    assert await _status(client, daughter, url) == 404
    assert await _status(client, father, url) == 200


# --- home care ----------------------------------------------------------------------------


async def test_a_delegate_books_a_visit_for_the_principal_and_the_booking_names_it(
        client, settings, admin_headers, db):
    set_china_time("2026-12-07")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    prov, staff = await provider(client, admin_headers)
    await caregiver(client, staff, prov["id"])
    d = await active(client, father, daughter, ("home_care",))
    the_elder = {**elder(), "name": father.name, "id_number": father.id_number}
    r = await book(client, settings, prov["id"], at(DAY, "09:00"), who=daughter.headers,
                   elder_=the_elder)
    assert r.status_code == 201, r.text
    booking = r.json()
    assert booking["delegation_id"] == d["id"]
    url = f"{BOOKINGS}/{booking['id']}"
    got = (await client.get(url, headers=father.headers)).json()
    assert got["delegation_id"] == d["id"]
    (row,) = await audit_rows(db, "home_care_booking.create", booking["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    # Someone else's booking for the father: the father and his delegate see it.
    r = await book(client, settings, prov["id"], at(DAY, "11:00"), elder_=the_elder)
    assert r.status_code == 201 and r.json()["delegation_id"] is None
    other = f"{BOOKINGS}/{r.json()['id']}"
    assert await _status(client, father, other) == 200
    assert await _status(client, daughter, other) == 200
    assert r.json()["id"] in await _listed(client, daughter, BOOKINGS)
    r = await client.post(f"{other}/cancel", headers=daughter.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    (row,) = await audit_rows(db, "home_care_booking.cancel", r.json()["id"])
    assert row.delegation_id == d["id"]
    # Revoked: at once, also for the visit she booked through the delegation (made
    # in his name, it is his record).
    await act(client, daughter, d["id"], "revoke")
    assert await _status(client, daughter, other) == 404
    assert await _status(client, daughter, url) == 404
    assert await _status(client, father, url) == 200
    # Booking for the father now is a family's booking, naming no delegation.
    r = await book(client, settings, prov["id"], at(DAY, "13:00"), who=daughter.headers,
                   elder_=the_elder)
    assert r.status_code == 201 and r.json()["delegation_id"] is None


async def test_a_home_care_delegation_past_its_date_shows_nothing(client, settings,
                                                                  admin_headers):
    set_china_time("2026-12-06")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    prov, staff = await provider(client, admin_headers)
    await caregiver(client, staff, prov["id"])
    await active(client, father, daughter, ("home_care",), expires_on="2026-12-07")
    the_elder = {**elder(), "name": father.name, "id_number": father.id_number}
    r = await book(client, settings, prov["id"], at(DAY, "09:00"), elder_=the_elder)
    assert r.status_code == 201, r.text
    url = f"{BOOKINGS}/{r.json()['id']}"
    assert await _status(client, daughter, url) == 200
    set_china_time("2026-12-08", "08:00")
    assert await _status(client, daughter, url) == 404
    assert await _status(client, father, url) == 200


# --- burial --------------------------------------------------------------------------------


async def test_a_delegate_files_a_burial_claim_in_the_principals_name(client, settings,
                                                                      admin_headers, db):
    await policy(client, admin_headers)
    v = await verifier(client, admin_headers)
    mother = await citizen(client, settings, v, age=75, name="李秀兰")
    son = await citizen(client, settings, v, sex="male", name="王强")
    body = claim_body(claimant_id=mother.id_number, relation="spouse")
    # Without a delegation the claimant must be the account's own person.
    await file_claim(client, settings, body, citizen=son.headers, expect=422,
                     code="claimant_not_account_holder")
    home_care_only = await active(client, mother, son, ("home_care",))
    await file_claim(client, settings, body, citizen=son.headers, expect=422,
                     code="claimant_not_account_holder")
    await act(client, son, home_care_only["id"], "revoke")
    d = await active(client, mother, son, ("burial",))
    claim, _ = await file_claim(client, settings, body, citizen=son.headers)
    assert claim["delegation_id"] == d["id"]
    assert claim["claimant"]["id_number_masked"].startswith(mother.id_number[:6])
    (row,) = await audit_rows(db, "burial_claim.create", claim["id"])
    assert row.actor_id == son.subject and row.delegation_id == d["id"]
    url = f"{CLAIMS}/{claim['id']}"
    assert await _status(client, mother, url) == 200
    assert claim["id"] in await _listed(client, mother, CLAIMS)
    assert claim["id"] in await _listed(client, son, CLAIMS)
    # He filed it in her name, through the delegation: it is hers, and once the
    # delegation is revoked it is 404 to him, as to anyone (API.md).
    await act(client, mother, d["id"], "revoke")
    assert await _status(client, son, url) == 404
    assert claim["id"] not in await _listed(client, son, CLAIMS)
    assert await _status(client, mother, url) == 200


async def test_a_delegate_sees_and_withdraws_the_principals_own_claim(client, settings,
                                                                      admin_headers, db):
    await policy(client, admin_headers)
    v = await verifier(client, admin_headers)
    mother = await citizen(client, settings, v, age=75, name="李秀兰")
    son = await citizen(client, settings, v, sex="male", name="王强")
    claim, _ = await file_claim(client, settings,
                                claim_body(claimant_id=mother.id_number, relation="spouse"),
                                citizen=mother.headers)
    assert claim["delegation_id"] is None
    url = f"{CLAIMS}/{claim['id']}"
    d = await active(client, mother, son, ("beds", "home_care"))
    assert await _status(client, son, url) == 404
    await act(client, son, d["id"], "revoke")
    d = await active(client, mother, son, ("burial",))
    assert await _status(client, son, url) == 200
    r = await client.post(f"{url}/withdraw", headers=son.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    (row,) = await audit_rows(db, "burial_claim.withdraw", claim["id"])
    assert row.actor_id == son.subject and row.delegation_id == d["id"]
    past(d["expires_on"])
    assert await _status(client, son, url) == 404
    assert clock.today().isoformat() > d["expires_on"]


async def test_the_delegation_an_audit_row_names_is_part_of_its_hash(client, settings,
                                                                     admin_headers, db, db_url):
    father, daughter, _ = await _family(client, settings, admin_headers)
    inst, _staff = await institution(client, admin_headers)
    d = await active(client, father, daughter, ("beds",))
    app, _ = await apply(client, settings, inst["id"], id_number=father.id_number,
                         citizen=daughter.headers)
    r = await client.get("/v1/admin/audit-events", headers=admin_headers,
                         params={"object_id": app["id"], "action": "bed_application.create"})
    (row,) = r.json()["items"]
    assert row["delegation_id"] == d["id"]
    code, out = await verify(db_url)
    assert code == 0, out
    await owner_sql(db_url, "UPDATE audit_event SET delegation_id = NULL WHERE id = :id",
                    params={"id": row["id"]})
    code, out = await verify(db_url)
    assert code == 1 and f"BROKEN at row {row['seq']}" in out, out


async def test_a_delegation_revoked_while_a_visit_is_booked_is_not_named_by_it(
        client, settings, admin_headers, db, monkeypatch):
    """The booking's read finds the delegation; it is revoked before the write; the
    write (`home_care_book`) asks again: the request runs again and finds none."""
    from services.home_care import bookings

    set_china_time("2026-12-07")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    prov, staff = await provider(client, admin_headers)
    await caregiver(client, staff, prov["id"])
    d = await active(client, father, daughter, ("home_care",))
    writes: list[object] = []
    real_driver = bookings.prepared.driver

    class Revoking:
        """The driver, revoking the delegation just before the first booking write."""

        def __init__(self, inner) -> None:
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def fetchrow_alone(self, sql, *args):
            if sql is bookings._BOOK:
                writes.append(args)
                if len(writes) == 1:
                    async with db.session() as s:
                        await s.execute(text("UPDATE delegation SET status = 'revoked' "
                                             "WHERE id = :id"), {"id": d["id"]})
                        await s.commit()
            return await self.inner.fetchrow_alone(sql, *args)

    async def driver(session):
        return Revoking(await real_driver(session))

    monkeypatch.setattr(bookings.prepared, "driver", driver)
    the_elder = {**elder(), "name": father.name, "id_number": father.id_number}
    r = await book(client, settings, prov["id"], at(DAY, "09:00"), who=daughter.headers,
                   elder_=the_elder)
    assert r.status_code == 201, r.text
    assert len(writes) == 2  # the first write refused (40001), the request ran again
    assert r.json()["delegation_id"] is None
    (row,) = await audit_rows(db, "home_care_booking.create", r.json()["id"])
    assert row.delegation_id is None


async def test_a_centre_seat_for_the_principal_names_the_delegation(client, settings,
                                                                    admin_headers, db):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    org, staff = await provider(client, admin_headers)
    r = await client.post(f"/v1/providers/{org['id']}/centre-sessions", json={
        "service_code": "meal_assist", "date": DAY, "start": "11:00", "end": "13:00",
        "capacity": 3, "price_fen": 1500}, headers=staff)
    assert r.status_code == 201, r.text
    session_id = r.json()["id"]
    d = await active(client, father, daughter, ("home_care",))
    r = await client.post("/v1/home-care/centre-bookings", headers={
        **daughter.headers, **idem()}, json={"session_id": session_id, "elder": _elder(father)})
    assert r.status_code == 201 and r.json()["delegation_id"] == d["id"], r.text
    seat = f"/v1/home-care/centre-bookings/{r.json()['id']}"
    assert await _status(client, father, seat) == 200
    (row,) = await audit_rows(db, "home_care_centre_booking.create", r.json()["id"])
    assert row.delegation_id == d["id"]
    # Booked by someone else for the father: his delegate cancels it while active.
    r = await client.post("/v1/home-care/centre-bookings", headers={
        **citizen_headers(settings), **idem()},
        json={"session_id": session_id, "elder": {**_elder(father)}})
    assert r.status_code == 409  # one seat per elder per session
    await act(client, daughter, d["id"], "revoke")
    stranger_seat = await client.post("/v1/home-care/centre-bookings", headers={
        **citizen_headers(settings), **idem()}, json={"session_id": session_id, "elder": {
            "name": "李四", "id_number": elder()["id_number"], "phone": "13800138000"}})
    assert stranger_seat.status_code == 201
    assert await _status(client, daughter,
                         f"/v1/home-care/centre-bookings/{stranger_seat.json()['id']}") == 404
