"""The time-based rules' sweep: tickets whose next check is due are looked at, and each
rule due fires once for the ticket's episode.

Like the SLA sweep: due tickets are read through the index on
``automation_check_at`` (the cost follows the tickets due, not the tickets
open) and claimed with ``FOR UPDATE SKIP LOCKED``, so two processes never look
at one ticket at once; a firing is an ``automation_firings`` row unique per
rule, ticket and episode, so a rule fires once for "waiting since Monday"
whatever sweeps again (another process, a restart, a replayed batch). A rule
whose conditions do not hold when its time comes is looked at again after the
ticket's next change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.audit import log as audit
from bot.automation import engine
from bot.rules.conditions import matches
from bot.rules.model import Rule
from bot.store import tables as t
from bot.tickets import automation_timers
from bot.tickets.facts import TicketFacts, anchors
from bot.unit import Unit

logger = logging.getLogger(__name__)
# A ticket whose due rule waits on time-dependent conditions, or whose sweep failed, is looked
# at again this much later.
RECHECK = timedelta(minutes=10)
# Condition fields (beside "hours since ...") whose truth can change with no event.
TIMELY = frozenset({"business_hours_now", "sla_status"})


@dataclass(frozen=True, slots=True)
class SweepReport:
    checked: int
    fired: int


def sweep(unit: Unit, *, limit: int = 500) -> SweepReport:
    """One batch: at most ``limit`` due tickets, each locked for this transaction only."""
    if not unit.rules.automations.timed:
        return SweepReport(0, 0)
    due = unit.session.scalars(
        select(t.Ticket)
        .where(t.Ticket.automation_check_at <= unit.now)
        .order_by(t.Ticket.automation_check_at, t.Ticket.id)
        .with_for_update(skip_locked=True, of=t.Ticket)
        .limit(limit)
    ).all()
    fired = 0
    for ticket in due:
        try:
            with audit.savepoint(unit):
                done, waiting = fire_due(unit, ticket)
        except (OperationalError, InterfaceError):
            raise  # the store is out of reach: the whole batch is retried
        except Exception:
            # One ticket's failure (a bug, not a rule's data: those are caught per rule) must
            # not hold up the batch, nor come first again at every sweep.
            logger.exception("automation sweep: ticket %s failed; looked at again later", ticket.id)
            ticket.automation_check_at = unit.now + RECHECK
            continue
        fired += done
        # Only forward: what was due has been decided (a change brings it back), unless a
        # rule waits on conditions that time alone can make true.
        later = automation_timers.next_check(unit, ticket, after=unit.now)
        if waiting:
            later = min(later or unit.now + RECHECK, unit.now + RECHECK)
        ticket.automation_check_at = later
    unit.session.flush()
    return SweepReport(len(due), fired)


def fire_due(unit: Unit, ticket: t.Ticket) -> tuple[int, bool]:
    """The ticket's time-based rules whose time has come and whose conditions hold, in order;
    together one originating event for the chain's bounds. Answers how many fired, and
    whether one due is held back by conditions that time alone may change ("hours since",
    "within business hours", the SLA status)."""
    fired, waiting = 0, False
    facts = TicketFacts(unit, ticket)
    with engine.chain_round(unit) as chain:
        for rule in unit.rules.automations.timed:
            episode = _due_episode(unit, rule, ticket, facts)
            if episode is None:
                continue
            if not matches(rule.conditions, facts):
                waiting = waiting or _timely(rule)
                continue
            if not _claim(unit, rule, ticket, episode):
                continue  # fired before for this episode
            fired += 1
            if engine.execute(unit, chain, rule, ticket, "time", facts) and rule.stop:
                break
    return fired, waiting


def _timely(rule: Rule) -> bool:
    conditions = (*rule.conditions.all, *rule.conditions.any)
    return any(c.field.startswith("hours_since_") or c.field in TIMELY for c in conditions)


def _due_episode(unit: Unit, rule: Rule, ticket: t.Ticket, facts: TicketFacts) -> datetime | None:
    """The episode's start when its time has passed; read afresh, as earlier rules may have
    changed the ticket."""
    ticket_anchors = anchors(ticket)
    due = automation_timers.due_of(rule, ticket_anchors, facts)
    if due is None or due > unit.now:
        return None
    return automation_timers.episode_of(rule, ticket)


def _claim(unit: Unit, rule: Rule, ticket: t.Ticket, episode: datetime) -> bool:
    values = {
        "rule_id": rule.id,
        "ticket_id": ticket.id,
        "episode": episode,
        "mode": rule.mode,
        "created_at": unit.now,
    }
    connection = unit.session.connection()
    result = connection.execute(_CLAIM[connection.dialect.name == "postgresql"], values)
    return result.first() is not None


# On the table: a Core statement, so the session is not flushed for it. RETURNING says
# whether the row went in (psycopg may report -1 as the row count of ON CONFLICT DO NOTHING).
_CLAIM = {
    postgres: (pg_insert if postgres else sqlite_insert)(t.table_of(t.AutomationFiring))
    .on_conflict_do_nothing(index_elements=["rule_id", "ticket_id", "episode", "mode"])
    .returning(t.table_of(t.AutomationFiring).c.rule_id)
    for postgres in (False, True)
}
