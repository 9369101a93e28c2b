"""SLA policies admins add, change and remove over the API, on top of the settings file's.

A stored policy replaces the file's entry for the same category and priority.
Each one is checked on its own (so the error names the field) and then with
every policy in force, so what is stored always compiles. Each change counts up
the rule book's version in the same transaction: every process applies it at
its next transaction, and the next SLA sweep recomputes the due times of
unfinished tickets (:func:`bot.escalation.recheck_if_rules_changed`).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import select

from bot import audit, directory
from bot.config_sla import SlaPolicyOverride
from bot.errors import ConfigError, Conflict, NotFound, UserError
from bot.model import Actor
from bot.permissions import require_admin, require_staff
from bot.rulebook import as_override, bump
from bot.sla import Calendar, Policy
from bot.sla_policy import Policies, parse_duration, parse_schedule, policy_key
from bot.store import tables as t
from bot.unit import Unit

SETTINGS, API = "settings", "api"
# Where ConfigError's message names the problem, and the field of the request it came from.
_FIELD_OF = (
    ("first_response", "first_response"),
    ("resolution", "resolution"),
    ("holiday_country", "holiday_country"),
    ("extra_holidays", "holidays"),
    ("timezone", "timezone"),
    ("schedule", "business_hours"),
    ("business_hours", "business_hours"),
    ("priority", "priority"),
)


def configuration(unit: Unit, actor: Actor) -> dict[str, Any]:
    """The default targets, every policy in force (each saying where it comes from) and
    the ladder; targets parsed to seconds."""
    require_staff(actor, "read the SLA policies")
    sla = unit.settings.sla
    stored = {policy_key(as_override(row)): row.id for row in _rows(unit)}
    default = {priority.value: _targets(policy) for priority, policy in unit.rules.policies.default.items()}
    return {
        "default": {
            "timezone": sla.timezone,
            "business_hours": sla.business_hours or None,
            "at_risk_percent": sla.at_risk_percent,
            "targets": default,
        },
        "overrides": [view(unit, entry, stored.get(policy_key(entry))) for entry in unit.rules.sla_entries],
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
    clean = _checked(unit, entry)
    _unique(unit, clean, None)
    row = t.SlaPolicyRule(**asdict(clean), created_at=unit.now, updated_at=unit.now)
    unit.session.add(row)
    return _saved(unit, actor, row, "sla_policy_added", None)


def change(unit: Unit, actor: Actor, policy_id: int, entry: SlaPolicyOverride) -> dict[str, Any]:
    """The whole policy is replaced, category and priority included."""
    require_admin(actor, "change SLA policies")
    row = _row(unit, policy_id)
    before = view(unit, as_override(row), row.id)
    clean = _checked(unit, entry)
    _unique(unit, clean, row.id)
    for name, value in asdict(clean).items():
        setattr(row, name, value)
    row.updated_at = unit.now
    return _saved(unit, actor, row, "sla_policy_changed", before)


def remove(unit: Unit, actor: Actor, policy_id: int) -> dict[str, Any]:
    """The settings file's entry for the same category and priority, if any, is in force again."""
    require_admin(actor, "change SLA policies")
    row = _row(unit, policy_id)
    before = view(unit, as_override(row), row.id)
    unit.session.delete(row)
    unit.session.flush()
    _recompile(unit)
    audit.record(unit, ticket_id=None, actor=actor, kind="sla_policy_removed", before=before)
    return before


def _saved(
    unit: Unit, actor: Actor, row: t.SlaPolicyRule, kind: str, before: dict[str, Any] | None
) -> dict[str, Any]:
    unit.session.flush()
    _recompile(unit)
    after = view(unit, as_override(row), row.id)
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, before=before, after=after)
    return after


def _recompile(unit: Unit) -> None:
    """Count the change and build every policy in force with it: a set that does not build
    (two calendars that cannot both be) is refused before it is committed."""
    version = bump(unit.session)
    try:
        unit.memo["rules"] = unit.source.compile(unit.session, version)
    except ConfigError as error:
        raise UserError(str(error), field=_field(str(error))) from None


def _checked(unit: Unit, entry: SlaPolicyOverride) -> SlaPolicyOverride:
    """The policy as it will be stored: the category's own spelling, the priority's name."""
    category = ""
    if entry.category.strip():
        category = directory.find_category(unit, entry.category).path
    try:
        _, priority = policy_key(entry)
        if not category and not priority:
            raise UserError("a policy needs a category, a priority or both", field="category")
        parse_duration(entry.first_response, "first_response")
        parse_duration(entry.resolution, "resolution")
        if entry.business_hours.strip():
            parse_schedule(entry.business_hours, "business_hours")
        # Checked even where no business hours make them count yet: a typo is still a typo.
        Calendar(
            timezone=entry.timezone.strip() or "UTC",
            holiday_country=entry.holiday_country.strip(),
            always_open=True,
        )
        clean = replace(
            entry,
            category=category,
            priority=priority,
            first_response=entry.first_response.strip(),
            resolution=entry.resolution.strip(),
            timezone=entry.timezone.strip(),
            business_hours=entry.business_hours.strip(),
            holiday_country=entry.holiday_country.strip().upper(),
            holidays=entry.holidays.strip(),
        )
        Policies(unit.settings.sla, [clean])
    except ConfigError as error:
        raise UserError(str(error), field=_field(str(error))) from None
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


def _field(message: str) -> str | None:
    return next((field for word, field in _FIELD_OF if word in message), None)


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
