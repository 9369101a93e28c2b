"""Charts drawn on the server as inline SVG: no chart library in the browser, nothing to load.

The page's Content-Security-Policy forbids inline styles, so shapes are coloured with SVG
presentation attributes (``fill``, ``stroke``), never ``style=``. Every text that comes
from data (a category, an agent's name) is escaped; colours come from a fixed palette.
For screen readers each chart is ``role="img"`` named by its ``<title>`` and summed up by
its ``<desc>``, each bar or day carries a ``<title>`` with its figures, and labels are
real ``<text>``; the page shows the same figures as a table beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

# The stylesheet's colours (channels/web/static/app.css), by what they mean.
TONES = {
    "accent": "#2f5bd3",
    "second": "#7a9cf0",
    "ok": "#067647",
    "warn": "#b54708",
    "danger": "#b42318",
    "muted": "#8a94a6",
}
TEXT = "#1d2330"
MUTED_TEXT = "#5d6676"
GRID = "#dde1e8"
_ID = re.compile(r"[a-z][a-z0-9-]{0,40}")
_LABEL_CHARS = 24


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    tone: str = "accent"


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart over days: its name and one value per day."""

    name: str
    values: Sequence[float]
    tone: str = "accent"


def bar_chart(
    chart_id: str, title: str, bars: Sequence[Bar], *, unit: str = "", width: float = 480.0
) -> Markup:
    """Horizontal bars, one row each, labelled on the left with the value at the end.

    ``unit`` follows each value in the bar's title ("3 tickets"). The chart fills its box, so
    a wider one (``width``) keeps its text from growing in a wide box."""
    label_width, gap, value_room = 160.0, 8.0, 44.0
    row, bar_height = 26.0, 18.0
    area = width - label_width - gap - value_room
    height = max(len(bars), 1) * row + 8
    peak = max((bar.value for bar in bars), default=0) or 1
    parts = [_open(chart_id, title, _summary(bars, unit), width, height)]
    if not bars:
        parts.append(_text(width / 2, height / 2 + 4, "Nothing to show", anchor="middle", fill=MUTED_TEXT))
    for index, bar in enumerate(bars):
        top = 4 + index * row
        middle = top + bar_height / 2 + 4
        length = area * max(bar.value, 0) / peak
        x = label_width + gap
        parts.append("<g>")
        parts.append(f"<title>{escape(bar.label)}: {escape(_number(bar.value))}{escape(_unit(unit))}</title>")
        parts.append(_text(label_width, middle, _shorten(bar.label), anchor="end", fill=TEXT))
        parts.append(
            f'<rect x="{_px(x)}" y="{_px(top)}" width="{_px(length)}" height="{_px(bar_height)}" '
            f'rx="3" fill="{_tone(bar.tone)}"></rect>'
        )
        parts.append(_text(x + length + 6, middle, _number(bar.value), fill=MUTED_TEXT))
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def daily_chart(chart_id: str, title: str, days: Sequence[date], series: Sequence[Series]) -> Markup:
    """Grouped bars per day, one bar per series, with a legend, a value axis and a date every week."""
    for line in series:
        if len(line.values) != len(days):
            raise ValueError(f"series {line.name!r} has {len(line.values)} values for {len(days)} days")
    width, height = 720.0, 250.0
    left, right, top, bottom = 40.0, 10.0, 34.0, 30.0
    plot_width, plot_height = width - left - right, height - top - bottom
    peak = _nice_ceiling(max((v for line in series for v in line.values), default=0))
    totals = "; ".join(f"{line.name}: {_number(math.fsum(line.values))}" for line in series)
    summary = (
        f"{len(days)} days from {days[0].isoformat()} to {days[-1].isoformat()}. Totals: {totals}."
        if days
        else "No days to show."
    )
    parts = [_open(chart_id, title, summary, width, height)]
    # Legend.
    x = left
    for line in series:
        parts.append(
            f'<rect x="{_px(x)}" y="8" width="12" height="12" rx="2" fill="{_tone(line.tone)}"></rect>'
        )
        parts.append(_text(x + 17, 18, line.name, fill=TEXT))
        x += 17 + 8 * len(line.name) + 24
    # Value axis: four steps.
    for step in range(5):
        value = peak * step / 4
        y = top + plot_height - plot_height * step / 4
        parts.append(
            f'<line x1="{_px(left)}" y1="{_px(y)}" x2="{_px(width - right)}" y2="{_px(y)}" '
            f'stroke="{GRID}" stroke-width="1"></line>'
        )
        parts.append(_text(left - 6, y + 4, _number(value), anchor="end", fill=MUTED_TEXT, size=10))
    slot = plot_width / max(len(days), 1)
    bar_width = max((slot - 4) / max(len(series), 1), 1.0)
    for index, day in enumerate(days):
        start = left + index * slot + 2
        figures = ", ".join(f"{_number(line.values[index])} {line.name.lower()}" for line in series)
        parts.append(f"<g><title>{escape(day.isoformat())}: {escape(figures)}</title>")
        for order, line in enumerate(series):
            value = max(line.values[index], 0)
            bar_height = plot_height * value / peak
            parts.append(
                f'<rect x="{_px(start + order * bar_width)}" y="{_px(top + plot_height - bar_height)}" '
                f'width="{_px(bar_width)}" height="{_px(bar_height)}" fill="{_tone(line.tone)}"></rect>'
            )
        parts.append("</g>")
        if (len(days) - 1 - index) % 7 == 0:  # the last day, and every week back from it
            label = f"{day.strftime('%b')} {day.day}"
            parts.append(
                _text(start + slot / 2 - 2, height - 10, label, anchor="middle", fill=MUTED_TEXT, size=10)
            )
    parts.append("</svg>")
    return Markup("".join(parts))


# -- pieces ----------------------------------------------------------------------------


def _open(chart_id: str, title: str, summary: str, width: float, height: float) -> str:
    if not _ID.fullmatch(chart_id):
        raise ValueError(f"chart id {chart_id!r}: use lower-case letters, digits and dashes")
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_px(width)} {_px(height)}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>'
    )


def _text(
    x: float, y: float, content: str, *, anchor: str = "start", fill: str = TEXT, size: int = 12
) -> str:
    return (
        f'<text x="{_px(x)}" y="{_px(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">'
        f"{escape(content)}</text>"
    )


def _summary(bars: Sequence[Bar], unit: str) -> str:
    if not bars:
        return "Nothing to show."
    return "; ".join(f"{bar.label}: {_number(bar.value)}{_unit(unit)}" for bar in bars) + "."


def _tone(name: str) -> str:
    try:
        return TONES[name]
    except KeyError:
        raise ValueError(f"unknown tone {name!r}; use one of: {', '.join(TONES)}") from None


def _shorten(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "\u2026"


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def _number(value: float) -> str:
    """Whole numbers as such, others to one decimal."""
    if not math.isfinite(value):
        return "\u2013"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _px(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def _nice_ceiling(value: float) -> float:
    """The top of a value axis of four equal whole steps (1, 2, 2.5 from 10 up, 5 times a power
    of ten) that reaches ``value``; at least 4."""
    if not math.isfinite(value) or value <= 4:
        return 4.0
    need = value / 4
    power = 10.0 ** math.floor(math.log10(need))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= need and step.is_integer():
            return 4 * step
    return 40 * power  # pragma: no cover - factor 10 always reaches
