"""The audit log: one event per change, with actor, time, before and after.

Rows are written by Core, never as objects: an audit row is not read back by
the change that makes it. They are kept on the unit as recorded and written
together, one ``INSERT`` for all, just before the transaction commits (a sweep
firing forty levels writes their forty rows in one statement). Anything that
reads the log in a transaction that wrote to it (a ticket's history), or needs
an event's id, writes what is pending first, so ids stay in the order recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import insert

from bot.audit.kinds import AuditKind
from bot.model import Actor
from bot.store import tables as t
from bot.unit import Unit


def record(
    unit: Unit,
    *,
    ticket_id: int | None,
    actor: Actor,
    kind: AuditKind,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    unit.audit_rows.append(_row(unit, ticket_id, actor, kind, before, after))


@contextmanager
def savepoint(unit: Unit) -> Iterator[None]:
    """A savepoint whose audit rows go with it when it rolls back, as its other rows do.

    On a rollback the rows pending before it are pending again, whatever happened inside:
    a change there that wrote them (:func:`record_now` writes all pending rows first) had
    them rolled back with it. Nothing is written for the savepoint's sake: the rows still
    go in one statement at the commit."""
    before = list(unit.audit_rows)
    try:
        with unit.session.begin_nested():
            yield
    except BaseException:
        unit.audit_rows[:] = before
        raise


def write_pending(unit: Unit) -> None:
    """The rows recorded so far, written in one statement; called before the commit."""
    if unit.audit_rows:
        unit.session.connection().execute(_INSERT, unit.audit_rows)
        unit.audit_rows.clear()


_INSERT = insert(t.table_of(t.Event))


def _row(
    unit: Unit,
    ticket_id: int | None,
    actor: Actor,
    kind: AuditKind,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "actor_id": actor.person_id,
        "actor": actor.label,
        "kind": kind,
        # Copies: the row is written at the commit, and the caller's dicts may change by then.
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "created_at": unit.now,
    }


def record_now(
    unit: Unit,
    *,
    ticket_id: int | None,
    actor: Actor,
    kind: AuditKind,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """Like :func:`record`, answering the event's id, for callers that key on it (dedupe keys)."""
    write_pending(unit)  # first: ids follow the order the events happened in
    row = _row(unit, ticket_id, actor, kind, before, after)
    key = unit.session.connection().execute(_INSERT, row).inserted_primary_key
    assert key is not None  # RETURNING where the database has it, else the cursor's lastrowid
    return int(key[0])


# The ticket attributes recorded by :func:`changed`, each with its own kind.
Attribute = Literal["priority", "category", "team", "tags", "subject"]
_CHANGED: dict[Attribute, AuditKind] = {
    "priority": AuditKind.PRIORITY_CHANGED,
    "category": AuditKind.CATEGORY_CHANGED,
    "team": AuditKind.TEAM_CHANGED,
    "tags": AuditKind.TAGS_CHANGED,
    "subject": AuditKind.SUBJECT_CHANGED,
}


def changed(unit: Unit, ticket: t.Ticket, actor: Actor, name: Attribute, before: Any, after: Any) -> None:
    """The common case: one attribute of a ticket went from ``before`` to ``after``."""
    record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=_CHANGED[name],
        before={name: before},
        after={name: after},
    )
