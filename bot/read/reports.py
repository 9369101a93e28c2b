"""SLA reports: volume, compliance, response and resolution times and escalations of a period's tickets.

The population is every ticket created since a moment, in rows per group and per day
or ISO week (UTC) of creation. One pass streams only
the few columns needed (``yield_per``), so a million tickets never sit in
memory as ORM objects; the durations are kept as plain doubles per group for
the medians. Compliance is read from what the store keeps: a ticket whose
``sla_status`` is ``breached`` missed a target, any other status met or still
meets both (the per-target due times are cleared once met, so they cannot say).
"""

from __future__ import annotations

import math
import re
import statistics
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, null, select

from bot.audit.kinds import AuditKind
from bot.errors import UserError
from bot.model import Priority
from bot.sla.calendar import SlaStatus
from bot.store import tables as t
from bot.unit import Unit

GROUPINGS = ("priority", "category", "agent", "team")
PERIODS = ("day", "week")
# Rows per day are for a recent stretch; longer ones read better per week.
MAX_DAYS = 731
# How far back a report may reach (about ten years): it bounds the rows per week a report
# lays out (at most 524) and keeps date arithmetic far from datetime's limits.
MAX_SINCE_DAYS = 3660
ALL = "all"
# What a ticket without the grouped attribute is filed under; these sort last.
MISSING = {"priority": "(none)", "category": "(none)", "agent": "(unassigned)", "team": "(none)"}
_PRIORITY_RANK = {
    p.value: rank for rank, p in enumerate((Priority.URGENT, Priority.HIGH, Priority.MEDIUM, Priority.LOW))
}
_DURATION = re.compile(r"(\d+)\s*([hdw])", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_BATCH = 2000
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Figures:
    """What a report says of a set of tickets; times are wall-clock hours, None when no ticket has one."""

    tickets: int
    resolved: int
    sla_compliance_pct: float | None
    first_response_mean_h: float | None
    first_response_median_h: float | None
    resolution_mean_h: float | None
    resolution_median_h: float | None
    escalations: int


_FIGURES = frozenset(f.name for f in fields(Figures))


@dataclass(frozen=True, slots=True)
class ReportRow(Figures):
    """One group's figures."""

    group: str


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One ISO week of the period by the tickets created in it."""

    week: str
    starts: date
    tickets: int
    sla_compliance_pct: float | None


@dataclass(frozen=True, slots=True)
class PeriodRow(Figures):
    """One day (``2026-03-02``) or ISO week (``2026-W10``) by the tickets created in it."""

    period: str
    starts: date


@dataclass(frozen=True, slots=True)
class SlaReport:
    since: datetime
    until: datetime
    by: str | None
    rows: tuple[ReportRow, ...]
    weeks: tuple[WeekRow, ...]
    period: str = "week"
    # Every day or week from the one ``since`` falls in to the one ``until`` does, empty ones too.
    series: tuple[PeriodRow, ...] = ()


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``4w`` back from ``now``, or an ISO date or time (UTC if it names no zone),
    at most :data:`MAX_SINCE_DAYS` back: the one parser of ``since`` for the API and the CLI."""
    cleaned = text.strip()
    duration = _DURATION.fullmatch(cleaned)
    if duration:
        digits, unit = duration.group(1).lstrip("0"), _UNITS[duration.group(2).lower()]
        if not digits:
            raise UserError(f"since {text!r} is an empty period; give at least 1", field="since")
        # Bounded before multiplying (99999999d would overflow a datetime) and before int()
        # (which refuses thousands of digits with a ValueError).
        if len(digits) > 9 or int(digits) > timedelta(days=MAX_SINCE_DAYS) // unit:
            raise _too_far_back(text)
        amount = int(digits)
        return check_since(now - amount * unit, now, text)
    try:
        value = datetime.fromisoformat(cleaned)
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        raise UserError(
            f"since {text!r} is neither a duration like 30d, 12h or 4w nor a date like 2026-03-01",
            field="since",
        ) from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
        raise _too_far_back(text) from None
    return check_since(value, now, text)


def check_since(since: datetime, now: datetime, text: str | None = None) -> datetime:
    """``since`` if it is neither in the future nor more than :data:`MAX_SINCE_DAYS` before ``now``."""
    shown = text if text is not None else since.isoformat()
    if since > now:
        raise UserError(f"since {shown!r} is in the future", field="since")
    if now - since > timedelta(days=MAX_SINCE_DAYS):
        raise _too_far_back(shown)
    return since


def _too_far_back(text: str) -> UserError:
    return UserError(
        f"since {text!r} is more than {MAX_SINCE_DAYS} days back; reports reach at most that far",
        field="since",
    )


def check_grouping(by: str | None) -> str | None:
    if by is not None and by not in GROUPINGS:
        raise UserError(f"cannot group by {by!r}; use one of: {', '.join(GROUPINGS)}", field="by")
    return by


def check_period(period: str, since: datetime, until: datetime) -> str:
    if period not in PERIODS:
        raise UserError(f"cannot report per {period!r}; use one of: {', '.join(PERIODS)}", field="period")
    days = (until.astimezone(UTC).date() - since.astimezone(UTC).date()).days + 1
    if period == "day" and days > MAX_DAYS:
        raise UserError(
            f"rows per day cover at most {MAX_DAYS} days, not {days}; report per week or from a later since",
            field="period",
        )
    return period


def build(unit: Unit, since: datetime | str, by: str | None = None, period: str = "week") -> SlaReport:
    """The report of the tickets created since ``since`` (as of ``unit.now``), grouped, by week,
    and per ``period`` (day or week)."""
    by = check_grouping(by)
    # A time passed in is held to the same bounds as a text: they cap the rows a report lays out.
    start = parse_since(since, unit.now) if isinstance(since, str) else check_since(since, unit.now)
    period = check_period(period, start, unit.now)
    groups: dict[str, _Tally] = {}
    weeks: dict[tuple[int, int], _Tally] = {}
    buckets: dict[date, _Tally] = {}
    for key, created, responded, resolved, status, escalations in _facts(unit, start, by):
        group = ALL if by is None else (MISSING[by] if key is None else key)
        tally = groups.get(group)
        if tally is None:
            tally = groups[group] = _Tally()
        tally.add(created, responded, resolved, status, escalations)
        iso = created.isocalendar()
        week = weeks.get((iso.year, iso.week))
        if week is None:
            week = weeks[(iso.year, iso.week)] = _Tally()
        week.count(status)
        starts = _starts(created, period)
        bucket = buckets.get(starts)
        if bucket is None:
            bucket = buckets[starts] = _Tally()
        bucket.add(created, responded, resolved, status, escalations)
    if by is None:
        groups.setdefault(ALL, _Tally())
    rows = tuple(ReportRow(group=name, **groups[name].figures()) for name in _ordered(groups, by))
    series = tuple(_period_rows(buckets, period, start, unit.now))
    return SlaReport(start, unit.now, by, rows, tuple(_week_rows(weeks, start, unit.now)), period, series)


def sla_report(unit: Unit, since: datetime, by: str | None = None) -> list[ReportRow]:
    return list(build(unit, since, by).rows)


def weekly(unit: Unit, since: datetime) -> list[WeekRow]:
    return list(build(unit, since).weeks)


# -- reading ---------------------------------------------------------------------------

_Fact = tuple[str | None, datetime, datetime | None, datetime | None, str | None, int]


def _facts(unit: Unit, since: datetime, by: str | None) -> Iterable[_Fact]:
    """One tuple per ticket: group key, created, first response, resolved, SLA status, escalations."""
    in_period = t.Ticket.created_at >= since
    ladder = (
        select(t.Escalation.ticket_id, func.count().label("n"))
        .join(t.Ticket, t.Ticket.id == t.Escalation.ticket_id)
        .where(in_period)
        .group_by(t.Escalation.ticket_id)
        .subquery()
    )
    # The ladder writes "escalated" events too, with its level number: those are already counted above.
    manual = (
        select(t.Event.ticket_id, func.count().label("n"))
        .join(t.Ticket, t.Ticket.id == t.Event.ticket_id)
        .where(in_period, t.Event.kind == AuditKind.ESCALATED, t.Event.after["level"].as_string() == "manual")
        .group_by(t.Event.ticket_id)
        .subquery()
    )
    key: ColumnElement[Any]  # str, or None through an outer join
    if by == "category":
        key = t.Category.path.expression
    elif by == "agent":
        # A chat-only agent has no email: named by Slack id or name rather than lumped together.
        key = func.coalesce(t.Person.email, t.Person.slack_user_id, t.Person.name)
    elif by == "team":
        key = t.Team.name.expression
    elif by == "priority":
        key = t.Ticket.priority.expression
    else:
        key = null()  # one group: ALL
    statement = (
        select(
            key,
            t.Ticket.created_at,
            t.Ticket.first_response_at,
            t.Ticket.resolved_at,
            t.Ticket.sla_status,
            func.coalesce(ladder.c.n, 0) + func.coalesce(manual.c.n, 0),
        )
        .select_from(t.Ticket)
        .outerjoin(ladder, ladder.c.ticket_id == t.Ticket.id)
        .outerjoin(manual, manual.c.ticket_id == t.Ticket.id)
        .where(in_period)
    )
    if by == "category":
        statement = statement.outerjoin(t.Category, t.Category.id == t.Ticket.category_id)
    elif by == "agent":
        statement = statement.outerjoin(t.Person, t.Person.id == t.Ticket.assignee_id)
    elif by == "team":
        statement = statement.outerjoin(t.Team, t.Team.id == t.Ticket.team_id)
    # Closed on the way out even if the caller stops early: PostgreSQL streams through a server cursor.
    with unit.session.execute(statement.execution_options(yield_per=_BATCH)) as result:
        yield from result


# -- adding up -------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    tickets: int = 0
    resolved: int = 0
    judged: int = 0
    breached: int = 0
    escalations: int = 0
    first_response: array[float] = field(default_factory=lambda: array("d"))
    resolution: array[float] = field(default_factory=lambda: array("d"))

    def count(self, status: str | None) -> None:
        self.tickets += 1
        if status is not None:  # a ticket from before SLAs were tracked has none to judge
            self.judged += 1
            self.breached += int(status == SlaStatus.BREACHED.value)

    def add(
        self,
        created: datetime,
        responded: datetime | None,
        resolved: datetime | None,
        status: str | None,
        escalations: int,
    ) -> None:
        self.count(status)
        self.escalations += escalations
        if responded is not None:
            self.first_response.append((responded - created).total_seconds() / _HOUR)
        if resolved is not None:
            self.resolved += 1
            self.resolution.append((resolved - created).total_seconds() / _HOUR)

    def compliance(self) -> float | None:
        return 100.0 * (self.judged - self.breached) / self.judged if self.judged else None

    def figures(self) -> dict[str, Any]:
        """The :class:`Figures` of these tickets, as keywords for a row of any kind."""
        return {
            "tickets": self.tickets,
            "resolved": self.resolved,
            "sla_compliance_pct": self.compliance(),
            "first_response_mean_h": _mean(self.first_response),
            "first_response_median_h": _median(self.first_response),
            "resolution_mean_h": _mean(self.resolution),
            "resolution_median_h": _median(self.resolution),
            "escalations": self.escalations,
        }


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _ordered(groups: dict[str, _Tally], by: str | None) -> list[str]:
    """Priorities most urgent first; other groups by name; the "none" group last."""
    missing = MISSING.get(by or "")

    def rank(name: str) -> tuple[int, int, str]:
        if by == "priority":
            return (name == missing, _PRIORITY_RANK.get(name, len(_PRIORITY_RANK)), name)
        return (name == missing, 0, name.casefold())

    return sorted(groups, key=rank)


def _starts(moment: datetime, period: str) -> date:
    """The first day of the day or ISO week (UTC) ``moment`` falls in."""
    day = moment.astimezone(UTC).date()
    return day if period == "day" else day - timedelta(days=day.weekday())


def _period_rows(
    buckets: dict[date, _Tally], period: str, since: datetime, until: datetime
) -> list[PeriodRow]:
    """Every day or ISO week from the one ``since`` falls in to the one ``until`` does, empty ones too."""
    step = timedelta(days=1) if period == "day" else timedelta(weeks=1)
    starts, last = _starts(since, period), max(_starts(until, period), _starts(since, period))
    rows: list[PeriodRow] = []
    while starts <= last:
        if period == "day":
            label = starts.isoformat()
        else:
            iso = starts.isocalendar()
            label = f"{iso.year}-W{iso.week:02d}"
        rows.append(PeriodRow(period=label, starts=starts, **buckets.get(starts, _Tally()).figures()))
        starts += step
    return rows


def _week_rows(weeks: dict[tuple[int, int], _Tally], since: datetime, until: datetime) -> list[WeekRow]:
    """Every ISO week from the one ``since`` falls in to the one ``until`` does, empty ones too."""
    first = since.astimezone(UTC).date()
    monday = first - timedelta(days=first.weekday())
    last = max(until.astimezone(UTC).date(), first)
    rows: list[WeekRow] = []
    while monday <= last:
        iso = monday.isocalendar()
        tally = weeks.get((iso.year, iso.week), _Tally())
        rows.append(WeekRow(f"{iso.year}-W{iso.week:02d}", monday, tally.tickets, tally.compliance()))
        monday += timedelta(weeks=1)
    return rows


def rounded(row: Figures | WeekRow) -> dict[str, Any]:
    """A row as reports print it (CLI JSON, the API): what names the row first (its group,
    day or week), then its figures; percentages to 0.1, hours to 0.01."""
    values = asdict(row)
    own = [name for name in values if name not in _FIGURES]
    ordered = {name: values[name] for name in [*own, *(n for n in values if n in _FIGURES)]}
    for name, value in ordered.items():
        if isinstance(value, float):
            ordered[name] = round(value, 1 if name.endswith("_pct") else 2)
    return ordered
