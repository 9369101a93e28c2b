"""The log ``serve`` writes to the operator's terminal: one line a record, no control characters.

The real :func:`channels.bootstrap.configure_logging` writes to a captured stream.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from channels.terminal_text import visible, visible_line
from tests.log_capture import served_log

logger = logging.getLogger("tests.unit.test_log_format")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    with served_log() as stream:
        yield stream


def test_a_record_with_an_escape_and_a_line_break_in_an_argument_is_one_escaped_line(logged):
    logger.info("received %s from %s", "<\x1b]0;pwned\x07@evil>", "eve\nINFO forged: all is well")
    out = logged.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")
    assert "\x1b" not in out and "\x07" not in out
    assert out.rstrip("\n").endswith(
        "INFO tests.unit.test_log_format: received <\\u001b]0;pwned\\u0007@evil> "
        "from eve\\u000aINFO forged: all is well"
    )


def test_c1_controls_carriage_returns_tabs_and_bidi_overrides_are_escaped_too(logged):
    logger.warning("%s|%s|%s|%s|%s", "a\x9b2Jb", "over\rwrite", "t\tab", "exe\u202efdp", "x\u2028y")
    line = logged.getvalue().rstrip("\n")
    assert line.endswith("a\\u009b2Jb|over\\u000dwrite|t\\u0009ab|exe\\u202efdp|x\\u2028y")
    assert line.isprintable()


def test_a_traceback_keeps_its_lines_and_loses_its_escapes(logged):
    try:
        raise ValueError("bad header \x1b[31mred\x1b[0m")
    except ValueError:
        logger.exception("could not import %s", "<\x1b]52;c;eA==\x07@evil>")
    first, *traceback = logged.getvalue().rstrip("\n").split("\n")
    assert first.endswith("could not import <\\u001b]52;c;eA==\\u0007@evil>")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: bad header \\u001b[31mred\\u001b[0m"
    assert all("\x1b" not in line for line in traceback)


def test_multi_line_text_keeps_its_lines_and_one_line_text_keeps_none():
    text = "line one\r\nline\ttwo\n\x1b[2J\u202e"
    assert visible(text) == "line one\r\nline\ttwo\n\\u001b[2J\\u202e"
    assert visible_line(text) == "line one\\u000d\\u000aline\\u0009two\\u000a\\u001b[2J\\u202e"
    assert visible("plain text") == visible_line("plain text") == "plain text"
