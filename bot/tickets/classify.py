"""Classifying a ticket: priority, category, tags and custom fields, one by one or all at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import UserError
from bot.model import Actor, FieldType, Priority, clean_tag
from bot.people import directory, fields
from bot.people.permissions import require_staff
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.tickets.changes import active, auto_assign, set_assignee, touch
from bot.unit import Unit


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """Several changes that succeed or fail together. ``category=""`` clears the category,
    ``team=""`` the team."""

    priority: Priority | None = None
    category: str | None = None
    team: str | None = None
    add_tags: Sequence[str] = ()
    remove_tags: Sequence[str] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)


def update(unit: Unit, actor: Actor, number: str, changes: TicketChanges) -> t.Ticket:
    ticket = active(unit, number, actor)
    if changes.priority is not None:
        set_priority(unit, actor, number, changes.priority)
    if changes.category is not None:
        set_category(unit, actor, number, changes.category or None)
    if changes.team is not None:
        set_team(unit, actor, number, changes.team or None)
    if changes.add_tags or changes.remove_tags:
        set_tags(unit, actor, number, add=changes.add_tags, remove=changes.remove_tags)
    for key, value in changes.fields.items():
        set_field(unit, actor, number, key, value)
    return ticket


# -- classification ----------------------------------------------------------------


def set_priority(unit: Unit, actor: Actor, number: str, priority: Priority) -> t.Ticket:
    require_staff(actor, "change the priority")
    return set_priority_on(unit, actor, active(unit, number), priority)


def set_priority_on(unit: Unit, actor: Actor, ticket: t.Ticket, priority: Priority) -> t.Ticket:
    """The same on a ticket the caller holds (locked, not merged): an automation rule's action."""
    if ticket.priority != priority.value:
        before = ticket.priority
        ticket.priority = priority.value
        audit.changed(unit, ticket, actor, "priority", before, priority.value)
        touch(unit, ticket)
        unit.publish(ev.TicketChanged(ticket.id, "priority", actor, before, priority.value))
    return ticket


def set_category(unit: Unit, actor: Actor, number: str, path: str | None) -> t.Ticket:
    """A category with a team moves the ticket to that team (and may assign it)."""
    require_staff(actor, "change the category")
    return set_category_on(unit, actor, active(unit, number), path)


def set_category_on(unit: Unit, actor: Actor, ticket: t.Ticket, path: str | None) -> t.Ticket:
    """The same on a ticket the caller holds (locked, not merged): an automation rule's action."""
    category = directory.find_category(unit, path) if path else None
    if ticket.category_id == (category.id if category else None):
        return ticket
    before = ticket.category.path if ticket.category else None
    team_before = ticket.team.name if ticket.team else None
    # Keys set with the objects: the ticket is flushed only later, and its keys are read before.
    ticket.category, ticket.category_id = category, category.id if category else None
    if category is not None and category.team_id is not None:
        ticket.team, ticket.team_id = unit.session.get(t.Team, category.team_id), category.team_id
    touch(unit, ticket)
    after = category.path if category else None
    audit.changed(unit, ticket, actor, "category", before, after)
    auto_assign(unit, ticket, actor)
    unit.publish(ev.TicketChanged(ticket.id, "category", actor, before, after))
    team_after = ticket.team.name if ticket.team else None
    if team_after != team_before:  # rules on the team hear a move the category made
        unit.publish(ev.TicketChanged(ticket.id, "team", actor, team_before, team_after))
    return ticket


def set_team(unit: Unit, actor: Actor, number: str, name: str | None) -> t.Ticket:
    """Hand the ticket to a team (None: to no team). An assignee outside the new team lets
    go of it, and the team's assignment rule picks one of its agents, as a category's team does."""
    require_staff(actor, "move tickets between teams")
    return set_team_on(unit, actor, active(unit, number), name)


def set_team_on(unit: Unit, actor: Actor, ticket: t.Ticket, name: str | None) -> t.Ticket:
    """The same on a ticket the caller holds (locked, not merged): an automation rule's action."""
    team = directory.find_team(unit, name) if name else None
    if ticket.team_id == (team.id if team else None):
        return ticket
    before = ticket.team.name if ticket.team else None
    ticket.team, ticket.team_id = team, team.id if team else None
    touch(unit, ticket)
    audit.changed(unit, ticket, actor, "team", before, team.name if team else None)
    assignee = ticket.assignee
    if team is not None and assignee is not None and assignee.team_id != team.id:
        set_assignee(unit, ticket, None, actor)
    auto_assign(unit, ticket, actor)
    unit.publish(ev.TicketChanged(ticket.id, "team", actor, before, team.name if team else None))
    return ticket


