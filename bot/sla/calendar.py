"""SLA arithmetic: business hours, due times, pauses and on_time/at_risk/breached.

Pure rules, so the sweep, the reports and ``sla sweep --at`` all agree: every
function takes ``now``; instants are aware UTC in and out. Working hours are
local wall-clock times, turned into UTC per day with :mod:`zoneinfo` (fold=0),
so a DST day's 01:00-04:00 is 2 or 4 real hours. Durations are added as exact
``timedelta`` microseconds, so ``business_seconds_between`` inverts
``add_business_time``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from bot.errors import ConfigError

MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_MAX_IDLE_DAYS = 3660  # a calendar with no working day in ten years is a config error, not a hang
_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_NAMES = {name: i for i, full in enumerate(_FULL_NAMES) for name in (full, full[:3])}

Interval = tuple[time, time]


@functools.lru_cache(maxsize=512)
def _country_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    """A country's public holidays in one year; cached because due times cross years lazily."""
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision or None, years=year))


@dataclass(frozen=True, slots=True)
class Calendar:
    """When SLA time runs. ``hours`` maps weekday (0=Monday) to local intervals; an end of
    00:00 means midnight at the end of the day. ``holidays`` are extra local dates off;
    ``holiday_country`` adds that country's holidays. ``always_open`` counts every second."""

    timezone: str = "UTC"
    hours: dict[int, tuple[Interval, ...]] = field(default_factory=dict, hash=False)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    holiday_country: str = ""
    holiday_subdivision: str = ""
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"sla timezone: {self.timezone!r} is not an IANA zone name") from None
        object.__setattr__(self, "_zone", zone)
        if self.holiday_country:
            try:
                holidays_lib.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision or None)
            except NotImplementedError as exc:
                raise ConfigError(f"sla holiday_country: {exc}") from None
        if self.always_open:
            return
        for weekday, spans in self.hours.items():
            if weekday not in range(7):
                raise ConfigError(f"sla hours: weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
            previous_end = MIDNIGHT
            for opens, closes in spans:
                if not previous_end <= opens < (closes if closes != MIDNIGHT else time.max):
                    raise ConfigError(f"sla hours: {opens}-{closes} (weekday {weekday}) is empty or overlaps")
                previous_end = closes if closes != MIDNIGHT else time.max
        if not any(self.hours.values()):
            raise ConfigError("sla hours: the schedule has no working time; leave it empty for 24/7")

    @classmethod
    def always(cls) -> Calendar:
        """24/7: every second counts, holidays included."""
        return cls(always_open=True)

    @classmethod
    def from_config(
        cls,
        timezone: str,
        schedule: Mapping[str, str],
        holiday_country: str = "",
        holiday_subdivision: str = "",
        extra_holidays: Sequence[str] = (),
    ) -> Calendar:
        """``schedule`` maps "mon".."sun" to "09:00-17:00", "08:00-12:00,13:00-17:00" or ""
        (closed); missing days are closed; an empty schedule means 24/7."""
        days: set[date] = set()
        for raw in extra_holidays:
            try:
                days.add(date.fromisoformat(raw.strip()))
            except ValueError:
                raise ConfigError(f"sla extra_holidays: {raw!r} is not a date like 2026-12-24") from None
        hours: dict[int, tuple[Interval, ...]] = {}
        for name, text in schedule.items():
            weekday = _WEEKDAY_NAMES.get(name.strip().lower())
            if weekday is None:
                raise ConfigError(f"sla schedule: {name!r} is not a weekday; use mon, tue, ... sun")
            hours[weekday] = tuple(_parse_interval(part) for part in text.split(",") if part.strip())
        return cls(
            timezone=timezone,
            hours=hours,
            holidays=frozenset(days),
            always_open=not schedule,
            holiday_country=holiday_country.strip().upper(),
            holiday_subdivision=holiday_subdivision.strip(),
        )

    def is_holiday(self, day: date) -> bool:
        country = self.holiday_country
        return day in self.holidays or (
            bool(country) and day in _country_holidays(country, self.holiday_subdivision, day.year)
        )


def _parse_interval(text: str) -> Interval:
    match = _SPAN.fullmatch(text.strip())
    h1, m1, h2, m2 = (int(g) for g in match.groups()) if match else (99, 0, 0, 0)
    if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2, m2) == (24, 0)):
        return time(h1, m1), time(h2 % 24, m2)
    raise ConfigError(f"sla schedule: {text.strip()!r} is not like 09:00-17:00 (24:00 ends a day)")


def _utc(start: datetime) -> datetime:
    if start.tzinfo is None:
        raise ValueError(f"SLA arithmetic needs an aware datetime, got naive {start.isoformat()}")
    return start.astimezone(UTC)


