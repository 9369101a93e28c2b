"""Text bound for a terminal, with every control character shown instead of obeyed.

Subjects, names, file names, bodies and Message-IDs come from strangers and
reach a terminal two ways: what the CLI prints, and the log that ``serve`` and
``imap import`` write to stderr. A terminal obeys escape sequences
(``ESC]52;`` writes the clipboard, ``ESC]0;`` the window title) and bidi
overrides reorder what it shows, so each such character is printed as a
visible ``\\uXXXX`` escape instead: readable, and valid inside JSON strings.
The CLI and the log formatter both use this module, which imports neither.
"""

from __future__ import annotations

import re

# Bidirectional embeddings, overrides and isolates (Unicode TR 9): they reorder what follows.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Text of several lines (what the CLI prints, a traceback): C0 controls but tab and
# line feed (a CR only as part of CRLF), DEL, C1 and the bidi controls.
_UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "]|\r(?!\n)")
# One line (a log record): every C0 and C1 control, line breaks and tabs included,
# the Unicode line and paragraph separators, and the bidi controls.
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + _BIDI + "]")


def _escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def visible(text: str) -> str:
    """``text`` with its line structure kept and every other control character escaped."""
    if text.isprintable():  # the common case, checked in C
        return text
    return _UNSAFE_IN_TEXT.sub(_escape, text)


def visible_line(text: str) -> str:
    """``text`` as one line: every control character escaped, line breaks included."""
    if text.isprintable():
        return text
    return _UNSAFE_IN_LINE.sub(_escape, text)
