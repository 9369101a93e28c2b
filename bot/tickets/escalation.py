"""The SLA sweep: tickets whose check is due are looked at again, and the ladder fires, once a level.

Safe with several processes on one PostgreSQL: due tickets are claimed with
``FOR UPDATE SKIP LOCKED``, so two sweeps never look at one ticket at once;
a level is an ``escalations`` row unique per ticket and level, and its
notifications have dedupe keys, so a level fires once whatever runs again
(a second process, a restart in the middle of the ladder, a replayed sweep).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import UserError
from bot.model import Actor, Priority, format_number
from bot.people import directory
from bot.sla import calendar as sla
from bot.sla.policy import Level
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.tickets import changes as tickets
from bot.tickets import sla_clocks as sla_track
from bot.unit import Unit

logger = logging.getLogger(__name__)
PRIORITY_ORDER = (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT)
# A ticket whose next check could not move forward is looked at again this much later.
RECHECK = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Fired:
    number: str
    level: int
    threshold: str
    notify: tuple[str, ...]
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SweepReport:
    checked: int
    fired: tuple[Fired, ...]


RULES_MARK = "sla_rules"


def recheck_if_rules_changed(unit: Unit) -> bool:
    """After a change of policies (in the file or over the API) or of the ladder, every
    unfinished ticket is looked at again.

    Stored due times and next checks follow the rules they were computed with; a
    fingerprint of the rules in ``job_marks`` tells when they changed, so the
    next sweep recomputes (and a dry run shows) what the new rules mean.
    """
    settings = unit.settings
    # The layered policies (file and API), so an admin's change is picked up at the next sweep.
    rules = (settings.sla, unit.rules.sla_entries, settings.escalation_levels, settings.enable_escalation)
    fingerprint = zlib.crc32(repr(rules).encode()) & 0x7FFFFFFF
    # The first time there is nothing to compare with: tickets of an older version were
    # marked for a check by the migration, newer ones were computed under these rules.
    get_or_create(
        unit.session, t.JobMark, lambda: t.JobMark(name=RULES_MARK, value=fingerprint), name=RULES_MARK
    )
    mark = unit.session.get(t.JobMark, RULES_MARK, with_for_update=True, populate_existing=True)
    assert mark is not None
    if mark.value == fingerprint:
        return False
    unit.session.execute(
        update(t.Ticket).where(t.Ticket.status.in_(tickets.OPEN_STATUSES)).values(sla_next_check_at=unit.now)
    )
    mark.value, mark.at = fingerprint, unit.now
    logger.info("SLA rules changed: every unfinished ticket is checked again")
    return True


def sweep(unit: Unit, *, limit: int | None = 500) -> SweepReport:
    """One batch: at most ``limit`` due tickets (None: all), each locked for this transaction only."""
    query = (
        select(t.Ticket)
        .where(t.Ticket.sla_next_check_at <= unit.now)
        .order_by(t.Ticket.sla_next_check_at, t.Ticket.id)
        .with_for_update(skip_locked=True, of=t.Ticket)
    )
    due = unit.session.scalars(query.limit(limit) if limit is not None else query).all()
    fired: list[Fired] = []
    for ticket in due:
        before = (ticket.sla_status, ticket.escalation_level)
        fired += fire_due_levels(unit, ticket)
        # A level's change already told of a status it moved (tickets.changes.touch).
        was = ticket.sla_status
        sla_track.refresh(unit, ticket)
        if (ticket.sla_status, ticket.escalation_level) != before:
            # The card shows them; rules on "SLA changed" hear the status.
            unit.publish(ev.TicketChanged(ticket.id, "sla", Actor.system(), was, ticket.sla_status))
        if ticket.sla_next_check_at is not None and ticket.sla_next_check_at <= unit.now:
            ticket.sla_next_check_at = unit.now + RECHECK
    unit.session.flush()
    return SweepReport(len(due), tuple(fired))


def fire_due_levels(unit: Unit, ticket: t.Ticket) -> list[Fired]:
    """Every level above the current one whose threshold has passed, in order, each once."""
    if ticket.status in sla_track.STOPPED:
        return []
    fired: list[Fired] = []
    policy = sla_track.policy_of(unit, ticket)
    for level in sla_track.waiting_levels(unit, ticket):
        clock = sla_track.clock_of(ticket)
        state = sla.evaluate(clock, policy, unit.now)
        when = sla_track.threshold_time(level.threshold, ticket, clock, policy, state)
        if when is None or when > unit.now:
            continue
        ticket.escalation_level = level.number
        if _claim_level(unit, ticket, level, sla_track.level_key(level, state)):
            fired.append(_fire(unit, ticket, level, state))
            policy = sla_track.policy_of(unit, ticket)  # a level may have raised the priority
    return fired


def _claim_level(unit: Unit, ticket: t.Ticket, level: Level, key: int) -> bool:
    """Insert the level's row; False if it is already there (it fired before)."""
    values = {
        "ticket_id": ticket.id,
        "level": key,
        "reason": _describe(level),
        "created_at": unit.now,
    }
    dialect = unit.session.get_bind().dialect.name
    result = unit.session.connection().execute(_CLAIM[dialect == "postgresql"], values)
    return result.first() is not None


