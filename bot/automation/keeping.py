"""Keeping automation rules: admins add, change, order, enable and remove them.

A rule is checked whole before anything is stored: its shape and types by the
pure parser (:func:`bot.rules.parse.parse_rule`), then what it names against
the store and the templates (a team, a person, a category, a field's value, a
template, a webhook subscription). The first part at fault is named in the
error (``actions[2].template``) and nothing is written. Every change counts up
the rule book's version, so every process runs the new rules from its next
transaction; it is audited with the rule before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.automation import runs
from bot.errors import NotFound, UserError
from bot.model import Actor, Status
from bot.notify.render import Renderer
from bot.people import directory
from bot.people.permissions import require_admin, require_staff
from bot.policies.book import begin_change, field_specs, recompile
from bot.policies.new_ticket import action_ready
from bot.rules.model import Action, Rule
from bot.rules.parse import parse_rule
from bot.store import tables as t
from bot.unit import Unit

MAX_POSITION = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
MAX_RULES = 5_000


def list_rules(unit: Unit, actor: Actor) -> list[dict[str, Any]]:
    """Every rule in the order they run, disabled ones included, with their run counts."""
    require_staff(actor, "read the automation rules")
    counted = runs.counts(unit)
    return [view(row, counted.get(row.id), problem_of(unit, row)) for row in rows(unit)]


def get(unit: Unit, actor: Actor, rule_id: int) -> dict[str, Any]:
    require_staff(actor, "read the automation rules")
    row = _row(unit, rule_id)
    return view(row, runs.counts(unit, [rule_id]).get(rule_id), problem_of(unit, row))


def checked(unit: Unit, data: Mapping[str, Any], *, rule_id: int = 0, references: bool = True) -> Rule:
    """The rule as it would be stored, or the error naming its part at fault."""
    if not isinstance(data, Mapping):
        raise UserError("a rule is a JSON object", field="rule")
    _storable(data, "")
    rule = parse_rule(data, rule_id=rule_id, fields=field_specs(unit.session))
    if references:
        check_references(unit, rule)
    return rule


def add(
    unit: Unit, actor: Actor, data: Mapping[str, Any], *, kind: AuditKind | None = None
) -> dict[str, Any]:
    """Without a position the rule goes after the others."""
    require_admin(actor, "change automation rules")
    version = begin_change(unit.session)
    if (unit.session.scalar(select(func.count()).select_from(t.AutomationRule)) or 0) >= MAX_RULES:
        raise UserError(f"a desk keeps at most {MAX_RULES} automation rules", field="rule")
    rule = checked(unit, data)
    row = t.AutomationRule(created_at=unit.now)
    position = rule.position if "position" in data and data["position"] is not None else _next_position(unit)
    _fill(row, rule, position)
    row.updated_at = unit.now
    unit.session.add(row)
    unit.session.flush()
    recompile(unit, version)
    _recheck(unit, rule)
    after = view(row)
    audit.record(unit, ticket_id=None, actor=actor, kind=kind or AuditKind.AUTOMATION_RULE_ADDED, after=after)
    return after


def change(
    unit: Unit,
    actor: Actor,
    rule_id: int,
    data: Mapping[str, Any],
    *,
    kind: AuditKind | None = None,
    references: bool = True,
) -> dict[str, Any]:
    """The whole rule is replaced; without a position it keeps its place."""
    require_admin(actor, "change automation rules")
    version = begin_change(unit.session)
    row = _row(unit, rule_id)
    before = view(row)
    rule = checked(unit, data, rule_id=rule_id, references=references)
    position = rule.position if "position" in data and data["position"] is not None else row.position
    _fill(row, rule, position)
    saved = _saved(unit, actor, row, version, kind or AuditKind.AUTOMATION_RULE_CHANGED, before)
    _recheck(unit, rule)
    return saved


def patch(
    unit: Unit,
    actor: Actor,
    rule_id: int,
    *,
    enabled: bool | None = None,
    mode: str | None = None,
    position: int | None = None,
) -> dict[str, Any]:
    """Enable, disable, switch to or from dry-run, or move a rule, keeping the rest.

    Taking a rule out of action (disabled, dry-run, moved) is never refused for what it
    names: a rule whose team was removed must still be switched off. Putting it back
    into action checks it whole."""
    require_admin(actor, "change automation rules")
    row = _row(unit, rule_id)
    data = dict(row.definition)
    if enabled is not None:
        data["enabled"] = enabled
    if mode is not None:
        data["mode"] = mode
    if position is not None:
        data["position"] = position
    acting = enabled is True or mode == "live"
    return change(unit, actor, rule_id, data, references=acting)


def remove(unit: Unit, actor: Actor, rule_id: int, *, kind: AuditKind | None = None) -> dict[str, Any]:
    """Its run log stays: what it did is still on record."""
    require_admin(actor, "change automation rules")
    version = begin_change(unit.session)
    row = _row(unit, rule_id)
    before = view(row)
    unit.session.delete(row)
    recompile(unit, version)
    audit.record(
        unit, ticket_id=None, actor=actor, kind=kind or AuditKind.AUTOMATION_RULE_REMOVED, before=before
    )
    return before


def _recheck(unit: Unit, rule: Rule) -> None:
    """A time-based rule added, changed or enabled counts for the tickets already waiting:
    every unfinished ticket is looked at by the next sweeps (in batches), which then keep
    each one's next check as any change does. Like a changed SLA policy's recheck."""
    if rule.trigger.on != "time" or not rule.enabled:
        return
    unit.session.execute(
        update(t.Ticket)
        .where(t.Ticket.status != Status.CLOSED.value)
        .values(automation_check_at=unit.now)
        .execution_options(synchronize_session=False)
    )


def problem_of(unit: Unit, row: t.AutomationRule) -> str | None:
    """Why an enabled rule is not running: something it names in a condition was changed
    since it was written (a custom field removed), so the rule book leaves it out."""
    if not row.enabled or unit.rules.automations.get(row.id) is not None:
        return None
    try:
        parse_rule(row.definition, rule_id=row.id, fields=field_specs(unit.session), position=row.position)
    except UserError as error:
        return f"not running: {error}"
    return None  # compiled by a newer version than this transaction's


def view(
    row: t.AutomationRule, counted: dict[str, int] | None = None, problem: str | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        **row.definition,
        "name": row.name,
        "position": row.position,
        "enabled": row.enabled,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "runs": counted or dict.fromkeys(runs.OUTCOMES, 0),
        "problem": problem,
    }


def stored_rule(unit: Unit, rule_id: int) -> Rule:
    """A stored rule as it runs (enabled or not), for a dry-run test."""
    row = _row(unit, rule_id)
    return parse_rule(row.definition, rule_id=row.id, fields=field_specs(unit.session), position=row.position)


# -- references ---------------------------------------------------------------------------


def check_references(unit: Unit, rule: Rule) -> None:
    """What the rule's actions name exists now (a later removal fails the rule at run time,
    on record)."""
    renderer = _renderer(unit)
    for index, action in enumerate(rule.actions):
        part = f"actions[{index}]"
        try:
            _check_action(unit, renderer, action)
        except UserError as error:
            where = f"{part}.{error.field}" if error.field else part
            raise UserError(f"{part} ({action.do}): {error}", field=where) from None


def _check_action(unit: Unit, renderer: Renderer, action: Action) -> None:
    do, get = action.do, action.get
    value = get("value")
    if do == "set_category" and value:
        _named("value", lambda: directory.find_category(unit, str(value)))
    elif do == "set_team" and value:
        _named("value", lambda: directory.find_team(unit, str(value)))
    elif do == "set_assignee":
        if get("person"):
            _named("person", lambda: directory.find_agent(unit, str(get("person"))))
        for strategy in ("round_robin", "least_loaded"):
            if get(strategy):
                _named(strategy, lambda s=strategy: directory.find_team(unit, str(get(s))))
    elif do == "set_field":
        key = str(get("key"))
        _named("key", lambda: directory.find_field(unit, key))
        _named("value", lambda: directory.field_value(unit, key, value))
    elif do == "send_email":
        _template(renderer, f"email/{get('template')}.txt.j2")
    elif do == "send_slack":
        _template(renderer, f"slack/{get('template')}.md.j2")
    if do in ("send_slack", "call_webhook"):
        action_ready(unit, action)


def _storable(value: Any, path: str) -> None:
    """A rule is kept as JSON, which PostgreSQL refuses with a NUL in any key or string:
    refused here, naming where, rather than failing as the store's error."""
    where = path or "rule"
    if isinstance(value, str):
        if "\x00" in value:
            raise UserError(f"{where}: must not contain NUL characters", field=where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if "\x00" in str(key):
                raise UserError(f"{where}: a key must not contain NUL characters", field=where)
            _storable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _storable(item, f"{path}[{index}]")


def _named(part: str, lookup: Any) -> Any:
    try:
        return lookup()
    except UserError as error:
        raise UserError(str(error), field=part) from None


def _template(renderer: Renderer, name: str) -> None:
    if not renderer.has(name):
        raise UserError(f"no template {name} (shipped or in templates_dir)", field="template")


def _renderer(unit: Unit) -> Renderer:
    return unit.once(
        "automation.renderer",
        lambda: Renderer([Path(unit.settings.templates_dir)] if unit.settings.templates_dir else []),
    )


# -- rows ----------------------------------------------------------------------------------


def _fill(row: t.AutomationRule, rule: Rule, position: int) -> None:
    definition = rule.as_json()
    definition["position"] = position
    row.name, row.position, row.enabled = rule.name, position, rule.enabled
    row.trigger, row.definition = rule.trigger.on, definition


def _saved(
    unit: Unit, actor: Actor, row: t.AutomationRule, version: int, kind: AuditKind, before: dict[str, Any]
) -> dict[str, Any]:
    row.updated_at = unit.now
    unit.session.flush()
    recompile(unit, version)
    after = view(row)
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, before=before, after=after)
    return after


def _next_position(unit: Unit) -> int:
    last = unit.session.scalar(select(func.max(t.AutomationRule.position)))
    return min((last or 0) + 10, MAX_POSITION)


def _row(unit: Unit, rule_id: int) -> t.AutomationRule:
    row = unit.session.get(t.AutomationRule, rule_id)
    if row is None:
        raise NotFound(f"no automation rule {rule_id}")
    return row


def rows(unit: Unit) -> list[t.AutomationRule]:
    return list(
        unit.session.scalars(
            select(t.AutomationRule).order_by(t.AutomationRule.position, t.AutomationRule.id)
        )
    )
