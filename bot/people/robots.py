"""Who the bot never writes to, and which messages a machine sent.

Our own mailboxes and addresses no person reads (no-reply, mailer-daemon, ...) are
never answered and never followers. A message is a robot's when its channel says so
(RFC 3834 and the other auto-reply marks, a delivery report), when it comes from such
an address, or when it is another ticket system's acknowledgement: a foreign ticket tag
in the subject from an address that has only ever sent us robots' mail. A robot's
message is kept, but it acknowledges, reopens and notifies nothing (:mod:`bot.tickets.intake`).
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.messages import Inbound
from bot.store import tables as t
from bot.unit import Unit

ROBOT_LOCAL_PARTS = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?)([+._-].*)?$")

# Another help desk's ticket number in a subject. Each form is one a ticket system writes:
FOREIGN_TAG = re.compile(
    # [#12345] (osTicket, FreeScout), [rt.example.com #12345] (Request Tracker),
    # [Ticket#2024120510000012] (OTRS, Znuny, Zammad)
    r"\[[^\[\]#]{0,60}#\s?\d{1,20}\]"
    # Ticket #123, Request #4711 (Zendesk), Case #00123, Incident No. 5, Ticket Nr. 7
    r"|\b(?:ticket|request|case|incident)\s*(?:#|no\.|nr\.|number)\s*:?\s*\d+"
    # (Case 00123), Case 00001026 (Salesforce: zero-padded)
    r"|\(\s*case\s*#?\s*\d+\s*\)|\bcase\s+0\d{4,}\b"
    # Salesforce's thread id: ref:_00D1x2Ab._5001x2Ab3C:ref
    r"|\bref:_[0-9a-z]+\._[0-9a-z]+:ref\b"
    # ServiceNow: INC0012345, RITM0012345
    r"|\b(?:inc|ritm|req|chg|prb)\d{7}\b",
    re.IGNORECASE,
)
# [ABC-123] (Jira Service Management): a project key, unless it is ours or no project's.
KEY_TAG = re.compile(r"\[([A-Z][A-Z0-9]{1,15})-\d{1,9}\]")
NOT_PROJECT_KEYS = frozenset({"COVID", "SARS", "ISO", "RFC", "UTF"})


def is_own_or_robot(unit: Unit, email: str | None) -> bool:
    """Our own mailboxes and addresses no person reads: never answered, never followers."""
    if not email:
        return False
    local, _, domain = email.lower().partition("@")
    base = f"{local.partition('+')[0]}@{domain}"  # support+sup-1.x@ is still support@
    own = {unit.settings.email.from_address.lower(), *(m.address.lower() for m in unit.settings.mailboxes)}
    if base in own:
        return True
    return bool(ROBOT_LOCAL_PARTS.match(local))


def sent_by_robot(unit: Unit, inbound: Inbound, sender: t.Person, *, answers_us: bool) -> bool:
    """Whether a machine sent ``inbound``: kept, but never acknowledged, reopening or passed on.

    ``answers_us``: the message answers mail of ours (it names one of our tickets, by its
    reply address, its references or our subject tag). Costs a query only for such mail
    whose subject also carries another ticket system's tag.
    """
    return (
        inbound.auto_submitted
        or inbound.bounce
        or is_own_or_robot(unit, sender.email)
        or (
            inbound.channel == "email"
            and answers_us
            and foreign_acknowledgement(unit, sender, inbound.subject)
        )
    )


# The sender's latest tickets in which a person's comment of theirs is looked for: enough for
# any person who ever wrote to us, and a bound for an address that writes thousands.
HISTORY_TICKETS = 50


def foreign_acknowledgement(unit: Unit, sender: t.Person, subject: str) -> bool:
    """Another ticket system answering our mail: its own ticket tag in the subject, from an
    address that has never written to us as a person (one we do not know yet included).

    Such systems acknowledge every mail, ours too, without ``Auto-Submitted``; answered,
    they answer again. Only mail that answers ours is asked about (the caller's
    ``answers_us``): a new customer whose first subject happens to name their own
    ticket elsewhere ("Printer down (INC0012345)") is a person. And a person who wrote
    to us before keeps being a person, whatever their subject says.
    """
    if not foreign_tag(subject, unit.settings.ticket_prefix):
        return False
    if sender.id is None or sender.id in unit.new_people:
        return True
    # Through their own tickets (indexed by requester, then each ticket's comments): what a
    # person writes to us, they write there. Bounded by their tickets, not by all comments,
    # which a flood of tagged mail would otherwise make every message read.
    latest = (
        select(t.Ticket.id)
        .where(t.Ticket.requester_id == sender.id)
        .order_by(t.Ticket.id.desc())
        .limit(HISTORY_TICKETS)
    )
    with unit.session.no_autoflush:
        human = unit.session.scalar(
            select(t.Comment.id)
            .where(
                t.Comment.ticket_id.in_(latest),
                t.Comment.author_id == sender.id,
                t.Comment.auto_submitted.is_(False),
            )
            .limit(1)
        )
    return human is None


def foreign_tag(subject: str, our_prefix: str) -> bool:
    """Whether ``subject`` names a ticket of another help desk (never one of ours)."""
    if FOREIGN_TAG.search(subject):
        return True
    ours = our_prefix.upper()
    return any(key not in NOT_PROJECT_KEYS and key != ours for key in KEY_TAG.findall(subject))
