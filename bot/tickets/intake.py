"""``receive``: every channel's inbound message becomes a new ticket or a comment on one.

The order of the rules, and the reason the winning rule is recorded on the
ticket, follow ARCHITECTURE.md: a named ticket (reply token, slash command),
then the channel's references, else a new ticket. A sender who is not on the
ticket they name is kept as a flagged internal note, never as an act on
someone else's ticket.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.display_text import one_line
from bot.errors import UserError
from bot.messages import Inbound, Receipt
from bot.model import Actor, Role, Status, format_number
from bot.people import directory
from bot.people.robots import is_own_or_robot, sent_by_robot
from bot.policies import new_ticket
from bot.store import tables as t
from bot.store.inserts import insert_loaded
from bot.tickets import attachments, automation_timers, classify, placement, suspension
from bot.tickets import changes as tickets
from bot.tickets import sla_clocks as sla_track
from bot.unit import Unit

logger = logging.getLogger(__name__)


def find_duplicate(
    unit: Unit, inbound: Inbound, known: dict[str, placement.KnownRef] | None = None
) -> Receipt | None:
    """The first receipt of a message seen before; ``known``: its :func:`placement.known_refs`."""
    if not inbound.key:
        return None
    key = _stored_key(inbound.key)
    if known is None:
        known = placement.known_refs(unit, replace(inbound, key=key, references=()))
    seen = known.get(key)
    if seen is None:
        return None
    return Receipt(
        ticket_number=format_number(unit.settings.ticket_prefix, seen.ticket_id),
        ticket_id=seen.ticket_id,
        comment_id=seen.comment_id,
        created=False,
        duplicate=True,
        rule="duplicate",
    )


def storable(inbound: Inbound) -> Inbound:
    """Text the store can hold: PostgreSQL refuses NUL characters, which broken mail does carry."""

    def clean(value: str | None) -> str | None:
        return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value

    # Subjects, names and file names are shown on one line, terminals included: no controls.
    name = one_line(inbound.sender.name) if inbound.sender.name else inbound.sender.name
    sender = replace(inbound.sender, name=name[:200] if name else name)
    key = _stored_key(inbound.key) if inbound.key is not None else None
    files = tuple(replace(f, filename=attachments.safe_filename(f.filename)) for f in inbound.attachments)
    cc = tuple(replace(i, name=one_line(i.name)) if i.name else i for i in inbound.cc)
    return replace(
        inbound,
        key=key,
        attachments=files,
        sender=sender,
        cc=cc,
        subject=one_line(inbound.subject),
        text=clean(inbound.text) or "",
        full_text=clean(inbound.full_text),
        html=clean(inbound.html),
    )


def _stored_key(key: str) -> str:
    """Longer than the column: kept unique by its hash."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest() if len(key) > 900 else key


