"""The dashboard's SVG charts: well-formed, accessible, inert whatever the labels say, and to scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from channels.web.charts import TONES, Bar, Series, bar_chart, daily_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def widths(markup: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', markup)]


def test_a_bar_chart_is_an_image_named_by_its_title_and_summed_up_by_its_description() -> None:
    chart = bar_chart("load", "Open tickets per agent", [Bar("Ann", 3), Bar("Bob", 1)], unit="open")
    root = parse(chart)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "load-title load-desc"
    assert root.find(f"{SVG}title").text == "Open tickets per agent"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Ann: 3 open; Bob: 1 open."  # type: ignore[union-attr]
    bars = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")]  # type: ignore[union-attr]
    assert bars == ["Ann: 3 open", "Bob: 1 open"]
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert labels == ["Ann", "3", "Bob", "1"]


def test_labels_are_escaped_so_markup_in_a_name_stays_text() -> None:
    chart = bar_chart("x", "<b>title</b>", [Bar('<script>alert("1")</script>', 2), Bar("<i>Ann</i>", 1)])
    assert "<script>" not in chart and "<b>" not in chart and "<i>" not in chart
    assert "&lt;script&gt;alert(&#34;1&#34;)&lt;/script&gt;: 2" in chart
    root = parse(chart)
    assert root.find(f"{SVG}title").text == "<b>title</b>"  # type: ignore[union-attr]
    assert "<i>Ann</i>" in [t.text for t in root.iter(f"{SVG}text")]


def test_no_chart_carries_a_style_attribute_or_a_colour_from_outside_the_palette() -> None:
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(3)]
    charts = [
        bar_chart("a", "A", [Bar("x", 1, "danger"), Bar("y", 2, "ok")]),
        daily_chart("b", "B", days, [Series("Created", [1, 2, 3]), Series("Resolved", [0, 1, 0], "ok")]),
    ]
    for chart in charts:
        assert "style=" not in chart
        fills = set(re.findall(r'fill="([^"]+)"', chart))
        assert fills <= {*TONES.values(), "#1d2330", "#5d6676"}
    with pytest.raises(ValueError, match="unknown tone"):
        bar_chart("a", "A", [Bar("x", 1, "red; background: url(x)")])


def test_a_chart_id_is_a_plain_name() -> None:
    with pytest.raises(ValueError, match="chart id"):
        bar_chart('a" onload="alert(1)', "A", [])


def test_bars_are_drawn_to_scale_and_the_largest_fills_the_width() -> None:
    chart = bar_chart("s", "S", [Bar("a", 10), Bar("b", 5), Bar("c", 0)])
    assert widths(chart) == [268.0, 134.0, 0.0]
    wider = bar_chart("s", "S", [Bar("a", 10)], width=960)
    assert widths(wider) == [748.0] and 'viewBox="0 0 960' in wider


def test_a_long_label_is_shortened_on_the_chart_and_whole_in_its_title() -> None:
    name = "Maximilian Alexander von Hohenberg-Wittelsbach"
    root = parse(bar_chart("l", "L", [Bar(name, 1)]))
    shown = next(root.iter(f"{SVG}text")).text
    assert shown is not None and len(shown) == 24 and shown.endswith("\u2026")
    assert root.find(f"{SVG}g/{SVG}title").text == f"{name}: 1"  # type: ignore[union-attr]


def test_an_empty_bar_chart_says_so() -> None:
    root = parse(bar_chart("e", "Empty", []))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["Nothing to show"]
    assert root.find(f"{SVG}desc").text == "Nothing to show."  # type: ignore[union-attr]


def test_the_daily_chart_has_a_legend_a_title_per_day_and_a_date_every_week_back_from_the_last() -> None:
    days = [date(2026, 2, 1) + timedelta(days=n) for n in range(30)]
    created = [n % 7 for n in range(30)]
    resolved = [1] * 30
    chart = daily_chart(
        "flow", "Per day", days, [Series("Created", created), Series("Resolved", resolved, "ok")]
    )
    root = parse(chart)
    titles = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")]  # type: ignore[union-attr]
    assert len(titles) == 30 and titles[-1] == "2026-03-02: 1 created, 1 resolved"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:2] == ["Created", "Resolved"]
    assert [t for t in texts if t and t[0].isalpha() and t not in ("Created", "Resolved")] == [
        "Feb 2",
        "Feb 9",
        "Feb 16",
        "Feb 23",
        "Mar 2",
    ]
    # The value axis: 0 to 8 in four whole steps for a peak of 6.
    assert [t for t in texts if t and t.isdigit()] == ["0", "2", "4", "6", "8"]
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == f"30 days from 2026-02-01 to 2026-03-02. Totals: Created: {sum(created)}; Resolved: 30."


@pytest.mark.parametrize(("peak", "top"), [(0, 4), (3, 4), (5, 8), (7, 8), (41, 80), (90, 100), (1234, 2000)])
def test_the_value_axis_ends_on_four_whole_steps_above_the_peak(peak: int, top: int) -> None:
    days = [date(2026, 3, 1), date(2026, 3, 2)]
    root = parse(daily_chart("p", "P", days, [Series("Created", [peak, 0])]))
    numbers = [int(t.text) for t in root.iter(f"{SVG}text") if t.text and t.text.isdigit()]
    assert numbers == [top * step // 4 for step in range(5)]


def test_every_series_has_one_value_per_day() -> None:
    with pytest.raises(ValueError, match="2 values for 3 days"):
        daily_chart("d", "D", [date(2026, 3, n) for n in (1, 2, 3)], [Series("Created", [1, 2])])