def _intervals(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals in UTC after ``start``, in order and disjoint, the first clipped to it.

    A nonexistent local end (spring-forward gap) maps with fold=0 like zoneinfo does;
    clipping each interval to the previous end keeps the sequence monotonic anyway.
    """
    zone = calendar._zone
    day = start.astimezone(zone).date() - _ONE_DAY
    last, idle = start, 0
    while idle <= _MAX_IDLE_DAYS:
        spans = calendar.hours.get(day.weekday())
        idle += 1
        if spans and not calendar.is_holiday(day):
            for opens, closes in spans:
                a = max(datetime.combine(day, opens, zone).astimezone(UTC), last)
                close_day = day + _ONE_DAY if closes == MIDNIGHT else day
                b = datetime.combine(close_day, closes, zone).astimezone(UTC)
                if b > a:
                    yield a, b
                    last, idle = b, 0
        day += _ONE_DAY
    raise ConfigError(f"sla calendar: no working time within {_MAX_IDLE_DAYS} days of {start.isoformat()}")


def add_business_time(start: datetime, seconds: float, calendar: Calendar) -> datetime:
    """The first instant at which ``seconds`` of working time have passed since ``start``
    (rounded to the microsecond); 0 returns ``start`` itself, even outside working hours."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    start = _utc(start)
    need = timedelta(seconds=seconds)
    if not need:
        return start
    if calendar.always_open:
        return start + need
    for a, b in _intervals(calendar, start):
        span = b - a
        if need <= span:
            return a + need
        need -= span
    raise AssertionError("unreachable: _intervals never ends without raising")  # pragma: no cover


def business_seconds_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    """Working seconds in [start, end); 0 when ``end <= start``."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0.0
    if calendar.always_open:
        return (end - start).total_seconds()
    total = timedelta(0)
    for a, b in _intervals(calendar, start):
        if a >= end:
            break
        total += min(b, end) - a
    return total.total_seconds()


@dataclass(frozen=True, slots=True)
class Targets:
    first_response_seconds: int
    resolution_seconds: int

    def __post_init__(self) -> None:
        if self.first_response_seconds <= 0 or self.resolution_seconds <= 0:
            raise ConfigError(f"sla targets must be positive seconds, got {self}")


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    targets: Targets
    calendar: Calendar
    at_risk_share: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.at_risk_share <= 1:
            raise ConfigError(f"sla at_risk_share: {self.at_risk_share} is not in (0, 1]")


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One ticket's clock. ``paused_seconds`` sums business seconds of closed pauses.
    ``first_response_paused_seconds`` freezes that sum (plus any open pause) when the first
    response came, so pauses after a late response cannot make it look on time; None means
    "use ``paused_seconds``" (right when no pause followed the response)."""

    started_at: datetime
    paused_since: datetime | None = None
    paused_seconds: float = 0.0
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_paused_seconds: float | None = None


def pause(clock: SlaClock, now: datetime) -> SlaClock:
    """Stop counting (waiting_customer; also fine while resolved, so a reopen does not count the
    resolved days). No-op when already paused."""
    if clock.paused_since is not None:
        return clock
    return replace(clock, paused_since=now)


def _open_pause(clock: SlaClock, until: datetime, calendar: Calendar) -> float:
    if clock.paused_since is None:
        return 0.0
    return business_seconds_between(clock.paused_since, until, calendar)


def resume(clock: SlaClock, now: datetime, calendar: Calendar) -> SlaClock:
    """Count again, adding the pause's business seconds. No-op when running."""
    if clock.paused_since is None:
        return clock
    paused = clock.paused_seconds + _open_pause(clock, now, calendar)
    return replace(clock, paused_since=None, paused_seconds=paused)


def record_first_response(clock: SlaClock, now: datetime, calendar: Calendar) -> SlaClock:
    """Mark the first response (only the first counts) and freeze the paused time so far."""
    if clock.first_response_at is not None:
        return clock
    frozen = clock.paused_seconds + _open_pause(clock, now, calendar)
    return replace(clock, first_response_at=now, first_response_paused_seconds=frozen)


def record_resolution(clock: SlaClock, now: datetime, calendar: Calendar) -> SlaClock:
    """Mark the resolution; an open pause ends here. Reopening is ``replace(clock, resolved_at=None)``."""
    if clock.resolved_at is not None:
        return clock
    return replace(resume(clock, now, calendar), resolved_at=now)


def due(clock: SlaClock, seconds_target: float, calendar: Calendar) -> datetime | None:
    """When the target runs out at the current pace; None while paused."""
    if clock.paused_since is not None:
        return None
    return add_business_time(clock.started_at, seconds_target + clock.paused_seconds, calendar)


def elapsed_share(clock: SlaClock, target_seconds: float, now: datetime, calendar: Calendar) -> float:
    """Share of the target used so far (may exceed 1); frozen at ``paused_since`` while paused."""
    if target_seconds <= 0:
        raise ValueError(f"target_seconds must be positive, got {target_seconds}")
    until = clock.paused_since if clock.paused_since is not None else now
    used = business_seconds_between(clock.started_at, until, calendar) - clock.paused_seconds
    return used / target_seconds


def time_when_share(
    clock: SlaClock, target_seconds: float, share: float, calendar: Calendar
) -> datetime | None:
    """The instant the elapsed share reaches ``share`` (escalation thresholds); None while paused."""
    return due(clock, target_seconds * share, calendar)


class SlaStatus(StrEnum):
    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"


ActiveTarget = Literal["first_response", "resolution"]


@dataclass(frozen=True, slots=True)
class SlaState:
    status: SlaStatus
    first_response_due: datetime | None
    resolution_due: datetime | None
    active_target: ActiveTarget | None
    next_change_at: datetime | None


# One target seen at ``now``: level (0 on time, 1 at risk, 2 breached), its at-risk and due instants
# while both may still come. Levels only rise as time passes, which is what next_change_at needs.
_Track = tuple[int, datetime | None, datetime | None]


def _tracks(clock: SlaClock, policy: Policy, now: datetime) -> list[_Track]:
    cal, start = policy.calendar, clock.started_at
    stopped = [t for t in (now, clock.paused_since, clock.resolved_at) if t is not None]
    until = min(stopped, key=_utc)
    goals = policy.targets
    first = (goals.first_response_seconds, clock.first_response_at, clock.first_response_paused_seconds)
    tracks: list[_Track] = []
    for seconds, met_at, frozen_pause in (first, (goals.resolution_seconds, clock.resolved_at, None)):
        if met_at is not None:
            paused = frozen_pause
            if paused is None:  # an open pause counts only up to the moment the target was met
                paused = clock.paused_seconds + _open_pause(clock, met_at, cal)
            late = add_business_time(start, seconds + paused, cal) < _utc(met_at)
            tracks.append((2 if late else 0, None, None))
            continue
        deadline = add_business_time(start, seconds + clock.paused_seconds, cal)
        if deadline < _utc(until):
            tracks.append((2, None, None))
        elif clock.resolved_at is not None:  # resolved with no first response, in time: settled
            tracks.append((0, None, None))
        else:
            risk = add_business_time(start, seconds * policy.at_risk_share + clock.paused_seconds, cal)
            tracks.append((1 if risk <= _utc(until) else 0, risk, deadline))
    return tracks


def status(clock: SlaClock, policy: Policy, now: datetime) -> SlaStatus:
    """Worst of the two targets. A breach is final: it shows even while paused and after the
    target is met late. Paused otherwise hides at_risk; a resolved ticket is never paused."""
    return _status(clock, _tracks(clock, policy, now))


def _status(clock: SlaClock, tracks: list[_Track]) -> SlaStatus:
    level = max(track[0] for track in tracks)
    if level == 2:
        return SlaStatus.BREACHED
    if clock.paused_since is not None and clock.resolved_at is None:
        return SlaStatus.PAUSED
    return SlaStatus.AT_RISK if level == 1 else SlaStatus.ON_TIME


def evaluate(clock: SlaClock, policy: Policy, now: datetime) -> SlaState:
    """Status, due times and ``next_change_at``: the earliest instant the status changes with no
    event (at-risk time, or one microsecond after a due time since breached means due < now);
    None when paused, resolved or already breached."""
    tracks = _tracks(clock, policy, now)
    current = _status(clock, tracks)
    paused, finished = clock.paused_since is not None, clock.resolved_at is not None
    running = not paused and not finished
    cal, targets = policy.calendar, policy.targets
    fr_open = clock.first_response_at is None and not finished
    next_change: datetime | None = None
    if running and current in (SlaStatus.ON_TIME, SlaStatus.AT_RISK):
        if current is SlaStatus.ON_TIME:
            times = [risk for _, risk, _ in tracks if risk is not None]
        else:  # at risk: breached once now > due, i.e. from one microsecond after it
            times = [deadline + _TICK for _, _, deadline in tracks if deadline is not None]
        next_change = min(times, default=None)
    active: ActiveTarget | None = "first_response" if fr_open else None if finished else "resolution"
    return SlaState(
        status=current,
        first_response_due=due(clock, targets.first_response_seconds, cal) if fr_open and running else None,
        resolution_due=due(clock, targets.resolution_seconds, cal) if running else None,
        active_target=active,
        next_change_at=next_change,
    )


def is_working(calendar: Calendar, at: datetime) -> bool:
    """Whether ``at`` falls in working time (an automation rule's "within business hours")."""
    if calendar.always_open:
        return True
    at = _utc(at)
    opens, _closes = next(_intervals(calendar, at))
    return opens <= at
