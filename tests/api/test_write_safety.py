"""ETag'd resources through HTTP: a 412 carries the current ETag (and a retry
with it succeeds), If-None-Match gives 304 on every ETag'd read, the institution's
ETag follows its vacancies, and two editors holding one ETag get one 200 and one
412 even when their requests run at the same time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.clock import clock
from tests.api.test_beds_support import add_bed, institution, waiting_applicant
from tests.api.test_marriage_support import WEEKDAY_SESSIONS, office_with_schedule
from tests.factories import create_org, staff_headers


def _schedule_url(office_id: str) -> str:
    return f"/v1/marriage/offices/{office_id}/weekly-schedule"


async def _resources(client, admin_headers):
    """(GET url, headers, a change body, method) of each kind of ETag'd resource."""
    inst, inst_staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, inst_staff, "W-1")
    office, office_staff = await office_with_schedule(client, admin_headers)
    org = await create_org(client, admin_headers, "civil_affairs_bureau")
    return [
        (f"/v1/institutions/{inst['id']}", inst_staff, {"phone": "028-85550005"}, "PATCH"),
        (f"/v1/institutions/{inst['id']}/beds/{bed['id']}", inst_staff,
         {"monthly_fee_fen": 123}, "PATCH"),
        (_schedule_url(office["id"]), office_staff,
         {"sessions": WEEKDAY_SESSIONS, "booking_opens_days_ahead": 10}, "PUT"),
        (f"/v1/admin/organisations/{org['id']}", admin_headers, {"address": "新地址"}, "PATCH"),
    ]


async def test_412_carries_the_current_etag_and_a_retry_with_it_succeeds(client,
                                                                         admin_headers):
    for url, headers, change, method in await _resources(client, admin_headers):
        first = (await client.get(url, headers=headers)).headers["etag"]
        r = await client.request(method, url, json=change, headers={**headers, "If-Match": first})
        assert r.status_code == 200, (url, r.text)
        current = r.headers["etag"]
        assert current != first

        stale = await client.request(method, url, json=change,
                                     headers={**headers, "If-Match": first})
        assert stale.status_code == 412, (url, stale.text)
        assert stale.json()["code"] == "precondition_failed"
        assert stale.headers["etag"] == current, url

        retry = await client.request(method, url, json=change,
                                     headers={**headers, "If-Match": stale.headers["etag"]})
        assert retry.status_code == 200, (url, retry.text)
        assert retry.headers["etag"] != current


async def test_428_without_if_match_on_every_etagged_write(client, admin_headers):
    for url, headers, change, method in await _resources(client, admin_headers):
        r = await client.request(method, url, json=change, headers=headers)
        assert r.status_code == 428, (url, r.text)
        assert r.json()["code"] == "precondition_required"


async def test_if_none_match_gives_304_without_a_body_on_each_etagged_read(client,
                                                                           admin_headers):
    for url, headers, change, method in await _resources(client, admin_headers):
        r = await client.get(url, headers=headers)
        assert r.status_code == 200
        tag = r.headers["etag"]

        r = await client.get(url, headers={**headers, "If-None-Match": tag})
        assert r.status_code == 304, (url, r.text)
        assert r.content == b""
        assert r.headers["etag"] == tag
        # A list that names it, and the weak form, match too; another tag does not.
        r = await client.get(url, headers={**headers, "If-None-Match": f'"x.1", W/{tag}'})
        assert r.status_code == 304, url
        r = await client.get(url, headers={**headers, "If-None-Match": '"x.1"'})
        assert r.status_code == 200 and r.json(), url

        # After a change the old tag no longer matches: the new representation comes.
        r = await client.request(method, url, json=change, headers={**headers, "If-Match": tag})
        assert r.status_code == 200, r.text
        r = await client.get(url, headers={**headers, "If-None-Match": tag})
        assert r.status_code == 200, url
        assert r.headers["etag"] != tag


async def test_institution_etag_changes_with_its_vacancies(client, admin_headers, settings):
    """Each step below changes what GET /v1/institutions/{id} shows, so each changes
    its ETag; a representation seen before gets the same ETag again (it names the
    representation, not the history)."""
    inst, staff = await institution(client, admin_headers)
    url = f"/v1/institutions/{inst['id']}"

    async def tag() -> str:
        r = await client.get(url)
        assert r.status_code == 200
        return r.headers["etag"]

    empty = await tag()
    bed = await add_bed(client, inst, staff, "V-1")  # a bed added: one vacancy
    one_vacant = await tag()
    assert one_vacant != empty
    bed_url = f"{url}/beds/{bed['id']}"
    r = await client.patch(bed_url, json={"status": "maintenance"},
                           headers={**staff, "If-Match": bed["etag"]})
    assert r.status_code == 200, r.text
    in_maintenance = await tag()  # maintenance: not vacant
    # (Not the empty profile's either: its `monthly_fees` shows the bed's fee.)
    assert in_maintenance not in (one_vacant, empty)
    r = await client.patch(bed_url, json={"status": "available"},
                           headers={**staff, "If-Match": r.headers["etag"]})
    assert r.status_code == 200, r.text
    assert await tag() == one_vacant

    offered, _citizen = await waiting_applicant(client, settings, inst, staff)
    assert offered["status"] == "offered"
    held = await tag()  # held by the offer: not vacant
    assert held != one_vacant
    # The offer expires by time alone: the bed is vacant again, and the ETag says so
    # before any write settles it (no 304 for a stale cached copy).
    clock.advance(timedelta(hours=settings.beds_offer_hold_hours, seconds=1))
    r = await client.get(url, headers={"If-None-Match": held})
    assert r.status_code == 200
    assert r.json()["vacancies"]["full_care"] == 1
    assert r.headers["etag"] == one_vacant

    # A second bed, and a profile edit, change it too; GET then shows the PATCH's tag.
    await add_bed(client, inst, staff, "V-2", category="dementia")
    two_vacant = await tag()
    assert two_vacant not in (one_vacant, held, empty)
    r = await client.patch(url, json={"medical_care": True},
                           headers={**staff, "If-Match": two_vacant})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != two_vacant
    assert await tag() == r.headers["etag"]


