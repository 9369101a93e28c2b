"""How automation rules and their runs read on the web desk's pages: the example a new
rule starts from, hints beside the editor, the reference of triggers, fields, operators and
actions (from the core's own catalogs, so it cannot drift from what is accepted), a
trigger or a change as a short sentence, and the part of a refused rule at fault."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.errors import UserError
from bot.rules.actions import ACTIONS
from bot.rules.model import CHANGEABLE, NO_VALUE, SINCE, TRIGGERS, FieldSpec
from bot.rules.parse import AUTHORS, RULE_KEYS, SLA_CHANGES, VISIBILITIES
from bot.rules.values import CATALOG, KIND_NAMES, field_info

EXAMPLE = {
    "name": "Tag VPN tickets",
    "mode": "dry_run",
    "trigger": {"on": "ticket_created"},
    "conditions": {
        "all": [{"field": "text", "op": "contains", "value": ["vpn", "remote access"]}],
        "any": [],
    },
    "actions": [{"do": "add_tags", "tags": ["vpn"]}, {"do": "set_priority", "value": "high"}],
    "stop": False,
}


# What each action takes, for the page's reference (the parser in bot/rules/actions.py decides).
ACTION_HINTS = {
    "set_status": '"value": a status',
    "set_priority": '"value": a priority',
    "set_category": '"value": a category path, or "" to clear',
    "set_team": '"value": a team name, or "" to clear',
    "set_assignee": 'one of "person": an email (null unassigns), "round_robin" or "least_loaded": a team',
    "add_tags": '"tags": a list of 1 to 20 tags',
    "remove_tags": '"tags": a list of 1 to 20 tags',
    "set_field": '"key": a custom field, "value": its value (null clears)',
    "add_note": '"text": an internal note (plain text)',
    "send_email": '"to": requester, assignee, team, followers or an address; "template": email/<name>.txt.j2',
    "send_slack": '"to": thread, channel ("channel": C0123ABCD) or dm ("person": an email); "template"',
    "call_webhook": '"subscription": a webhook subscription id',
    "escalate": '"reason": why',
}


TRIGGER_HINTS = {
    "ticket_created": "a new ticket, before it is stored: placing actions set it up",
    "ticket_updated": "a field changed; with field, from, to: that one",
    "status_changed": "the status changed, optionally from / to a status",
    "assigned": "a person was assigned",
    "unassigned": "the assignee was taken off",
    "comment_added": "a reply or note",
    "sla_changed": "the SLA state became at risk or breached",
    "time": "a while after a moment (once per episode)",
}


def typed_rule(text: str) -> dict[str, Any]:
    """The textarea's rule, or why it is not one; the desk checks what it says."""
    if not text.strip():
        raise UserError("rule: write the rule as JSON (a new rule starts from an example)", field="rule")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise UserError(f"rule: this is not JSON: {error.msg} at {where}", field="rule") from None
    except (ValueError, RecursionError):  # a number of thousands of digits, nesting without end
        raise UserError("rule: this JSON cannot be read (nested too deep, or a number too long)") from None
    if not isinstance(data, dict):
        raise UserError('rule: a rule is a JSON object: { "name": ..., "trigger": ... }', field="rule")
    return data


def rule_text(rule: Mapping[str, Any]) -> str:
    """A stored rule (the desk's view) as the textarea shows it: the keys admins write."""
    return json.dumps({key: rule[key] for key in RULE_KEYS if key in rule}, indent=2, ensure_ascii=False)


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def fragment(data: Any, path: str | None) -> str | None:
    """The object holding the part at fault (``conditions.all[1]`` for
    ``conditions.all[1].op``), as JSON, or None when that is the whole rule."""
    if not path or not isinstance(data, dict):
        return None
    node: Any = data
    holder: Any = None
    for name, index in _STEP.findall(path):
        if isinstance(node, dict) and name and name in node:
            holder, node = node, node[name]
        elif isinstance(node, list) and index and int(index) < len(node):
            holder, node = node, node[int(index)]
        else:
            holder = node
            break
    else:
        if isinstance(node, dict | list) and node is not data:
            holder = node
    if holder is None or holder is data or not isinstance(holder, dict | list):
        return None
    text = json.dumps(holder, indent=2, ensure_ascii=False)
    return text if len(text) <= 2000 else text[:2000] + "\n..."


