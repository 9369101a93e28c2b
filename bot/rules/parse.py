"""A rule as admins write it (JSON from the API, the CLI or a TOML file) checked and
turned into a :class:`~bot.rules.model.Rule`.

Structure and types only: whether a team, template or webhook named here exists is
the store's question. Every refusal is a :class:`~bot.errors.UserError` whose
``field`` is the path of the part at fault (``conditions.all[1].op``), so a form can
point at it and a file's author can find it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bot.errors import UserError
from bot.rules.actions import parse_action
from bot.rules.durations import parse_duration
from bot.rules.model import (
    CHANNELS,
    MODES,
    SINCE,
    TRIGGERS,
    Action,
    Condition,
    Conditions,
    FieldSpec,
    Rule,
    Trigger,
)
from bot.rules.shapes import choose, known_keys, mapping, one_of
from bot.rules.values import FieldInfo, condition_value, field_info, scalar, words

MAX_NAME = 200
MAX_POSITION = 2**31 - 1
MAX_ACTIONS = 20
MAX_CONDITIONS = 50
# Actions that tell someone and leave the ticket as it is (its last update stays where it was).
MESSAGE_ACTIONS = ("send_email", "send_slack", "call_webhook")
RULE_KEYS = ("name", "position", "enabled", "mode", "stop", "trigger", "conditions", "actions", "match_all")
TRIGGER_OPTIONS: dict[str, tuple[str, ...]] = {
    "ticket_created": (),
    "ticket_updated": ("field", "from", "to"),
    "status_changed": ("from", "to"),
    "assigned": (),
    "unassigned": (),
    "comment_added": ("visibility", "author", "channel"),
    "sla_changed": ("to",),
    "time": ("since", "after", "business_hours"),
}
VISIBILITIES = ("public", "internal", "any")
AUTHORS = ("requester", "agent", "partner", "any")
SLA_CHANGES = ("at_risk", "breached")
CONDITION_KEYS = ("field", "op", "value", "business")
_NO_FIELDS: Mapping[str, FieldSpec] = MappingProxyType({})
_STATUS = FieldInfo("status", "enum", ())


def parse_rule(
    data: Mapping[str, Any],
    *,
    rule_id: int = 0,
    fields: Mapping[str, FieldSpec] = _NO_FIELDS,
    position: int | None = None,
) -> Rule:
    """``fields`` are the custom field definitions by key; ``position`` is where the
    rule goes when ``data`` does not say (after the others, as the caller counts)."""
    rule = mapping(data, "", "a rule")
    known_keys(rule, RULE_KEYS, "", "a rule")
    # Checked in the order the parts are written, so the first refusal is the first mistake.
    name = _name(rule.get("name"))
    at = _position(rule.get("position"), position)
    enabled = _flag(rule, "enabled", True)
    mode = one_of(rule.get("mode", "live"), MODES, "mode")
    stop = _flag(rule, "stop", False)
    trigger = parse_trigger(rule.get("trigger"), fields)
    conditions = parse_conditions(rule.get("conditions"), fields)
    actions = _actions(rule.get("actions"), fields)
    match_all = _flag(rule, "match_all", False)
    if trigger.update_type and not conditions and not match_all:
        raise UserError(
            f"match_all: a {trigger.on} trigger without options fires on nearly every change; "
            "add conditions, narrow the trigger, or set match_all to true to confirm",
            field="match_all",
        )
    restarting = [a.do for a in actions if a.do not in MESSAGE_ACTIONS]
    if trigger.on == "time" and trigger.since == "updated" and restarting:
        raise UserError(
            f"trigger.since: a rule on time since the last update that changes the ticket "
            f"({', '.join(restarting)}) would start its own clock again and act for ever; count "
            "from status_changed, requester_reply or agent_reply, or only send messages",
            field="trigger.since",
        )
    return Rule(rule_id, name, at, enabled, mode, stop, trigger, conditions, actions, match_all)


def _name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > MAX_NAME:
        raise UserError(f"name: give the rule a name of 1 to {MAX_NAME} characters", field="name")
    return name


def _position(raw: object, default: int | None) -> int:
    if raw is None:
        return 0 if default is None else default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_POSITION:
        raise UserError(f"position: use a whole number from 0 to {MAX_POSITION}", field="position")
    return raw


def _flag(data: Mapping[str, Any], key: str, default: bool, prefix: str = "") -> bool:
    raw = data.get(key, default)
    if not isinstance(raw, bool):
        raise UserError(f"{prefix}{key}: use true or false", field=f"{prefix}{key}")
    return raw


def parse_trigger(raw: object, fields: Mapping[str, FieldSpec] = _NO_FIELDS) -> Trigger:
    data = mapping(raw, "trigger", 'a trigger like {"on": "ticket_created"}')
    on = one_of(data.get("on"), TRIGGERS, "trigger.on")
    options = TRIGGER_OPTIONS[on]
    for key in data:
        if key != "on" and key not in options:
            takes = ", ".join(options) if options else "no options"
            raise UserError(
                f"trigger.{key}: {key!r} does not fit a {on} trigger (it takes {takes})",
                field=f"trigger.{key}",
            )
    if on == "ticket_updated":
        return _updated(data, fields)
    if on == "status_changed":
        before, after = (
            None if data.get(key) is None else scalar(_STATUS, data[key], f"trigger.{key}")
            for key in ("from", "to")
        )
        return Trigger(on, before=before, after=after)
    if on == "comment_added":
        return Trigger(
            on,
            visibility=one_of(data.get("visibility", "any"), VISIBILITIES, "trigger.visibility"),
            author=one_of(data.get("author", "any"), AUTHORS, "trigger.author"),
            channel=None
            if data.get("channel") is None
            else one_of(data["channel"], CHANNELS, "trigger.channel"),
        )
    if on == "sla_changed":
        to = data.get("to")
        return Trigger(on, after=None if to is None else one_of(to, SLA_CHANGES, "trigger.to"))
    if on == "time":
        return Trigger(
            on,
            since=one_of(data.get("since"), SINCE, "trigger.since"),
            seconds=parse_duration(_text(data.get("after"), "trigger.after"), field="trigger.after"),
            business_hours=_flag(data, "business_hours", False, "trigger."),
        )
    return Trigger(on)


def _updated(data: Mapping[str, Any], fields: Mapping[str, FieldSpec]) -> Trigger:
    if data.get("field") is None:
        for key in ("from", "to"):
            if data.get(key) is not None:
                raise UserError(
                    f"trigger.{key}: {key!r} needs a field to compare (status, priority, ...)",
                    field=f"trigger.{key}",
                )
        return Trigger("ticket_updated")
    info = field_info(data["field"], fields, "trigger.field", changeable=True)
    before, after = (
        None if data.get(key) is None else _trigger_value(info, data[key], f"trigger.{key}")
        for key in ("from", "to")
    )
    return Trigger("ticket_updated", field=info.name, before=before, after=after)


def _trigger_value(info: FieldInfo, raw: object, path: str) -> object:
    """A set-valued field (tags, multiple choice) takes a member or a list, any of which will
    do; kept as a tuple either way, which is what tells the comparison to look for members."""
    if info.kind != "set":
        return scalar(info, raw, path)
    found = words(info, raw, path)
    return found if isinstance(found, tuple) else (found,)


def _text(raw: object, path: str) -> str:
    if not isinstance(raw, str):
        raise UserError(f"{path}: expected text like 4h or 1d12h", field=path)
    return raw


def parse_conditions(raw: object, fields: Mapping[str, FieldSpec] = _NO_FIELDS) -> Conditions:
    if raw is None:
        return Conditions()
    data = mapping(raw, "conditions", 'an object like {"all": [...], "any": [...]}')
    known_keys(data, ("all", "any"), "conditions", "conditions")
    groups: dict[str, tuple[Condition, ...]] = {}
    for group in ("all", "any"):
        items = data.get(group)
        items = [] if items is None else items
        if not isinstance(items, list):
            raise UserError(f"conditions.{group}: expected a list of conditions", field=f"conditions.{group}")
        groups[group] = tuple(
            parse_condition(item, fields, f"conditions.{group}[{index}]") for index, item in enumerate(items)
        )
    conditions = Conditions(all=groups["all"], any=groups["any"])
    if len(conditions) > MAX_CONDITIONS:
        raise UserError(
            f"conditions: at most {MAX_CONDITIONS} conditions in one rule; split it into several rules",
            field="conditions",
        )
    return conditions


def parse_condition(raw: object, fields: Mapping[str, FieldSpec], where: str) -> Condition:
    data = mapping(raw, where, 'a condition like {"field": "status", "op": "is", "value": "open"}')
    known_keys(data, CONDITION_KEYS, where, "a condition")
    info = field_info(data.get("field"), fields, f"{where}.field")
    op = data.get("op")
    allowed = info.operators()
    if not isinstance(op, str) or op not in allowed:
        raise UserError(
            f"{where}: operator {choose(op)} does not fit {info.describe()}: use {', '.join(allowed)}",
            field=f"{where}.op",
        )
    business = _flag(data, "business", False, f"{where}.")
    if business and not info.name.startswith("hours_since_"):
        raise UserError(
            f"{where}.business: only the hours_since_* fields count business hours", field=f"{where}.business"
        )
    value = condition_value(info, op, data.get("value"), f"{where}.value")
    return Condition(info.name, op, value, business)


def _actions(raw: object, fields: Mapping[str, FieldSpec]) -> tuple[Action, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserError("actions: a rule needs a list of 1 or more actions", field="actions")
    if len(raw) > MAX_ACTIONS:
        raise UserError(f"actions: at most {MAX_ACTIONS} actions in one rule", field="actions")
    return tuple(parse_action(item, fields, f"actions[{index}]") for index, item in enumerate(raw))