async def test_institution_etag_changes_when_a_resident_is_discharged(client, admin_headers,
                                                                      settings):
    inst, staff = await institution(client, admin_headers)
    url = f"/v1/institutions/{inst['id']}"
    bed = await add_bed(client, inst, staff, "D-1")
    r = await client.post(f"{url}/residents", json={"name": "王大爷", "bed_id": bed["id"]},
                          headers=staff)
    assert r.status_code == 201, r.text
    occupied = (await client.get(url)).headers["etag"]
    r = await client.post(f"{url}/beds/{bed['id']}/discharge", headers=staff)
    assert r.status_code == 200, r.text
    r = await client.get(url)
    assert r.json()["vacancies"]["full_care"] == 1
    assert r.headers["etag"] != occupied


async def _race(client, url: str, method: str, bodies: list[dict], headers: list[dict],
                tag: str):
    return await asyncio.gather(*(
        client.request(method, url, json=body, headers={**h, "If-Match": tag})
        for body, h in zip(bodies, headers, strict=True)))


async def test_two_editors_of_an_institution_profile_with_one_etag_one_wins(client,
                                                                            admin_headers):
    inst, staff = await institution(client, admin_headers)
    other = await staff_headers(client, admin_headers, inst["id"], "institution", "院办-李")
    url = f"/v1/institutions/{inst['id']}"
    for round_ in range(4):
        tag = (await client.get(url)).headers["etag"]
        r1, r2 = await _race(client, url, "PATCH",
                             [{"phone": f"028-8555000{round_}"}, {"address": f"新址 {round_}"}],
                             [staff, other], tag)
        assert sorted([r1.status_code, r2.status_code]) == [200, 412], (r1.text, r2.text)
        winner, loser = (r1, r2) if r1.status_code == 200 else (r2, r1)
        assert loser.json()["code"] == "precondition_failed"
        assert loser.headers["etag"] == winner.headers["etag"]
        assert (await client.get(url)).headers["etag"] == winner.headers["etag"]


async def test_two_editors_of_a_weekly_schedule_with_one_etag_one_wins(client, admin_headers):
    office, staff = await office_with_schedule(client, admin_headers)
    other = await staff_headers(client, admin_headers, office["id"], "office", "窗口-赵")
    url = _schedule_url(office["id"])
    for round_ in range(4):
        tag = (await client.get(url, headers=staff)).headers["etag"]
        r1, r2 = await _race(
            client, url, "PUT",
            [{"sessions": WEEKDAY_SESSIONS, "booking_opens_days_ahead": 10 + round_},
             {"sessions": WEEKDAY_SESSIONS, "min_notice_hours": 3 + round_}],
            [staff, other], tag)
        assert sorted([r1.status_code, r2.status_code]) == [200, 412], (r1.text, r2.text)
        winner, loser = (r1, r2) if r1.status_code == 200 else (r2, r1)
        assert loser.headers["etag"] == winner.headers["etag"]
        now = (await client.get(url, headers=staff)).json()
        # Only the winner's change is there.
        assert (now["booking_opens_days_ahead"] == 10 + round_) != (
            now["min_notice_hours"] == 3 + round_)
        assert now["version"] == round_ + 2


async def test_two_admins_editing_one_organisation_with_one_etag_one_wins(client,
                                                                          admin_headers):
    org = await create_org(client, admin_headers, "civil_affairs_bureau")
    url = f"/v1/admin/organisations/{org['id']}"
    tag = (await client.get(url, headers=admin_headers)).headers["etag"]
    r1, r2 = await _race(client, url, "PATCH", [{"name": "甲"}, {"name": "乙"}],
                         [admin_headers, admin_headers], tag)
    assert sorted([r1.status_code, r2.status_code]) == [200, 412], (r1.text, r2.text)
    winner = r1 if r1.status_code == 200 else r2
    assert (await client.get(url, headers=admin_headers)).json()["name"] == winner.json()["name"]


async def test_two_beds_with_one_code_at_once_one_is_409_duplicate_bed_code(client,
                                                                           admin_headers):
    inst, staff = await institution(client, admin_headers)
    url = f"/v1/institutions/{inst['id']}/beds"
    body = {"code": "DUP-1", "category": "self_care", "monthly_fee_fen": 1000,
            "reserved_for_destitute": False}
    r1, r2 = await asyncio.gather(client.post(url, json=body, headers=staff),
                                  client.post(url, json=body, headers=staff))
    assert sorted([r1.status_code, r2.status_code]) == [201, 409], (r1.text, r2.text)
    loser = r1 if r1.status_code == 409 else r2
    assert loser.json()["code"] == "duplicate_bed_code"
    assert "DUP-1" in loser.json()["detail"]
    listed = (await client.get(url, headers=staff)).json()["items"]
    assert [b["code"] for b in listed] == ["DUP-1"]
    r = await client.get(f"/v1/institutions/{inst['id']}")
    assert r.json()["vacancies"]["self_care"] == 1
