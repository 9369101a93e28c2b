"""Custom field definitions and the validation of their values; pure.

A definition's ``options`` hold ``choices`` (dropdown, multiple_choice) and
optional ``min``/``max`` (number), ``max_length``/``pattern`` (text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.errors import UserError
from bot.model import FieldType


def parse_field_type(value: str) -> FieldType:
    try:
        return FieldType(value.strip().lower())
    except ValueError:
        raise UserError(
            f"unknown field type {value!r}; use one of: {', '.join(FieldType)}", field="type"
        ) from None


def check_definition(kind: FieldType, options: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse a definition that could never hold a valid value."""
    clean = dict(options)
    if kind in (FieldType.DROPDOWN, FieldType.MULTIPLE_CHOICE):
        choices = clean.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
            raise UserError(f"a {kind} field needs a non-empty list of choices", field="choices")
        if len(set(choices)) != len(choices):
            raise UserError("choices must not repeat", field="choices")
    if kind is FieldType.NUMBER:
        low, high = clean.get("min"), clean.get("max")
        if low is not None and high is not None and low > high:
            raise UserError("min must not be greater than max", field="min")
    if kind is FieldType.TEXT and "pattern" in clean:
        try:
            re.compile(str(clean["pattern"]))
        except re.error as exc:
            raise UserError(f"pattern is not a valid regular expression: {exc}", field="pattern") from None
    return clean


def validate_value(key: str, kind: FieldType, options: Mapping[str, Any], value: Any) -> Any:
    """Return the value in its stored form, or raise :class:`UserError` naming the field.

    Accepts strings as well as native values because the CLI, Slack modals and
    the REST API all hand values over as text at some point.
    """
    if kind is FieldType.TEXT:
        return _text(key, options, value)
    if kind is FieldType.NUMBER:
        return _number(key, options, value)
    if kind is FieldType.DATE:
        return _date(key, value)
    choices: Sequence[str] = options.get("choices", [])
    if kind is FieldType.DROPDOWN:
        if value not in choices:
            raise UserError(f"{key}: {value!r} is not one of {', '.join(choices)}", field=key)
        return value
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if isinstance(items, tuple):  # as a rule's action holds it
        items = list(items)
    if not isinstance(items, list) or not items:
        raise UserError(f"{key}: choose one or more of {', '.join(choices)}", field=key)
    unknown = [v for v in items if v not in choices]
    if unknown:
        raise UserError(f"{key}: {', '.join(map(str, unknown))} not among {', '.join(choices)}", field=key)
    return sorted(set(items), key=list(choices).index)


def _text(key: str, options: Mapping[str, Any], value: Any) -> str:
    if not isinstance(value, str):
        raise UserError(f"{key}: expected text", field=key)
    limit = options.get("max_length")
    if limit is not None and len(value) > int(limit):
        raise UserError(f"{key}: at most {limit} characters", field=key)
    pattern = options.get("pattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise UserError(f"{key}: {value!r} does not match {pattern}", field=key)
    return value


def _number(key: str, options: Mapping[str, Any], value: Any) -> int | float:
    number: int | float
    if isinstance(value, bool):
        raise UserError(f"{key}: expected a number", field=key)
    if isinstance(value, int | float):
        number = value
    else:
        try:
            number = float(str(value)) if "." in str(value) else int(str(value))
        except ValueError:
            raise UserError(f"{key}: {value!r} is not a number", field=key) from None
    low, high = options.get("min"), options.get("max")
    if low is not None and number < low:
        raise UserError(f"{key}: must be at least {low}", field=key)
    if high is not None and number > high:
        raise UserError(f"{key}: must be at most {high}", field=key)
    return number


def _date(key: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise UserError(f"{key}: {value!r} is not a date like 2026-11-23", field=key) from None
