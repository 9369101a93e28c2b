"""Mail held back from the desk instead of becoming a ticket or a comment.

Three reasons come from the policy here, checked as a message is received: an
upstream filter the channel trusts called it spam, its sender is banned, or its
sender opened more new tickets this hour than ``[email] burst_limit``. A fourth,
``failed``, is a message that failed every time it was stored (the channel keeps it
here after ``[email] max_attempts``). A suspended message costs nobody anything: no
person is made for its sender, nothing is sent, no clock runs, no queue or report
counts it. An agent who releases it has it received as it came
(:func:`inbound_of`), acknowledgement included.

Spam is never held when it carries a verified reply token: a token only our mail
carries, for that sender, proves it answers us, whatever a filter guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.display_text import one_line
from bot.errors import SenderRefused
from bot.messages import Identity, Inbound, IncomingFile, Receipt
from bot.model import Actor
from bot.people import directory
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)

SPAM, BANNED, BURST, FAILED = "spam", "banned", "burst", "failed"
REASONS = (SPAM, BANNED, BURST, FAILED)
# What the list shows of a held message's text; the whole of it stays in ``inbound``.
MAX_TEXT = 100_000


@dataclass(frozen=True, slots=True)
class Hold:
    reason: str
    detail: str


def banned_by(bans: frozenset[str], address: str | None) -> str | None:
    """The ban an address falls under: itself, its domain, or a domain above it
    (``example.com`` bans ``mail.example.com`` too); None when none does.

    Compared as bans are kept (:func:`bot.policies.bans.normalised`): lower case, the
    domain in its ASCII (IDNA) form, so ``bäd.example`` and ``xn--bd-via.example`` are one.
    """
    if not bans or not address or "@" not in address:
        return None
    local, _, domain = address.strip().lower().rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # no valid domain name: compared as written
        pass
    address = f"{local}@{domain}"
    if address in bans:
        return address
    labels = domain.split(".")
    for start in range(len(labels) - 1):  # never a bare top-level domain
        domain = ".".join(labels[start:])
        if domain in bans:
            return domain
    return None


def hold_before_receiving(unit: Unit, inbound: Inbound) -> Hold | None:
    """Checked before anything is written for the message, so spam makes no person.

    Raises :class:`SenderRefused` for a banned sender when the policy is to refuse.
    """
    if inbound.released or inbound.channel != "email":
        return None
    for address in (inbound.sender.email, inbound.envelope_sender):
        ban = banned_by(unit.rules.bans, address)
        if ban is None:
            continue
        if unit.settings.email.banned_action == "refuse":
            raise SenderRefused(f"<{address}>: sender refused by this help desk's policy")
        return Hold(BANNED, f"sender banned ({ban})")
    if inbound.spam and not inbound.verified:
        return Hold(SPAM, one_line(inbound.spam)[:500])
    return None


_RECENT_TICKETS = select(func.count()).select_from(
    select(t.Ticket.id)
    .where(t.Ticket.requester_id == bindparam("person"), t.Ticket.created_at >= bindparam("since"))
    .limit(bindparam("limit"))
    .subquery()
)


def burst_window(unit: Unit) -> datetime:
    """Since when a sender's new tickets count against ``[email] burst_limit``."""
    return unit.now - timedelta(hours=1)


def counts_bursts(unit: Unit, inbound: Inbound) -> bool:
    """Whether this message's sender is one the burst limit may hold (asked before the
    sender is read, so their count comes with them)."""
    return bool(unit.settings.email.burst_limit) and inbound.channel == "email" and not inbound.released


def burst_hold(unit: Unit, inbound: Inbound, sender: t.Person) -> Hold | None:
    """A new ticket beyond the sender's hourly allowance is held: a flood (a robot, a
    script, an attack) fills no queue. Counted only up to the limit, in one query."""
    limit = unit.settings.email.burst_limit
    if not limit or inbound.released or inbound.channel != "email" or not sender.email:
        return None
    if sender.id in unit.new_people:  # made by this very message: it has opened nothing yet
        return None
    counted = unit.lookups.get((directory.RECENT_TICKETS, sender.id))
    if counted is not None:  # read with the sender (burst_window): no statement of its own
        recent = int(counted)
    else:  # on the connection: a Core statement, with no flush of the session before it
        recent = (
            unit.session.connection()
            .execute(_RECENT_TICKETS, {"person": sender.id, "since": burst_window(unit), "limit": limit})
            .scalar_one()
        )
    if recent < limit:
        return None
    return Hold(BURST, f"{sender.email} opened {recent} tickets within the hour (limit {limit})")


