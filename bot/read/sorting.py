"""The orders a ticket list can be read in, and where a page of one ended (keyset pagination).

A sort is a key and a direction: ``-updated_at`` is the most recently updated first.
Every order ends with the ticket's id in the same direction, so it is total and a
page ends at one exact position: the last ticket's key value and its id. The next
page starts strictly after that position, so tickets opened meanwhile never shift the
pages still to come; a ticket whose key changes meanwhile (a new priority, an update)
moves in the order, and may be read twice or missed, as in any keyset pagination.

``due`` is the running SLA target's due time: the first response's while the ticket
is unanswered, then the resolution's (the store clears a target's due time once it
is met or paused). Tickets without one (paused, finished, no SLA) come last in both
directions: they sort as if due at the end of time (ascending) or its beginning
(descending), so the key is never null and a page boundary is one row comparison,
which an index over the same expression and the id can answer with one range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, tuple_

from bot.errors import UserError
from bot.model import MAX_TICKET_ID, Priority
from bot.store import tables as t
from bot.store.types import UtcDateTime
from bot.views import TicketView

KEYS = ("created_at", "updated_at", "priority", "number", "due")
DEFAULT = "-number"  # newest first: the order lists had before they could be sorted
TIMES = ("created_at", "updated_at", "due")
# Priorities by urgency, so ``-priority`` is the most urgent first; an unknown one ranks lowest.
RANKS = {
    p.value: rank for rank, p in enumerate((Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT))
}
_UNRANKED = -1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The instants a datetime can hold, as microseconds since the epoch.
_EARLIEST = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_LATEST = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
# Where tickets without a due time sort: after every real one, in either direction.
NO_DUE_ASCENDING = datetime(9999, 12, 31, tzinfo=UTC)
NO_DUE_DESCENDING = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    descending: bool

    @property
    def name(self) -> str:
        return ("-" if self.descending else "") + self.key


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the sort it was read in, and its last ticket's key value and id.

    The value is an integer whatever the key: microseconds since the epoch for times
    (exact, unlike a float or a formatted time), the rank for a priority, the id for
    the number.
    """

    sort: str
    value: int
    ticket_id: int


def names() -> tuple[str, ...]:
    """Every sort a list accepts: each key, ascending and descending."""
    return tuple(name for key in KEYS for name in (key, "-" + key))


def parse(text: str | None) -> Sort:
    """``None`` is the default order, newest first."""
    raw = DEFAULT if text is None else text.strip()
    descending = raw.startswith("-")
    key = raw[1:] if descending else raw
    if key not in KEYS:
        raise UserError(
            f"cannot sort by {text!r}; use one of: {', '.join(KEYS)}, with a leading - for descending",
            field="sort",
        )
    return Sort(key, descending)


def position(sort: str, value: int, ticket_id: int) -> Position:
    """A position read back from outside (a cursor); ValueError if no page could end there."""
    key = parse(sort).key
    if not 0 < ticket_id <= MAX_TICKET_ID:
        raise ValueError("no such ticket id")
    if key in TIMES and not _EARLIEST <= value <= _LATEST:
        raise ValueError("not a time")
    elif key == "priority" and value not in (_UNRANKED, *RANKS.values()):
        raise ValueError("not a priority")
    elif key == "number" and value != ticket_id:
        raise ValueError("a number is its ticket's id")
    return Position(parse(sort).name, value, ticket_id)


def position_of(sort: Sort, view: TicketView) -> Position:
    """Where a page whose last ticket is ``view`` ends."""
    if sort.key == "priority":
        value = RANKS.get(view.priority, _UNRANKED)
    elif sort.key == "number":
        value = view.id
    else:
        when = {
            "created_at": view.created_at,
            "updated_at": view.updated_at,
            "due": view.first_response_due or view.resolution_due or _no_due(sort),
        }[sort.key]
        value = (when - _EPOCH) // _MICROSECOND
    return Position(sort.name, value, view.id)


def order_by(sort: Sort) -> list[ColumnElement[Any]]:
    ticket_id = t.Ticket.id.desc() if sort.descending else t.Ticket.id.asc()
    if sort.key == "number":
        return [ticket_id]
    key = _key(sort)
    return [key.desc() if sort.descending else key.asc(), ticket_id]


def after(sort: Sort, where: Position) -> ColumnElement[bool]:
    """The tickets that come after ``where`` in this order."""
    if where.sort != sort.name:
        raise UserError(
            f"this cursor pages a list sorted by {where.sort}, not {sort.name}; "
            "start again without a cursor when changing the sort",
            field="cursor",
        )
    ticket_id = t.Ticket.id
    if sort.key == "number":
        return ticket_id < where.ticket_id if sort.descending else ticket_id > where.ticket_id
    value: Any = _EPOCH + where.value * _MICROSECOND if sort.key in TIMES else where.value
    # A row value comparison: one range on an index over (key, id), where there is one. A plain
    # tuple on the right, so each value is bound with its column's type (times as UTC).
    pair, last = tuple_(_key(sort), ticket_id), (value, where.ticket_id)
    return pair < last if sort.descending else pair > last


def _no_due(sort: Sort) -> datetime:
    return NO_DUE_DESCENDING if sort.descending else NO_DUE_ASCENDING


def _key(sort: Sort) -> ColumnElement[Any]:
    if sort.key == "created_at":
        return t.Ticket.created_at.expression
    if sort.key == "updated_at":
        return t.Ticket.updated_at.expression
    # Constants are written into the SQL, not bound: an index over the same expression is
    # then used by SQLite too, which matches an expression with parameters to none.
    if sort.key == "due":
        missing = literal(_no_due(sort), UtcDateTime(), literal_execute=True)
        return func.coalesce(t.Ticket.first_response_due, t.Ticket.resolution_due, missing)
    if sort.key == "priority":
        ranks = [(_inline(name), _inline(rank)) for name, rank in RANKS.items()]
        return case(*ranks, value=t.Ticket.priority, else_=_inline(_UNRANKED))
    raise AssertionError(sort.key)


def _inline(value: str | int) -> ColumnElement[Any]:
    return literal(value, literal_execute=True)
