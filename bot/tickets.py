"""Changes to one ticket: comment, status, assignee, priority, category, tags, fields, merge.

Each function runs inside the caller's transaction, records an audit event
for what it changed and queues the notifications that follow from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from bot import audit, directory, fields, notify, routing
from bot.errors import Conflict, NotFound, UserError
from bot.model import Actor, FieldType, Priority, Role, Status, format_number, parse_number
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Unit

OPEN_STATUSES = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING_CUSTOMER.value)


def get(unit: Unit, number: str | int, *, lock: bool = True) -> t.Ticket:
    """The ticket, row-locked for the rest of the transaction so concurrent changes queue."""
    ticket_id = number if isinstance(number, int) else parse_number(unit.settings.ticket_prefix, number)
    # "OF tickets": the eagerly joined people and teams are read, not locked.
    locking = {"of": t.Ticket} if lock else None
    ticket = unit.session.get(t.Ticket, ticket_id, with_for_update=locking, populate_existing=lock)
    if ticket is None:
        raise NotFound(f"no ticket {format_number(unit.settings.ticket_prefix, ticket_id)}", field="number")
    return ticket


def survivor(unit: Unit, ticket: t.Ticket) -> t.Ticket:
    """Follow merges to the ticket that lives on (a reply to a merged ticket lands there)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen:
        seen.add(ticket.merged_into_id)
        ticket = get(unit, ticket.merged_into_id)
    return ticket


def _active(unit: Unit, number: str) -> t.Ticket:
    ticket = get(unit, number)
    if ticket.merged_into_id is not None:
        prefix = unit.settings.ticket_prefix
        into = format_number(prefix, ticket.merged_into_id)
        number = format_number(prefix, ticket.id)
        raise Conflict(f"{number} was merged into {into}; change {into} instead")
    return ticket


def _touch(unit: Unit, ticket: t.Ticket) -> None:
    ticket.updated_at = unit.now
    unit.session.flush()


def _person_label(person: t.Person | None) -> str | None:
    return None if person is None else person.email or person.slack_user_id or person.name


# -- comments -----------------------------------------------------------------


def add_comment(
    unit: Unit,
    ticket: t.Ticket,
    author: t.Person | None,
    actor: Actor,
    body: str,
    *,
    public: bool,
    channel: str,
    html: str | None = None,
    external_id: str | None = None,
    flagged: bool = False,
    reopen: bool = True,
) -> t.Comment:
    comment = t.Comment(
        ticket_id=ticket.id,
        author_id=author.id if author else None,
        body=body,
        html=html,
        public=public,
        flagged=flagged,
        channel=channel,
        external_id=external_id,
        created_at=unit.now,
    )
    unit.session.add(comment)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind="commented",
        after={"comment_id": comment.id, "public": public, "flagged": flagged, "channel": channel},
    )
    if public and not flagged and reopen and author is not None and author.id == ticket.requester_id:
        _customer_replied(unit, ticket, actor)
    _touch(unit, ticket)
    notify.comment_added(unit, ticket, comment)
    return comment


def _customer_replied(unit: Unit, ticket: t.Ticket, actor: Actor) -> None:
    """The customer answered: the ball is back with the team."""
    if ticket.status == Status.WAITING_CUSTOMER:
        target = Status.IN_PROGRESS if ticket.assignee_id else Status.OPEN
    elif ticket.status == Status.RESOLVED:
        target = Status.OPEN
    else:
        return
    if unit.workflow.allows(Status(ticket.status), target):
        change_status(unit, ticket, target, actor, reason="customer replied")


def comment(
    unit: Unit, actor: Actor, number: str, body: str, *, public: bool, channel: str
) -> tuple[t.Ticket, t.Comment]:
    if not body.strip():
        raise UserError("a comment needs some text", field="body")
    ticket = survivor(unit, get(unit, number))
    author = unit.session.get(t.Person, actor.person_id) if actor.person_id else None
    return ticket, add_comment(unit, ticket, author, actor, body, public=public, channel=channel)


# -- status ---------------------------------------------------------------------


