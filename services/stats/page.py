"""The `/stats` page: the four sets of figures in Chinese, as SVG charts drawn here.

No script and nothing from another host: the styles are inline and the charts are
SVG in the page (`charts`). It is built from the same kept answers as the API
(`answers`) and kept itself like them, so its figures are at most two keeping
periods old (4 minutes).
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ
from services.home_care.catalogue import CATALOGUE
from services.stats import beds, burial, home_care, marriage, scope
from services.stats.answers import ANSWERS, Answer
from services.stats.charts import SUPPRESSED_TEXT, Row, Segment, bars

CATEGORY_NAMES = {"self_care": "自理", "semi_care": "半自理", "full_care": "全护理",
                  "dementia": "失智照护"}
METHOD_NAMES = {"sea": "海葬", "tree": "树葬", "flower": "花坛葬", "lawn": "草坪葬",
                "scattering": "骨灰撒散", "deep_burial": "深埋", "wall": "壁葬"}
MAX_OFFICES = 20

BLUE, GREEN, ORANGE, PURPLE = "#2b6cb0", "#38a169", "#dd6b20", "#6b46c1"
LIGHT, PALE_BLUE = "#a0aec0", "#90cdf4"

STYLE = """
body{font-family:'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei',sans-serif;
margin:0;background:#f7f8fa;color:#1a202c}
header{background:#9b1c1c;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:26px}header p{margin:6px 0 0;font-size:14px;opacity:.9}
main{padding:8px 32px 32px;max-width:980px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:18px 0;
padding:14px 20px}
h2{font-size:20px;margin:4px 0 8px;color:#9b1c1c}
p.note{font-size:13px;color:#4a5568;margin:6px 0}
form{margin:14px 0;font-size:14px}input{font-size:14px;padding:3px 6px;width:8em}
button{font-size:14px;padding:3px 12px}
"""

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _china(at: str) -> str:
    return dt.datetime.fromisoformat(at).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _pct(rate: float | None) -> str:
    return SUPPRESSED_TEXT if rate is None else f"{rate * 100:.1f}%"


def _beds_section(data: dict[str, Any]) -> str:
    rows = []
    scale = max([c["beds"] for c in data["categories"]] + [1])
    for c in data["categories"]:
        occupied = c["occupied"]
        segs = [Segment("入住", occupied, BLUE)] if occupied is not None else []
        segs.append(Segment("空余", c["available"], GREEN))
        if occupied is not None:
            segs.append(Segment("其他", c["beds"] - occupied - c["available"], LIGHT))
        text = f"共 {c['beds']} 张，空余 {c['available']}，入住率 {_pct(c['occupancy_rate'])}"
        rows.append(Row(CATEGORY_NAMES[c["category"]], tuple(segs), text))
    waits = [Row(CATEGORY_NAMES[c["category"]],
                 (Segment("等待天数中位数", c["median_wait_days"], ORANGE),)
                 if c["median_wait_days"] is not None else (),
                 SUPPRESSED_TEXT if c["median_wait_days"] is None
                 else f"{c['median_wait_days']:g} 天（{c['admissions']} 人入住）")
             for c in data["categories"]]
    wait_scale = max([c["median_wait_days"] or 0 for c in data["categories"]] + [1])
    return (
        "<section><h2>养老机构床位</h2>"
        "<p class=\"note\">各护理类别的床位数（条长）、其中入住、空余与其他（预留、维修）。</p>"
        + bars("养老机构床位", rows, scale=scale,
               legend=(Segment("入住", 0, BLUE), Segment("空余", 0, GREEN),
                       Segment("其他", 0, LIGHT)))
        + "<p class=\"note\">轮候时间：近365天内入住者从申请到入住的天数中位数。</p>"
        + bars("轮候天数中位数", waits, scale=wait_scale) + "</section>")


def _marriage_section(data: dict[str, Any]) -> str:
    offices = sorted(data["offices"], key=lambda o: (-o["seats"], o["name"]))
    shown = offices[:MAX_OFFICES]
    rows = [Row(o["name"], (Segment("预约率", o["fill_rate"], BLUE),)
                if o["fill_rate"] is not None else (),
                SUPPRESSED_TEXT if o["fill_rate"] is None else
                f"{_pct(o['fill_rate'])}（{o['booked']}/{o['seats']} 个名额）")
            for o in shown]
    more = (f"<p class=\"note\">另有 {len(offices) - len(shown)} 个登记处未列出（按名额从多到少"
            f"列出前 {MAX_OFFICES} 个）。</p>" if len(offices) > len(shown) else "")
    no_show = [Row(o["name"], (Segment("爽约率", o["no_show_rate"], ORANGE),)
                   if o["no_show_rate"] is not None else (), _pct(o["no_show_rate"]))
               for o in shown]
    return (f"<section><h2>婚姻登记预约（{_e(data['month'])}）</h2>"
            "<p class=\"note\">各登记处本月名额的预约率（已预约且未取消 / 名额）。</p>"
            + bars("婚姻登记预约率", rows, scale=1.0) + more
            + "<p class=\"note\">爽约率：未到场 / 已到预约时间的预约。</p>"
            + bars("婚姻登记爽约率", no_show, scale=1.0) + "</section>")


def _burial_section(data: dict[str, Any]) -> str:
    methods = data["methods"]
    scale = max([m["submitted"] or 0 for m in methods] + [1])
    counts = []
    for m in methods:
        segs: tuple[Segment, ...] = ()
        if m["submitted"] is not None and m["paid"] is not None:
            segs = (Segment("已发放", m["paid"], GREEN),
                    Segment("其他申请", m["submitted"] - m["paid"], PALE_BLUE))
        elif m["submitted"] is not None:
            segs = (Segment("申请", m["submitted"], PALE_BLUE),)
        text = (SUPPRESSED_TEXT if m["submitted"] is None else
                f"申请 {m['submitted']}，已发放 {m['paid'] if m['paid'] is not None else '—'}")
        counts.append(Row(METHOD_NAMES[m["method"]], segs, text))
    days_scale = max([m["p90_days_to_payment"] or 0 for m in methods] + [1])
    days = [Row(METHOD_NAMES[m["method"]],
                (Segment("中位数", m["median_days_to_payment"], BLUE),)
                if m["median_days_to_payment"] is not None else (),
                SUPPRESSED_TEXT if m["median_days_to_payment"] is None else
                f"中位 {m['median_days_to_payment']:g} 天，90% 在 "
                f"{m['p90_days_to_payment']:g} 天内")
            for m in methods]
    return (f"<section><h2>节地生态安葬奖补（{data['year']}年）</h2>"
            "<p class=\"note\">本年提交的申请件数（条长）及其中已发放的件数。</p>"
            + bars("节地生态安葬奖补申请", counts, scale=scale,
                   legend=(Segment("已发放", 0, GREEN), Segment("其他申请", 0, PALE_BLUE)))
            + "<p class=\"note\">从提交申请到发放补贴的天数。</p>"
            + bars("奖补发放天数", days, scale=days_scale) + "</section>")


def _home_care_section(data: dict[str, Any]) -> str:
    rows = [Row(CATALOGUE[s["service_code"]].name,
                (Segment("核验通过率", s["verified_rate"], PURPLE),)
                if s["verified_rate"] is not None else (),
                SUPPRESSED_TEXT if s["verified_rate"] is None else
                f"{_pct(s['verified_rate'])}（完成 {s['visits_completed']} 次）")
            for s in data["services"]]
    return (f"<section><h2>居家社区养老服务（{_e(data['month'])}）</h2>"
            "<p class=\"note\">本月完成的上门服务中，无需更正即核验通过的比例。</p>"
            + bars("居家养老服务核验通过率", rows, scale=1.0) + "</section>")


def render(division: scope.Division, parts: dict[str, dict[str, Any]]) -> str:
    where = _e(division.name or division.code) if division.code else "全国"
    as_of = min(_china(p["as_of"]) for p in parts.values())
    value = _e(division.code or "")
    return (
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>惠民公开数据 · {where}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>惠民公开数据 · {where}</h1>"
        f"<p>数据截至 {as_of}（北京时间），每数分钟更新。"
        "人数少于5的数字不公开，以保护个人信息。</p>"
        "</header><main>"
        "<form method=\"get\" action=\"/stats\"><label>行政区划代码 "
        f"<input name=\"division_code\" value=\"{value}\" inputmode=\"numeric\" "
        "pattern=\"[0-9]{6}\"></label> <button type=\"submit\">查看</button></form>"
        + _beds_section(parts["beds"]) + _marriage_section(parts["marriage"])
        + _burial_section(parts["burial"]) + _home_care_section(parts["home_care"])
        + "<p class=\"note\">数据接口：/v1/stats/beds、/v1/stats/marriage、/v1/stats/burial、"
          "/v1/stats/home-care。</p></main></body></html>")


async def answer(session: AsyncSession, division_code: str | None) -> Answer:
    division = scope.division(division_code)

    async def compute(_now: dt.datetime) -> bytes:
        parts = {
            "beds": await beds.answer(session, division_code),
            "marriage": await marriage.answer(session, division_code, None),
            "burial": await burial.answer(session, division_code, None),
            "home_care": await home_care.answer(session, division_code, None),
        }
        return render(division, {k: json.loads(a.body) for k, a in parts.items()}).encode()

    return await ANSWERS.get(("page", division.prefix), compute)
