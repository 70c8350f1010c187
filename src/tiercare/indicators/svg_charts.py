"""Small server-side SVG charts for the printable quarterly report and its PDF (issue 5
item 6: "a quarterly report (printable HTML and PDF) with charts"). The dashboards draw with
Apache ECharts in the browser; a PDF is made on the server (WeasyPrint), where no
JavaScript runs, so the report draws its charts here as plain SVG markup: horizontal bars
(stacked when there are several series) and lines over months. TierCare's own code, no
third-party chart code.

Pure functions, no Django: text is escaped here (:func:`html.escape`), so the markup
returned is safe to put in a page as it is. Missing values (``None``) leave a gap in a line
and an empty bar. Axes start at 0 and end at a "nice" number (1, 2, 2.5 or 5 × 10ⁿ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = Decimal | int | float

#: Series colours: TierCare's green first, then colours that stay apart when printed in grey.
PALETTE = ("#0b6e4f", "#1565c0", "#e69f00", "#6a1b9a", "#b71c1c", "#56b4e9", "#8d6e63")
FONT = "Noto Sans CJK SC, Noto Sans SC, sans-serif"
_TEXT = 'fill="#333" font-size="11"'
_MUTED = 'fill="#777" font-size="10"'


@dataclass(frozen=True)
class Series:
    """One series: its name (legend) and one value per category or month."""

    name: str
    values: Sequence[Number | None]


def nice_ceiling(value: float, *, whole: bool = False) -> float:
    """The smallest of 1, 2, 2.5, 5 or 10 × 10ⁿ at or above ``value`` (1 for 0 or less);
    for ``whole`` numbers (counts) never a fraction and never 2.5."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if whole and (step == 2.5 or step * power < 1):
            continue
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


def ticks(scale_max: float, *, whole: bool = False) -> int:
    """How many steps divide the axis into round numbers: one per unit up to 5 for counts,
    4 for a scale starting with 2 (0.5 steps), else 5 (0.2, 1, 2 … steps)."""
    if whole and scale_max <= 5:
        return max(int(scale_max), 1)
    leading = scale_max / 10 ** math.floor(math.log10(scale_max))
    return 4 if abs(leading - 2) < 1e-9 else 5


def _whole(values: Sequence[float]) -> bool:
    return all(abs(v - round(v)) < 1e-9 for v in values)


def number_text(value: float) -> str:
    """A tick or value label: thousands separated, at most two decimals, no trailing
    zeros (``12,500``, ``2.5``, ``0.25``)."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _float(value: Number | None) -> float | None:
    return None if value is None else float(value)


def _text_width(text: str, size: float = 11) -> float:
    """Rough width of a label: CJK characters are square, Latin ones about half."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.58 for ch in text)


def _clip(text: str, width: float, size: float = 11) -> str:
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    label = escape(title, quote=True)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="tc-chart" role="img" '
            f'aria-label="{label}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _legend(series: Sequence[Series], x: float, y: float, width: float) -> list[str]:
    out, cx, cy = [], x, y
    for n, item in enumerate(series):
        name = escape(item.name)
        span = 18 + _text_width(item.name) + 14
        if cx + span > x + width and cx > x:
            cx, cy = x, cy + 16
        out.append(f'<rect x="{cx:.1f}" y="{cy - 9:.1f}" width="10" height="10" '
                   f'fill="{PALETTE[n % len(PALETTE)]}"/>'
                   f'<text x="{cx + 14:.1f}" y="{cy:.1f}" {_TEXT}>{name}</text>')
        cx += span
    return out


def _legend_height(series: Sequence[Series], width: float) -> float:
    if len(series) < 2:
        return 0
    rows, used = 1, 0.0
    for item in series:
        span = 18 + _text_width(item.name) + 14
        if used + span > width and used:
            rows, used = rows + 1, 0.0
        used += span
    return rows * 16 + 6


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str = "",
              width: int = 640, bar_height: int = 18, label_width: int = 170,
              empty: str = "—") -> str:
    """Horizontal bars, one per category, stacked when there are several series; the
    total at the end of each bar. With no category, a line saying ``empty``."""
    legend = _legend_height(series, width - 20)
    top = 10 + (18 if title else 0) + legend
    if not categories:
        height = top + 24
        body = [f'<text x="10" y="{top + 14}" {_MUTED}>{escape(empty)}</text>']
        return _svg(width, height, _title(title) + body, title or empty)
    gap = 8
    plot_left, plot_right = label_width + 10, width - 70
    plot_width = plot_right - plot_left
    totals = [sum((_float(s.values[i]) or 0.0) for s in series) for i in range(len(categories))]
    whole = _whole(totals)
    scale_max = nice_ceiling(max(totals, default=0.0), whole=whole)
    steps = ticks(scale_max, whole=whole)
    axis_y = top + len(categories) * (bar_height + gap)
    height = axis_y + 22
    body = _title(title)
    if len(series) > 1:
        body += _legend(series, 10, 10 + (18 if title else 0) + 10, width - 20)
    for tick in range(steps + 1):
        value = scale_max * tick / steps
        x = plot_left + plot_width * tick / steps
        body.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" '
                    f'stroke="#e3e3e3" stroke-width="1"/>'
                    f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" {_MUTED}>'
                    f"{number_text(value)}</text>")
    for i, category in enumerate(categories):
        y = top + i * (bar_height + gap)
        body.append(f'<text x="{label_width:.1f}" y="{y + bar_height * 0.72:.1f}" '
                    f'text-anchor="end" {_TEXT}>{escape(_clip(category, label_width))}</text>')
        x = float(plot_left)
        for n, item in enumerate(series):
            value = _float(item.values[i]) or 0.0
            w = plot_width * value / scale_max if value > 0 else 0.0
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                            f'height="{bar_height}" fill="{PALETTE[n % len(PALETTE)]}"/>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + bar_height * 0.72:.1f}" {_TEXT}>'
                    f"{number_text(totals[i])}</text>")
    return _svg(width, height, body, title or "chart")