def change_status(
    unit: Unit, ticket: t.Ticket, target: Status, actor: Actor, *, reason: str | None = None
) -> None:
    before = ticket.status
    unit.workflow.check(Status(before), target)
    ticket.status = target.value
    if target is Status.RESOLVED:
        ticket.resolved_at = unit.now
    elif target is Status.CLOSED:
        ticket.closed_at = unit.now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None
    after: dict[str, Any] = {"status": target.value}
    if reason:
        after["reason"] = reason
    event = audit.record(
        unit, ticket_id=ticket.id, actor=actor, kind="status_changed", before={"status": before}, after=after
    )
    _touch(unit, ticket)
    notify.status_changed(unit, ticket, before, event.id, actor)


def transition(unit: Unit, actor: Actor, number: str, target: Status) -> t.Ticket:
    ticket = _active(unit, number)
    change_status(unit, ticket, target, actor)
    return ticket


# -- assignment -------------------------------------------------------------------


def set_assignee(
    unit: Unit,
    ticket: t.Ticket,
    person: t.Person | None,
    actor: Actor,
    *,
    rule: str = "manual",
    announce: bool = True,
) -> None:
    """``announce=False`` when another notification (new_ticket) already tells the assignee."""
    if person is not None and not Role(person.role).is_staff:
        raise UserError(
            f"{_person_label(person)} is a {person.role}; only agents and admins can be assigned",
            field="assignee",
        )
    if ticket.assignee_id == (person.id if person else None):
        return
    before = _person_label(ticket.assignee)
    ticket.assignee_id = person.id if person else None
    _touch(unit, ticket)
    unit.session.refresh(ticket, ["assignee"])
    event = audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind="assigned",
        before={"assignee": before},
        after={"assignee": _person_label(person), "rule": rule},
    )
    if announce:
        notify.assigned(unit, ticket, event.id, actor)


def assign(unit: Unit, actor: Actor, number: str, email: str | None) -> t.Ticket:
    ticket = _active(unit, number)
    person = directory.find_agent(unit, email) if email else None
    set_assignee(unit, ticket, person, actor)
    return ticket


def auto_assign(unit: Unit, ticket: t.Ticket, actor: Actor, *, announce: bool = True) -> None:
    """Pick an agent of the ticket's team by the configured rule; no team or no agents, no one."""
    strategy = unit.settings.routing.assignment
    if strategy == "none" or ticket.team_id is None or ticket.assignee_id is not None:
        return
    team = unit.session.get(t.Team, ticket.team_id, with_for_update=True)
    assert team is not None
    agents = list(
        unit.session.scalars(
            select(t.Person.id).where(
                t.Person.team_id == team.id, t.Person.role.in_([Role.AGENT.value, Role.ADMIN.value])
            )
        )
    )
    if strategy == "round_robin":
        chosen = routing.next_round_robin(agents, team.last_assigned_id)
    else:
        counts = dict.fromkeys(agents, 0)
        rows = unit.session.execute(
            select(t.Ticket.assignee_id, func.count())
            .where(t.Ticket.assignee_id.in_(agents), t.Ticket.status.in_(OPEN_STATUSES))
            .group_by(t.Ticket.assignee_id)
        )
        counts.update({agent: count for agent, count in rows if agent is not None})
        chosen = routing.least_loaded(counts)
    if chosen is None:
        return
    team.last_assigned_id = chosen
    set_assignee(unit, ticket, unit.session.get(t.Person, chosen), actor, rule=strategy, announce=announce)


# -- classification ----------------------------------------------------------------


def set_priority(unit: Unit, actor: Actor, number: str, priority: Priority) -> t.Ticket:
    ticket = _active(unit, number)
    if ticket.priority != priority.value:
        before = ticket.priority
        ticket.priority = priority.value
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=actor,
            kind="priority_changed",
            before={"priority": before},
            after={"priority": priority.value},
        )
        _touch(unit, ticket)
    return ticket


