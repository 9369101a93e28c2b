"""The audit log: one event per change, with actor, time, before and after."""

from __future__ import annotations

from typing import Any, Literal

from bot.audit.kinds import AuditKind
from bot.model import Actor
from bot.store import tables as t
from bot.unit import Unit


def record(
    unit: Unit,
    *,
    ticket_id: int | None,
    actor: Actor,
    kind: AuditKind,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> t.Event:
    event = t.Event(
        ticket_id=ticket_id,
        actor_id=actor.person_id,
        actor=actor.label,
        kind=kind,
        before=before,
        after=after,
        created_at=unit.now,
    )
    unit.session.add(event)
    return event


def record_now(
    unit: Unit,
    *,
    ticket_id: int | None,
    actor: Actor,
    kind: AuditKind,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> t.Event:
    """Like :func:`record`, flushed at once, for callers that need the event's id (dedupe keys)."""
    event = record(unit, ticket_id=ticket_id, actor=actor, kind=kind, before=before, after=after)
    unit.session.flush()
    return event


# The ticket attributes recorded by :func:`changed`, each with its own kind.
Attribute = Literal["priority", "category", "tags", "subject"]
_CHANGED: dict[Attribute, AuditKind] = {
    "priority": AuditKind.PRIORITY_CHANGED,
    "category": AuditKind.CATEGORY_CHANGED,
    "tags": AuditKind.TAGS_CHANGED,
    "subject": AuditKind.SUBJECT_CHANGED,
}


def changed(unit: Unit, ticket: t.Ticket, actor: Actor, name: Attribute, before: Any, after: Any) -> t.Event:
    """The common case: one attribute of a ticket went from ``before`` to ``after``."""
    return record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=_CHANGED[name],
        before={name: before},
        after={name: after},
    )