# On the table, not the mapped class: a Core statement, so the session is not flushed for it.
# RETURNING says whether the row went in: a row count is not reliable for INSERT ... ON
# CONFLICT on every driver (psycopg may report -1).
_CLAIM = {
    postgres: (pg_insert if postgres else sqlite_insert)(t.table_of(t.Escalation))
    .on_conflict_do_nothing(index_elements=["ticket_id", "level"])
    .returning(t.table_of(t.Escalation).c.id)
    for postgres in (False, True)
}


def _fire(unit: Unit, ticket: t.Ticket, level: Level, state: sla.SlaState) -> Fired:
    system = Actor.system()
    changes: list[str] = []
    if level.raise_priority:
        current = Priority(ticket.priority)
        higher = PRIORITY_ORDER[min(PRIORITY_ORDER.index(current) + 1, len(PRIORITY_ORDER) - 1)]
        if higher is not current:
            before = ticket.priority
            ticket.priority = higher.value
            audit.changed(unit, ticket, system, "priority", before, higher.value)
            changes.append(f"priority {before} -> {higher.value}")
            unit.publish(ev.TicketChanged(ticket.id, "priority", system, before, higher.value))
    if level.reassign_team:
        try:
            team = directory.find_team(unit, level.reassign_team)
        except UserError as error:
            logger.error("escalation level %d: %s", level.number, error)
        else:
            if ticket.team_id != team.id:
                was = ticket.team.name if ticket.team else None
                ticket.team, ticket.team_id = team, team.id  # the key now: auto_assign reads it
                unit.publish(ev.TicketChanged(ticket.id, "team", system, was, team.name))
                tickets.set_assignee(unit, ticket, None, system, rule="escalation")
                tickets.auto_assign(unit, ticket, system)
                changes.append(f"team -> {team.name}")
    number = format_number(unit.settings.ticket_prefix, ticket.id)
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=system,
        kind=AuditKind.ESCALATED,
        after={
            "level": level.number,
            "threshold": _describe(level),
            "sla_status": state.status.value,
            "notify": list(level.notify),
            "changes": changes,
        },
    )
    tickets.touch(unit, ticket)
    unit.publish(ev.SlaLevelReached(ticket.id, level, _describe(level)))
    logger.info("%s: escalation level %d (%s) fired", number, level.number, _describe(level))
    return Fired(number, level.number, _describe(level), level.notify, tuple(changes))


def _describe(level: Level) -> str:
    threshold = level.threshold
    if threshold.share is not None:
        return "SLA breached" if threshold.share == 1 else f"{threshold.share:.0%} of the SLA target"
    assert threshold.delay is not None
    hours = threshold.delay.total_seconds() / 3600
    span = f"{hours:g} h" if hours >= 1 else f"{threshold.delay.total_seconds() / 60:g} min"
    return f"{span} after the customer's last message" if threshold.after_customer else f"{span} open"
