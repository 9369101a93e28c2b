"""SLA policies admins add, change and remove over the API, on top of the settings file's.

A stored policy replaces the file's entry for the same category and priority.
Each part is checked on its own, so the error names the field, and then the
policy with the default's values filled in. A change first counts up the rule
book's version (its row lock orders admins writing at once): every process
applies it from its next transaction, and the next SLA sweep recomputes the
due times of unfinished tickets (:func:`bot.tickets.escalation.recheck_if_rules_changed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import ConfigError, Conflict, NotFound, UserError
from bot.model import Actor
from bot.people import directory
from bot.people.permissions import require_admin, require_staff
from bot.policies.book import as_override, begin_change, recompile
from bot.sla.calendar import Calendar, Policy
from bot.sla.policy import Policies, calendar_of, parse_duration, policy_key
from bot.sla.settings import SlaPolicyOverride
from bot.store import tables as t
from bot.unit import Unit

SETTINGS, API = "settings", "api"
T = TypeVar("T")


def configuration(unit: Unit, actor: Actor) -> dict[str, Any]:
    """The default targets, every policy in force (each saying where it comes from) and
    the ladder; targets parsed to seconds."""
    require_staff(actor, "read the SLA policies")
    sla = unit.settings.sla
    # By the whole entry, not its key: a stored policy left out (it no longer builds) must
    # not lend its id to the file's policy for the same key.
    stored = {as_override(row): row.id for row in _rows(unit)}
    default = {priority.value: _targets(policy) for priority, policy in unit.rules.policies.default.items()}
    return {
        "default": {
            "timezone": sla.timezone,
            "business_hours": sla.business_hours or None,
            "at_risk_percent": sla.at_risk_percent,
            "targets": default,
        },
        "overrides": [view(unit, entry, stored.get(entry)) for entry in unit.rules.sla_entries],
        "escalation_levels": [
            {
                "level": level.number,
                "at": entry.at,
                "notify": list(level.notify),
                "raise_priority": level.raise_priority,
                "reassign_team": level.reassign_team or None,
            }
            for level, entry in zip(unit.rules.ladder, unit.settings.escalation_levels, strict=True)
        ],
    }


def view(unit: Unit, entry: SlaPolicyOverride, policy_id: int | None) -> dict[str, Any]:
    sla = unit.settings.sla
    # Built alone, for its targets in seconds: the policies in force are sorted by specificity.
    built = Policies(sla, [entry]).rules[0]
    return {
        "id": policy_id,
        "source": API if policy_id is not None else SETTINGS,
        "category": entry.category.strip(),
        "priority": built.priority,
        "first_response": entry.first_response.strip(),
        "resolution": entry.resolution.strip(),
        **_targets(built.policy),
        "timezone": entry.timezone or sla.timezone,
        "business_hours": entry.business_hours or sla.business_hours or None,
        "holiday_country": entry.holiday_country or sla.holiday_country or None,
        "holidays": entry.holidays or sla.holidays or None,
    }


def add(unit: Unit, actor: Actor, entry: SlaPolicyOverride) -> dict[str, Any]:
    require_admin(actor, "change SLA policies")
    version = begin_change(unit.session)
    clean = _checked(unit, entry)
    _unique(unit, clean, None)
    row = t.SlaPolicyRule(**asdict(clean), created_at=unit.now, updated_at=unit.now)
    unit.session.add(row)
    return _saved(unit, actor, row, version, AuditKind.SLA_POLICY_ADDED, None)


def change(unit: Unit, actor: Actor, policy_id: int, entry: SlaPolicyOverride) -> dict[str, Any]:
    """The whole policy is replaced, category and priority included."""
    require_admin(actor, "change SLA policies")
    version = begin_change(unit.session)
    row = _row(unit, policy_id)
    before = view(unit, as_override(row), row.id)
    clean = _checked(unit, entry)
    _unique(unit, clean, row.id)
    for name, value in asdict(clean).items():
        setattr(row, name, value)
    row.updated_at = unit.now
    return _saved(unit, actor, row, version, AuditKind.SLA_POLICY_CHANGED, before)


def remove(unit: Unit, actor: Actor, policy_id: int) -> dict[str, Any]:
    """The settings file's entry for the same category and priority, if any, is in force again."""
    require_admin(actor, "change SLA policies")
    version = begin_change(unit.session)
    row = _row(unit, policy_id)
    before = view(unit, as_override(row), row.id)
    unit.session.delete(row)
    recompile(unit, version)
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.SLA_POLICY_REMOVED, before=before)
    return before


