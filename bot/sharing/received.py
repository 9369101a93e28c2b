"""Shared tickets, the partner's requests: a ticket shared with us, its updates, unsharing, reading.

A shared ticket becomes a new ticket of ours with its own number; the link
(agreement, ticket uuid) is kept, and so is every comment's uuid, so a
comment sent twice is stored once. Updates are partial: what is missing or
null stays; a value equal to ours is no change (the Zendesk client sends
every field on every update). Everything is applied inside
:func:`bot.sharing.sync.from_partner`, so none of it is echoed back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.display_text import one_line
from bot.errors import UserError
from bot.messages import Identity, Inbound
from bot.model import Actor, Role, Status, clean_tag, format_number
from bot.sharing import protocol as p
from bot.sharing import statuses, sync, wire
from bot.sharing.shared import RECEIVER
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.tickets import classify, intake
from bot.unit import Unit

logger = logging.getLogger(__name__)

# The channel a shared ticket and the partner's comments are recorded as coming from.
TICKET_CHANNEL = "sharing"


def receive_share(unit: Unit, agreement: t.SharingAgreement, url_uuid: str, body: object) -> bool:
    """True when a new ticket was opened; the same ticket shared again is applied as an update."""
    if agreement.side != p.RECEIVER:
        raise p.ProtocolError(403, "under this agreement tickets are shared by us, not to us")
    incoming = p.read_ticket(body, url_uuid)
    known = unit.session.scalar(select(t.SharedTicket).where(t.SharedTicket.uuid == incoming.uuid).limit(1))
    if known is not None and known.agreement_id != agreement.id:
        raise p.ProtocolError(422, "a ticket with this uuid is shared under another agreement")
    if known is not None:
        known.detached_at = None
        sync.linked(unit)
        _apply(unit, agreement, known, incoming)
        return False
    with sync.from_partner(unit, agreement.id):
        _open(unit, agreement, incoming)
    return True


def receive_update(unit: Unit, agreement: t.SharingAgreement, url_uuid: str, body: object) -> None:
    """New comments, a status, tags: whatever changed on the partner's side."""
    link = _link(unit, agreement, url_uuid)
    _apply(unit, agreement, link, p.read_ticket(body, url_uuid))


def receive_unshare(unit: Unit, agreement: t.SharingAgreement, url_uuid: str) -> None:
    """The partner stopped sharing: our ticket stays, syncing stops."""
    link = _link(unit, agreement, url_uuid)
    link.detached_at = unit.now
    audit.record(
        unit,
        ticket_id=link.ticket_id,
        actor=wire.partner_actor(agreement),
        kind=AuditKind.UNSHARED,
        after={"agreement": agreement.id, "by": "partner"},
    )


def read(unit: Unit, agreement: t.SharingAgreement, url_uuid: str) -> dict[str, Any]:
    """The ticket as the partner may see it: what is shared, in the protocol's shape."""
    link = _link(unit, agreement, url_uuid)
    ticket = tickets.survivor(unit, tickets.get(unit, link.ticket_id, lock=False))
    comments = [
        sync.comment_json(unit, link, c, record=False)
        for c in sync.comments_of(unit, ticket)
        if sync.shareable(unit, c)
    ]
    return {
        **sync.ticket_json(unit, link, ticket),
        "requested_at": p.format_time(ticket.created_at),
        "requester": wire.person_json(unit, ticket.requester),
        "comments": comments,
    }


def _link(unit: Unit, agreement: t.SharingAgreement, url_uuid: str) -> t.SharedTicket:
    link = unit.session.scalar(
        select(t.SharedTicket).where(
            t.SharedTicket.agreement_id == agreement.id, t.SharedTicket.uuid == url_uuid
        )
    )
    if link is None:
        raise p.ProtocolError(404, "no ticket with this uuid is shared under this agreement")
    if link.detached_at is not None:
        raise p.ProtocolError(410, "this ticket is no longer shared")
    return link


