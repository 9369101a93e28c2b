"""The dashboard's key figures: the open queue now, and the last 30 days' flow and SLA.

Read on every refresh of an open dashboard, so each part is one query whose cost follows
the open tickets or the last 30 days' activity, never the whole table (at a million
tickets, a few tenths of a second in all):

- the open tickets by status, priority, SLA status and assignee: one GROUP BY through the
  status index, which also gives the unassigned, at risk, breached and each agent's load;
- the staff, for their names (agents with nothing open show too);
- tickets opened per UTC day: one GROUP BY through the creation index alone;
- the tickets answered or finished in the window: one read of a few numbers each (hours
  and days worked out by the database), bounded through the ``updated_at`` index: every
  change to a ticket sets it, so a ticket answered or resolved in the window was updated
  in it. From it come the finished per day, the SLA shares and the medians (in Python).

Compliance follows the SLA report's rule (:mod:`bot.read.reports`): the store keeps a
ticket's ``sla_status``, and ``breached`` (final once set) means a target was missed;
``sla_breached_at`` is when. A first response was within its target unless the ticket
was breached by the time it came; a resolution was within the SLA if the ticket was
never breached. Tickets from before SLAs were tracked (no status) are not judged. The
report counts the tickets *opened* in a period; these count what was answered or
resolved in it, which is what a desk's last 30 days were.
"""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, and_, case, func, or_, select
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from bot.model import Priority, Role, Status
from bot.sla.calendar import SlaStatus
from bot.store import tables as t
from bot.tickets.changes import OPEN_STATUSES
from bot.unit import Unit

DAYS = 30
FINISHED = (Status.RESOLVED.value, Status.CLOSED.value)
STAFF = (Role.AGENT.value, Role.ADMIN.value)
_PRIORITIES = (Priority.URGENT.value, Priority.HIGH.value, Priority.MEDIUM.value, Priority.LOW.value)
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Count:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Day:
    """One UTC day: tickets opened on it, and tickets resolved (or closed) on it that still are."""

    day: date
    created: int
    resolved: int


@dataclass(frozen=True, slots=True)
class Share:
    """How many of the judged tickets met the target."""

    met: int
    judged: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.met / self.judged if self.judged else None


@dataclass(frozen=True, slots=True)
class Load:
    """An agent (or admin) and the open tickets assigned to them."""

    person_id: int
    name: str
    email: str | None
    role: str
    open: int


@dataclass(frozen=True, slots=True)
class DashboardView:
    at: datetime
    # The first instant of the 30 days: midnight UTC, 29 days before today.
    since: datetime
    # Every open status in workflow order, and every priority most urgent first, zeros too.
    by_status: tuple[Count, ...]
    by_priority: tuple[Count, ...]
    unassigned: int
    at_risk: int
    breached: int
    days: tuple[Day, ...]
    first_response: Share
    resolution: Share
    first_response_median_h: float | None
    resolution_median_h: float | None
    # The most loaded first; agents with nothing open too.
    agents: tuple[Load, ...]

    @property
    def open_total(self) -> int:
        return sum(count.count for count in self.by_status)


def read_dashboard(unit: Unit) -> DashboardView:
    now = unit.now
    first = now.astimezone(UTC).date() - timedelta(days=DAYS - 1)
    since = datetime.combine(first, time(0), UTC)
    dialect = unit.session.get_bind().dialect.name
    status, priority, unassigned, at_risk, breached, loads = _open(unit)
    window = _window(unit, since, dialect)
    return DashboardView(
        at=now,
        since=since,
        by_status=status,
        by_priority=priority,
        unassigned=unassigned,
        at_risk=at_risk,
        breached=breached,
        days=_days(unit, since, dialect, window.resolved_per_day),
        first_response=window.first_response,
        resolution=window.resolution,
        first_response_median_h=window.first_response_median_h,
        resolution_median_h=window.resolution_median_h,
        agents=_agents(unit, loads),
    )


_Open = tuple[tuple[Count, ...], tuple[Count, ...], int, int, int, dict[int, int]]


def _open(unit: Unit) -> _Open:
    """The open tickets by status, priority, SLA status and assignee: one pass over the open
    ones through the status index (the assignee index would walk every ticket ever assigned)."""
    ticket = _tickets()
    rows = unit.session.execute(
        select(ticket.status, ticket.priority, ticket.sla_status, ticket.assignee_id, func.count())
        .where(ticket.status.in_(OPEN_STATUSES))
        .group_by(ticket.status, ticket.priority, ticket.sla_status, ticket.assignee_id)
    ).all()
    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    by_priority = dict.fromkeys(_PRIORITIES, 0)
    loads: dict[int, int] = {}
    unassigned = at_risk = breached = 0
    for status, priority, sla_status, assignee, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
        if assignee is None:
            unassigned += count
        else:
            loads[assignee] = loads.get(assignee, 0) + count
        at_risk += count if sla_status == SlaStatus.AT_RISK.value else 0
        breached += count if sla_status == SlaStatus.BREACHED.value else 0
    return _counts(by_status), _counts(by_priority), unassigned, at_risk, breached, loads


