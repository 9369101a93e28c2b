"""Everything the CLI prints goes through :func:`echo`: stored text shown, never obeyed.

Ticket subjects, names, file names and bodies come from strangers. The core
strips control characters from what is shown on one line, but bodies keep
their text and older rows predate that rule; a terminal obeys escape
sequences (``ESC]52;`` writes the clipboard, ``ESC]0;`` the window title), so
each control character is printed as a visible ``\\uXXXX`` escape instead.
That form is also valid inside JSON strings, so ``--format json`` stays JSON.
"""

from __future__ import annotations

import re

import click

# C0 controls but tab and line feed (a CR only as part of CRLF), DEL, C1, and the
# bidirectional overrides and isolates that reorder what a terminal shows.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\r(?!\n)"
)


def visible(text: str) -> str:
    if text.isprintable():
        return text
    return _UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    click.echo(visible(message), err=err, nl=nl)