def receive(unit: Unit, inbound: Inbound) -> Receipt:
    inbound = storable(inbound)  # first: a key too long to store is looked up as it is stored
    known = placement.known_refs(unit, inbound)
    duplicate = find_duplicate(unit, inbound, known)
    if duplicate is not None:
        return duplicate
    hold = suspension.hold_before_receiving(unit, inbound)
    if hold is not None:  # before the sender is made a person: spam makes nobody
        return suspension.suspend(unit, inbound, hold)
    since = suspension.burst_window(unit) if suspension.counts_bursts(unit, inbound) else None
    sender = directory.ensure_person(unit, inbound.sender, tickets_since=since)
    actor = Actor(sender.id, sender.email or sender.slack_user_id or str(sender.id), Role(sender.role))
    staff = Role(sender.role).is_staff
    # A staff address the channel does not vouch for is anyone's to write (see placement):
    # what it opens is kept as a flagged internal note and enrols nobody.
    unvouched = staff and not inbound.authenticated
    # Auto-replies, bounces, our own mail coming back, other help desks' acknowledgements:
    # kept, but never answered, reopening or passed on.
    answers_us = bool(
        inbound.ticket_number
        or any(name in known for name in inbound.references)
        or placement.subject_tag(unit.settings.ticket_prefix, inbound.subject)
    )
    robot = sent_by_robot(unit, inbound, sender, answers_us=answers_us)
    # Only staff can keep what they write internal (an agent's "#note" reply).
    internal = inbound.internal and staff
    match = placement.find_ticket(unit, inbound, sender, known)
    follows: str | None = None
    closed = match.ticket if match.ticket is not None and match.ticket.status == Status.CLOSED.value else None
    # An agent answering in a closed ticket's chat thread still writes on that ticket, and a
    # robot's mail (an out-of-office, a bounce) stays on it, reopening nothing; anyone else
    # writing to a closed ticket starts a follow-up, as by email.
    if closed is not None and not (staff and not inbound.may_open) and not robot:
        follows = format_number(unit.settings.ticket_prefix, closed.id)
        match = placement.Match(None, f"new ticket: {follows} is closed", trusted=not unvouched)
        if not inbound.subject.strip():  # a chat reply has no subject of its own
            inbound = replace(inbound, subject=closed.subject)
    if match.ticket is None and inbound.bounce:
        return _keep_bounce(unit, inbound, actor)
    if match.ticket is None and not inbound.may_open and follows is None:
        logger.info("%s message %s ignored: its thread is no ticket's", inbound.channel, inbound.key)
        return Receipt(
            None, None, None, created=False, duplicate=False, rule="ignored: not a ticket's thread"
        )
    # Staff by a From header alone are anyone's to forge: their flood is held like any other.
    if match.ticket is None and not (staff and inbound.authenticated):
        hold = suspension.burst_hold(unit, inbound, sender)
        if hold is not None:
            return suspension.suspend(unit, inbound, hold)
    kept = _source_of(unit, inbound)
    known_images: dict[str, str | None] = {}  # a new ticket has none yet
    if match.ticket is None:
        ticket, placed = open_ticket(unit, inbound, sender, actor)
        # Has opened one now: a later message of this transaction (group commit) counts it.
        unit.new_people.discard(sender.id)
        unit.lookups.pop((directory.RECENT_TICKETS, sender.id), None)
        ruled = {key for key, _, _ in placed.fields}
        classify.initial_fields(
            unit, ticket, {k: v for k, v in inbound.fields.items() if k not in ruled}, actor
        )
        rule_fields(unit, ticket, placed)
        comment = first_comment(
            unit,
            ticket,
            sender,
            inbound,
            internal=internal,
            flagged=unvouched,
            source=kept,
            auto_submitted=robot,
        )
        if follows:
            audit.record(
                unit, ticket_id=ticket.id, actor=actor, kind=AuditKind.LINKED, after={"follows": follows}
            )
        if not unvouched:
            _add_followers(unit, ticket, inbound, actor)
        _record_submitter(unit, ticket, inbound, sender)
        unit.opening.discard(ticket.id)
        unit.publish(ev.TicketOpened(ticket.id, comment.id, not robot, placed.placed_by))
        created = True
    else:
        ticket = match.ticket
        # The ticket's inline images, once: a reply's copy of one (a signature's logo) is not
        # kept again, and its HTML names the copy already kept.
        known_images = attachments.inline_images(unit, ticket, inbound.attachments)
        html = attachments.same_images(inbound.html, inbound.attachments, known_images)
        comment = tickets.add_comment(
            unit,
            ticket,
            sender,
            actor,
            inbound.text,
            # A robot's words are the requester's to see on their own ticket, no one else's:
            # an agent's out-of-office or a follower's is an internal note.
            public=match.trusted
            and not internal
            and not inbound.bounce
            and not (robot and (staff or sender.id != ticket.requester_id)),
            channel=inbound.channel,
            html=html,
            external_id=inbound.key,
            flagged=not match.trusted,
            reopen=not robot,
            announce=not robot,
            full_body=kept.full_body,
            source_sha256=kept.source_sha256,
            auto_submitted=robot,
        )
        created = False
    attachments.attach_received(unit, ticket, comment, inbound.attachments, actor, known_images)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.RECEIVED,
        after={
            "channel": inbound.channel,
            "key": inbound.key,
            "rule": match.rule,
            "trusted": match.trusted,
            "auto_submitted": robot,
            "internal": internal,
        },
    )
    number = format_number(unit.settings.ticket_prefix, ticket.id)
    logger.info(
        "received %s message %s as %s on %s (%s)",
        inbound.channel,
        inbound.key,
        "new ticket" if created else f"comment {comment.id}",
        number,
        match.rule,
    )
    return Receipt(
        ticket_number=number,
        ticket_id=ticket.id,
        comment_id=comment.id,
        created=created,
        duplicate=False,
        rule=match.rule,
    )