def trigger_text(trigger: Mapping[str, Any]) -> str:
    """A trigger in a few words: "status changed to resolved", "3d after created (business hours)"."""
    on = str(trigger.get("on", ""))
    if on == "time":
        hours = " (business hours)" if trigger.get("business_hours") else ""
        return f"{trigger.get('after')} after {str(trigger.get('since', '')).replace('_', ' ')}{hours}"
    words = [on.replace("_", " ")]
    if trigger.get("field"):
        words.append(f"({trigger['field']})")
    for key, word in (("visibility", ""), ("author", "by "), ("channel", "via ")):
        if trigger.get(key) and trigger[key] != "any":
            words.append(f"{word}{trigger[key]}")
    for key in ("from", "to"):
        if trigger.get(key) is not None:
            value = trigger[key]
            words.append(f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}")
    return " ".join(words)


def change_text(change: Mapping[str, Any]) -> dict[str, Any]:
    """One planned or recorded change: a field's before and after, or what was sent or noted."""
    if "field" in change:
        return {
            "what": str(change["field"]),
            "before": shown_value(change.get("before")),
            "after": shown_value(change.get("after")),
        }
    if "error" in change:
        return {"what": str(change.get("action", "")), "error": str(change["error"])}
    details = [
        f"{key}: {shown_value(value)}"
        for key, value in change.items()
        if key != "action" and value is not None
    ]
    return {"what": str(change.get("action", "")), "detail": "; ".join(details)}


def shown_value(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "(none)"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def reference(fields: Sequence[Mapping[str, object]]) -> dict[str, Any]:
    """The catalogs a rule is written from, as the parser knows them."""
    specs = {
        str(f["key"]): FieldSpec(str(f["key"]), str(f["type"]), tuple(field_choices(f.get("options"))))
        for f in fields
    }
    names = [*CATALOG, *(f"field.{key}" for key in specs)]
    # Fields that take the same operators share a row; the fields with a fixed set of values list them.
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    choices: list[tuple[str, tuple[str, ...]]] = []
    for name in names:
        info = field_info(name, specs, "")
        groups.setdefault((KIND_NAMES[info.kind], info.operators()), []).append(name)
        if info.choices:
            choices.append((name, info.choices))
    catalog = [{"names": group, "kind": kind, "ops": ops} for (kind, ops), group in groups.items()]
    options = {
        "ticket_updated": f"field: {', '.join(CHANGEABLE)} or field.<key>; from, to",
        "comment_added": (f"visibility: {', '.join(VISIBILITIES)}; author: {', '.join(AUTHORS)}; channel"),
        "status_changed": "from, to: statuses",
        "sla_changed": f"to: {', '.join(SLA_CHANGES)}",
        "time": f"since: {', '.join(SINCE)}; after: 30m, 4h, 3d, 2w, 1d12h; business_hours: true",
    }
    triggers = [
        {"on": on, "hint": TRIGGER_HINTS.get(on, ""), "options": options.get(on, "")} for on in TRIGGERS
    ]
    actions = [{"do": do, "hint": ACTION_HINTS.get(do, "")} for do in ACTIONS]
    return {
        "triggers": triggers,
        "fields": catalog,
        "choices": choices,
        "actions": actions,
        "no_value": NO_VALUE,
    }


def field_choices(options: object) -> list[str]:
    found = options.get("choices") if isinstance(options, Mapping) else None
    return [str(c) for c in found] if isinstance(found, list) else []