def _saved(
    unit: Unit,
    actor: Actor,
    row: t.SlaPolicyRule,
    version: int,
    kind: AuditKind,
    before: dict[str, Any] | None,
) -> dict[str, Any]:
    recompile(unit, version)
    after = view(unit, as_override(row), row.id)
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, before=before, after=after)
    return after


def _checked(unit: Unit, entry: SlaPolicyOverride) -> SlaPolicyOverride:
    """The policy as it will be stored (the category's own spelling, the priority's name),
    each part checked on its own so the error names its field."""
    category = directory.find_category(unit, entry.category).path if entry.category.strip() else ""
    _, priority = _field("priority", policy_key, entry)
    if not category and not priority:
        raise UserError("a policy needs a category, a priority or both", field="category")
    _field("first_response", parse_duration, entry.first_response, "first_response")
    _field("resolution", parse_duration, entry.resolution, "resolution")
    timezone = entry.timezone.strip()
    country = entry.holiday_country.strip().upper()
    # Checked even where no business hours make them count yet: a typo is still a typo.
    _field("timezone", Calendar, timezone or "UTC", always_open=True)
    _field("holiday_country", Calendar, holiday_country=country, always_open=True)
    hours = entry.business_hours.strip()
    if hours:
        sla = unit.settings.sla
        _field(
            "business_hours",
            calendar_of,
            timezone or sla.timezone,
            hours,
            "",
            "",
            "",
            "business_hours",
        )
    holidays = entry.holidays.strip()
    for day in filter(None, (part.strip() for part in holidays.split(","))):
        try:
            date.fromisoformat(day)
        except ValueError:
            raise UserError(f"holidays: {day!r} is not a date like 2026-12-24", field="holidays") from None
    clean = replace(
        entry,
        category=category,
        priority=priority,
        first_response=entry.first_response.strip(),
        resolution=entry.resolution.strip(),
        timezone=timezone,
        business_hours=hours,
        holiday_country=country,
        holidays=holidays,
    )
    # With the default policy's values filled in (its hours, its country's subdivision).
    _field(None, Policies, unit.settings.sla, [clean])
    return clean


def _unique(unit: Unit, entry: SlaPolicyOverride, own_id: int | None) -> None:
    key = policy_key(entry)
    for row in _rows(unit):
        if row.id != own_id and policy_key(as_override(row)) == key:
            raise Conflict(
                f"policy {row.id} already covers {entry.category or 'every category'}"
                f" / {entry.priority or 'every priority'}: change that one",
                field="category",
            )


def _field(field: str | None, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check``'s result, or its ConfigError as the request's error at ``field``."""
    try:
        return check(*args, **kwargs)
    except ConfigError as error:
        raise UserError(str(error), field=field) from None


def _row(unit: Unit, policy_id: int) -> t.SlaPolicyRule:
    row = unit.session.get(t.SlaPolicyRule, policy_id)
    if row is None:
        raise NotFound(f"no stored SLA policy {policy_id} (settings-file policies change in the file)")
    return row


def _rows(unit: Unit) -> list[t.SlaPolicyRule]:
    return list(unit.session.scalars(select(t.SlaPolicyRule).order_by(t.SlaPolicyRule.id)))


def _targets(policy: Policy) -> dict[str, int]:
    return {
        "first_response_seconds": policy.targets.first_response_seconds,
        "resolution_seconds": policy.targets.resolution_seconds,
    }