def _open(unit: Unit, agreement: t.SharingAgreement, incoming: p.TicketIn) -> None:
    if not incoming.subject and not incoming.comments:
        raise p.ProtocolError(422, "a shared ticket needs a subject or a comment")
    requester = actor_person(unit, agreement, incoming.requester or incoming.current_actor)
    actor = _actor(requester)
    first, *rest = incoming.comments or (None,)
    text = _text(first) if first else (incoming.subject or "")
    inbound = Inbound(
        channel=TICKET_CHANNEL,
        sender=Identity(name=requester.name),
        subject=incoming.subject or text.splitlines()[0],
        text=text,
    )
    ticket, placed = intake.open_ticket(unit, inbound, requester, actor)
    intake.rule_fields(unit, ticket, placed)  # what "ticket created" rules set
    link = t.SharedTicket(
        agreement_id=agreement.id,
        ticket_id=ticket.id,
        uuid=incoming.uuid,
        side=RECEIVER,
        original_id=incoming.original_id,
        created_at=unit.now,
        detached_at=None,
    )
    unit.session.add(link)
    unit.session.flush()
    sync.linked(unit)
    author = actor_person(unit, agreement, first.author) if first and first.author else requester
    comment = intake.first_comment(
        unit, ticket, author, inbound, internal=first is not None and not _public(agreement, first)
    )
    if first is not None:
        _remember(unit, link, first.uuid, comment)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.RECEIVED,
        after={
            "channel": TICKET_CHANNEL,
            "agreement": agreement.id,
            "uuid": incoming.uuid,
            "original_id": incoming.original_id,
        },
    )
    _fields(unit, agreement, link, ticket, incoming, actor)
    unit.opening.discard(ticket.id)
    unit.publish(ev.TicketOpened(ticket.id, comment.id, False, placed.placed_by))
    for item in rest:
        _add(unit, agreement, link, ticket, item)
    _status(unit, ticket, incoming, actor)
    logger.info(
        "sharing agreement %s: shared ticket %s opened as %s",
        agreement.id,
        incoming.uuid[:12],
        _number(unit, ticket),
    )


def _apply(unit: Unit, agreement: t.SharingAgreement, link: t.SharedTicket, incoming: p.TicketIn) -> None:
    # A ticket merged here since lives on in the ticket it was merged into.
    ticket = tickets.survivor(unit, tickets.get(unit, link.ticket_id))
    who = incoming.current_actor or incoming.requester
    actor = _actor(actor_person(unit, agreement, who)) if who else wire.partner_actor(agreement)
    with sync.from_partner(unit, agreement.id):
        added = sum(_add(unit, agreement, link, ticket, item) for item in incoming.comments)
        subject = one_line(incoming.subject or "").strip()[:1000]
        if subject and subject != ticket.subject:
            audit.changed(unit, ticket, actor, "subject", ticket.subject, subject)
            ticket.subject = subject
        _fields(unit, agreement, link, ticket, incoming, actor)
        _status(unit, ticket, incoming, actor)
    logger.info(
        "sharing agreement %s: update for %s (%d new comments)", agreement.id, _number(unit, ticket), added
    )


def _add(
    unit: Unit, agreement: t.SharingAgreement, link: t.SharedTicket, ticket: t.Ticket, item: p.CommentIn
) -> int:
    """1 when stored; 0 for a comment already known by its uuid (comments are never edited)."""
    seen = unit.session.scalar(
        select(t.SharedComment.id).where(
            t.SharedComment.shared_ticket_id == link.id, t.SharedComment.uuid == item.uuid
        )
    )
    if seen is not None:
        return 0
    author = actor_person(unit, agreement, item.author) if item.author else None
    actor = _actor(author) if author else wire.partner_actor(agreement)
    comment = tickets.add_comment(
        unit,
        ticket,
        author,
        actor,
        _text(item),
        public=_public(agreement, item),
        channel=TICKET_CHANNEL,
        announce=False,
        # The sharer's agents answering on a ticket shared with us is not our first response.
        first_response=link.side != RECEIVER,
    )
    _remember(unit, link, item.uuid, comment)
    unit.publish(ev.CommentAdded(ticket.id, comment.id))
    return 1


def _remember(unit: Unit, link: t.SharedTicket, uuid: str, comment: t.Comment) -> None:
    unit.session.add(
        t.SharedComment(shared_ticket_id=link.id, uuid=uuid, comment_id=comment.id, origin="remote")
    )
    unit.session.flush()


def _public(agreement: t.SharingAgreement, item: p.CommentIn) -> bool:
    """The gem's default (public when unsaid), unless the sender's agreement keeps the receiver private."""
    if agreement.side == p.SENDER and not agreement.allows_public_comments:
        return False
    return item.public is not False


def _text(item: p.CommentIn) -> str:
    """Plain text is kept (a partner's HTML is read as text, never rendered); files are links, not fetched."""
    body = item.body.strip() or (p.html_text(item.html) if item.html else "") or "(no text)"
    if item.attachments:
        listed = "\n".join(f"- {a.filename}: {a.url}" for a in item.attachments)
        body = f"{body}\n\nAttachments (at the partner):\n{listed}"
    return body


