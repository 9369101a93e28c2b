"""Slack's message markup to plain text and back; pure.

What people write in Slack reaches email requesters and the store, where
``<@U123>`` or ``&lt;`` would be noise; what we post must escape ``&``, ``<``
and ``>`` so a customer's text cannot ping a channel or forge a link.
"""

from __future__ import annotations

import re
from typing import Any

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def to_plain(text: str) -> str:
    """``<@U1|ann>`` -> ``@ann``, ``<#C1|general>`` -> ``#general``, ``<https://x|site>`` -> ``site (https://x)``."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:].partition('^')[0]}"
        if label and label != target:
            return f"{label} ({target})"
        return target.removeprefix("mailto:")

    plain = _LINK.sub(replace, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_all(value: Any) -> Any:
    """Every string in a template context escaped, so templates need no filter to be safe."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {key: escape_all(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [escape_all(item) for item in value]
    return value


def first_line(text: str, limit: int = 120) -> str:
    """A subject from a message: its first non-empty line, shortened at a word."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:") + "…"


def split_note(text: str, prefix: str) -> tuple[str, bool]:
    """``note: ...`` is an internal note; the prefix is dropped from what is stored."""
    stripped = text.lstrip()
    if prefix and stripped.lower().startswith(prefix.lower()):
        return stripped[len(prefix) :].strip(), True
    return text, False
