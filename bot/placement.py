"""Which ticket a message belongs to, and whether its sender may act on that ticket.

The rules, in order: a named ticket number (a signed reply address, a slash
command); the channel's references (In-Reply-To/References, a Slack thread);
a ``[SUP-1042]`` tag in the subject, taken only from someone already on that
ticket; else a new ticket. Whoever is not on the ticket they reach, or whose
mail failed DMARC, is kept as a flagged internal note and never acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from bot import tickets
from bot.errors import UserError
from bot.messages import Inbound
from bot.model import Role
from bot.store import tables as t
from bot.unit import Unit


@dataclass(frozen=True, slots=True)
class Match:
    ticket: t.Ticket | None
    rule: str
    trusted: bool = True


def find_ticket(unit: Unit, inbound: Inbound, sender: t.Person) -> Match:
    if inbound.new_only:
        return Match(None, "new ticket")
    if inbound.ticket_number:
        ticket = _existing(unit, inbound.ticket_number)
        if ticket is not None:
            # A reply address whose token does not verify is not the requester's word, even
            # if the From header claims so: From is trivially forged, the token is not.
            trusted = inbound.verified and not inbound.spoofed
            rule = "ticket number" if inbound.verified else "ticket number (unverified)"
            return Match(ticket, rule + (", DMARC failed" if inbound.spoofed else ""), trusted)
    if inbound.references:
        ref = unit.session.scalar(
            select(t.ThreadRef)
            .where(t.ThreadRef.channel == inbound.channel, t.ThreadRef.external_id.in_(inbound.references))
            .order_by(t.ThreadRef.id.desc())
            .limit(1)
        )
        if ref is not None:
            ticket = tickets.survivor(unit, tickets.get(unit, ref.ticket_id))
            trusted = is_participant(unit, ticket, sender) and not inbound.spoofed
            return Match(ticket, "references" + (", DMARC failed" if inbound.spoofed else ""), trusted)
    tag = subject_tag(unit.settings.ticket_prefix, inbound.subject)
    if tag and not inbound.spoofed:
        ticket = _existing(unit, tag)
        if ticket is not None and is_participant(unit, ticket, sender):
            # A subject tag is easy to forge; it may thread a customer's mail, but an
            # agent acting by email must come through a signed reply address.
            staff_only = Role(sender.role).is_staff and not _customer_side(ticket, sender)
            return Match(
                ticket, "subject tag" + (" (agent: kept internal)" if staff_only else ""), not staff_only
            )
        return Match(None, f"new ticket: subject names {tag}, but the sender is not on it")
    return Match(None, "new ticket")


def subject_tag(prefix: str, subject: str) -> str | None:
    found = re.search(rf"\[\s*({re.escape(prefix)}-\d+)\s*\]", subject, re.IGNORECASE)
    return found.group(1).upper() if found else None


def _existing(unit: Unit, number: str) -> t.Ticket | None:
    try:
        return tickets.survivor(unit, tickets.get(unit, number))
    except UserError:  # no such ticket, or not a number we could ever have issued
        return None


def _customer_side(ticket: t.Ticket, person: t.Person) -> bool:
    return person.id == ticket.requester_id or person in ticket.followers


def is_participant(unit: Unit, ticket: t.Ticket, person: t.Person) -> bool:
    """Staff, the requester, followers and anyone who already wrote on the ticket may act on it."""
    if Role(person.role).is_staff or person.id in (ticket.requester_id, ticket.assignee_id):
        return True
    if person in ticket.followers:
        return True
    wrote = unit.session.scalar(
        select(t.Comment.id)
        .where(
            t.Comment.ticket_id == ticket.id, t.Comment.author_id == person.id, t.Comment.flagged.is_(False)
        )
        .limit(1)
    )
    return wrote is not None
