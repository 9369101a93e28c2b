"""The linear HTML pre-scan and tag stripper that stand before the sanitizer."""

from __future__ import annotations

import time

import pytest

from channels.email.html_guard import excess, strip_tags


def test_depth_counts_open_elements_and_their_end_tags_close_them():
    assert excess("<div>" * 5 + "</div>" * 5 + "<div>" * 5, max_depth=5, max_elements=100) is None
    assert excess("<div>" * 6, max_depth=5, max_elements=100) == "HTML nested deeper than 5 elements"


def test_void_self_closed_and_repeated_sibling_elements_add_no_depth():
    markup = "<p>a<p>b<br><img src=x><hr/><ul><li>1<li>2<li>3</ul><table><tr><td>a<td>b<tr><td>c</table>"
    assert excess(markup * 3, max_depth=4, max_elements=1000) is None


def test_a_stray_end_tag_closes_nothing():
    assert excess("</div>" * 50 + "<div>" * 3, max_depth=3, max_elements=100) is None


def test_element_count_is_bounded():
    assert excess("<b>x</b>" * 11, max_depth=5, max_elements=10) == "HTML has more than 10 elements"


@pytest.mark.parametrize(
    "hostile",
    [
        "<div>" * 100_000,
        "<" * 500_000,
        "<a" + "a" * 500_000,
        "<a " + "x" * 500_000,
        "<!--" * 125_000,
        "<script>" + "</script " * 50_000,
        "</div>" * 80_000,
    ],
)
def test_hostile_markup_is_scanned_and_stripped_in_linear_time(hostile):
    started = time.monotonic()
    excess(hostile, max_depth=200, max_elements=20_000)
    strip_tags(hostile)
    assert time.monotonic() - started < 1.0  # a quadratic pass over 500 KB takes minutes


def test_stripping_keeps_the_words_and_drops_scripts_styles_and_comments():
    markup = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>Hello&nbsp;<b>Ann</b> &amp; co</p><!-- hidden --><script>x()</script><div>Bye</div>"
    )
    assert strip_tags(markup) == "Hello Ann & co\n\nBye"
