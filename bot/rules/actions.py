"""What a rule may do, checked for shape and type: a team, template or webhook named
here is looked up by the store when the rule is saved, not here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from bot.errors import UserError
from bot.model import clean_tag
from bot.rules.model import Action, FieldSpec
from bot.rules.shapes import choose, known_keys, mapping, one_of
from bot.rules.values import CUSTOM_KINDS, FieldInfo, address, category, custom_spec, scalar

MAX_TAGS = 20
MAX_NOTE = 10_000
MAX_REASON = 1_000
EMAIL_RECIPIENTS = ("requester", "assignee", "team", "followers")
SLACK_DESTINATIONS = ("thread", "channel", "dm")
ASSIGNMENTS = ("person", "round_robin", "least_loaded")
# A template is a file name under templates/email or templates/slack: no paths, no partials ("_footer").
_TEMPLATE = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_SLACK_CHANNEL = re.compile(r"[A-Z][A-Z0-9]{2,29}")

Params = dict[str, object]
Parser = Callable[[Mapping[str, Any], Mapping[str, FieldSpec], str], Params]


def parse_action(raw: object, fields: Mapping[str, FieldSpec], where: str) -> Action:
    data = mapping(raw, where, 'an action like {"do": "add_tags", "tags": ["vip"]}')
    do = one_of(data.get("do"), tuple(_PARSERS), f"{where}.do")
    keys, parser = _PARSERS[do]
    known_keys(data, ("do", *keys), where, f"a {do} action")
    params = parser(data, fields, where)
    return Action(do, tuple(sorted(params.items())))


def _required(data: Mapping[str, Any], key: str, where: str, hint: str) -> Any:
    if data.get(key) is None:
        raise UserError(f"{where}.{key}: {data['do']} needs {key}: {hint}", field=f"{where}.{key}")
    return data[key]


def _enum(name: str, kind: str = "enum") -> Parser:
    info = FieldInfo(name, kind)

    def parse(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
        return {"value": scalar(info, _required(data, "value", where, f"a {name}"), f"{where}.value")}

    return parse


def _clearable(name: str) -> Parser:
    """An empty value clears the ticket's category or team; anything else names one."""

    def parse(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
        raw = data.get("value")
        path = f"{where}.value"
        if not isinstance(raw, str):
            raise UserError(f'{path}: {data["do"]} needs value: a {name}, or "" to clear it', field=path)
        if not raw.strip():
            return {"value": ""}
        return {"value": category(raw, path) if name == "category" else _text(raw, path, 200)}

    return parse


def _assignee(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    given = [key for key in ASSIGNMENTS if key in data]
    if len(given) != 1:
        raise UserError(
            f"{where}: set_assignee takes exactly one of: person (an email, or null to unassign), "
            "round_robin (a team name), least_loaded (a team name)",
            field=f"{where}.{given[1] if len(given) > 1 else 'person'}",
        )
    key = given[0]
    path = f"{where}.{key}"
    if key == "person":
        return {"person": None if data[key] is None else address(data[key], path)}
    return {key: _text(data[key], path, 200)}


def _tags(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    raw = data.get("tags")
    path = f"{where}.tags"
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TAGS:
        raise UserError(f"{path}: use a list of 1 to {MAX_TAGS} tags", field=path)
    tags: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise UserError(f"{path}[{index}]: a tag is text, got {choose(item)}", field=f"{path}[{index}]")
        try:
            tag = clean_tag(item)
        except UserError as exc:
            raise UserError(f"{path}[{index}]: {exc.message}", field=f"{path}[{index}]") from None
        if tag not in tags:
            tags.append(tag)
    return {"tags": tuple(tags)}


def _set_field(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    raw_key = _required(data, "key", where, "the key of a custom field")
    key = raw_key.removeprefix("field.") if isinstance(raw_key, str) else ""
    spec = custom_spec(key, fields) if key else None
    if spec is None:
        known = ", ".join(spec.key for spec in fields.values()) or "(none defined yet)"
        raise UserError(
            f"{where}.key: unknown custom field {choose(raw_key)}; use one of: {known}", field=f"{where}.key"
        )
    value = data.get("value")
    if value is None:
        return {"key": spec.key, "value": None}
    info = FieldInfo(f"field.{spec.key}", CUSTOM_KINDS.get(spec.type, "text"), tuple(spec.choices))
    path = f"{where}.value"
    if info.kind != "set":
        normal = scalar(info, value, path)
        # Stored as the field keeps it: a date as ISO text.
        return {"key": spec.key, "value": normal.isoformat() if isinstance(normal, date) else normal}
    if not isinstance(value, list) or not value:
        raise UserError(f"{path}: use a non-empty list of: {', '.join(spec.choices)}", field=path)
    chosen = {scalar(info, item, f"{path}[{index}]") for index, item in enumerate(value)}
    # In the definition's order, as the field's own validation keeps it.
    return {"key": spec.key, "value": tuple(choice for choice in spec.choices if choice in chosen)}


def _note(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    raw = _required(data, "text", where, f"the note's text, up to {MAX_NOTE} characters")
    return {"text": _text(raw, f"{where}.text", MAX_NOTE)}


def _email(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    choices = ", ".join(EMAIL_RECIPIENTS)
    raw = _required(data, "to", where, f"one of {choices}, or an email address")
    path = f"{where}.to"
    if isinstance(raw, str) and raw in EMAIL_RECIPIENTS:
        to = raw
    elif isinstance(raw, str) and "@" in raw:
        to = address(raw, path)
    else:
        raise UserError(f"{path}: send to one of {choices}, or an email address", field=path)
    return {"to": to, "template": _template(data, where, "email/<name>.txt.j2")}


def _slack(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    to = one_of(data.get("to"), SLACK_DESTINATIONS, f"{where}.to")
    params: Params = {"to": to, "template": _template(data, where, "slack/<name>.md.j2")}
    for key, wanted in (("channel", "channel"), ("person", "dm")):
        path = f"{where}.{key}"
        if to != wanted and data.get(key) is not None:
            raise UserError(f"{path}: {key} only fits to: {wanted}", field=path)
    if to == "channel":
        raw = _required(data, "channel", where, "a Slack channel id like C0123ABCD")
        if not isinstance(raw, str) or not _SLACK_CHANNEL.fullmatch(raw.strip()):
            raise UserError(
                f"{where}.channel: {choose(raw)} is not a Slack channel id like C0123ABCD",
                field=f"{where}.channel",
            )
        params["channel"] = raw.strip()
    if to == "dm":
        params["person"] = address(
            _required(data, "person", where, "the email of the person to message"), f"{where}.person"
        )
    return params


def _template(data: Mapping[str, Any], where: str, file: str) -> str:
    raw = _required(data, "template", where, f"the name of a template ({file})")
    if not isinstance(raw, str) or not _TEMPLATE.fullmatch(raw):
        raise UserError(
            f"{where}.template: {choose(raw)} is not a template name; use the <name> of {file}",
            field=f"{where}.template",
        )
    return raw


def _webhook(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    raw = _required(data, "subscription", where, "the id of a webhook subscription")
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise UserError(
            f"{where}.subscription: use the id (a number) of a webhook subscription",
            field=f"{where}.subscription",
        )
    return {"subscription": raw}


def _escalate(data: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> Params:
    raw = _required(data, "reason", where, "why the ticket is escalated")
    return {"reason": _text(raw, f"{where}.reason", MAX_REASON)}


def _text(raw: object, path: str, limit: int) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > limit:
        raise UserError(f"{path}: use text of 1 to {limit} characters", field=path)
    return text


_PARSERS: dict[str, tuple[tuple[str, ...], Parser]] = {
    "set_status": (("value",), _enum("status")),
    "set_priority": (("value",), _enum("priority", "ordered_enum")),
    "set_category": (("value",), _clearable("category")),
    "set_team": (("value",), _clearable("team")),
    "set_assignee": (ASSIGNMENTS, _assignee),
    "add_tags": (("tags",), _tags),
    "remove_tags": (("tags",), _tags),
    "set_field": (("key", "value"), _set_field),
    "add_note": (("text",), _note),
    "send_email": (("to", "template"), _email),
    "send_slack": (("to", "channel", "person", "template"), _slack),
    "call_webhook": (("subscription",), _webhook),
    "escalate": (("reason",), _escalate),
}
ACTIONS = tuple(_PARSERS)