def _counts(counts: dict[str, int]) -> tuple[Count, ...]:
    return tuple(Count(name, count) for name, count in counts.items())


def _tickets() -> ReadOnlyColumnCollection[str, Column[Any]]:
    """The tickets table's columns: Core, not the ORM, since every row read is a few numbers."""
    return t.table_of(t.Ticket).c


def _finished_at() -> ColumnElement[Any]:
    """When a ticket still resolved or closed was finished (closing keeps the resolution's time)."""
    ticket = _tickets()
    return func.coalesce(ticket.resolved_at, ticket.closed_at)


def _days(unit: Unit, since: datetime, dialect: str, resolved: dict[date, int]) -> tuple[Day, ...]:
    """Tickets opened per UTC day (a GROUP BY over the creation index alone), beside those
    finished per day (counted while reading the window)."""
    ticket = _tickets()
    created_on = _day(ticket.created_at, dialect)
    opened = unit.session.execute(
        select(created_on, func.count()).where(ticket.created_at >= since).group_by(created_on)
    ).all()
    created = {_as_date(day): count for day, count in opened}
    days = [since.date() + timedelta(days=n) for n in range(DAYS)]
    return tuple(Day(day, created.get(day, 0), resolved.get(day, 0)) for day in days)


def _day(moment: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The UTC day of a stored time (SQLite keeps UTC text; PostgreSQL's session zone may differ)."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", moment))
    return func.date(moment)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _hours(later: ColumnElement[Any], earlier: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """Hours between two stored times, to the second, computed by the database: no time is
    parsed in Python."""
    seconds: ColumnElement[Any]
    if dialect == "postgresql":
        seconds = func.extract("epoch", later - earlier)
    else:
        seconds = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.round(seconds) / 3600.0


@dataclass(frozen=True, slots=True)
class _Window:
    resolved_per_day: dict[date, int]
    first_response: Share
    resolution: Share
    first_response_median_h: float | None
    resolution_median_h: float | None


def _window(unit: Unit, since: datetime, dialect: str) -> _Window:
    """What the tickets answered or finished in the window say: finished per day, the SLA
    shares, the median times. One read of a few numbers per ticket, only of those tickets
    (``updated_at`` bounds it), the durations and days computed by the database."""
    ticket = _tickets()
    finished = _finished_at()
    answered = ticket.first_response_at >= since
    done = and_(ticket.status.in_(FINISHED), finished >= since)
    statement = select(
        case((answered, _hours(ticket.first_response_at, ticket.created_at, dialect)), else_=None),
        case((done, _hours(finished, ticket.created_at, dialect)), else_=None),
        case((done, _day(finished, dialect)), else_=None),
        ticket.sla_status,
        # The first response came before any breach: it was in time.
        case(
            (or_(ticket.sla_breached_at.is_(None), ticket.sla_breached_at > ticket.first_response_at), 1),
            else_=0,
        ),
    ).where(ticket.updated_at >= since, or_(answered, done))
    responses, resolutions = array("d"), array("d")
    per_day: dict[date, int] = {}
    responded = responded_met = finished_judged = finished_met = 0
    with unit.session.execute(statement.execution_options(yield_per=_BATCH)) as result:
        for response_h, resolution_h, finished_on, sla_status, in_time in result:
            judged = sla_status is not None
            if response_h is not None:
                responses.append(float(response_h))
                responded += judged
                responded_met += judged and bool(in_time)
            if resolution_h is not None:
                resolutions.append(float(resolution_h))
                finished_judged += judged
                finished_met += judged and sla_status != SlaStatus.BREACHED.value
                day = _as_date(finished_on)
                per_day[day] = per_day.get(day, 0) + 1
    return _Window(
        per_day,
        Share(responded_met, responded),
        Share(finished_met, finished_judged),
        _median(responses),
        _median(resolutions),
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _agents(unit: Unit, loads: dict[int, int]) -> tuple[Load, ...]:
    """Every agent and admin with their open tickets, and anyone else who still holds some."""
    person = t.table_of(t.Person).c
    holders = list(loads)
    rows = unit.session.execute(
        select(person.id, person.name, person.email, person.slack_user_id, person.role).where(
            or_(person.role.in_(STAFF), person.id.in_(holders))
        )
    ).all()
    agents = [
        Load(
            person_id,
            name or email or slack_id or f"person {person_id}",
            email,
            role,
            loads.get(person_id, 0),
        )
        for person_id, name, email, slack_id, role in rows
    ]
    return tuple(sorted(agents, key=lambda agent: (-agent.open, agent.name.casefold(), agent.person_id)))