def open_ticket(
    unit: Unit, inbound: Inbound, requester: t.Person, actor: Actor
) -> tuple[t.Ticket, new_ticket.Placement]:
    """The new ticket where the "ticket created" rules placed it; with their placement, whose
    fields and later actions the caller sees to."""
    placed = new_ticket.place(unit, inbound, requester)
    category = placed.category
    # Relationships are set as objects and as keys, so nothing needs reloading after the insert.
    ticket = t.Ticket(
        subject=(one_line(inbound.subject).strip() or "(no subject)")[:1000],
        description=inbound.text,
        status=placed.status.value,
        priority=placed.priority.value,
        channel=inbound.channel,
        mailbox=inbound.mailbox,
        requester=requester,
        requester_id=requester.id,
        team=placed.team,
        team_id=placed.team.id if placed.team else None,
        category=category,
        category_id=category.id if category else None,
        assignee=None,
        assignee_id=None,
        merged_into_id=None,
        tags=[],
        followers=[],
        escalation_level=0,
        sla_paused_seconds=0.0,
        created_at=unit.now,
        updated_at=unit.now,
        # The opening message is a customer's message waiting for an answer.
        last_customer_message_at=None if Role(requester.role).is_staff else unit.now,
        status_changed_at=unit.now,
        # A "ticket created" rule may open it straight as resolved (a notice needing no answer).
        resolved_at=unit.now if placed.status is Status.RESOLVED else None,
        closed_at=unit.now if placed.status is Status.CLOSED else None,
        assignment_changed_at=unit.now,
        requester_replied_at=None if Role(requester.role).is_staff else unit.now,
        agent_replied_at=None,
        # The Outlook conversation its mail extends, set before the INSERT like its clocks.
        thread_index=placement.conversation_of(unit, inbound, requester),
    )
    # Its clocks before its INSERT, so the row is written once, with them.
    sla_track.refresh(unit, ticket)
    ticket.automation_check_at = automation_timers.next_check(unit, ticket, tags=placed.tags)
    insert_loaded(unit.session, ticket)
    unit.opening.add(ticket.id)  # until its TicketOpened: see Unit.opening
    new_ticket.tag_new(unit, ticket, placed.tags)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.CREATED,
        after={
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "requester": requester.email or requester.slack_user_id,
            "channel": inbound.channel,
            "category": category.path if category else None,
            "team": ticket.team.name if ticket.team else None,
            **({"routing_rule": placed.rule, "tags": list(placed.tags)} if placed.rule else {}),
        },
    )
    _assign_new(unit, ticket, placed.assignee)
    return ticket, placed


def rule_fields(unit: Unit, ticket: t.Ticket, placed: new_ticket.Placement) -> None:
    """The custom fields "ticket created" rules set, each on record as its rule's act."""
    for key, value, rule in placed.fields:
        classify.initial_fields(unit, ticket, {key: value}, Actor(None, f"rule: {rule}"))


def _assign_new(unit: Unit, ticket: t.Ticket, choice: new_ticket.AssigneeChoice | None) -> None:
    """The rule's choice of assignee, else the team's rule; the new ticket's notice tells them."""
    if choice is None:
        tickets.auto_assign(unit, ticket, Actor.system(), announce=False)
        return
    actor = Actor(None, f"rule: {choice.rule}")
    if choice.person is not None:
        tickets.set_assignee(unit, ticket, choice.person, actor, rule=choice.rule, announce=False)
    elif choice.team is not None:
        person = tickets.pick_agent(unit, choice.team.id, choice.strategy or "round_robin")
        if person is not None:
            tickets.set_assignee(unit, ticket, person, actor, rule=choice.rule, announce=False)


