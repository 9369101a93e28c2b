"""The JSON shape checks every part of a rule shares, worded for an admin: what was
expected, where, and which choices there are."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.errors import UserError


def mapping(raw: object, path: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        where = f"{path}: " if path else ""
        raise UserError(f"{where}expected {expected}", field=path or None)
    return raw


def known_keys(data: Mapping[str, Any], allowed: Iterable[str], path: str, what: str) -> None:
    """A misspelt key would otherwise be ignored and the rule do something else than meant."""
    names = tuple(allowed)
    for key in data:
        if key not in names:
            where = f"{path}.{key}" if path else str(key)
            raise UserError(f"{where}: unknown key {key!r} in {what}; use: {', '.join(names)}", field=where)


def one_of(raw: object, choices: tuple[str, ...], path: str) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise UserError(f"{path}: {choose(raw)} is not allowed; use one of: {', '.join(choices)}", field=path)
    return raw


def choose(raw: object) -> str:
    """The admin's word quoted as they wrote it, or a word for what it was instead."""
    if raw is None:
        return "(missing)"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return repr(raw) if len(raw) <= 60 else repr(raw[:57] + "...")
    if isinstance(raw, list | Mapping):
        return "a list" if isinstance(raw, list) else "an object"
    return repr(raw)[:60]
