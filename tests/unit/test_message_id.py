"""Message-IDs from mail are kept only in RFC 5322 form: they become keys, and lines in the log.

An ID that carries a control character (``ESC]0;`` retitles the operator's
terminal when the log line is printed), a space, a non-ASCII character or
more than a header line is treated like a missing one.
"""

from __future__ import annotations

import pytest

from channels.email.parse import derived_message_id, parse, parse_cheaply


def mail(message_id: str, *, references: str = "") -> bytes:
    head = (
        "From: Eve <eve@example.com>\r\n"
        "To: support@localhost\r\n"
        "Subject: Hello\r\n"
        f"Message-ID: {message_id}\r\n"
        + (f"References: {references}\r\nIn-Reply-To: {references}\r\n" if references else "")
    )
    return (head + "\r\nHi.\r\n").encode("utf-8")


@pytest.mark.parametrize(
    "hostile",
    [
        "<\x1b]0;pwned\x07@evil.example>",
        "<\x1b]52;c;ZWNobyBwd25lZA==\x07@evil.example>",
        "<a\x9b31m@evil.example>",
        "<caf\u00e9@evil.example>",
        "<a\u202eb@evil.example>",
        "<" + "a" * 990 + "@evil.example>",
    ],
)
def test_a_malformed_message_id_is_replaced_by_one_derived_from_the_bytes(hostile):
    raw = mail(hostile)
    for parsed in (parse(raw), parse_cheaply(raw, problem="slow")):
        assert parsed.message_id == derived_message_id(raw)
        assert parsed.message_id.isascii() and parsed.message_id.isprintable()


def test_a_well_formed_message_id_is_kept_as_written():
    odd_but_valid = "<a.b+c=d/e!#$%&'*^_`{|}~-f@[198.51.100.1]>"
    assert parse(mail(odd_but_valid)).message_id == odd_but_valid
    assert parse(mail("<new-1@mail.example.com> (comment)")).message_id == "<new-1@mail.example.com>"
    longest = "<" + "a" * 984 + "@example.com>"
    assert len(longest) == 998 and parse(mail(longest)).message_id == longest


def test_references_keep_only_well_formed_ids():
    raw = mail("<new-2@example.com>", references="<\x1b]0;x\x07@evil.example> <old-1@example.com>")
    assert parse(raw).references == ("<old-1@example.com>",)
    assert parse_cheaply(raw, problem="slow").references == ("<old-1@example.com>",)
