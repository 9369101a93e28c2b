"""One header's text, decoded from RFC 2047 encoded words: shared by parsing and the robot rules."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message


def header_text(message: Message, name: str) -> str:
    """A header decoded from RFC 2047 words, or as written when it cannot be."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):
        return str(value)
