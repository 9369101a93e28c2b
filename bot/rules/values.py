"""The condition catalog: which fields rules can test, the type of each, the operators
that fit it, and the checks that turn an admin's value into its normalised form.

Shared by conditions, trigger ``from``/``to`` and actions, so a value means the same
wherever a rule names it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from bot.errors import UserError
from bot.model import Priority, Status, clean_tag, parse_priority, parse_status
from bot.rules.model import CHANGEABLE, CHANNELS, NO_VALUE, FieldSpec
from bot.rules.predicates import MAX_PATTERN, compile_pattern
from bot.rules.shapes import choose

# The SLA statuses a ticket shows (bot.sla.calendar.SlaStatus).
SLA_STATUSES = ("on_time", "at_risk", "breached", "paused")
HOURS_ANCHORS = ("created", "updated", "requester_reply", "agent_reply")

CATALOG = {
    "status": "enum",
    "priority": "ordered_enum",
    "category": "category",
    "team": "name",
    "assignee": "address",
    "tags": "set",
    "channel": "enum",
    "mailbox": "address",
    "requester": "address",
    "requester_domain": "domain",
    "subject": "text",
    "comment": "text",
    "text": "text",
    "sla_status": "enum",
    **{f"hours_since_{anchor}": "number" for anchor in HOURS_ANCHORS},
    "business_hours_now": "bool",
}
CUSTOM_KINDS = {
    "text": "text",
    "number": "number",
    "date": "date",
    "dropdown": "enum",
    "multiple_choice": "set",
}
KIND_NAMES = {
    "enum": "an enum",
    "ordered_enum": "an ordered enum",
    "category": "a category path",
    "name": "a team name",
    "address": "an email address",
    "domain": "a domain",
    "text": "text",
    "number": "a number",
    "date": "a date",
    "set": "a set",
    "bool": "true or false",
}
_SCALAR_OPS = ("is", "is_not", "in", "not_in", "is_set", "not_set")
_OPS = {
    "enum": _SCALAR_OPS,
    "ordered_enum": (*_SCALAR_OPS, "gt", "lt"),
    "category": _SCALAR_OPS,
    "name": _SCALAR_OPS,
    "address": _SCALAR_OPS,
    "domain": _SCALAR_OPS,
    "text": ("is", "is_not", "contains", "not_contains", "starts_with", "matches", "is_set", "not_set"),
    "number": ("is", "is_not", "gt", "lt", "is_set", "not_set"),
    "date": ("is", "is_not", "gt", "lt", "is_set", "not_set"),
    "set": ("contains", "not_contains", "is_set", "not_set"),
    "bool": ("is",),
}
_MAX_TEXT = 1000


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    kind: str
    choices: tuple[str, ...] = ()

    @property
    def changeable(self) -> bool:
        return self.name in CHANGEABLE or self.name.startswith("field.")

    def operators(self) -> tuple[str, ...]:
        ops = _OPS[self.kind]
        if self.changeable and self.kind in ("enum", "ordered_enum", "category", "name", "address", "domain"):
            return (*ops, "changed", "changed_from", "changed_to")
        if self.name == "tags":
            return (*ops, "changed")
        return ops

    def describe(self) -> str:
        return f"field {self.name!r} ({KIND_NAMES[self.kind]})"


def custom_spec(key: str, fields: Mapping[str, FieldSpec]) -> FieldSpec | None:
    """Definitions are keyed by their key; one keyed ``field.<key>`` is found too."""
    return fields.get(key) or fields.get(f"field.{key}")


def field_info(
    name: object, fields: Mapping[str, FieldSpec], path: str, *, changeable: bool = False
) -> FieldInfo:
    """The field a condition (or, with ``changeable``, a trigger) names, or a refusal listing them."""
    names = CHANGEABLE if changeable else tuple(CATALOG)
    if isinstance(name, str) and name.startswith("field."):
        spec = custom_spec(name.removeprefix("field."), fields)
        if spec is not None:
            return FieldInfo(name, CUSTOM_KINDS.get(spec.type, "text"), tuple(spec.choices))
    elif isinstance(name, str) and name in names:
        return FieldInfo(name, CATALOG[name], _builtin_choices(name))
    custom = ", ".join(f"field.{spec.key}" for spec in fields.values())
    known = ", ".join(names) + (f", or a custom field: {custom}" if custom else "")
    raise UserError(f"{path}: unknown field {name!r}; use one of: {known}", field=path)


def _builtin_choices(name: str) -> tuple[str, ...]:
    return {
        "status": tuple(Status),
        "priority": tuple(Priority),
        "channel": CHANNELS,
        "sla_status": SLA_STATUSES,
    }.get(name, ())


def condition_value(info: FieldInfo, op: str, raw: object, path: str) -> object:
    """The value ``op`` takes on this field, normalised; ``path`` names the value."""
    if op in NO_VALUE:
        if raw is not None:
            raise UserError(f"{path}: {op} takes no value", field=path)
        return None
    if raw is None:
        raise UserError(f"{path}: {op} needs a value ({_expected(info)})", field=path)
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw:
            raise UserError(f"{path}: {op} takes a non-empty list of values ({_expected(info)})", field=path)
        return tuple(scalar(info, item, f"{path}[{index}]") for index, item in enumerate(raw))
    if op in ("contains", "not_contains"):
        return words(info, raw, path)
    if op == "matches":
        return pattern(raw, path)
    if op == "starts_with":
        return _text(raw, path, empty=False)
    value = scalar(info, raw, path)
    if info.name.startswith("hours_since_") and isinstance(value, int | float) and value < 0:
        raise UserError(f"{path}: hours cannot be negative", field=path)
    return value


def words(info: FieldInfo, raw: object, path: str) -> object:
    """One word, phrase or member, or a list of them (any of which will do)."""
    if isinstance(raw, str):
        return scalar(info, raw, path) if info.kind == "set" else _text(raw, path, empty=False).strip()
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{path}: use a word or phrase, or a non-empty list of them", field=path)
    if info.kind == "set":
        return tuple(scalar(info, item, f"{path}[{index}]") for index, item in enumerate(raw))
    return tuple(_text(item, f"{path}[{index}]", empty=False).strip() for index, item in enumerate(raw))


def pattern(raw: object, path: str) -> str:
    if isinstance(raw, str) and len(raw) > MAX_PATTERN:
        raise UserError(f"{path}: a pattern is at most {MAX_PATTERN} characters", field=path)
    text = _text(raw, path, empty=False, limit=MAX_PATTERN)
    try:
        compile_pattern(text)
    except ValueError as exc:
        raise UserError(
            f"{path}: {choose(text)} is not a pattern RE2 accepts ({exc}); backreferences and "
            "lookarounds (like \\1, (?=...), (?<!...)) are not supported",
            field=path,
        ) from None
    return text


def scalar(info: FieldInfo, raw: object, path: str) -> object:
    """One value of the field's type, in its canonical form."""
    kind = info.kind
    if kind == "bool":
        if not isinstance(raw, bool):
            raise UserError(f"{path}: use true or false", field=path)
        return raw
    if kind == "number":
        return number(raw, path)
    if kind == "date":
        return _date(raw, path)
    if not isinstance(raw, str):
        raise UserError(f"{path}: expected {_expected(info)}, got {choose(raw)}", field=path)
    if info.name in ("status", "priority"):
        return _parse_enum(info.name, raw, path)
    if info.choices or (info.name.startswith("field.") and kind in ("enum", "set")):
        return _choice(info, raw, path)
    if kind == "set":
        return _tag(raw, path)
    if kind == "category":
        return category(raw, path)
    if kind == "address":
        return address(raw, path)
    if kind == "domain":
        domain = raw.strip().lower().removeprefix("@")
        if not is_domain(domain):
            raise UserError(f"{path}: {raw!r} is not a domain like example.com", field=path)
        return domain
    if kind == "name":
        return _text(raw, path, empty=False).strip()
    return _text(raw, path)


