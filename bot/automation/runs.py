"""The execution log: what each rule did to each ticket, or why it did nothing.

One row per rule that matched (applied, tried in dry-run, failed for data
reasons, or held back by the chain's bounds); a rule whose conditions did not
hold leaves none, so the log stays as long as the work done. Rows are written
by Core at once, in the transaction of the change: a run that rolls back with
its message leaves no record of having happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from bot.rules.model import Rule
from bot.store import tables as t
from bot.unit import Unit

APPLIED, DRY_RUN, FAILED, SKIPPED = "applied", "dry_run", "failed", "skipped"
OUTCOMES = (APPLIED, DRY_RUN, FAILED, SKIPPED)

_INSERT = insert(t.table_of(t.AutomationRun))


def record(
    unit: Unit,
    rule: Rule,
    ticket_id: int | None,
    trigger: str,
    outcome: str,
    changes: Sequence[dict[str, Any]] = (),
    *,
    reason: str | None = None,
    depth: int = 0,
) -> None:
    unit.session.connection().execute(
        _INSERT,
        {
            "rule_id": rule.id,
            "rule_name": rule.name,
            "ticket_id": ticket_id,
            "trigger": trigger,
            "outcome": outcome,
            "changes": [dict(change) for change in changes],
            "reason": reason[:2000] if reason else None,
            "depth": depth,
            "created_at": unit.now,
        },
    )


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    rule_id: int
    rule: str
    ticket: str | None
    trigger: str
    outcome: str
    changes: list[dict[str, Any]]
    reason: str | None
    depth: int
    at: datetime
    subject: str | None = None  # the ticket's, for a reader who knows it by its subject


def log(
    unit: Unit,
    *,
    rule_id: int | None = None,
    ticket_id: int | None = None,
    outcome: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    prefix: str = "",
) -> list[RunView]:
    """Newest first; ``before_id`` pages back (the last id of the page before)."""
    query = (
        select(t.AutomationRun, t.Ticket.subject)
        .outerjoin(t.Ticket, t.Ticket.id == t.AutomationRun.ticket_id)
        .order_by(t.AutomationRun.id.desc())
        .limit(limit)
    )
    if rule_id is not None:
        query = query.where(t.AutomationRun.rule_id == rule_id)
    if ticket_id is not None:
        query = query.where(t.AutomationRun.ticket_id == ticket_id)
    if outcome is not None:
        query = query.where(t.AutomationRun.outcome == outcome)
    if before_id is not None:
        query = query.where(t.AutomationRun.id < before_id)
    return [
        RunView(
            row.id,
            row.rule_id,
            row.rule_name,
            f"{prefix}-{row.ticket_id}" if row.ticket_id is not None else None,
            row.trigger,
            row.outcome,
            list(row.changes),
            row.reason,
            row.depth,
            row.created_at,
            subject,
        )
        for row, subject in unit.session.execute(query)
    ]


def prune(unit: Unit, before: datetime, limit: int = 5_000) -> int:
    """Forget runs older than ``before``, at most ``limit`` at a time (the caller repeats)."""
    oldest = select(t.AutomationRun.id).where(t.AutomationRun.created_at < before).limit(limit)
    result = unit.session.execute(
        delete(t.AutomationRun)
        .where(t.AutomationRun.id.in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def counts(unit: Unit, rule_ids: Sequence[int] | None = None) -> dict[int, dict[str, int]]:
    """Per rule, how many runs of each outcome (every outcome present, zero when none)."""
    query = select(t.AutomationRun.rule_id, t.AutomationRun.outcome, func.count()).group_by(
        t.AutomationRun.rule_id, t.AutomationRun.outcome
    )
    if rule_ids is not None:
        query = query.where(t.AutomationRun.rule_id.in_(list(rule_ids)))
    found: dict[int, dict[str, int]] = {}
    for rule_id, outcome, count in unit.session.execute(query):
        found.setdefault(rule_id, dict.fromkeys(OUTCOMES, 0))[outcome] = count
    return found