def _title(title: str) -> list[str]:
    if not title:
        return []
    return [f'<text x="10" y="18" fill="#222" font-size="13" font-weight="bold">'
            f"{escape(title)}</text>"]


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str = "",
               width: int = 640, height: int = 240, target: Number | None = None,
               target_label: str = "", y_max: Number | None = None,
               empty: str = "—") -> str:
    """Lines over ``labels`` (months), one per series, dots on every value, a gap where a
    value is missing; a dashed line at ``target`` when given. The y axis runs from 0 to
    ``y_max`` or a nice number above every value (and the target)."""
    legend = _legend_height(series, width - 20)
    top = 10 + (18 if title else 0) + legend + 6
    values = [v for s in series for v in (_float(x) for x in s.values) if v is not None]
    if not labels or not values:
        body = [*_title(title), f'<text x="10" y="{top + 14}" {_MUTED}>{escape(empty)}</text>']
        return _svg(width, top + 24, body, title or empty)
    highest = max([*values, _float(target) or 0.0])
    whole = _whole(values)
    scale_max = float(y_max) if y_max is not None else nice_ceiling(highest, whole=whole)
    steps = ticks(scale_max, whole=whole)
    scale_min = min(0.0, min(values))
    plot_left, plot_right = 48.0, width - 14.0
    plot_top, plot_bottom = float(top), height - 24.0
    step = (plot_right - plot_left) / max(len(labels) - 1, 1)

    def y_of(value: float) -> float:
        span = scale_max - scale_min or 1.0
        return plot_bottom - (value - scale_min) / span * (plot_bottom - plot_top)

    def x_of(index: int) -> float:
        return plot_left + step * index if len(labels) > 1 else (plot_left + plot_right) / 2

    body = _title(title)
    if len(series) > 1:
        body += _legend(series, 10, 10 + (18 if title else 0) + 10, width - 20)
    for tick in range(steps + 1):
        value = scale_min + (scale_max - scale_min) * tick / steps
        y = y_of(value)
        body.append(f'<line x1="{plot_left:.1f}" y1="{y:.1f}" x2="{plot_right:.1f}" '
                    f'y2="{y:.1f}" stroke="#e3e3e3" stroke-width="1"/>'
                    f'<text x="{plot_left - 6:.1f}" y="{y + 3:.1f}" text-anchor="end" '
                    f"{_MUTED}>{number_text(value)}</text>")
    every = max(1, math.ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(f'<text x="{x_of(i):.1f}" y="{plot_bottom + 15:.1f}" '
                        f'text-anchor="middle" {_MUTED}>{escape(label)}</text>')
    if target is not None:
        y = y_of(float(target))
        body.append(f'<line x1="{plot_left:.1f}" y1="{y:.1f}" x2="{plot_right:.1f}" '
                    f'y2="{y:.1f}" stroke="#b71c1c" stroke-width="1.2" '
                    f'stroke-dasharray="5,4"/>')
        if target_label:
            body.append(f'<text x="{plot_right:.1f}" y="{y - 4:.1f}" text-anchor="end" '
                        f'fill="#b71c1c" font-size="10">{escape(target_label)}</text>')
    for n, item in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        run: list[str] = []
        for i, raw in enumerate(item.values):
            point_value = _float(raw)
            if point_value is None:
                body += _polyline(run, colour)
                run = []
                continue
            x, y = x_of(i), y_of(point_value)
            run.append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}"/>')
        body += _polyline(run, colour)
    return _svg(width, height, body, title or "chart")


def _polyline(points: list[str], colour: str) -> list[str]:
    if len(points) < 2:
        return []
    return [f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>']
