"""Timed jobs over old tickets and the audit log: auto-close, expiry, export.

Each runs inside the caller's transaction and is idempotent, so the scheduler
may run it on several processes sharing one PostgreSQL: tickets are claimed
with ``FOR UPDATE SKIP LOCKED`` (two processes split the work instead of
queueing on it) and re-checked under the lock, notifications carry dedupe
keys, and the export's progress is one row locked for the whole export. On
SQLite a write transaction holds the database's write lock, which serializes
the same work.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.model import Actor, Status, format_number
from bot.store import tables as t
from bot.store.private import make_private_folder
from bot.store.rows import get_or_create
from bot.tickets import changes as tickets
from bot.unit import Unit

logger = logging.getLogger(__name__)

AUDIT_EXPORT = "audit_export"
# Events are exported once they are this old. Ids are handed out when a row is
# written but become visible at commit, so a transaction still open may hold a
# smaller id than one already committed; waiting this long (far longer than any
# write transaction runs) means no id below the exported ones can still appear.
EXPORT_LAG = timedelta(minutes=10)
STREAM_BATCH = 1000


def auto_close(unit: Unit, *, limit: int = 500) -> list[str]:
    """Close tickets resolved ``auto_close_days`` ago or longer; the numbers closed.

    Up to ``limit`` per call, oldest first: a caller with a backlog calls
    again while it gets ``limit`` back. Nothing is closed when the workflow
    does not allow resolved -> closed.
    """
    if not unit.workflow.allows(Status.RESOLVED, Status.CLOSED):
        return []
    days = unit.settings.auto_close_days
    due = _claim(
        unit,
        [t.Ticket.status == Status.RESOLVED.value, t.Ticket.resolved_at <= unit.now - timedelta(days=days)],
        t.Ticket.resolved_at,
        limit,
    )
    closed: list[str] = []
    for ticket_id in due:
        ticket = tickets.get(unit, ticket_id)
        if ticket.status != Status.RESOLVED.value:  # changed since it was read: not ours to close
            continue
        event_id = tickets.change_status(
            unit,
            ticket,
            Status.CLOSED,
            Actor.system(),
            reason=f"auto-closed after {days} days resolved",
            announce=False,
        )
        unit.publish(ev.AutoClosed(ticket.id, event_id))
        closed.append(format_number(unit.settings.ticket_prefix, ticket.id))
    if closed:
        logger.info("auto-closed %d ticket(s)", len(closed))
    return closed


def flag_expired(unit: Unit, *, limit: int = 500) -> list[str]:
    """Flag unresolved tickets older than ``ticket_expiration_days``, once each; the numbers flagged.

    Each is recorded in the audit log (``expired``) and reported to its team
    (:class:`bot.events.TicketExpired`: one email per ticket and agent).
    Flagging does not change the status or ``updated_at``: it is a report, not
    activity on the ticket.
    """
    days = unit.settings.ticket_expiration_days
    due = _claim(
        unit,
        [
            t.Ticket.status.in_(tickets.OPEN_STATUSES),
            t.Ticket.created_at <= unit.now - timedelta(days=days),
            t.Ticket.expired_at.is_(None),
        ],
        t.Ticket.created_at,
        limit,
    )
    flagged: list[str] = []
    for ticket_id in due:
        ticket = tickets.get(unit, ticket_id)
        if ticket.expired_at is not None or ticket.status not in tickets.OPEN_STATUSES:
            continue
        ticket.expired_at = unit.now
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=Actor.system(),
            kind=AuditKind.EXPIRED,
            before={"expired_at": None},
            after={"expired_at": unit.now.isoformat(), "expiration_days": days},
        )
        unit.publish(ev.TicketExpired(ticket.id))
        flagged.append(format_number(unit.settings.ticket_prefix, ticket.id))
    unit.session.flush()
    if flagged:
        logger.info("flagged %d ticket(s) as expired", len(flagged))
    return flagged


def _claim(unit: Unit, where: list[Any], oldest: Any, limit: int) -> list[int]:
    """Ids of the matching tickets, row-locked; rows another process holds are left to it.

    Only the id is selected: the ticket's eagerly joined people may not be
    locked (PostgreSQL refuses FOR UPDATE on the nullable side of an outer join).
    """
    query = (
        select(t.Ticket.id)
        .where(*where, t.Ticket.merged_into_id.is_(None))
        .order_by(oldest, t.Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(unit.session.scalars(query))


def export_audit(unit: Unit, data_dir: Path) -> Path | None:
    """Every ``audit_log_interval`` days, write the audit events not yet exported as JSON Lines.

    The file is ``<data_dir>/audit/audit-<YYYY-MM-DD>T<HHMMSS>Z.jsonl`` (UTC),
    one object per event: ``id``, ``ticket`` (number or null), ``actor``,
    ``kind``, ``before``, ``after``, ``created_at`` (ISO 8601). Returns the
    file, or None when it is not time yet or there is nothing new (the period
    still counts as done). Events younger than :data:`EXPORT_LAG` wait for the
    next period.

    Progress is the ``audit_export`` job mark (the last event id exported, and
    the start of the current period). It is locked for the whole export and
    advanced in the same transaction that read the events, so two processes
    never export one event twice: the second skips the locked mark, or waits on
    SQLite and then finds the export done. Periods keep their phase (the mark
    moves by whole intervals), so an hourly caller exports at the same hour
    every day instead of drifting.

    The file is moved into place before the caller commits: if that commit
    then fails, the next export repeats those events in a new file (readers
    deduplicate by ``id``), which beats losing them.
    """
    session = unit.session
    get_or_create(
        session, t.JobMark, lambda: t.JobMark(name=AUDIT_EXPORT, value=0, at=None), name=AUDIT_EXPORT
    )
    mark = session.scalar(
        select(t.JobMark)
        .where(t.JobMark.name == AUDIT_EXPORT)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if mark is None:  # another process is exporting right now
        return None
    interval = timedelta(days=unit.settings.audit_log_interval)
    if mark.at is not None and unit.now < mark.at + interval:
        return None
    mark.at = unit.now if mark.at is None else mark.at + interval * ((unit.now - mark.at) // interval)
    first, last = _exportable(unit, mark.value)
    if last is None:
        session.flush()
        return None
    path = _write_atomically(
        data_dir / "audit", f"audit-{unit.now:%Y-%m-%dT%H%M%S}Z.jsonl", _lines(unit, first, last)
    )
    mark.value = last
    session.flush()
    logger.info("audit log exported to %s: events %d to %d", path, first, last)
    return path


def _exportable(unit: Unit, after: int) -> tuple[int, int | None]:
    """The id range to export: past ``after``, up to the first event younger than the lag."""
    session = unit.session
    # Dated ahead of now only by `sla sweep --at` a later time: not a commit still in flight.
    young = session.scalar(
        select(func.min(t.Event.id)).where(
            t.Event.id > after, t.Event.created_at > unit.now - EXPORT_LAG, t.Event.created_at <= unit.now
        )
    )
    upto = select(func.min(t.Event.id), func.max(t.Event.id)).where(t.Event.id > after)
    if young is not None:
        upto = upto.where(t.Event.id < young)
    first, last = session.execute(upto).one()
    return (first or 0), last


def _lines(unit: Unit, first: int, last: int) -> Iterator[str]:
    """The events as JSON lines, streamed from the store in batches."""
    prefix = unit.settings.ticket_prefix
    rows = unit.session.execute(
        select(
            t.Event.id,
            t.Event.ticket_id,
            t.Event.actor,
            t.Event.kind,
            t.Event.before,
            t.Event.after,
            t.Event.created_at,
        )
        .where(t.Event.id >= first, t.Event.id <= last)
        .order_by(t.Event.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for event_id, ticket_id, actor, kind, before, after, created_at in rows:
        record = {
            "id": event_id,
            "ticket": format_number(prefix, ticket_id) if ticket_id is not None else None,
            "actor": actor,
            "kind": kind,
            "before": before,
            "after": after,
            "created_at": created_at.isoformat(),
        }
        yield json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _write_atomically(folder: Path, name: str, lines: Iterator[str]) -> Path:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    make_private_folder(folder)  # the audit log names people and what they did: owner only
    target = folder / name
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=folder, prefix=f".{name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target
