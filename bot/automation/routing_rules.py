"""Routing rules, the first kind of rule, kept as automation rules on "ticket created".

The routing API and CLI (``/api/v1/routing/rules``, ``supportbot routing``)
keep their shape: a rule matched on what arrived (channel, support address,
sender, words in the subject or first message) that sets the team, category,
priority and tags. Each is stored as the automation rule that places tickets the
same way, stopping later rules when it matches (the first match won), so both
views show one list in one order. Automation rules of other shapes are not
listed here; ``supportbot automations`` shows everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.audit.kinds import AuditKind
from bot.automation import keeping
from bot.errors import NotFound, UserError
from bot.model import Actor, clean_tag, parse_priority
from bot.people import directory
from bot.people.permissions import require_admin, require_staff
from bot.rules.model import CHANNELS as RULE_CHANNELS
from bot.store import tables as t
from bot.unit import Unit

# The channels that open tickets, as a rule's ``channel`` names them.
CHANNELS = RULE_CHANNELS
MAX_KEYWORDS = 50
MAX_TAGS = 20
MAX_POSITION = keeping.MAX_POSITION
_CONDITIONS = frozenset({"channel", "mailbox", "requester", "requester_domain", "text"})
_ACTIONS = frozenset({"set_category", "set_team", "set_priority", "add_tags"})


@dataclass(frozen=True, slots=True)
class RuleInput:
    """A rule as an admin writes it; ``team``/``category`` by name and path."""

    name: str
    channel: str = ""
    mailbox: str = ""
    sender: str = ""
    keywords: Sequence[str] = ()
    team: str | None = None
    category: str | None = None
    priority: str | None = None
    tags: Sequence[str] = ()
    enabled: bool = True
    position: int | None = None


def list_rules(unit: Unit, actor: Actor) -> list[dict[str, Any]]:
    """Every routing-shaped rule in the order they are tried, disabled ones included."""
    require_staff(actor, "read the routing rules")
    return [view(row) for row in keeping.rows(unit) if is_routing(row.definition)]


def add(unit: Unit, actor: Actor, rule: RuleInput) -> dict[str, Any]:
    """Without a position the rule goes after the others (rules at the same position are
    tried in the order they were added)."""
    require_admin(actor, "change routing rules")
    definition = as_definition(unit, rule)
    stored = keeping.add(unit, actor, definition, kind=AuditKind.ROUTING_RULE_ADDED)
    return view(_row(unit, int(stored["id"])))


def change(unit: Unit, actor: Actor, rule_id: int, rule: RuleInput) -> dict[str, Any]:
    """The whole rule is replaced; without a position it keeps its place."""
    require_admin(actor, "change routing rules")
    _row(unit, rule_id)
    definition = as_definition(unit, rule)
    keeping.change(unit, actor, rule_id, definition, kind=AuditKind.ROUTING_RULE_CHANGED)
    return view(_row(unit, rule_id))


def remove(unit: Unit, actor: Actor, rule_id: int) -> dict[str, Any]:
    require_admin(actor, "change routing rules")
    before = view(_row(unit, rule_id))
    keeping.remove(unit, actor, rule_id, kind=AuditKind.ROUTING_RULE_REMOVED)
    return before


def is_routing(definition: dict[str, Any]) -> bool:
    """A rule the routing view can show: placing on "ticket created", first match wins."""
    conditions = definition.get("conditions") or {}
    return (
        (definition.get("trigger") or {}).get("on") == "ticket_created"
        and bool(definition.get("stop"))
        and definition.get("mode", "live") == "live"
        and not conditions.get("any")
        and all(
            c.get("field") in _CONDITIONS
            and c.get("op") == ("contains" if c.get("field") == "text" else "is")
            for c in conditions.get("all") or ()
        )
        and len({c.get("field") for c in conditions.get("all") or ()}) == len(conditions.get("all") or ())
        and all(a.get("do") in _ACTIONS for a in definition.get("actions") or ())
        and len({a.get("do") for a in definition.get("actions") or ()})
        == len(definition.get("actions") or ())
    )


def view(row: t.AutomationRule) -> dict[str, Any]:
    definition = row.definition
    conditions = {c["field"]: c.get("value") for c in (definition.get("conditions") or {}).get("all") or ()}
    actions = {a["do"]: a for a in definition.get("actions") or ()}
    sender = conditions.get("requester") or (
        f"@{conditions['requester_domain']}" if conditions.get("requester_domain") else None
    )
    keywords = conditions.get("text") or []
    return {
        "id": row.id,
        "name": row.name,
        "position": row.position,
        "enabled": row.enabled,
        "conditions": {
            "channel": conditions.get("channel") or None,
            "mailbox": conditions.get("mailbox") or None,
            "sender": sender or None,
            "keywords": [keywords] if isinstance(keywords, str) else list(keywords),
        },
        "actions": {
            "team": (actions.get("set_team") or {}).get("value") or None,
            "category": (actions.get("set_category") or {}).get("value") or None,
            "priority": (actions.get("set_priority") or {}).get("value") or None,
            "tags": list((actions.get("add_tags") or {}).get("tags") or []),
        },
    }


def as_definition(unit: Unit, rule: RuleInput) -> dict[str, Any]:
    """Check every part, naming the field at fault, and write the automation rule."""
    name = rule.name.strip()
    if not name or len(name) > 200:
        raise UserError("a rule needs a name of up to 200 characters", field="name")
    channel = rule.channel.strip().lower()
    if channel and channel not in CHANNELS:
        raise UserError(f"channel {rule.channel!r}: use one of {', '.join(CHANNELS)}", field="channel")
    mailbox = rule.mailbox.strip().lower()
    if mailbox and not _is_address(mailbox):
        raise UserError(f"mailbox {rule.mailbox!r} is not an email address", field="mailbox")
    sender = rule.sender.strip().lower()
    if sender and not (_is_address(sender) or _is_domain(sender)):
        raise UserError(
            f"sender {rule.sender!r}: write an address or @domain (e.g. @example.com)", field="sender"
        )
    keywords = _words(rule.keywords)
    team = directory.find_team(unit, rule.team) if rule.team and rule.team.strip() else None
    category = (
        directory.find_category(unit, rule.category) if rule.category and rule.category.strip() else None
    )
    priority = parse_priority(rule.priority).value if rule.priority and rule.priority.strip() else ""
    tags = sorted({clean_tag(tag) for tag in rule.tags})
    if len(tags) > MAX_TAGS:
        raise UserError(f"a rule adds at most {MAX_TAGS} tags", field="tags")
    if team is None and category is None and not priority and not tags:
        raise UserError("a rule must set a team, a category, a priority or tags", field="actions")
    if rule.position is not None and not 0 <= rule.position <= MAX_POSITION:
        raise UserError(f"position: from 0 to {MAX_POSITION}", field="position")
    conditions: list[dict[str, Any]] = []
    if channel:
        conditions.append({"field": "channel", "op": "is", "value": channel})
    if mailbox:
        conditions.append({"field": "mailbox", "op": "is", "value": mailbox})
    if sender.startswith("@"):
        conditions.append({"field": "requester_domain", "op": "is", "value": sender[1:]})
    elif sender:
        conditions.append({"field": "requester", "op": "is", "value": sender})
    if keywords:
        conditions.append({"field": "text", "op": "contains", "value": keywords})
    # The category first: a team the rule names wins over the category's own.
    actions: list[dict[str, Any]] = []
    if category is not None:
        actions.append({"do": "set_category", "value": category.path})
    if team is not None:
        actions.append({"do": "set_team", "value": team.name})
    if priority:
        actions.append({"do": "set_priority", "value": priority})
    if tags:
        actions.append({"do": "add_tags", "tags": tags})
    definition: dict[str, Any] = {
        "name": name,
        "enabled": rule.enabled,
        "mode": "live",
        "stop": True,
        "trigger": {"on": "ticket_created"},
        "conditions": {"all": conditions, "any": []},
        "actions": actions,
    }
    if rule.position is not None:
        definition["position"] = rule.position
    return definition


def _words(keywords: Sequence[str]) -> list[str]:
    """Matching ignores case, so ``VPN`` and ``vpn`` are one keyword (the first spelling kept)."""
    seen: dict[str, str] = {}
    for word in (keyword.strip() for keyword in keywords):
        if word:
            seen.setdefault(word.lower(), word)
    words = list(seen.values())
    if len(words) > MAX_KEYWORDS or any(len(word) > 100 for word in words):
        raise UserError(f"up to {MAX_KEYWORDS} keywords of up to 100 characters each", field="keywords")
    return words


def _is_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(local and at and not any(c.isspace() for c in local) and _is_domain("@" + domain))


def _is_domain(text: str) -> bool:
    domain = text.removeprefix("@")
    # No dot required: a support address may be at localhost or an intranet host.
    return text.startswith("@") and all(
        part and all(c.isalnum() or c == "-" for c in part) for part in domain.split(".")
    )


def _row(unit: Unit, rule_id: int) -> t.AutomationRule:
    row = unit.session.get(t.AutomationRule, rule_id)
    if row is None or not is_routing(row.definition):
        raise NotFound(f"no routing rule {rule_id}")
    return row
