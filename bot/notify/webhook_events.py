"""Which webhook events each change is: other systems hear of every change, whatever people
chose to hear. Subscribers to :mod:`bot.events` (wired in :mod:`bot.notify.subscriptions`);
the deliveries are queued by :func:`bot.notify.webhooks.emit`."""

from __future__ import annotations

from typing import Any

from bot import events as ev
from bot.model import Status, format_number
from bot.notify import webhooks
from bot.notify.contexts import comment_of, ticket_of
from bot.store import tables as t
from bot.unit import Unit


def ticket_opened(unit: Unit, event: ev.TicketOpened) -> None:
    ticket = ticket_of(unit, event.ticket_id)
    webhooks.emit(
        unit, webhooks.CREATED, ticket, f"ticket-{ticket.id}", comment=comment_of(unit, event.comment_id)
    )


def comment_added(unit: Unit, event: ev.CommentAdded) -> None:
    comment = comment_of(unit, event.comment_id)
    webhooks.emit(
        unit,
        webhooks.COMMENT_ADDED,
        ticket_of(unit, event.ticket_id),
        f"comment-{comment.id}",
        comment=comment,
    )


def ticket_changed(unit: Unit, event: ev.TicketChanged) -> None:
    ticket = ticket_of(unit, event.ticket_id)
    webhooks.emit(unit, webhooks.UPDATED, ticket, webhooks.snapshot_change(unit, ticket))


def status_changed(unit: Unit, event: ev.StatusChanged) -> None:
    """An unannounced change (auto-close) is told by its own event, :func:`auto_closed`."""
    if event.announce:
        _status_hooks(unit, ticket_of(unit, event.ticket_id), event.before, f"event-{event.event_id}")


def assigned(unit: Unit, event: ev.Assigned) -> None:
    """An unannounced assignment is a new ticket's: ``ticket.created`` says who has it."""
    if event.announce:
        webhooks.emit(unit, webhooks.UPDATED, ticket_of(unit, event.ticket_id), f"event-{event.event_id}")


def merged(unit: Unit, event: ev.Merged) -> None:
    source, target = ticket_of(unit, event.source_id), ticket_of(unit, event.target_id)
    merged_into = {"merged_into": format_number(unit.settings.ticket_prefix, target.id)}
    _status_hooks(unit, source, None, f"merged-{source.id}", merged_into)
    webhooks.emit(unit, webhooks.UPDATED, target, f"merged-{source.id}-into-{target.id}")


def escalated(unit: Unit, event: ev.Escalated) -> None:
    escalation = {"reason": event.reason, "level": None, "threshold": None, "by": event.actor.label}
    ticket = ticket_of(unit, event.ticket_id)
    webhooks.emit(
        unit, webhooks.ESCALATED, ticket, f"event-{event.event_id}", extra={"escalation": escalation}
    )


def sla_level(unit: Unit, reached: ev.SlaLevelReached) -> None:
    """Every level, whatever the desk's notification settings say."""
    ticket, level = ticket_of(unit, reached.ticket_id), reached.level
    ladder = {"reason": level.kind, "level": level.number, "threshold": reached.threshold, "by": None}
    webhooks.emit(
        unit, webhooks.ESCALATED, ticket, f"level-{ticket.id}-{level.number}", extra={"escalation": ladder}
    )


def auto_closed(unit: Unit, event: ev.AutoClosed) -> None:
    _status_hooks(unit, ticket_of(unit, event.ticket_id), Status.RESOLVED.value, f"event-{event.event_id}")


def _status_hooks(
    unit: Unit, ticket: t.Ticket, before: str | None, change: str, extra: dict[str, Any] | None = None
) -> None:
    """A status change is also an update: subscribers to either hear of it."""
    changed = {"previous_status": before, **(extra or {})}
    webhooks.emit(unit, webhooks.STATUS_CHANGED, ticket, change, extra=changed)
    webhooks.emit(unit, webhooks.UPDATED, ticket, change, extra=changed)
