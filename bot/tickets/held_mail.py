"""What agents do with suspended mail: find it, read it, release it, delete it; and the
count of messages that kept failing, which sets one aside after ``[email] max_attempts``.

Releasing receives the message as it came (:func:`bot.tickets.suspension.inbound_of`):
it becomes a ticket or a comment like any other, acknowledged then, and the suspended
row remembers which. A message released twice is released once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import NotFound, UserError
from bot.messages import Inbound, Receipt
from bot.model import Actor, format_number
from bot.store import tables as t
from bot.tickets import intake, suspension
from bot.unit import Unit

logger = logging.getLogger(__name__)

MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class HeldFilter:
    """Which suspended messages: by words in subject, sender or reason's detail; by reason;
    released ones or those still held."""

    query: str | None = None
    reason: str | None = None
    released: bool = False
    received_before: datetime | None = None

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in suspension.REASONS:
            raise UserError(
                f"reason {self.reason!r} is not one of: {', '.join(suspension.REASONS)}", field="reason"
            )
        if self.query is not None and len(self.query) > MAX_QUERY:
            raise UserError(f"search words are limited to {MAX_QUERY} characters", field="q")


@dataclass(frozen=True, slots=True)
class HeldView:
    id: int
    reason: str
    detail: str
    sender: str | None
    sender_name: str | None
    subject: str
    mailbox: str | None
    size: int
    attachments: int
    received_at: datetime
    released_at: datetime | None
    released_by: str | None
    ticket: str | None
    # The text, for one message's page; the list leaves it out.
    text: str | None = None

    @classmethod
    def of(cls, row: t.SuspendedMail, prefix: str, *, with_text: bool = False) -> HeldView:
        return cls(
            id=row.id,
            reason=row.reason,
            detail=row.detail,
            sender=row.sender,
            sender_name=row.sender_name,
            subject=row.subject,
            mailbox=row.mailbox,
            size=row.size,
            attachments=row.attachments,
            received_at=row.received_at,
            released_at=row.released_at,
            released_by=row.released_by,
            ticket=format_number(prefix, row.ticket_id) if row.ticket_id else None,
            text=row.text if with_text else None,
        )


@dataclass(frozen=True, slots=True)
class Released:
    """What became of one message an agent released, or why it could not be."""

    id: int
    ticket: str | None = None
    created: bool = False
    error: str | None = None


def _where(held: HeldFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        t.SuspendedMail.released_at.is_not(None) if held.released else t.SuspendedMail.released_at.is_(None)
    ]
    if held.reason:
        where.append(t.SuspendedMail.reason == held.reason)
    if held.received_before is not None:
        where.append(t.SuspendedMail.received_at < held.received_before)
    for word in (held.query or "").split()[:10]:
        word = word.lower()
        where.append(
            or_(
                *(
                    func.lower(column).contains(word, autoescape=True)
                    for column in (
                        t.SuspendedMail.subject,
                        t.SuspendedMail.sender,
                        t.SuspendedMail.sender_name,
                        t.SuspendedMail.detail,
                    )
                )
            )
        )
    return where


def listing(unit: Unit, held: HeldFilter, *, before_id: int | None, limit: int) -> list[HeldView]:
    """Newest first, a page at a time (``before_id``: the last id of the page before)."""
    where = _where(held)
    if before_id is not None:
        where.append(t.SuspendedMail.id < before_id)
    rows = unit.session.scalars(
        select(t.SuspendedMail)
        .options(defer(t.SuspendedMail.inbound), defer(t.SuspendedMail.text))  # a page reads neither
        .where(*where)
        .order_by(t.SuspendedMail.id.desc())
        .limit(limit)
    )
    return [HeldView.of(row, unit.settings.ticket_prefix) for row in rows]


def counts(unit: Unit) -> dict[str, int]:
    """Messages still held, by reason (every reason named, 0 included)."""
    rows = unit.session.execute(
        select(t.SuspendedMail.reason, func.count())
        .where(t.SuspendedMail.released_at.is_(None))
        .group_by(t.SuspendedMail.reason)
    )
    found = {key: value for key, value in rows}
    return {reason: int(found.get(reason, 0)) for reason in suspension.REASONS}


def one(unit: Unit, held_id: int) -> HeldView:
    return HeldView.of(_row(unit, held_id), unit.settings.ticket_prefix, with_text=True)


def _row(unit: Unit, held_id: int, *, lock: bool = False) -> t.SuspendedMail:
    query = select(t.SuspendedMail).where(t.SuspendedMail.id == held_id)
    row = unit.session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"no suspended message {held_id}")
    return row


def source_of(unit: Unit, held_id: int) -> bytes | None:
    """The raw message as it came, for an agent to download and inspect."""
    row = _row(unit, held_id)
    return unit.files.get(row.source_sha256) if row.source_sha256 else None


def release(unit: Unit, actor: Actor, held_id: int) -> Released:
    """Receive the message now, as it came; the row keeps what became of it."""
    row = _row(unit, held_id, lock=True)
    if row.released_at is not None:
        ticket = format_number(unit.settings.ticket_prefix, row.ticket_id) if row.ticket_id else None
        return Released(held_id, ticket, error="already released")
    inbound = suspension.inbound_of(unit, row)
    receipt = intake.receive(unit, inbound)
    row.released_at = unit.now
    row.released_by = actor.label[:320]
    row.ticket_id = receipt.ticket_id
    audit.record(
        unit,
        ticket_id=receipt.ticket_id,
        actor=actor,
        kind=AuditKind.MAIL_RELEASED,
        after={"suspended": row.id, "reason": row.reason, "key": row.key, "rule": receipt.rule},
    )
    logger.info(
        "suspended message %s (%s) released by %s: %s %s",
        row.id,
        row.reason,
        actor.label,
        "new ticket" if receipt.created else "comment on",
        receipt.ticket_number,
    )
    return Released(held_id, receipt.ticket_number, receipt.created)


def delete_held(unit: Unit, actor: Actor, ids: list[int] | None, held: HeldFilter | None, batch: int) -> int:
    """Delete the messages named, or (no ids) up to ``batch`` of those the filter selects."""
    if ids is not None:
        where: list[ColumnElement[bool]] = [t.SuspendedMail.id.in_(ids)]
    else:
        where = _where(held or HeldFilter())
    chosen = list(
        unit.session.execute(
            select(t.SuspendedMail.id, t.SuspendedMail.reason, t.SuspendedMail.key)
            .where(*where)
            .order_by(t.SuspendedMail.id)
            .limit(batch)
        )
    )
    if not chosen:
        return 0
    unit.session.execute(delete(t.SuspendedMail).where(t.SuspendedMail.id.in_([row[0] for row in chosen])))
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.MAIL_DELETED,
        after={"deleted": len(chosen), "ids": [row[0] for row in chosen][:100]},
    )
    return len(chosen)


def prune(unit: Unit, before: datetime, batch: int) -> int:
    """Suspended mail nobody released, older than the retention: forgotten in batches."""
    ids = list(
        unit.session.scalars(
            select(t.SuspendedMail.id)
            .where(t.SuspendedMail.received_at < before)  # released ones live on in their tickets
            .order_by(t.SuspendedMail.id)
            .limit(batch)
        )
    )
    if ids:
        unit.session.execute(delete(t.SuspendedMail).where(t.SuspendedMail.id.in_(ids)))
    return len(ids)


def forget_failures(unit: Unit, before: datetime, batch: int) -> int:
    """Counts of messages that failed last before ``before`` and were never set aside (they
    went through, or never came again). Those set aside stay: /metrics counts them, and a
    counter never goes down."""
    stale = list(
        unit.session.scalars(
            select(t.MailFailure.digest)
            .where(t.MailFailure.last_at < before, t.MailFailure.gave_up_at.is_(None))
            .limit(batch)
        )
    )
    if stale:
        unit.session.execute(delete(t.MailFailure).where(t.MailFailure.digest.in_(stale)))
    return len(stale)


# -- messages that keep failing --------------------------------------------------------


def failure_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def count_failure(unit: Unit, key: str, via: str, error: str) -> int:
    """One more failed attempt at the message; how many there have been."""
    digest = failure_digest(key)
    row = unit.session.get(t.MailFailure, digest, with_for_update=True)
    if row is None:
        row = t.MailFailure(
            digest=digest,
            key=key[:998],
            via=via,
            attempts=0,
            last_error="",
            first_at=unit.now,
            last_at=unit.now,
        )
        unit.session.add(row)
    row.attempts += 1
    row.last_error = error[:500]
    row.last_at = unit.now
    unit.session.flush()
    return row.attempts


def give_up(unit: Unit, key: str) -> None:
    """The message failed its last attempt: counted for /metrics from now on."""
    unit.session.execute(
        update(t.MailFailure)
        .where(t.MailFailure.digest == failure_digest(key), t.MailFailure.gave_up_at.is_(None))
        .values(gave_up_at=unit.now)
    )


def keep_failed(unit: Unit, inbound: Inbound, via: str, error: str) -> Receipt:
    """A message set aside, kept for an agent to read, download and release once its
    cause is fixed; made storable first, as ``receive`` would have."""
    hold = suspension.Hold(suspension.FAILED, f"failed every {via} attempt: {error}")
    return suspension.suspend(unit, intake.storable(inbound), hold)


def set_aside_counts(unit: Unit) -> dict[str, int]:
    """Messages set aside after failing every attempt, by the way they came (smtp, imap)."""
    rows = unit.session.execute(
        select(t.MailFailure.via, func.count())
        .where(t.MailFailure.gave_up_at.is_not(None))
        .group_by(t.MailFailure.via)
    )
    found = {key: value for key, value in rows}
    return {via: int(found.get(via, 0)) for via in ("smtp", "imap")}
