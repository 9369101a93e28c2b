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


# Each was read as no element at all, or as one that closes itself, by the first guard; html5ever
# nests them (an attribute value may hold "<" and ">"; "/>" counts on void and svg/math elements only).
BYPASSES = {
    "unquoted <": "<div a=<>",
    "quoted <": '<div a="<">',
    "quoted >": "<div a='>'>",
    "quoted < and >": "<div a=\"<>\" b='<x>'>",
    "slash": "<div/>",
    "slash after a value": "<div a=x/>",
    "name with <": "<div<x>",
    "uppercase": "<DIV>",
    "after a comment with a quote": '<!-- " --><div>',
    "after an empty comment": "<!--><div>",
    "after a comment ended --!>": "<!-- x --!><div>",
    "after a style with a quote": '<style>a[title="</style><div>',
    "slash in foreignObject": "<svg><foreignObject><div/>",
    "slash breaking out of svg": "<svg><p/>",
    "in a template": "<template><div>",
    "in a table": "<table><div>",
}


@pytest.mark.parametrize("piece", BYPASSES.values(), ids=BYPASSES.keys())
def test_elements_html5ever_nests_are_counted_however_their_tags_are_written(piece):
    assert excess(piece * 250, max_depth=200, max_elements=10**6) == "HTML nested deeper than 200 elements"
    assert excess(piece * 30_000, max_depth=10**6, max_elements=20_000) == "HTML has more than 20000 elements"


def test_every_less_than_and_letter_counts_as_an_element_even_quoted_or_commented():
    hidden = '<p title="<b><b><b>">' + "<!-- <i><i> -->" + "<style><u></style>"
    assert excess(hidden, max_depth=10, max_elements=8) is None  # p b b b i i style u
    assert excess(hidden, max_depth=10, max_elements=7) == "HTML has more than 7 elements"


def test_what_html5ever_reads_as_text_or_closed_adds_no_depth():
    markup = (
        "<svg><g/><path d='M0 0'/></svg>"  # "/>" closes in svg
        "<!-- <div><div> --><div a='</div>'>x</div>"  # a comment; an end tag inside quotes
        "<script>if (a < b) {}</script><textarea><div><div></textarea>"  # text up to their end tags
    )
    assert excess(markup * 100, max_depth=3, max_elements=10**6) is None


def test_formatting_elements_closed_implicitly_are_counted_each_time_they_reopen():
    # html5ever recreates the 150 <b> inside every later <p>: 150 new elements per paragraph.
    markup = "<p>" + "".join(f"<b x={i}>" for i in range(150)) + "</p><p>x" * 200
    assert excess(markup, max_depth=200, max_elements=20_000) == "HTML has more than 20000 elements"
    assert excess("<p><b>x</p>" * 1000, max_depth=10, max_elements=20_000) is None  # 3 alike at most


ONE_MEGABYTE = 1_000_000
HOSTILE = {
    "nested divs": "<div>" * 100_000,
    "less-thans": "<" * ONE_MEGABYTE,
    "a long name": "<a" + "a" * ONE_MEGABYTE,
    "a long attribute": "<a " + "x" * ONE_MEGABYTE,
    "unquoted <": "<div a=<>" * 110_000,
    "quoted <": '<div a="<">' * 90_000,
    "slashes": "<div/>" * 160_000,
    'open quotes <a "': '<a "' * 250_000,
    "an unterminated quote": '<div a="' + "x" * ONE_MEGABYTE,
    "an unterminated single quote": "<div a='" + '"' * ONE_MEGABYTE,
    "an unterminated comment": "<!--" + "<div>" * 200_000,
    "comment starts": "<!--" * 250_000,
    "spaces in a tag": "<div" + " " * ONE_MEGABYTE,
    "equals signs in a tag": "<div " + "=" * ONE_MEGABYTE,
    "slashes in a tag": "<div " + "/" * ONE_MEGABYTE,
    "end tags": "</div>" * 170_000,
    "bogus comments": "</ >" * 250_000,
    "empty end tags": "</>" * 330_000,
    "processing instructions": "<?>" * 330_000,
    "unterminated scripts": "<script>" + "</script " * 110_000,
    "styles": "<style></style>" * 65_000,
    "reopened formatting": "<p>" + "<b x=1><i x=2>" * 60 + "</p><p>x" * 120_000,
    "mixed": '<div a=<><div/><p a="<>"><!-- x --><b x=1></b></i>' * 20_000,
}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markup_is_scanned_and_stripped_in_linear_time(hostile):
    started = time.monotonic()
    excess(hostile, max_depth=200, max_elements=20_000)
    strip_tags(hostile)
    assert time.monotonic() - started < 2.0  # a quadratic pass over 1 MB takes minutes


def test_stripping_keeps_the_words_and_drops_scripts_styles_and_comments():
    markup = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>Hello&nbsp;<b>Ann</b> &amp; co</p><!-- hidden --><script>x()</script><div>Bye</div>"
    )
    assert strip_tags(markup) == "Hello Ann & co\n\nBye"