def number(raw: object, path: str) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise UserError(f"{path}: expected a number, got {choose(raw)}", field=path)
    return raw


def _date(raw: object, path: str) -> date:
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise UserError(f"{path}: {choose(raw)} is not a date like 2026-01-31", field=path)


def category(raw: str, path: str) -> str:
    parts = [part.strip() for part in raw.split("/")]
    if not all(parts) or len(raw) > _MAX_TEXT:
        raise UserError(f"{path}: {raw!r} is not a category path like Network/VPN", field=path)
    return "/".join(parts)


def address(raw: object, path: str) -> str:
    text = raw.strip().lower() if isinstance(raw, str) else ""
    local, at, domain = text.partition("@")
    if not (local and at and not any(c.isspace() for c in local) and is_domain(domain)) or len(text) > 320:
        raise UserError(f"{path}: {choose(raw)} is not an email address", field=path)
    return text


def is_domain(text: str) -> bool:
    """As routing rules took them: no dot required, for a mailbox at localhost or an intranet host."""
    return bool(text) and all(part and all(c.isalnum() or c == "-" for c in part) for part in text.split("."))


def _parse_enum(name: str, raw: str, path: str) -> str:
    try:
        return str(parse_status(raw) if name == "status" else parse_priority(raw))
    except UserError as exc:
        raise UserError(f"{path}: {exc.message}", field=path) from None


def _choice(info: FieldInfo, raw: str, path: str) -> str:
    wanted = raw.strip().casefold()
    for choice in info.choices:
        if choice.casefold() == wanted:
            return choice
    if not info.choices:
        raise UserError(f"{path}: {info.name} has no choices defined yet", field=path)
    raise UserError(f"{path}: {raw!r} is not one of: {', '.join(info.choices)}", field=path)


def _tag(raw: str, path: str) -> str:
    try:
        return clean_tag(raw)
    except UserError as exc:
        raise UserError(f"{path}: {exc.message}", field=path) from None


def _text(raw: object, path: str, *, empty: bool = True, limit: int = _MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise UserError(f"{path}: expected text, got {choose(raw)}", field=path)
    if not empty and not raw.strip():
        raise UserError(f"{path}: must not be empty", field=path)
    if len(raw) > limit:
        raise UserError(f"{path}: at most {limit} characters", field=path)
    return raw


def _expected(info: FieldInfo) -> str:
    if info.choices:
        return (
            "one of: " + ", ".join(info.choices) + (" (critical = urgent)" if info.name == "priority" else "")
        )
    return {
        "category": "a category path like Network/VPN",
        "name": "a team name",
        "address": "an email address",
        "domain": "a domain like example.com",
        "text": "text",
        "number": "a number",
        "date": "a date like 2026-01-31",
        "set": "a tag" if info.name == "tags" else "a choice",
        "bool": "true or false",
    }.get(info.kind, KIND_NAMES[info.kind])