def suspend(unit: Unit, inbound: Inbound, hold: Hold) -> Receipt:
    """Keep the message for an agent; a second delivery of it is the first one's duplicate."""
    key = inbound.key or _key_of(unit, inbound)
    seen = unit.session.scalar(
        select(t.SuspendedMail.id).where(
            t.SuspendedMail.channel == inbound.channel, t.SuspendedMail.key == key
        )
    )
    if seen is not None:
        return _receipt(seen, hold, duplicate=True)
    source = unit.files.put(inbound.source) if inbound.source is not None else None
    files = [
        {
            "filename": item.filename,
            "content_type": item.content_type,
            "sha256": unit.files.put(item.data),
            "inline": item.inline,
            "content_id": item.content_id,
        }
        for item in inbound.attachments
    ]
    row = t.SuspendedMail(
        channel=inbound.channel,
        key=key,
        reason=hold.reason,
        detail=hold.detail[:500],
        sender=(inbound.sender.email or "")[:320] or None,
        sender_name=(inbound.sender.name or "")[:200] or None,
        subject=one_line(inbound.subject)[:1000],
        text=inbound.text[:MAX_TEXT],
        mailbox=inbound.mailbox,
        size=len(inbound.source) if inbound.source is not None else len(inbound.text.encode()),
        attachments=len(files),
        inbound=record_of(replace(inbound, key=key), files),
        source_sha256=source,
        received_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=None,
        actor=Actor.system(),
        kind=AuditKind.MAIL_SUSPENDED,
        after={
            "suspended": row.id,
            "reason": hold.reason,
            "detail": row.detail,
            "key": key,
            "sender": row.sender,
        },
    )
    logger.info(
        "%s message %s from %s suspended (%s): %s",
        inbound.channel,
        key,
        row.sender or "?",
        hold.reason,
        row.detail,
    )
    return _receipt(row.id, hold, duplicate=False)


def _key_of(unit: Unit, inbound: Inbound) -> str:
    digest = unit.files.put(inbound.source) if inbound.source is not None else None
    return f"sha256:{digest}" if digest else f"suspended:{unit.now.isoformat()}"


def _receipt(suspended_id: int, hold: Hold, *, duplicate: bool) -> Receipt:
    return Receipt(
        ticket_number=None,
        ticket_id=None,
        comment_id=None,
        created=False,
        duplicate=duplicate,
        rule=f"suspended: {hold.reason}",
        suspended_id=suspended_id,
    )


# -- the message as kept, and as received again ---------------------------------------

_FLAGS = (
    "verified",
    "authenticated",
    "internal",
    "auto_submitted",
    "spoofed",
    "bounce",
    "may_open",
    "new_only",
)
_TEXTS = ("subject", "text", "key", "html", "full_text", "ticket_number", "priority", "category", "team")
_MORE = ("mailbox", "conversation", "spam", "envelope_sender")


def record_of(inbound: Inbound, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The channel-neutral message as JSON; files and the raw source are kept by hash."""
    record: dict[str, Any] = {name: getattr(inbound, name) for name in (*_TEXTS, *_MORE, *_FLAGS)}
    record.update(
        channel=inbound.channel,
        sender=_identity(inbound.sender),
        references=list(inbound.references),
        cc=[_identity(identity) for identity in inbound.cc],
        fields=dict(inbound.fields),
        files=files,
        submitted_by=_identity(inbound.submitted_by) if inbound.submitted_by else None,
    )
    return record


def inbound_of(unit: Unit, row: t.SuspendedMail) -> Inbound:
    """The message as it came, to be received now: released, so no check holds it again."""
    record = row.inbound
    files = tuple(
        IncomingFile(
            item["filename"],
            item["content_type"],
            unit.files.get(item["sha256"]),
            inline=bool(item.get("inline")),
            content_id=item.get("content_id"),
        )
        for item in record.get("files", ())
    )
    submitted = record.get("submitted_by")
    kept: dict[str, Any] = {name: record.get(name) for name in (*_TEXTS, *_MORE)}
    kept.update({name: bool(record.get(name)) for name in _FLAGS})
    return Inbound(
        channel=record["channel"],
        sender=Identity(**record["sender"]),
        source=unit.files.get(row.source_sha256) if row.source_sha256 else None,
        attachments=files,
        references=tuple(record.get("references", ())),
        cc=tuple(Identity(**identity) for identity in record.get("cc", ())),
        fields=dict(record.get("fields") or {}),
        submitted_by=Identity(**submitted) if submitted else None,
        released=True,
        **kept,
    )


def _identity(identity: Identity) -> dict[str, str | None]:
    return {"email": identity.email, "name": identity.name, "slack_user_id": identity.slack_user_id}
