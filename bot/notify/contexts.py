"""What templates see of a ticket and a person, the same on every channel."""

from __future__ import annotations

from typing import Any

from bot.model import format_number
from bot.store import tables as t
from bot.tickets import sla_clocks as sla_track
from bot.unit import Unit


def ticket_context(unit: Unit, ticket: t.Ticket) -> dict[str, Any]:
    """Plain values only: the context is stored with the notification and rendered later."""
    return {
        "number": format_number(unit.settings.ticket_prefix, ticket.id),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "requester": person_context(ticket.requester),
        "assignee": person_context(ticket.assignee) if ticket.assignee else None,
        "category": ticket.category.path if ticket.category else None,
        "channel": ticket.channel,
        "mailbox": _mailbox_context(unit, ticket),
        "sla": sla_context(unit, ticket),
    }


def sla_context(unit: Unit, ticket: t.Ticket) -> dict[str, Any]:
    """Status and the running target's due time, with the time left (or overdue) in words."""
    target, due = sla_track.running_due(ticket)
    left = None
    if due is not None:
        seconds = int((due - unit.now).total_seconds())
        left = f"{_span(abs(seconds))} {'left' if seconds >= 0 else 'overdue'}"
    return {
        "status": (ticket.sla_status or "").replace("_", " "),
        "target": target,
        "due": due.strftime("%Y-%m-%d %H:%M UTC") if due else None,
        "left": left,
        "escalation_level": ticket.escalation_level,
    }


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes or not (days or hours) else "",
    ]
    return " ".join(part for part in parts if part)


def _mailbox_context(unit: Unit, ticket: t.Ticket) -> dict[str, str]:
    """The address (and its display name) a ticket's mail is sent from: the one it came in to."""
    email = unit.settings.email
    if not ticket.mailbox:
        return {"address": email.from_address, "name": email.from_name}
    named = next((m.name for m in unit.settings.mailboxes if m.address.lower() == ticket.mailbox.lower()), "")
    return {"address": ticket.mailbox, "name": named or email.from_name}


def person_context(person: t.Person | None) -> dict[str, Any] | None:
    """A name to greet or credit, never empty while the person has an email."""
    if person is None:
        return None
    return {
        "name": person.name or person.email or "",
        "email": person.email,
        "role": person.role,
        "slack_user_id": person.slack_user_id,
    }


def ticket_of(unit: Unit, ticket_id: int) -> t.Ticket:
    """An event's ticket, from the session's identity map (the change loaded it): no query."""
    ticket = unit.session.get(t.Ticket, ticket_id)
    assert ticket is not None, ticket_id
    return ticket


def comment_of(unit: Unit, comment_id: int) -> t.Comment:
    comment = unit.session.get(t.Comment, comment_id)
    assert comment is not None, comment_id
    return comment
