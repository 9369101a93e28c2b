"""Routing rules: admins keep them over the API, and each new ticket is placed by the
first enabled one whose conditions all hold.

A rule is matched on what arrived (channel, support address, sender, words in
the subject or first message) and sets the team, category, priority and tags.
It wins over the channel's defaults (a mailbox's team) and the requester's own
choices: the admins' rule is the desk's policy. A category the rule sets brings
its team when the rule names none. Changes count up the rule book's version,
so every process places tickets by the same rules from its next transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import func, select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import NotFound, UserError
from bot.messages import Inbound
from bot.model import Actor, Priority, clean_tag, parse_priority
from bot.people import directory
from bot.people.permissions import require_admin, require_staff
from bot.policies.book import begin_change, recompile
from bot.routing.routes import Route, first_route
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Unit

# The channels that open tickets, as a rule's ``channel`` names them.
CHANNELS = ("email", "slack", "api", "cli", "sharing", "web")
MAX_KEYWORDS = 50
MAX_TAGS = 20
MAX_POSITION = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL


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


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new ticket starts, after the rules had their say."""

    priority: Priority
    category: t.Category | None
    team: t.Team | None
    tags: tuple[str, ...] = ()
    rule: str | None = None


# -- applying ----------------------------------------------------------------------------


def place(unit: Unit, inbound: Inbound, requester: t.Person) -> Placement:
    """The message's own priority, category and team, unless a routing rule says otherwise."""
    priority = parse_priority(inbound.priority or unit.settings.default_priority)
    category = directory.find_category(unit, inbound.category) if inbound.category else None
    team = directory.find_team(unit, inbound.team) if inbound.team else None
    route = _route_for(unit, inbound, requester)
    if route is None:
        return Placement(priority, category, team or _team_of(unit, category))
    ruled_category = unit.session.get(t.Category, route.category_id) if route.category_id else None
    ruled_team = unit.session.get(t.Team, route.team_id) if route.team_id else None
    if ruled_category is not None:
        # The category it replaced does not bring its team along.
        team = ruled_team or _team_of(unit, ruled_category) or team
    else:
        team = ruled_team or team or _team_of(unit, category)
    return Placement(
        Priority(route.priority) if route.priority else priority,
        ruled_category or category,
        team,
        route.tags,
        route.name,
    )


def tag_new(unit: Unit, ticket: t.Ticket, names: Sequence[str]) -> None:
    """A rule's tags on a ticket just opened (its creation event records them)."""
    have = {tag.name for tag in ticket.tags}
    for name in names:
        if name not in have:
            ticket.tags.append(get_or_create(unit.session, t.Tag, partial(t.Tag, name=name), name=name))


def _route_for(unit: Unit, inbound: Inbound, requester: t.Person) -> Route | None:
    routes = unit.rules.routes
    if not routes:
        return None
    text = f"{inbound.subject}\n{inbound.text}"
    return first_route(routes, inbound.channel, inbound.mailbox, requester.email, text)


def _team_of(unit: Unit, category: t.Category | None) -> t.Team | None:
    if category is None or category.team_id is None:
        return None
    return unit.session.get(t.Team, category.team_id)


# -- keeping -----------------------------------------------------------------------------


def list_rules(unit: Unit, actor: Actor) -> list[dict[str, Any]]:
    """Every rule in the order they are tried, disabled ones included."""
    require_staff(actor, "read the routing rules")
    return [view(row) for row in _rows(unit)]


def add(unit: Unit, actor: Actor, rule: RuleInput) -> dict[str, Any]:
    """Without a position the rule goes after the others (rules at the same position are
    tried in the order they were added)."""
    require_admin(actor, "change routing rules")
    version = begin_change(unit.session)
    row = t.RoutingRule(created_at=unit.now)
    _fill(unit, row, rule)
    if rule.position is None:
        last = unit.session.scalar(select(func.max(t.RoutingRule.position)))
        row.position = min((last or 0) + 10, MAX_POSITION)
    unit.session.add(row)
    return _saved(unit, actor, row, version, AuditKind.ROUTING_RULE_ADDED, None)


def change(unit: Unit, actor: Actor, rule_id: int, rule: RuleInput) -> dict[str, Any]:
    """The whole rule is replaced; without a position it keeps its place."""
    require_admin(actor, "change routing rules")
    version = begin_change(unit.session)
    row = _row(unit, rule_id)
    before = view(row)
    _fill(unit, row, rule)
    return _saved(unit, actor, row, version, AuditKind.ROUTING_RULE_CHANGED, before)


def remove(unit: Unit, actor: Actor, rule_id: int) -> dict[str, Any]:
    require_admin(actor, "change routing rules")
    version = begin_change(unit.session)
    row = _row(unit, rule_id)
    before = view(row)
    unit.session.delete(row)
    recompile(unit, version)
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.ROUTING_RULE_REMOVED, before=before)
    return before


def view(row: t.RoutingRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "position": row.position,
        "enabled": row.enabled,
        "conditions": {
            "channel": row.channel or None,
            "mailbox": row.mailbox or None,
            "sender": row.sender or None,
            "keywords": list(row.keywords),
        },
        "actions": {
            "team": row.team.name if row.team else None,
            "category": row.category.path if row.category else None,
            "priority": row.priority or None,
            "tags": list(row.tags),
        },
    }


def _saved(
    unit: Unit, actor: Actor, row: t.RoutingRule, version: int, kind: AuditKind, before: dict[str, Any] | None
) -> dict[str, Any]:
    row.updated_at = unit.now
    recompile(unit, version)
    after = view(row)
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, before=before, after=after)
    return after


def _fill(unit: Unit, row: t.RoutingRule, rule: RuleInput) -> None:
    """Check every part, naming the field at fault, and write it into ``row``."""
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
    row.name, row.enabled, row.channel, row.mailbox, row.sender = name, rule.enabled, channel, mailbox, sender
    row.keywords, row.tags, row.priority = keywords, tags, priority
    row.team, row.category = team, category
    if rule.position is not None:
        row.position = rule.position


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


def _row(unit: Unit, rule_id: int) -> t.RoutingRule:
    row = unit.session.get(t.RoutingRule, rule_id)
    if row is None:
        raise NotFound(f"no routing rule {rule_id}")
    return row


def _rows(unit: Unit) -> list[t.RoutingRule]:
    return list(
        unit.session.scalars(select(t.RoutingRule).order_by(t.RoutingRule.position, t.RoutingRule.id))
    )
