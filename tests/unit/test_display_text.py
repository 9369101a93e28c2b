"""Subjects and names on one line without controls; the CLI's visible escapes."""

from __future__ import annotations

import json

import pytest

from bot.display_text import one_line
from channels.cli.terminal import visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Printer on fire", "Printer on fire"),
        ("Re: \x1b]0;pwned\x07 invoice", "Re: ]0;pwned invoice"),
        ("two\r\n lines\tand tab", "two lines and tab"),
        ("nul\x00 and del\x7f and csi\x9b", "nul and del and csi"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("family \U0001f468\u200d\U0001f469", "family \U0001f468\u200d\U0001f469"),  # ZWJ kept
    ],
)
def test_one_line_keeps_words_and_drops_controls(raw, shown):
    assert one_line(raw) == shown


def test_visible_escapes_controls_and_keeps_lines_and_tabs():
    assert visible("a\x1b[2Jb\tc\nd\r\ne\rf\u202e") == "a\\u001b[2Jb\tc\nd\r\ne\\u000df\\u202e"


def test_visible_json_is_still_json():
    text = json.dumps({"subject": "x\x9b\u2066y"}, ensure_ascii=False)
    assert json.loads(visible(text)) == {"subject": "x\x9b\u2066y"}


def test_every_cli_module_prints_through_the_escaping_echo():
    """A new command printing with click.echo would show stored text raw to the terminal."""
    from pathlib import Path

    import channels.cli

    folder = Path(channels.cli.__file__).parent
    raw = [p.name for p in folder.glob("*.py") if p.name != "terminal.py" and "click.echo" in p.read_text()]
    assert raw == []
