"""Text that is shown on one line (subjects, names): no control characters, no bidi overrides.

Subjects and names come from strangers and end up in terminals, tables, mail
headers and Slack cards. An escape sequence in a Subject (``ESC]0;`` retitles
a terminal, ``ESC]52;`` writes its clipboard) or a right-to-left override in a
name (``invoice\\u202efdp.exe``) is never something a person meant to show, so
it is removed where the text is stored, not at each place it is shown.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; tabs and line breaks become spaces instead.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BREAKS = re.compile(" *[\t\n\x0b\x0c\r\x85\u2028\u2029][\t\n\x0b\x0c\r\x85\u2028\u2029 ]*")
# Bidirectional embeddings, overrides and isolates (Unicode TR 9): they reorder what follows.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(value: str) -> str:
    """``value`` with line breaks as single spaces and every other control character gone."""
    if value.isprintable():  # the common case, checked in C
        return value
    return _BIDI.sub("", _CONTROLS.sub("", _BREAKS.sub(" ", value)))
