"""Which ticket a message belongs to, and whether its sender may act on that ticket.

The rules, in order: a named ticket number (a signed reply address, a slash
command); the channel's references (In-Reply-To/References, a Slack thread);
the Outlook conversation (``Thread-Index``) a ticket's mail started or joined,
which counts as references do; a ``[SUP-1042]`` tag in the subject, taken only
from someone already on that ticket; else a new ticket. Whoever is not on the
ticket they reach, or whose mail failed DMARC, is kept as a flagged internal
note and never acts on it. A subject alone (Thread-Topic included) never
places a message on a ticket someone else is on.

Staff are held to more: what they write reaches customers under our name, so
a message claiming a staff sender acts only when its channel vouches for the
sender (``Inbound.authenticated``: Slack's signature, an API token, a reply
token that verifies for the From address), whichever rule placed it. A From
header and a Message-ID are anyone's to copy; without that proof the message
is kept as a flagged internal note that notifies nobody outside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from bot import thread_index
from bot.errors import UserError
from bot.messages import Inbound
from bot.model import Role, Status
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.unit import Unit

UNVERIFIED_STAFF = "staff address not verified: kept internal"


@dataclass(frozen=True, slots=True)
class Match:
    ticket: t.Ticket | None
    rule: str
    trusted: bool = True


@dataclass(frozen=True, slots=True)
class KnownRef:
    """A message id of the channel's that a ticket already has (``thread_refs``)."""

    id: int
    ticket_id: int
    comment_id: int | None


# Message ids of a References header looked up at most: its first (In-Reply-To comes first)
# and its last, the newest. The header is the sender's to make as long as the size limit
# lets it; the database's limit on one query's values is not theirs to reach.
MAX_LOOKED_UP = 100
FIRST_LOOKED_UP = 10


def looked_up(references: tuple[str, ...]) -> tuple[str, ...]:
    if len(references) <= MAX_LOOKED_UP:
        return references
    return references[:FIRST_LOOKED_UP] + references[-(MAX_LOOKED_UP - FIRST_LOOKED_UP) :]


def known_refs(unit: Unit, inbound: Inbound) -> dict[str, KnownRef]:
    """The message's own key and the ones it references, those any ticket has, in one query:
    the first says it is a duplicate, the others which ticket it answers."""
    references = looked_up(inbound.references)
    names = list(dict.fromkeys([*([inbound.key] if inbound.key else []), *references]))
    if not names:
        return {}
    rows = unit.session.execute(
        select(t.ThreadRef.external_id, t.ThreadRef.id, t.ThreadRef.ticket_id, t.ThreadRef.comment_id).where(
            t.ThreadRef.channel == inbound.channel, t.ThreadRef.external_id.in_(names)
        )
    )
    return {name: KnownRef(ref_id, ticket_id, comment_id) for name, ref_id, ticket_id, comment_id in rows}


def find_ticket(
    unit: Unit, inbound: Inbound, sender: t.Person, known: dict[str, KnownRef] | None = None
) -> Match:
    """``known``: :func:`known_refs` of the message, if the caller has read them already."""
    match = _place(unit, inbound, sender, known_refs(unit, inbound) if known is None else known)
    if match.trusted and Role(sender.role).is_staff and not inbound.authenticated:
        return Match(match.ticket, f"{match.rule} ({UNVERIFIED_STAFF})", trusted=False)
    return match


def _place(unit: Unit, inbound: Inbound, sender: t.Person, known: dict[str, KnownRef]) -> Match:
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
    # The newest of the messages it references that a ticket has.
    named = [known[name] for name in inbound.references if name in known]
    if named:
        ref = max(named, key=lambda known_ref: known_ref.id)
        return _threaded(unit, inbound, sender, tickets.get(unit, ref.ticket_id), "references")
    # Only for a message that names a conversation, and only once its references named no ticket.
    conversation = in_conversation(unit, inbound.conversation) if inbound.conversation else None
    if conversation is not None:
        return _threaded(unit, inbound, sender, conversation, "thread-index")
    tag = subject_tag(unit.settings.ticket_prefix, inbound.subject)
    if tag and not inbound.spoofed:
        ticket = _existing(unit, tag)
        if ticket is not None and is_participant(unit, ticket, sender):
            return Match(ticket, "subject tag")
        return Match(None, f"new ticket: subject names {tag}, but the sender is not on it")
    return Match(None, "new ticket")


def _threaded(unit: Unit, inbound: Inbound, sender: t.Person, ticket: t.Ticket, rule: str) -> Match:
    """A message in a ticket's thread: its sender acts on the ticket only if on it, and not forged."""
    ticket = tickets.survivor(unit, ticket)
    trusted = is_participant(unit, ticket, sender) and not inbound.spoofed
    return Match(ticket, rule + (", DMARC failed" if inbound.spoofed else ""), trusted)


def in_conversation(unit: Unit, conversation: str) -> t.Ticket | None:
    """The ticket whose mail is this Outlook conversation: the newest one not merged away, if
    several share it (tickets from before a conversation was kept only once), else the newest.
    Row-locked, as :func:`bot.tickets.changes.get` locks a ticket a reference names; asked once
    per transaction."""
    return unit.once(("conversation", conversation), lambda: _conversation_ticket(unit, conversation))


def _conversation_ticket(unit: Unit, conversation: str) -> t.Ticket | None:
    return unit.session.scalar(
        select(t.Ticket)
        .where(t.Ticket.thread_index == conversation)
        .order_by(t.Ticket.merged_into_id.is_not(None), t.Ticket.id.desc())
        .limit(1)
        .with_for_update(of=t.Ticket)
        .execution_options(populate_existing=True)
    )


def conversation_of(unit: Unit, inbound: Inbound, requester: t.Person) -> str | None:
    """The Outlook conversation a new ticket's mail will extend: the one its opening email
    started, so our acknowledgement joins the customer's own thread, else a new one. None for
    a ticket opened elsewhere: it gets one if and when we first mail about it.

    A conversation another ticket has is taken over only by the follow-up of that ticket,
    closed, opened by someone on it: then the conversation's next replies reach the
    follow-up. Anyone else (a stranger writing in someone's thread, a forged sender) gets
    a new one, so they can never draw the ticket's replies to a ticket of their own.
    """
    if inbound.channel != "email":
        return None
    adopted = inbound.conversation
    holder = in_conversation(unit, adopted) if adopted else None
    continued = (
        holder is not None
        and holder.status == Status.CLOSED.value
        and not inbound.spoofed
        and is_participant(unit, holder, requester)
    )
    if adopted and (holder is None or continued):
        # The new ticket will have it: the next message of this transaction must see that.
        unit.lookups.pop(("conversation", adopted), None)
        return adopted
    return thread_index.fresh_root(unit.now)


def subject_tag(prefix: str, subject: str) -> str | None:
    found = re.search(rf"\[\s*({re.escape(prefix)}-\d+)\s*\]", subject, re.IGNORECASE)
    return found.group(1).upper() if found else None


def _existing(unit: Unit, number: str) -> t.Ticket | None:
    try:
        return tickets.survivor(unit, tickets.get(unit, number))
    except UserError:  # no such ticket, or not a number we could ever have issued
        return None


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
