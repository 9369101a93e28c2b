"""Shared tickets: sharing one of ours, and taking in what a partner shares and sends.

A ticket a partner shares becomes a new ticket of ours with its own number;
the link (agreement, ticket uuid) is kept, and so is every comment's uuid, so
a comment sent twice is stored once and a comment that came from the partner
is never sent back. Everything the partner changes is applied inside
:func:`bot.sharing.sync.from_partner`, which is how the change hooks know
not to echo it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot import audit, classify, intake, notify, tickets
from bot.errors import Conflict, NotFound, UserError
from bot.messages import Identity, Inbound
from bot.model import Actor, Role, Status, format_number
from bot.permissions import require_staff
from bot.sharing import agreements, statuses, sync
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)

SHARER, RECEIVED = "sharer", "receiver"
CHANNEL = "sharing"


@dataclass(frozen=True, slots=True)
class ShareView:
    agreement: int
    partner: str
    ticket: str
    uuid: str
    side: str
    detached_at: datetime | None


# -- our side's actions ------------------------------------------------------------------------


def share(unit: Unit, actor: Actor, number: str, agreement_id: int) -> ShareView:
    """Send the whole ticket, comments included; sharing it again re-sends it (the partner upserts)."""
    require_staff(actor, "share tickets with other help desks")
    ticket = tickets.active(unit, number)
    row = unit.session.get(t.SharingAgreement, agreement_id)
    if row is None:
        raise NotFound(f"no sharing agreement {agreement_id}", field="agreement")
    if row.side != p.SENDER:
        raise Conflict(
            f"agreement {row.id} shares tickets from {row.partner_name or 'the partner'} to us; "
            "sharing ours needs an agreement we sent",
            field="agreement",
        )
    if row.status != p.ACCEPTED:
        raise Conflict(f"agreement {row.id} is {row.status}, not accepted", field="agreement")
    link = unit.session.scalar(
        select(t.SharedTicket).where(
            t.SharedTicket.agreement_id == row.id, t.SharedTicket.ticket_id == ticket.id
        )
    )
    if link is None:
        link = t.SharedTicket(
            agreement_id=row.id,
            ticket_id=ticket.id,
            uuid=p.resource_uuid(agreements.our_url(unit), "tickets", ticket.id),
            side=SHARER,
            original_id=None,
            created_at=unit.now,
            detached_at=None,
        )
        unit.session.add(link)
        unit.session.flush()
    link.detached_at = None
    sync.linked(unit)
    comments = [sync.comment_json(unit, link, c) for c in _comments(unit, ticket) if sync.shareable(unit, c)]
    body = {
        **sync.ticket_json(unit, link, ticket),
        "requested_at": p.format_time(ticket.created_at),
        "requester": agreements.person_json(unit, ticket.requester),
        "current_actor": agreements.actor_json(unit, actor),
        "comments": comments,
    }
    agreements.send(
        unit,
        row,
        "POST",
        f"tickets/{link.uuid}",
        body,
        f"share:{ticket.id}:{unit.now.isoformat()}",
        ticket_id=ticket.id,
    )
    audit.record(
        unit, ticket_id=ticket.id, actor=actor, kind="shared", after={"agreement": row.id, "uuid": link.uuid}
    )
    logger.info("%s shared under agreement %s", _number(unit, ticket), row.id)
    return _view(unit, link)


def unshare(unit: Unit, actor: Actor, number: str, agreement_id: int) -> ShareView:
    """The partner keeps its copy; syncing stops both ways."""
    require_staff(actor, "stop sharing tickets")
    ticket = tickets.get(unit, number)
    link = unit.session.scalar(
        select(t.SharedTicket).where(
            t.SharedTicket.agreement_id == agreement_id, t.SharedTicket.ticket_id == ticket.id
        )
    )
    if link is None or link.detached_at is not None:
        raise NotFound(f"{number} is not shared under agreement {agreement_id}", field="agreement")
    link.detached_at = unit.now
    if link.agreement.status == p.ACCEPTED:
        agreements.send(
            unit,
            link.agreement,
            "DELETE",
            f"tickets/{link.uuid}",
            None,
            f"unshare:{link.id}:{unit.now.isoformat()}",
            ticket_id=ticket.id,
        )
    audit.record(unit, ticket_id=ticket.id, actor=actor, kind="unshared", after={"agreement": agreement_id})
    return _view(unit, link)


def shares(unit: Unit, actor: Actor, number: str) -> list[ShareView]:
    require_staff(actor, "see where tickets are shared")
    ticket = tickets.get(unit, number, lock=False)
    rows = unit.session.scalars(select(t.SharedTicket).where(t.SharedTicket.ticket_id == ticket.id))
    return [_view(unit, row) for row in rows]


# -- the partner's requests ----------------------------------------------------------------------


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
    link = _link(unit, agreement, url_uuid)
    _apply(unit, agreement, link, p.read_ticket(body, url_uuid))


def receive_unshare(unit: Unit, agreement: t.SharingAgreement, url_uuid: str) -> None:
    link = _link(unit, agreement, url_uuid)
    link.detached_at = unit.now
    audit.record(
        unit,
        ticket_id=link.ticket_id,
        actor=agreements.partner_actor(agreement),
        kind="unshared",
        after={"agreement": agreement.id, "by": "partner"},
    )


def read(unit: Unit, agreement: t.SharingAgreement, url_uuid: str) -> dict[str, Any]:
    link = _link(unit, agreement, url_uuid)
    ticket = unit.session.get(t.Ticket, link.ticket_id)
    assert ticket is not None
    comments = [
        sync.comment_json(unit, link, c, record=False)
        for c in _comments(unit, ticket)
        if sync.shareable(unit, c)
    ]
    return {
        **sync.ticket_json(unit, link, ticket),
        "requested_at": p.format_time(ticket.created_at),
        "requester": agreements.person_json(unit, ticket.requester),
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
    inbound = Inbound(
        channel=CHANNEL,
        sender=Identity(name=requester.name),
        subject=incoming.subject or (first.body.splitlines()[0] if first and first.body.strip() else ""),
        text=_text(first) if first else (incoming.subject or ""),
        html=None,
    )
    ticket = intake.open_ticket(unit, inbound, requester, actor)
    link = t.SharedTicket(
        agreement_id=agreement.id,
        ticket_id=ticket.id,
        uuid=incoming.uuid,
        side=RECEIVED,
        original_id=incoming.original_id,
        created_at=unit.now,
        detached_at=None,
    )
    unit.session.add(link)
    unit.session.flush()
    sync.linked(unit)
    if first is not None:
        author = actor_person(unit, agreement, first.author) if first.author else requester
        comment = intake.first_comment(unit, ticket, author, inbound, internal=not _public(agreement, first))
        _remember(unit, link, first.uuid, comment)
    else:
        comment = intake.first_comment(unit, ticket, requester, inbound, internal=False)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind="received",
        after={
            "channel": CHANNEL,
            "agreement": agreement.id,
            "uuid": incoming.uuid,
            "original_id": incoming.original_id,
        },
    )
    _fields(unit, agreement, ticket, incoming, actor)
    notify.ticket_opened(unit, ticket, comment, acknowledge=False)
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
    """A partial update: what is missing or null stays; a comment already known is skipped."""
    ticket = tickets.get(unit, link.ticket_id)
    who = incoming.current_actor or incoming.requester
    actor = _actor(actor_person(unit, agreement, who)) if who else agreements.partner_actor(agreement)
    with sync.from_partner(unit, agreement.id):
        added = sum(_add(unit, agreement, link, ticket, item) for item in incoming.comments)
        _fields(unit, agreement, ticket, incoming, actor)
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
    actor = _actor(author) if author else agreements.partner_actor(agreement)
    comment = tickets.add_comment(
        unit,
        ticket,
        author,
        actor,
        _text(item),
        public=_public(agreement, item),
        channel=CHANNEL,
        announce=False,
    )
    _remember(unit, link, item.uuid, comment)
    notify.comment_added(unit, ticket, comment)
    return 1


def _remember(unit: Unit, link: t.SharedTicket, uuid: str, comment: t.Comment) -> None:
    unit.session.add(
        t.SharedComment(shared_ticket_id=link.id, uuid=uuid, comment_id=comment.id, origin="remote")
    )
    unit.session.flush()


def _public(agreement: t.SharingAgreement, item: p.CommentIn) -> bool:
    """The gem's default (public when unsaid), unless the sender's agreement keeps the receiver private."""
    public = item.public is not False
    if agreement.side == p.SENDER and not agreement.allows_public_comments:
        return False
    return public


def _text(item: p.CommentIn) -> str:
    """Plain text is kept (HTML is never rendered from a partner); files are links, not fetched."""
    body = item.body.strip() or "(no text)"
    if item.attachments:
        listed = "\n".join(f"- {a.filename}: {a.url}" for a in item.attachments)
        body = f"{body}\n\nAttachments (at the partner):\n{listed}"
    return body


def _fields(
    unit: Unit, agreement: t.SharingAgreement, ticket: t.Ticket, incoming: p.TicketIn, actor: Actor
) -> None:
    """Tags and custom fields only as the agreement allows; what does not fit ours is left out on record."""
    if agreement.sync_tags and incoming.tags is not None:
        wanted = set()
        for name in incoming.tags:
            try:
                wanted.add(classify.clean_tag(name))
            except UserError:
                logger.warning("sharing agreement %s: tag %r skipped", agreement.id, name)
        have = {tag.name for tag in ticket.tags}
        if wanted != have:
            number = _number(unit, ticket)
            classify.set_tags(
                unit, _staff(actor), number, add=sorted(wanted - have), remove=sorted(have - wanted)
            )
    if agreement.sync_custom_fields and incoming.custom_fields:
        mine = {d.label.casefold(): d.key for d in unit.session.scalars(select(t.CustomField))}
        keys = {d: d for d in mine.values()}
        values = {}
        for name, value in incoming.custom_fields.items():
            key = keys.get(name) or mine.get(str(name).casefold())
            if key is not None and value is not None:
                values[key] = value
        classify.initial_fields(unit, ticket, values, actor)


def _status(unit: Unit, ticket: t.Ticket, incoming: p.TicketIn, actor: Actor) -> None:
    if incoming.status is None:
        return
    target = statuses.to_local(incoming.status, unit.settings.sharing.status_in)
    if target is None:
        logger.warning(
            "%s: partner status %r is not the protocol's; kept %s",
            _number(unit, ticket),
            incoming.status,
            ticket.status,
        )
        return
    if target.value == ticket.status:
        return
    if not unit.workflow.allows(Status(ticket.status), target):
        logger.warning(
            "%s: partner status %s (%s) not allowed from %s here; kept",
            _number(unit, ticket),
            incoming.status,
            target,
            ticket.status,
        )
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=actor,
            kind="status_refused",
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
        name=f"{who.name or 'someone'} ({partner})"[:200],
        # An agent there answers like an agent here (first response, relayed to the requester);
        # with no team and no email they are never assigned, mailed or able to sign in.
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


def _staff(actor: Actor) -> Actor:
    """Tags are the agreement's to sync, whoever the partner says changed them."""
    return Actor(actor.person_id, actor.label, Role.AGENT) if not actor.role.is_staff else actor


def _comments(unit: Unit, ticket: t.Ticket) -> list[t.Comment]:
    return list(
        unit.session.scalars(select(t.Comment).where(t.Comment.ticket_id == ticket.id).order_by(t.Comment.id))
    )


def _number(unit: Unit, ticket: t.Ticket) -> str:
    return format_number(unit.settings.ticket_prefix, ticket.id)


def _view(unit: Unit, link: t.SharedTicket) -> ShareView:
    return ShareView(
        agreement=link.agreement_id,
        partner=link.agreement.partner_name,
        ticket=format_number(unit.settings.ticket_prefix, link.ticket_id),
        uuid=link.uuid,
        side=link.side,
        detached_at=link.detached_at,
    )
