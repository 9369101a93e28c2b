"""Shared tickets, our side: sharing one of ours with a partner, stopping, and where it is shared.

The ticket goes out whole (subject, status, requester, public comments, tags
if the agreement syncs them); from then on :mod:`bot.sharing.sync` sends its
changes. The partner's requests about tickets are :mod:`bot.sharing.received`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Conflict, NotFound
from bot.model import Actor, format_number
from bot.people.permissions import require_staff
from bot.sharing import protocol as p
from bot.sharing import sync, wire
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.unit import Unit

logger = logging.getLogger(__name__)

# A link's side: the ticket is ours and we shared it, or a partner shared it with us.
SHARER, RECEIVER = "sharer", "receiver"


@dataclass(frozen=True, slots=True)
class ShareView:
    agreement: int
    partner: str
    ticket: str
    uuid: str
    side: str
    detached_at: datetime | None


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
    came_from = unit.session.scalar(
        select(t.SharedTicket).where(
            t.SharedTicket.ticket_id == ticket.id,
            t.SharedTicket.side == RECEIVER,
            t.SharedTicket.detached_at.is_(None),
        )
    )
    if came_from is not None:
        # Shared on, it would reach its own help desk as a second copy, our comments echoed back.
        raise Conflict(
            f"{number} was shared with us by {came_from.agreement.partner_name or 'a partner'}; "
            "it cannot be shared on",
            field="agreement",
        )
    link = unit.session.scalar(
        select(t.SharedTicket).where(
            t.SharedTicket.agreement_id == row.id, t.SharedTicket.ticket_id == ticket.id
        )
    )
    if link is None:
        link = t.SharedTicket(
            agreement_id=row.id,
            ticket_id=ticket.id,
            # Per agreement: a ticket shared again under a new agreement is new to the partner.
            uuid=p.resource_uuid(wire.our_url(unit), "tickets", f"{ticket.id}/{row.uuid}"),
            side=SHARER,
            original_id=None,
            created_at=unit.now,
            detached_at=None,
        )
        unit.session.add(link)
        unit.session.flush()
    link.detached_at = None
    sync.linked(unit)
    comments = [
        sync.comment_json(unit, link, c) for c in sync.comments_of(unit, ticket) if sync.shareable(unit, c)
    ]
    body = {
        **sync.ticket_json(unit, link, ticket),
        "requested_at": p.format_time(ticket.created_at),
        "requester": wire.person_json(unit, ticket.requester),
        "current_actor": wire.actor_json(unit, actor),
        "comments": comments,
    }
    wire.send(
        unit,
        row,
        "POST",
        f"tickets/{link.uuid}",
        body,
        f"share:{ticket.id}:{unit.now.isoformat()}",
        ticket_id=ticket.id,
        extra={"status_of": ticket.id},
    )
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.SHARED,
        after={"agreement": row.id, "uuid": link.uuid},
    )
    logger.info("%s shared under agreement %s", format_number(unit.settings.ticket_prefix, ticket.id), row.id)
    return _view(unit, link)


def unshare(unit: Unit, actor: Actor, number: str, agreement_id: int) -> ShareView:
    """Syncing stops both ways; the partner keeps its copy. Either side may stop."""
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
        key = f"unshare:{link.id}:{unit.now.isoformat()}"
        wire.send(unit, link.agreement, "DELETE", f"tickets/{link.uuid}", None, key, ticket_id=ticket.id)
    audit.record(
        unit, ticket_id=ticket.id, actor=actor, kind=AuditKind.UNSHARED, after={"agreement": agreement_id}
    )
    return _view(unit, link)


def shares(unit: Unit, actor: Actor, number: str) -> list[ShareView]:
    require_staff(actor, "see where tickets are shared")
    ticket = tickets.get(unit, number, lock=False)
    rows = unit.session.scalars(select(t.SharedTicket).where(t.SharedTicket.ticket_id == ticket.id))
    return [_view(unit, row) for row in rows]


def _view(unit: Unit, link: t.SharedTicket) -> ShareView:
    return ShareView(
        agreement=link.agreement_id,
        partner=link.agreement.partner_name,
        ticket=format_number(unit.settings.ticket_prefix, link.ticket_id),
        uuid=link.uuid,
        side=link.side,
        detached_at=link.detached_at,
    )
