"""Changes to one ticket: comment, status, assignee, priority, category, tags, fields, merge.

Each function runs inside the caller's transaction, records an audit event
for what it changed and publishes what happened (:mod:`bot.events`); who hears
of it is the subscribers' business, not this module's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Conflict, NotFound, UserError
from bot.model import Actor, Role, Status, format_number, parse_number
from bot.people import directory
from bot.people.permissions import require_party, require_staff, ticket_not_found
from bot.routing import routes as routing
from bot.store import tables as t
from bot.store.inserts import insert_loaded
from bot.tickets import automation_timers, threads
from bot.tickets import sla_clocks as sla_track
from bot.unit import Unit

SLA_ATTENTION = ("at_risk", "breached")
OPEN_STATUSES = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING_CUSTOMER.value)


def get(unit: Unit, number: str | int, *, lock: bool = True) -> t.Ticket:
    """The ticket, row-locked for the rest of the transaction so concurrent changes queue."""
    ticket_id = number if isinstance(number, int) else parse_number(unit.settings.ticket_prefix, number)
    # "OF tickets": the eagerly joined people and teams are read, not locked.
    locking = {"of": t.Ticket} if lock else None
    ticket = unit.session.get(t.Ticket, ticket_id, with_for_update=locking, populate_existing=lock)
    if ticket is None:
        raise ticket_not_found(unit.settings.ticket_prefix, ticket_id)
    return ticket


def survivor(unit: Unit, ticket: t.Ticket) -> t.Ticket:
    """Follow merges to the ticket that lives on (a reply to a merged ticket lands there)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen:
        seen.add(ticket.merged_into_id)
        ticket = get(unit, ticket.merged_into_id)
    return ticket


def active(unit: Unit, number: str, actor: Actor | None = None) -> t.Ticket:
    """The ticket, unless merged into another. With ``actor``, one who may not see it is told
    it does not exist, before the merge is mentioned."""
    ticket = get(unit, number)
    if actor is not None:
        require_party(actor, ticket, unit.settings.ticket_prefix)
    if ticket.merged_into_id is not None:
        prefix = unit.settings.ticket_prefix
        into = format_number(prefix, ticket.merged_into_id)
        number = format_number(prefix, ticket.id)
        raise Conflict(f"{number} was merged into {into}; change {into} instead")
    return ticket


def touch(unit: Unit, ticket: t.Ticket) -> None:
    """Every change passes here: the SLA clocks and the time-based rules' next check follow
    the ticket's new state.

    Not flushed here: the ticket's row is written once, by the next query or the commit,
    however many changes (a comment that reopens, a sweep firing three levels) touched it."""
    ticket.updated_at = unit.now
    was = ticket.sla_status
    sla_track.refresh(unit, ticket)
    ticket.automation_check_at = automation_timers.next_check(unit, ticket)
    if ticket.sla_status != was and ticket.sla_status in SLA_ATTENTION:
        # A change may put the ticket at risk or past its target at once (a higher priority's
        # shorter target): told like the sweep's finding, to the card and to rules.
        unit.publish(ev.TicketChanged(ticket.id, "sla", Actor.system(), was, ticket.sla_status))


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
    announce: bool = True,
    first_response: bool = True,
    full_body: str | None = None,
    source_sha256: str | None = None,
    auto_submitted: bool = False,
) -> t.Comment:
    """``first_response=False``: a staff reply that is not ours to count (a partner help desk's
    agent on a ticket it shared with us). ``auto_submitted``: a robot sent it; on record, so
    what an address has only ever sent this way marks it as a machine (:mod:`bot.people.robots`)."""
    comment = t.Comment(
        ticket_id=ticket.id,
        author_id=author.id if author else None,
        body=body,
        html=html,
        public=public,
        flagged=flagged,
        channel=channel,
        external_id=external_id,
        full_body=full_body,
        source_sha256=source_sha256,
        auto_submitted=auto_submitted,
        created_at=unit.now,
        author=author,
    )
    insert_loaded(unit.session, comment)
    if external_id:
        remember_message(unit, ticket, comment)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.COMMENTED,
        after={"comment_id": comment.id, "public": public, "flagged": flagged, "channel": channel},
    )
    if public and not flagged and author is not None:
        if Role(author.role).is_staff and first_response:
            # The first public answer by an agent, on any channel, meets first response.
            sla_track.first_response(unit, ticket)
            ticket.last_customer_message_at = None
            ticket.agent_replied_at = unit.now
        elif reopen and (author.id == ticket.requester_id or author in ticket.followers):
            # A person waiting on us; an out-of-office reply (reopen=False) is no one waiting.
            ticket.last_customer_message_at = unit.now
            if author.id == ticket.requester_id:
                ticket.requester_replied_at = unit.now
    if public and not flagged and reopen and author is not None and author.id == ticket.requester_id:
        _customer_replied(unit, ticket, actor)
    touch(unit, ticket)
    if announce:  # robots' mail is kept but never passed on: that is how bots loop
        unit.publish(ev.CommentAdded(ticket.id, comment.id))
    return comment


