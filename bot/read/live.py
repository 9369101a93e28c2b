"""What an open page polls: a change stamp per ticket or for the whole queue, and queue sizes.

A stamp is an opaque string that moves when what the page shows may have changed; a page
compares it with the last one it saw and fetches itself again when it differs. Each stamp
is one small query answered from indexes, since every open page asks for it every second
or so; several processes sharing the store see each other's changes through it.

A requester's stamp of their ticket is made only of what they may see (its status,
priority, assignee and public comments), so it does not move when an agent writes an
internal note: even the timing of internal work stays internal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from bot.audit.kinds import AuditKind
from bot.read import queries
from bot.store import tables as t
from bot.unit import Unit

# Reading a ticket over the API is put on record on the ticket; it changes nothing on it.
NOT_CHANGES = (AuditKind.API_REQUEST.value,)
# Changes a requester's ticket page shows that its own columns do not (tags are the
# agents' labels: the portal does not show them).
SHOWN_TO_REQUESTERS = (AuditKind.CATEGORY_CHANGED.value, AuditKind.FIELD_CHANGED.value)


def ticket_stamp(unit: Unit, ticket_id: int, *, public_only: bool) -> str | None:
    """None when there is no such ticket."""
    ticket = t.Ticket
    if public_only:
        last_comment = (
            select(func.max(t.Comment.id))
            .where(t.Comment.ticket_id == ticket_id, t.Comment.public.is_(True), t.Comment.flagged.is_(False))
            .scalar_subquery()
        )
        # What the requester's page shows besides these columns: its category and fields.
        shown_change = (
            select(func.max(t.Event.id))
            .where(t.Event.ticket_id == ticket_id, t.Event.kind.in_(SHOWN_TO_REQUESTERS))
            .scalar_subquery()
        )
        columns: tuple[Any, ...] = (
            ticket.status,
            ticket.priority,
            ticket.assignee_id,
            ticket.merged_into_id,
            last_comment,
            shown_change,
        )
    else:
        last_event = (
            select(func.max(t.Event.id))
            .where(t.Event.ticket_id == ticket_id, t.Event.kind.not_in(NOT_CHANGES))
            .scalar_subquery()
        )
        columns = (ticket.updated_at, last_event)
    row = unit.session.execute(select(*columns).where(ticket.id == ticket_id)).first()
    return None if row is None else _opaque(tuple(row))


def queue_stamp(unit: Unit) -> str:
    """Moves with any ticket opened or changed: the newest ticket, the latest update and the
    latest change on record. Each is a scalar subquery read from the end of an index (SQLite
    answers a lone ``max`` from its index, not two in one select); a COUNT would read all of it.

    The update times alone could miss a change: a transaction that began earlier may commit
    after a later one, its time then below the latest. The audit log's ids are taken just
    before the commit, so together they leave a window of a few statements, not a transaction.
    """
    newest = select(func.max(t.Ticket.id)).scalar_subquery()
    latest = select(func.max(t.Ticket.updated_at)).scalar_subquery()
    # Newest first, skipping API reads: as many steps as reads came after the last change.
    change = (
        select(t.Event.id).where(t.Event.kind.not_in(NOT_CHANGES)).order_by(t.Event.id.desc()).limit(1)
    ).scalar_subquery()
    row = unit.session.execute(select(newest, latest, change)).one()
    return _opaque(tuple(row))


def count_tickets(unit: Unit, filters: Sequence[queries.TicketFilter], cap: int | None = None) -> list[int]:
    """How many tickets each filter selects (limits and cursors ignored): one COUNT each.

    ``cap``: count at most this many and one more (a queue tab says "10,000+"), so a tab over a
    million tickets reads ten thousand index entries, not a million."""
    counts = []
    for query in filters:
        selected = queries.filtered(unit, query).with_only_columns(t.Ticket.id).order_by(None)
        if cap is not None:
            selected = selected.limit(cap + 1)
        counts.append(int(unit.session.scalar(select(func.count()).select_from(selected.subquery())) or 0))
    return counts


def _opaque(values: tuple[Any, ...]) -> str:
    """Short and telling nothing: a page (a requester's) never learns what moved, or ids."""
    return hashlib.sha256(repr(values).encode()).hexdigest()[:16]
