"""SLA policies and the escalation ladder, built from the settings (and the policies
admins stored over the API) and checked before they are used.

A ticket's policy is the most specific ``[[sla_policies]]`` entry for its
category (a parent category's entry covers its subcategories; an entry
without a category covers every one) and priority, else the default
``[sla]`` targets for its priority. A bad duration, time
zone, schedule or threshold stops start-up with the option named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.errors import ConfigError
from bot.model import PRIORITY_ALIASES, Priority
from bot.sla.calendar import Calendar, Policy, Targets
from bot.sla.settings import EscalationLevel, SlaPolicyOverride, SlaSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(\d{1,12})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 365 * 86400
NOTIFY_KINDS = ("assignee", "team_lead", "managers", "support_channel")
NOTIFY_PREFIXES = ("person:", "email:", "slack:")


def parse_duration(text: str, option: str) -> int:
    """Seconds in ``90s``, ``15m``, ``4h`` or ``2d``, up to a year: a due time counted in
    business hours from a longer target could fall past the last date Python can hold."""
    found = _DURATION.match(text)
    if not found or int(found.group(1)) <= 0:
        raise ConfigError(f"{option} = {text!r}: write a duration like 90s, 15m, 4h or 2d")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds > MAX_DURATION:
        raise ConfigError(f"{option} = {text!r}: at most 365d")
    return seconds


def parse_targets(text: str, option: str) -> Targets:
    first, sep, resolution = text.partition("/")
    if not sep:
        raise ConfigError(f"{option} = {text!r}: write <first response>/<resolution>, e.g. 1h/8h")
    return Targets(parse_duration(first, option), parse_duration(resolution, option))


def parse_schedule(text: str, option: str) -> dict[str, str]:
    """``mon-fri 09:00-17:00; sat 10:00-14:00`` -> ``{"mon": "09:00-17:00", ..., "sat": "10:00-14:00"}``."""
    schedule: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        days, _, hours = part.partition(" ")
        first, _, last = days.lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS) or not hours.strip():
            raise ConfigError(f"{option} = {text!r}: write e.g. 'mon-fri 09:00-17:00; sat 10:00-14:00'")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        for index in range(start, end + 1):
            schedule[WEEKDAYS[index]] = hours.strip().replace(" ", "")
    return schedule


def calendar_of(
    timezone: str, business_hours: str, country: str, subdivision: str, holidays: str, option: str
) -> Calendar:
    if not business_hours.strip():
        return Calendar.always()
    extra = [day.strip() for day in holidays.split(",") if day.strip()]
    return Calendar.from_config(
        timezone or "UTC",
        parse_schedule(business_hours, f"{option}.business_hours"),
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_holidays=extra,
    )


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    priority: str | None
    policy: Policy


class Policies:
    """Which policy applies to a ticket; built again only when the policies change."""

    def __init__(self, sla: SlaSettings, overrides: Sequence[SlaPolicyOverride]) -> None:
        share = sla.at_risk_percent / 100
        calendar = calendar_of(
            sla.timezone,
            sla.business_hours,
            sla.holiday_country,
            sla.holiday_subdivision,
            sla.holidays,
            "sla",
        )
        self.default = {
            priority: Policy(
                f"default/{priority.value}",
                parse_targets(getattr(sla, priority.value), f"sla.{priority.value}"),
                calendar,
                share,
            )
            for priority in Priority
        }
        self.rules: list[Rule] = []
        for index, entry in enumerate(overrides):
            option = f"sla_policies[{index}]"
            priority = _priority(entry.priority, f"{option}.priority") if entry.priority else None
            if not entry.category.strip() and priority is None:
                raise ConfigError(f"{option} needs a category, a priority or both")
            own = entry.timezone or entry.business_hours or entry.holiday_country or entry.holidays
            rule_calendar = (
                calendar_of(
                    entry.timezone or sla.timezone,
                    entry.business_hours or sla.business_hours,
                    entry.holiday_country or sla.holiday_country,
                    sla.holiday_subdivision,
                    entry.holidays or sla.holidays,
                    option,
                )
                if own
                else calendar
            )
            targets = Targets(
                parse_duration(entry.first_response, f"{option}.first_response"),
                parse_duration(entry.resolution, f"{option}.resolution"),
            )
            name = (entry.category.strip() or "any") + (f"/{priority}" if priority else "")
            self.rules.append(
                Rule(entry.category.strip().lower(), priority, Policy(name, targets, rule_calendar, share))
            )
        # Most specific first: the longer category path, then a rule naming the priority.
        self.rules.sort(key=lambda rule: (-len(rule.category), rule.priority is None))

    def for_ticket(self, priority: str, category: str | None) -> Policy:
        path = (category or "").lower()
        for rule in self.rules:
            in_category = not rule.category or path == rule.category or path.startswith(rule.category + "/")
            if in_category and rule.priority in (None, priority):
                return rule.policy
        return self.default[Priority(priority)]


def policy_key(entry: SlaPolicyOverride) -> tuple[str, str]:
    """What makes two policies the same one: the category path (any case) and the priority."""
    category = "/".join(part.strip() for part in entry.category.split("/") if part.strip()).lower()
    priority = _priority(entry.priority, "priority") if entry.priority.strip() else ""
    return category, priority


def layered(
    from_file: Sequence[SlaPolicyOverride], stored: Sequence[SlaPolicyOverride]
) -> tuple[SlaPolicyOverride, ...]:
    """The file's policies with the stored ones on top: a stored policy replaces the
    file's entry for the same category and priority, so admins can change either."""
    replaced = {policy_key(entry) for entry in stored}
    return tuple(entry for entry in from_file if policy_key(entry) not in replaced) + tuple(stored)