def _record_submitter(unit: Unit, ticket: t.Ticket, inbound: Inbound, requester: t.Person) -> None:
    """Someone opened the ticket for its requester (a chat message turned into a ticket): on record."""
    if inbound.submitted_by is None:
        return
    submitter = directory.ensure_person(unit, inbound.submitted_by)
    if submitter.id != requester.id:
        label = submitter.email or submitter.slack_user_id or str(submitter.id)
        by = Actor(submitter.id, label, Role(submitter.role))
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=by,
            kind=AuditKind.OPENED_FOR,
            after={"requester": requester.email},
        )


def _keep_bounce(unit: Unit, inbound: Inbound, actor: Actor) -> Receipt:
    """A delivery report that names no ticket: on record (raw kept, audited), but no ticket."""
    digest = unit.files.put(inbound.source) if inbound.source is not None else None
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.BOUNCE_RECEIVED,
        after={"channel": inbound.channel, "key": inbound.key, "source_sha256": digest},
    )
    logger.info("bounce %s on %s kept as %s; it names no ticket", inbound.key, inbound.channel, digest)
    return Receipt(None, None, None, created=False, duplicate=False, rule="bounce kept, no ticket")


MAX_FOLLOWERS = 20


def _add_followers(unit: Unit, ticket: t.Ticket, inbound: Inbound, actor: Actor) -> None:
    """People copied on a new ticket follow it; our own addresses and robots never do."""
    added: list[str | None] = []
    people: list[int] = []
    if inbound.spoofed:  # forged mail must not enrol anyone to receive our answers
        return
    for identity in inbound.cc[:MAX_FOLLOWERS]:
        if not identity.email or is_own_or_robot(unit, identity.email):
            continue
        try:
            person = directory.ensure_person(unit, identity)
        except UserError:  # an address we cannot store or mail: skip it, keep the message
            continue
        if person.id != ticket.requester_id and person not in ticket.followers:
            ticket.followers.append(person)
            added.append(person.email)
            people.append(person.id)
    if added:
        unit.session.flush()
        audit.record(
            unit, ticket_id=ticket.id, actor=actor, kind=AuditKind.FOLLOWERS_ADDED, after={"followers": added}
        )
        unit.publish(ev.FollowersAdded(ticket.id, tuple(people), actor))


def first_comment(
    unit: Unit,
    ticket: t.Ticket,
    sender: t.Person,
    inbound: Inbound,
    *,
    internal: bool,
    flagged: bool = False,
    source: Source | None = None,
    auto_submitted: bool = False,
) -> t.Comment:
    """``auto_submitted``: a robot sent it (kept on record for :mod:`bot.people.robots`); a
    staff member's robot (an agent's out-of-office on a follow-up) writes an internal note."""
    source = source or Source(None, None)
    staff_robot = auto_submitted and Role(sender.role).is_staff
    comment = t.Comment(
        ticket_id=ticket.id,
        author_id=sender.id,
        body=inbound.text,
        html=inbound.html,
        public=not (internal or flagged or staff_robot),
        flagged=flagged,
        channel=inbound.channel,
        external_id=inbound.key,
        full_body=source.full_body,
        source_sha256=source.source_sha256,
        auto_submitted=auto_submitted,
        created_at=unit.now,
        author=sender,
    )
    insert_loaded(unit.session, comment)
    if inbound.key:
        tickets.remember_message(unit, ticket, comment)
    return comment


@dataclass(frozen=True, slots=True)
class Source:
    """The message as it came, kept beside its comment: the whole text (quoted history
    included) when parsing kept less, and the raw message's file."""

    full_body: str | None
    source_sha256: str | None


def _source_of(unit: Unit, inbound: Inbound) -> Source:
    """Kept whatever parsing made of the message; known before the comment is written, so
    its row is inserted whole rather than updated after."""
    full = inbound.full_text if inbound.full_text is not None and inbound.full_text != inbound.text else None
    digest = unit.files.put(inbound.source) if inbound.source is not None else None
    return Source(full, digest)
