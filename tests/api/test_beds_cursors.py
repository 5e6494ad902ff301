"""Page cursors of the beds lists: anything but a cursor the list handed out is
400 `invalid_cursor`, never a 500 and never silently the first page."""

from __future__ import annotations

import base64

import pytest

from tests.api.test_beds_support import add_bed, institution, waiting_applicant


def b64(raw: str, *, pad: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw.encode()).decode()
    return text if pad else text.rstrip("=")


GARBAGE = [
    "%%%",
    "!!!!",
    "héllo",
    b64("²"),  # a digit to str.isdigit, not to int()
    b64("٣"),  # an Arabic-Indic three: int() takes it
    b64("99999999999999999999999"),  # overflows the database's OFFSET
    b64("-1"),
    b64(" 1"),
    b64("01"),
    b64("1.5"),
    b64("a b"),
    b64("org_1|x"),
    b64("nan|org_1"),
    b64("inf|org_1"),
    b64("-1.0|org_1"),
    b64("1.50|org_1"),
    b64("1.5|"),
    b64("1.5|a b"),
    b64("x" * 41),
    b64("zzz_0193a1b2"),  # an id, of no kind these lists page by
    b64("org_0193a1b2c3", pad=True),  # not the cursor handed out: padded
    b64("bed_0193a1b2c3") + "%",
    b64("occ_0193a1b2c3") + "==",
    "\u00b2",
]


async def _lists(client, admin_headers, settings) -> tuple[dict, list[str]]:
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "C-1")
    await waiting_applicant(client, settings, inst, staff, age=82)
    base = f"/v1/institutions/{inst['id']}"
    urls = ["/v1/institutions", "/v1/institutions?near=30.65,104.05&sort=distance",
            f"{base}/beds", f"{base}/waitlist", f"{base}/occupancies",
            f"{base}/beds/{bed['id']}/occupancies", "/v1/bed-applications"]
    return staff, urls


async def test_every_beds_list_refuses_a_garbage_cursor(client, admin_headers, settings):
    staff, urls = await _lists(client, admin_headers, settings)
    for url in urls:
        for cursor in GARBAGE:
            r = await client.get(url, params={"cursor": cursor}, headers=staff)
            assert r.status_code == 400, (url, cursor, r.status_code, r.text)
            assert r.json()["code"] == "invalid_cursor", (url, cursor)
            assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("raw", ["²", "99999999999999999999999"])
async def test_the_waitlist_cursor_from_the_review_is_400_not_500(client, admin_headers,
                                                                  settings, raw):
    inst, staff = await institution(client, admin_headers)
    r = await client.get(f"/v1/institutions/{inst['id']}/waitlist?cursor={b64(raw)}",
                         headers=staff)
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await client.get("/v1/institutions?cursor=%%%")
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_handed_out_cursors_still_page_every_list(client, admin_headers, settings):
    inst, staff = await institution(client, admin_headers)
    await institution(client, admin_headers, name="二院")
    for i in range(3):
        await add_bed(client, inst, staff, f"P-{i}")
    for _ in range(5):
        await waiting_applicant(client, settings, inst, staff, age=70)
    base = f"/v1/institutions/{inst['id']}"
    for url, total in (("/v1/institutions", None),
                       ("/v1/institutions?near=30.65,104.05&sort=distance", None),
                       (f"{base}/beds", 3), (f"{base}/waitlist", 2),
                       ("/v1/bed-applications", 5)):
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            r = await client.get(url, params=params, headers=staff)
            assert r.status_code == 200, (url, r.text)
            seen += [item["id"] for item in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and seen, url
        if total is not None:
            assert len(seen) == total, url