def remember_message(unit: Unit, ticket: t.Ticket, comment: t.Comment) -> None:
    """Keep the message's id on its channel: a second delivery is then a duplicate, and a
    reply naming it threads here. Recorded before notifications are queued, so their
    References include it."""
    assert comment.external_id is not None
    threads.add_ref(
        unit.session,
        unit.now,
        channel=comment.channel,
        external_id=comment.external_id,
        ticket_id=ticket.id,
        comment_id=comment.id,
        direction="in",
    )


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
    unit: Unit,
    actor: Actor,
    number: str,
    body: str,
    *,
    public: bool,
    channel: str,
    external_id: str | None = None,
) -> tuple[t.Ticket, t.Comment]:
    """``external_id``: the request's own id on its channel (a retried API call's key), kept as
    the ticket's thread ref, whose unique index refuses a second comment with it."""
    if not body.strip():
        raise UserError("a comment needs some text", field="body")
    ticket = get(unit, number)
    require_party(actor, ticket, unit.settings.ticket_prefix)
    ticket = survivor(unit, ticket)
    if not actor.role.is_staff and actor.person_id != ticket.requester_id:
        require_staff(actor, "comment on someone else's ticket")
    if not public:
        require_staff(actor, "write internal notes")
    author = unit.session.get(t.Person, actor.person_id) if actor.person_id else None
    return ticket, add_comment(
        unit, ticket, author, actor, body, public=public, channel=channel, external_id=external_id
    )


# -- status ---------------------------------------------------------------------


def change_status(
    unit: Unit,
    ticket: t.Ticket,
    target: Status,
    actor: Actor,
    *,
    reason: str | None = None,
    announce: bool = True,
) -> int:
    """``announce=False`` when the caller sends its own notice instead (auto-close's note).

    Answers the audit event's id, which keys the change's notifications."""
    before = ticket.status
    unit.workflow.check(Status(before), target)
    ticket.status = target.value
    ticket.status_changed_at = unit.now
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
    event_id = audit.record_now(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.STATUS_CHANGED,
        before={"status": before},
        after=after,
    )
    touch(unit, ticket)
    # Published unannounced too: a partner sharing the ticket hears of the quiet ones (auto-close).
    unit.publish(ev.StatusChanged(ticket.id, before, target.value, event_id, actor, announce))
    return event_id


REQUESTER_MOVES = (Status.RESOLVED, Status.CLOSED, Status.OPEN)


def transition(unit: Unit, actor: Actor, number: str, target: Status) -> t.Ticket:
    """Agents move any ticket; a requester may only resolve, close or reopen their own."""
    ticket = active(unit, number, actor)
    if not actor.role.is_staff and (actor.person_id != ticket.requester_id or target not in REQUESTER_MOVES):
        require_staff(actor, f"set {format_number(unit.settings.ticket_prefix, ticket.id)} to {target}")
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
    previous_id = ticket.assignee_id
    ticket.assignment_changed_at = unit.now
    # The key with the object: the ticket is flushed later, and the key is read before (events).
    ticket.assignee, ticket.assignee_id = person, person.id if person else None
    touch(unit, ticket)
    event_id = audit.record_now(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.ASSIGNED,
        before={"assignee": before},
        after={"assignee": _person_label(person), "rule": rule},
    )
    unit.publish(ev.Assigned(ticket.id, ticket.assignee_id, event_id, actor, announce, previous_id))


def assign(unit: Unit, actor: Actor, number: str, email: str | None) -> t.Ticket:
    require_staff(actor, "assign tickets")
    ticket = active(unit, number)
    person = directory.find_agent(unit, email) if email else None
    set_assignee(unit, ticket, person, actor)
    return ticket