def _fields(
    unit: Unit,
    agreement: t.SharingAgreement,
    link: t.SharedTicket,
    ticket: t.Ticket,
    incoming: p.TicketIn,
    actor: Actor,
) -> None:
    """Tags and custom fields only as the agreement allows; what does not fit ours is left out on record."""
    if agreement.sync_tags and incoming.tags is not None:
        _tags(unit, agreement, link, ticket, incoming.tags, actor)
    if agreement.sync_custom_fields and incoming.custom_fields:
        definitions = list(unit.session.scalars(select(t.CustomField)))
        by_name = {d.key: d.key for d in definitions} | {d.label.casefold(): d.key for d in definitions}
        values = {
            key: value
            for name, value in incoming.custom_fields.items()
            if value is not None and (key := by_name.get(name) or by_name.get(str(name).casefold()))
        }
        classify.initial_fields(unit, ticket, values, actor)


def _tags(
    unit: Unit,
    agreement: t.SharingAgreement,
    link: t.SharedTicket,
    ticket: t.Ticket,
    names: tuple[str, ...],
    actor: Actor,
) -> None:
    """The partner's change since the tags last exchanged: ours added meanwhile stay."""
    theirs = set()
    for name in names:
        try:
            theirs.add(clean_tag(name))
        except UserError:
            logger.warning("sharing agreement %s: tag %r skipped", agreement.id, name)
    seen = set(link.tags_seen or ())
    link.tags_seen = sorted(theirs)
    have = {tag.name for tag in ticket.tags}
    add, remove = (theirs - seen) - have, (seen - theirs) & have
    if add or remove:
        staff = actor if actor.role.is_staff else Actor(actor.person_id, actor.label, Role.AGENT)
        classify.set_tags(unit, staff, _number(unit, ticket), add=sorted(add), remove=sorted(remove))


def _status(unit: Unit, ticket: t.Ticket, incoming: p.TicketIn, actor: Actor) -> None:
    if incoming.status is None:
        return
    number = _number(unit, ticket)
    if incoming.status == statuses.to_wire(ticket.status, unit.settings.sharing.status_out):
        return  # what we would say ourselves: no change (in_progress here is "open" there)
    target = statuses.to_local(incoming.status, unit.settings.sharing.status_in)
    if target is None:
        logger.warning(
            "%s: partner status %r is not the protocol's; kept %s", number, incoming.status, ticket.status
        )
        return
    if target.value == ticket.status:
        return
    if not unit.workflow.allows(Status(ticket.status), target):
        logger.warning(
            "%s: partner status %s (%s) not allowed from %s here; kept",
            number,
            incoming.status,
            target,
            ticket.status,
        )
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=actor,
            kind=AuditKind.STATUS_REFUSED,
            after={"status": target.value, "partner_status": incoming.status},
        )
        return
    tickets.change_status(unit, ticket, target, actor, reason="changed by the partner help desk")


def actor_person(unit: Unit, agreement: t.SharingAgreement, who: p.ActorIn | None) -> t.Person:
    """A partner's user is a person of ours without email, made once per agreement and uuid."""
    if who is None:
        who = p.ActorIn("unknown", agreement.partner_name or "partner", None)
    row = unit.session.scalar(
        select(t.SharingActor).where(
            t.SharingActor.agreement_id == agreement.id, t.SharingActor.actor_uuid == who.uuid
        )
    )
    if row is not None:
        person = unit.session.get(t.Person, row.person_id)
        assert person is not None
        return person
    partner = agreement.partner_name or "partner"
    person = t.Person(
        email=None,
        slack_user_id=None,
        name=one_line(f"{who.name or 'someone'} ({partner})")[:200],
        # An agent there answers like an agent here (their reply is relayed to our requester);
        # with no team, no email and no Slack id they are never assigned, mailed or signed in.
        role=Role.AGENT.value if who.agent else Role.REQUESTER.value,
        team_id=None,
        created_at=unit.now,
    )
    unit.session.add(person)
    unit.session.flush()
    unit.session.add(t.SharingActor(agreement_id=agreement.id, actor_uuid=who.uuid, person_id=person.id))
    unit.session.flush()
    return person


def _actor(person: t.Person) -> Actor:
    return Actor(person.id, f"sharing:{person.name}"[:400], Role(person.role))


def _number(unit: Unit, ticket: t.Ticket) -> str:
    return format_number(unit.settings.ticket_prefix, ticket.id)
