"""Horizontal bar charts as SVG, drawn on the server (no script, no font or image from
anywhere): the `/stats` page's charts. Every text is escaped here."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH = 900
LABEL_W = 160
BAR_W = 400
ROW_H = 30
TOP = 10
FONT = "font-family=\"'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei',sans-serif\""
SUPPRESSED_TEXT = "—（少于5例，不公开）"
GREY = "#9aa5b1"


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    value: float
    colour: str


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    segments: tuple[Segment, ...]  # none: the figure is suppressed or missing
    text: str  # written after the bar


def _t(value: str) -> str:
    return escape(value, quote=True)


def bars(title: str, rows: list[Row], *, scale: float,
         legend: tuple[Segment, ...] = ()) -> str:
    """One row per `rows`, each a bar of its segments laid end to end (`scale`: the
    value a full-width bar stands for), its label on the left and its text on the
    right."""
    legend_h = 26 if legend else 0
    height = TOP + legend_h + ROW_H * max(1, len(rows)) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" {FONT} font-size="14">',
           f"<title>{_t(title)}</title>"]
    x = LABEL_W
    for seg in legend:
        out.append(f'<rect x="{x}" y="{TOP}" width="14" height="14" fill="{seg.colour}"/>'
                   f'<text x="{x + 20}" y="{TOP + 12}" fill="#333">{_t(seg.name)}</text>')
        x += 40 + 14 * len(seg.name)
    if not rows:
        out.append(f'<text x="{LABEL_W}" y="{TOP + legend_h + 20}" fill="#555">暂无数据</text>')
    for i, row in enumerate(rows):
        y = TOP + legend_h + i * ROW_H
        out.append(f'<text x="{LABEL_W - 10}" y="{y + 19}" text-anchor="end" '
                   f'fill="#222">{_t(row.label)}</text>')
        out.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{BAR_W}" height="20" '
                   f'fill="#eef1f4"/>')
        x = float(LABEL_W)
        for seg in row.segments:
            w = 0.0 if scale <= 0 else max(0.0, min(BAR_W, BAR_W * seg.value / scale))
            w = min(w, LABEL_W + BAR_W - x)
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="20" '
                           f'fill="{seg.colour}"><title>{_t(seg.name)}</title></rect>')
            x += w
        colour = "#222" if row.segments else GREY
        out.append(f'<text x="{LABEL_W + BAR_W + 10}" y="{y + 19}" '
                   f'fill="{colour}">{_t(row.text)}</text>')
    out.append("</svg>")
    return "".join(out)