def assign_person(unit: Unit, actor: Actor, number: str, person_id: int | None) -> t.Ticket:
    """Like :func:`assign`, by person id: chat users may have no email on record."""
    require_staff(actor, "assign tickets")
    ticket = active(unit, number)
    person = unit.session.get(t.Person, person_id) if person_id is not None else None
    if person_id is not None and person is None:
        raise NotFound(f"no person {person_id}", field="assignee")
    set_assignee(unit, ticket, person, actor)
    return ticket


def auto_assign(unit: Unit, ticket: t.Ticket, actor: Actor, *, announce: bool = True) -> None:
    """Pick an agent of the ticket's team by the configured rule; no team or no agents, no one."""
    strategy = unit.settings.routing.assignment
    if strategy == "none" or ticket.team_id is None or ticket.assignee_id is not None:
        return
    chosen = pick_agent(unit, ticket.team_id, strategy)
    if chosen is not None:
        set_assignee(unit, ticket, chosen, actor, rule=strategy, announce=announce)


def pick_agent(unit: Unit, team_id: int, strategy: str) -> t.Person | None:
    """The team's next agent by ``strategy`` (``round_robin`` or ``least_loaded``); None
    when it has none. Round-robin moves the team's cursor: call it only to assign."""
    # populate_existing: the team may already be in the session from earlier in this
    # transaction; the cursor must be the one read under the lock, not that copy.
    # key_share (PostgreSQL's FOR NO KEY UPDATE): the new ticket's foreign key already
    # holds a KEY SHARE lock on the team, and a plain FOR UPDATE would deadlock with
    # another transaction doing the same.
    team = unit.session.get(t.Team, team_id, with_for_update={"key_share": True}, populate_existing=True)
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
        return None
    team.last_assigned_id = chosen
    return unit.session.get(t.Person, chosen)


# -- escalation -------------------------------------------------------------------


def escalate(unit: Unit, actor: Actor, number: str, reason: str) -> t.Ticket:
    """A person asks for attention now: on record with the reason, told to agents and the assignee.

    Agents escalate any ticket; a requester only their own (the customer saying
    it cannot wait). The automatic ladder is the scheduler's, not this.
    """
    if not reason.strip():
        raise UserError("an escalation needs a reason", field="reason")
    ticket = active(unit, number, actor)
    if not actor.role.is_staff and actor.person_id != ticket.requester_id:
        require_staff(actor, "escalate someone else's ticket")
    event_id = audit.record_now(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.ESCALATED,
        after={"reason": reason.strip()[:2000], "level": "manual"},
    )
    touch(unit, ticket)
    unit.publish(ev.Escalated(ticket.id, event_id, actor, reason.strip()[:2000]))
    return ticket


# -- merge ------------------------------------------------------------------------


def merge(unit: Unit, actor: Actor, source_number: str, target_number: str) -> t.Ticket:
    """Move everything of ``source`` onto ``target``; ``source`` is closed and points to it."""
    require_staff(actor, "merge tickets")
    source = active(unit, source_number)
    target = active(unit, target_number)
    if source.id == target.id:
        raise Conflict("a ticket cannot be merged into itself")
    for model in (t.Comment, t.Attachment):
        unit.session.execute(update(model).where(model.ticket_id == source.id).values(ticket_id=target.id))
    # Email ids move, so the survivor's mail threads with the old conversation; chat
    # messages stay: the source keeps its own card, and a reply in its thread reaches
    # the survivor by following the merge.
    unit.session.execute(
        update(t.ThreadRef)
        .where(t.ThreadRef.ticket_id == source.id, t.ThreadRef.channel.not_in(threads.CHAT_CHANNELS))
        .values(ticket_id=target.id)
    )
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
    source.status_changed_at = unit.now
    source.merged_into_id = target.id
    prefix = unit.settings.ticket_prefix
    audit.record(
        unit,
        ticket_id=source.id,
        actor=actor,
        kind=AuditKind.MERGED,
        before={"status": before},
        after={"status": "closed", "merged_into": format_number(prefix, target.id)},
    )
    audit.record(
        unit,
        ticket_id=target.id,
        actor=actor,
        kind=AuditKind.MERGED_FROM,
        after={"merged_from": format_number(prefix, source.id)},
    )
    touch(unit, source)
    touch(unit, target)
    unit.publish(ev.Merged(source.id, target.id, actor, before))
    return target