def set_tags(
    unit: Unit, actor: Actor, number: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> t.Ticket:
    require_staff(actor, "change tags")
    return set_tags_on(unit, actor, active(unit, number), add=add, remove=remove)


def set_tags_on(
    unit: Unit, actor: Actor, ticket: t.Ticket, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> t.Ticket:
    """The same on a ticket the caller holds (locked, not merged): an automation rule's action."""
    before = sorted(tag.name for tag in ticket.tags)
    dropping = {clean_tag(name) for name in remove}
    ticket.tags = [tag for tag in ticket.tags if tag.name not in dropping]
    for name in sorted({clean_tag(n) for n in add} - {tag.name for tag in ticket.tags}):
        ticket.tags.append(_tag(unit, name))
    after = sorted(tag.name for tag in ticket.tags)
    if after != before:
        audit.changed(unit, ticket, actor, "tags", before, after)
        touch(unit, ticket)
        unit.publish(ev.TagsChanged(ticket.id, tuple(before), tuple(after), actor))
    return ticket


def _tag(unit: Unit, name: str) -> t.Tag:
    return get_or_create(unit.session, t.Tag, lambda: t.Tag(name=name), name=name)


def set_field(unit: Unit, actor: Actor, number: str, key: str, value: Any) -> t.Ticket:
    """Validate against the field's definition; ``None`` clears an optional field."""
    require_staff(actor, "change custom fields")
    return set_field_on(unit, actor, active(unit, number), key, value)


def set_field_on(unit: Unit, actor: Actor, ticket: t.Ticket, key: str, value: Any) -> t.Ticket:
    """The same on a ticket the caller holds (locked, not merged): an automation rule's action."""
    _store_field(unit, ticket, directory.find_field(unit, key), value, actor)
    return ticket


def check_fields(unit: Unit, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values as they would be stored, or the first one's error; for a form before it is sent."""
    return {
        key: directory.field_value(unit, key, value)
        for key, value in values.items()
        if value is not None and value != ""
    }


def initial_fields(unit: Unit, ticket: t.Ticket, values: Mapping[str, Any], actor: Actor) -> None:
    """Fields a requester filled in when opening the ticket (a Slack form): theirs to give once.

    A value the form let through but the definition refuses (it changed in
    between) is left out on record; the message itself is never lost for it.
    """
    for key, value in values.items():
        try:
            with audit.savepoint(unit):
                _store_field(unit, ticket, directory.find_field(unit, key), value, actor)
        except UserError as error:
            audit.record(
                unit,
                ticket_id=ticket.id,
                actor=actor,
                kind=AuditKind.FIELD_REFUSED,
                after={"field": key, "reason": str(error)},
            )


def _store_field(unit: Unit, ticket: t.Ticket, definition: t.CustomField, value: Any, actor: Actor) -> None:
    row = unit.session.get(t.CustomFieldValue, (ticket.id, definition.id))
    before = row.value["v"] if row else None
    if value is None or value == "":
        if definition.required:
            raise UserError(f"{definition.key} is required and cannot be cleared", field=definition.key)
        if row is not None:
            unit.session.delete(row)
        stored = None
    else:
        stored = fields.validate_value(definition.key, FieldType(definition.type), definition.options, value)
        if row is None:
            unit.session.add(
                t.CustomFieldValue(ticket_id=ticket.id, field_id=definition.id, value={"v": stored})
            )
        else:
            row.value = {"v": stored}
    if stored != before:
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=actor,
            kind=AuditKind.FIELD_CHANGED,
            before={definition.key: before},
            after={definition.key: stored},
        )
        touch(unit, ticket)
        unit.publish(ev.FieldChanged(ticket.id, definition.key, before, stored, actor))


def field_values(unit: Unit, ticket_id: int) -> dict[str, Any]:
    return fields_of(unit, [ticket_id]).get(ticket_id, {})


def fields_of(unit: Unit, ticket_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Custom field values of many tickets in one query (a list page must not ask per row)."""
    found: dict[int, dict[str, Any]] = {}
    rows = unit.session.scalars(
        select(t.CustomFieldValue).where(t.CustomFieldValue.ticket_id.in_(ticket_ids))
    )
    for row in rows:
        found.setdefault(row.ticket_id, {})[row.field.key] = row.value["v"]
    return found