@dataclass(frozen=True, slots=True)
class Threshold:
    """When a ladder level fires: a share of the running target, or a delay after an instant."""

    share: float | None = None
    delay: timedelta | None = None
    after_customer: bool = False

    @property
    def is_breach(self) -> bool:
        return self.share is not None and self.share >= 1


@dataclass(frozen=True, slots=True)
class Level:
    number: int
    threshold: Threshold
    notify: tuple[str, ...]
    raise_priority: bool
    reassign_team: str

    @property
    def kind(self) -> str:
        """Below the breach a level is a warning (``sla_warning``), from the breach on an
        ``escalation``: its notices' template and the setting that turns them off."""
        return "escalation" if self.threshold.share is None or self.threshold.is_breach else "sla_warning"


def parse_threshold(text: str, option: str) -> Threshold:
    value = text.strip().lower()
    if value.endswith("%"):
        digits = value[:-1].strip()
        if not digits.isdigit() or not 0 < int(digits) <= 1000:
            raise ConfigError(f"{option} = {text!r}: a share is written like 70% (100% is the breach)")
        return Threshold(share=int(digits) / 100)
    if value.endswith("after customer"):
        return Threshold(
            delay=timedelta(seconds=parse_duration(value.removesuffix("after customer"), option)),
            after_customer=True,
        )
    return Threshold(delay=timedelta(seconds=parse_duration(value, option)))


def build_ladder(levels: Sequence[EscalationLevel]) -> tuple[Level, ...]:
    ladder = []
    for index, entry in enumerate(levels):
        option = f"escalation_levels[{index}]"
        targets = tuple(t.strip() for t in entry.notify.split(",") if t.strip())
        for target in targets:
            if target not in NOTIFY_KINDS and not (
                target.startswith(NOTIFY_PREFIXES) and target.partition(":")[2]
            ):
                raise ConfigError(
                    f"{option}.notify: {target!r} is not one of {', '.join(NOTIFY_KINDS)}, "
                    "person:EMAIL, email:ADDRESS or slack:CHANNEL_ID"
                )
        if not targets and not entry.raise_priority and not entry.reassign_team:
            raise ConfigError(f"{option} does nothing: give it notify, raise_priority or reassign_team")
        ladder.append(
            Level(
                index + 1,
                parse_threshold(entry.at, f"{option}.at"),
                targets,
                entry.raise_priority,
                entry.reassign_team,
            )
        )
    return tuple(ladder)


def _priority(value: str, option: str) -> str:
    key = value.strip().lower()
    if key in PRIORITY_ALIASES:
        return PRIORITY_ALIASES[key].value
    if key not in {p.value for p in Priority}:
        raise ConfigError(f"{option} = {value!r}; use one of: {', '.join(Priority)}")
    return key
