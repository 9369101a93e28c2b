"""Trying a rule on stored tickets before it goes live: which would match, and what each of
its actions would change. Nothing is written (the desk runs this in a read-only
transaction, and nothing here changes a row).

Event rules are tried against the events on record (the audit log) in the
window: each status change, assignment, classification, tag or field change and
comment becomes the occurrence it was, and the rule's conditions are asked of
the ticket as it stands now, as a rule enabled now would see it at its next
event. "Ticket created" rules are tried on the tickets opened in the window;
time-based rules on the tickets whose episode is due now (an episode the rule
already fired for is shown as such).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from bot.audit.kinds import AuditKind
from bot.automation import actions, engine, keeping
from bot.model import Actor, format_number, parse_number
from bot.people.permissions import require_staff
from bot.read.queries import TicketFilter, filtered
from bot.rules.conditions import Change, Occurrence, matches, trigger_fits
from bot.rules.model import Rule
from bot.store import tables as t
from bot.tickets import automation_timers
from bot.tickets.facts import TicketFacts, anchors
from bot.unit import Unit

DEFAULT_WINDOW = timedelta(days=30)
MAX_TICKETS = 2_000
MAX_MATCHES = 500
# The audit kinds that are a rule's triggers, and the ticket attribute each one changes.
_CHANGED = {
    AuditKind.PRIORITY_CHANGED: "priority",
    AuditKind.CATEGORY_CHANGED: "category",
    AuditKind.TEAM_CHANGED: "team",
    AuditKind.TAGS_CHANGED: "tags",
}
_KINDS = (
    AuditKind.CREATED,
    AuditKind.STATUS_CHANGED,
    AuditKind.ASSIGNED,
    AuditKind.COMMENTED,
    AuditKind.FIELD_CHANGED,
    AuditKind.ESCALATED,
    *_CHANGED,
)


@dataclass(frozen=True, slots=True)
class TestMatch:
    ticket: str
    trigger: str
    at: datetime | None
    changes: list[dict[str, Any]]
    note: str | None = None
    subject: str = ""


@dataclass(frozen=True, slots=True)
class TestReport:
    rule: dict[str, Any]
    since: datetime
    examined: int
    matched: int
    matches: list[TestMatch] = field(default_factory=list)
    truncated: bool = False


def test(
    unit: Unit,
    actor: Actor,
    rule: Mapping[str, Any] | int,
    *,
    since: datetime | None = None,
    filters: TicketFilter | None = None,
    limit: int = MAX_TICKETS,
) -> TestReport:
    require_staff(actor, "try automation rules")
    parsed = keeping.stored_rule(unit, rule) if isinstance(rule, int) else keeping.checked(unit, rule)
    start = since or unit.now - DEFAULT_WINDOW
    limit = min(max(limit, 1), MAX_TICKETS)
    tickets = _candidates(unit, parsed, start, filters, limit + 1)
    truncated = len(tickets) > limit
    tickets = tickets[:limit]
    found: list[TestMatch] = []
    matched = 0
    for ticket, occurrences in _occurrences(unit, parsed, tickets, start):
        ticket_facts = TicketFacts(unit, ticket)
        for at, occurrence, note, comment in occurrences:
            if occurrence is not None and not trigger_fits(parsed.trigger, occurrence):
                continue
            # A comment's rule reads that comment, as it would have when it was written.
            facts = ticket_facts if comment is None else TicketFacts(unit, ticket, comment=comment)
            if not matches(parsed.conditions, facts, occurrence.change if occurrence else None):
                continue
            matched += 1
            if len(found) < MAX_MATCHES:
                planned = [
                    change
                    for action in parsed.actions
                    for change in actions.plan(unit, ticket, facts, action)
                ]
                number = format_number(unit.settings.ticket_prefix, ticket.id)
                found.append(TestMatch(number, parsed.trigger.on, at, planned, note, ticket.subject))
            if parsed.trigger.on in ("ticket_created", "time"):
                break
    shown = {"id": rule, **parsed.as_json()} if isinstance(rule, int) else parsed.as_json()
    return TestReport(shown, start, len(tickets), matched, found, truncated or matched > len(found))


def ticket_id_of(unit: Unit, number: str) -> int:
    return parse_number(unit.settings.ticket_prefix, number)


def _candidates(
    unit: Unit, rule: Rule, since: datetime, filters: TicketFilter | None, limit: int
) -> list[t.Ticket]:
    if filters is not None:
        statement = filtered(unit, replace(filters, limit=limit))
    elif rule.trigger.on == "time":
        statement = select(t.Ticket).where(
            t.Ticket.status.in_(("open", "in_progress", "waiting_customer", "resolved"))
        )
        statement = statement.order_by(t.Ticket.id.desc())
    elif rule.trigger.on == "ticket_created":
        statement = select(t.Ticket).where(t.Ticket.created_at >= since).order_by(t.Ticket.id.desc())
    else:
        statement = select(t.Ticket).where(t.Ticket.updated_at >= since).order_by(t.Ticket.id.desc())
    return list(unit.session.scalars(statement.limit(limit)))


# When, what happened (None: the ticket's opening, or a time rule's due episode), a note, and
# the comment that happened (for comment rules' conditions).
Found = tuple[datetime | None, Occurrence | None, str | None, t.Comment | None]


def _occurrences(
    unit: Unit, rule: Rule, tickets: list[t.Ticket], since: datetime
) -> Iterable[tuple[t.Ticket, list[Found]]]:
    on = rule.trigger.on
    if on == "ticket_created":
        for ticket in tickets:
            if ticket.created_at >= since:
                yield ticket, [(ticket.created_at, None, None, None)]
        return
    if on == "time":
        for ticket in tickets:
            due = _due_now(unit, rule, ticket)
            if due is not None:
                yield ticket, [due]
        return
    by_ticket: dict[int, list[Found]] = {}
    ids = [ticket.id for ticket in tickets]
    rows = (
        unit.session.execute(
            select(t.Event.ticket_id, t.Event.kind, t.Event.before, t.Event.after, t.Event.created_at)
            .where(
                t.Event.ticket_id.in_(ids),
                t.Event.kind.in_([str(k) for k in _KINDS]),
                t.Event.created_at >= since,
            )
            .order_by(t.Event.id)
        ).all()
        if ids
        else []
    )
    known = {ticket.id: ticket for ticket in tickets}
    comments = _comments(
        unit, [row.after.get("comment_id") for row in rows if row.kind == AuditKind.COMMENTED and row.after]
    )
    for ticket_id, kind, before, after, at in rows:
        comment = comments.get((after or {}).get("comment_id") or 0) if kind == AuditKind.COMMENTED else None
        for occurrence in _as_occurrences(kind, before or {}, after or {}, comment, known[ticket_id]):
            if occurrence.on == on:
                by_ticket.setdefault(ticket_id, []).append((at, occurrence, None, comment))
    for ticket in tickets:
        if ticket.id in by_ticket:
            yield ticket, by_ticket[ticket.id]


def _as_occurrences(
    kind: str, before: dict[str, Any], after: dict[str, Any], comment: t.Comment | None, ticket: t.Ticket
) -> list[Occurrence]:
    if kind == AuditKind.STATUS_CHANGED:
        change = Change("status", before.get("status"), after.get("status"))
        return [Occurrence("status_changed", change=change), Occurrence("ticket_updated", change=change)]
    if kind == AuditKind.ASSIGNED:
        change = Change("assignee", before.get("assignee"), after.get("assignee"))
        on = "assigned" if after.get("assignee") else "unassigned"
        return [Occurrence(on, change=change), Occurrence("ticket_updated", change=change)]
    if kind in _CHANGED:
        name = _CHANGED[AuditKind(kind)]
        was, now = before.get(name), after.get(name)
        if name == "tags":
            was, now = tuple(was or ()), tuple(now or ())
        return [Occurrence("ticket_updated", change=Change(name, was, now))]
    if kind == AuditKind.FIELD_CHANGED and after:
        key = next(iter(after))
        return [Occurrence("ticket_updated", change=Change(f"field.{key}", before.get(key), after.get(key)))]
    if kind == AuditKind.ESCALATED and after.get("sla_status") in ("at_risk", "breached"):
        return [Occurrence("sla_changed", sla_to=after["sla_status"])]
    if kind == AuditKind.COMMENTED:
        if comment is None:
            return []
        visibility = "public" if comment.public and not comment.flagged else "internal"
        author = engine.author_kind(ticket, comment)
        return [Occurrence("comment_added", visibility=visibility, author=author, channel=comment.channel)]
    return []


def _comments(unit: Unit, ids: list[Any]) -> dict[int, t.Comment]:
    wanted = [int(i) for i in ids if isinstance(i, int)]
    if not wanted:
        return {}
    return {c.id: c for c in unit.session.scalars(select(t.Comment).where(t.Comment.id.in_(wanted)))}


def _due_now(unit: Unit, rule: Rule, ticket: t.Ticket) -> Found | None:
    facts = TicketFacts(unit, ticket)
    due = automation_timers.due_of(rule, anchors(ticket), facts)
    if due is None or due > unit.now:
        return None
    episode = automation_timers.episode_of(rule, ticket)
    fired = rule.id and unit.session.scalar(
        select(
            exists().where(
                t.AutomationFiring.rule_id == rule.id,
                t.AutomationFiring.ticket_id == ticket.id,
                t.AutomationFiring.episode == episode,
                t.AutomationFiring.mode == "live",
            )
        )
    )
    return due, None, "already fired for this episode" if fired else None, None