def set_category(unit: Unit, actor: Actor, number: str, path: str | None) -> t.Ticket:
    """A category with a team moves the ticket to that team (and may assign it)."""
    ticket = _active(unit, number)
    category = directory.find_category(unit, path) if path else None
    before = ticket.category.path if ticket.category else None
    ticket.category_id = category.id if category else None
    if category is not None and category.team_id is not None:
        ticket.team_id = category.team_id
    _touch(unit, ticket)
    unit.session.refresh(ticket, ["category", "team"])
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind="category_changed",
        before={"category": before},
        after={"category": category.path if category else None},
    )
    auto_assign(unit, ticket, actor)
    return ticket


def clean_tag(name: str) -> str:
    tag = name.strip().lower().replace(" ", "-")
    if not tag or len(tag) > 100 or "," in tag:
        raise UserError(f"{name!r} is not a tag: use up to 100 characters, no commas", field="tags")
    return tag


def set_tags(
    unit: Unit, actor: Actor, number: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> t.Ticket:
    ticket = _active(unit, number)
    before = sorted(tag.name for tag in ticket.tags)
    dropping = {clean_tag(name) for name in remove}
    ticket.tags = [tag for tag in ticket.tags if tag.name not in dropping]
    for name in sorted({clean_tag(n) for n in add} - {tag.name for tag in ticket.tags}):
        ticket.tags.append(_tag(unit, name))
    after = sorted(tag.name for tag in ticket.tags)
    if after != before:
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=actor,
            kind="tags_changed",
            before={"tags": before},
            after={"tags": after},
        )
        _touch(unit, ticket)
    return ticket


def _tag(unit: Unit, name: str) -> t.Tag:
    return get_or_create(unit.session, t.Tag, lambda: t.Tag(name=name), name=name)


def set_field(unit: Unit, actor: Actor, number: str, key: str, value: Any) -> t.Ticket:
    """Validate against the field's definition; ``None`` clears an optional field."""
    ticket = _active(unit, number)
    definition = directory.find_field(unit, key)
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
            kind="field_changed",
            before={definition.key: before},
            after={definition.key: stored},
        )
        _touch(unit, ticket)
    return ticket


def field_values(unit: Unit, ticket_id: int) -> dict[str, Any]:
    rows = unit.session.scalars(select(t.CustomFieldValue).where(t.CustomFieldValue.ticket_id == ticket_id))
    return {row.field.key: row.value["v"] for row in rows}


# -- merge ------------------------------------------------------------------------


def merge(unit: Unit, actor: Actor, source_number: str, target_number: str) -> t.Ticket:
    """Move everything of ``source`` onto ``target``; ``source`` is closed and points to it."""
    source = _active(unit, source_number)
    target = _active(unit, target_number)
    if source.id == target.id:
        raise Conflict("a ticket cannot be merged into itself")
    for model in (t.Comment, t.Attachment, t.ThreadRef):
        unit.session.execute(update(model).where(model.ticket_id == source.id).values(ticket_id=target.id))
    for tag in source.tags:
        if tag not in target.tags:
            target.tags.append(tag)
    have = set(
        unit.session.scalars(
            select(t.CustomFieldValue.field_id).where(t.CustomFieldValue.ticket_id == target.id)
        )
    )
    for row in unit.session.scalars(
        select(t.CustomFieldValue).where(t.CustomFieldValue.ticket_id == source.id)
    ).all():
        if row.field_id not in have:
            unit.session.add(t.CustomFieldValue(ticket_id=target.id, field_id=row.field_id, value=row.value))
    before = source.status
    source.status = Status.CLOSED.value
    source.closed_at = unit.now
    source.merged_into_id = target.id
    prefix = unit.settings.ticket_prefix
    audit.record(
        unit,
        ticket_id=source.id,
        actor=actor,
        kind="merged",
        before={"status": before},
        after={"status": "closed", "merged_into": format_number(prefix, target.id)},
    )
    audit.record(
        unit,
        ticket_id=target.id,
        actor=actor,
        kind="merged_from",
        after={"merged_from": format_number(prefix, source.id)},
    )
    _touch(unit, source)
    _touch(unit, target)
    return target
