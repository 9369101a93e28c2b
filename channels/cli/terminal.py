"""Everything the CLI prints goes through :func:`echo`: stored text shown, never obeyed.

Ticket subjects, names, file names and bodies come from strangers. The core
strips control characters from what is shown on one line, but bodies keep
their text and older rows predate that rule; a terminal obeys escape
sequences (``ESC]52;`` writes the clipboard, ``ESC]0;`` the window title), so
each control character is printed as a visible ``\\uXXXX`` escape instead
(:mod:`channels.terminal_text`, shared with the log). That form is also valid
inside JSON strings, so ``--format json`` stays JSON.
"""

from __future__ import annotations

import click

from channels.terminal_text import visible


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    click.echo(visible(message), err=err, nl=nl)
