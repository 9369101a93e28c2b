"""Automation rules as values: what :func:`bot.rules.parse.parse_rule` builds, the
evaluator reads and the store keeps (as :meth:`Rule.as_json`).

Conditions and triggers compile their tests once, when they are built, into fields
that take no part in equality, so two rules written alike still compare equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.rules.durations import format_duration
from bot.rules.predicates import Test, compile_condition, equals

TRIGGERS = (
    "ticket_created",
    "ticket_updated",
    "status_changed",
    "assigned",
    "unassigned",
    "comment_added",
    "sla_changed",
    "time",
)
SINCE = (
    "created",
    "updated",
    "status_changed",
    "assignment_changed",
    "requester_reply",
    "agent_reply",
    "resolved",
)
CHANGEABLE = ("status", "priority", "category", "team", "assignee", "tags")  # + "field.<key>"
CHANNELS = ("email", "slack", "api", "cli", "sharing", "web")
MODES = ("live", "dry_run")
# Operators that take no value: they ask whether there is one, or whether it changed.
NO_VALUE = ("is_set", "not_set", "changed")


def _never(facts: object, change: object) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a rule is considered; ``before``/``after`` are the JSON's ``from``/``to``."""

    on: str
    field: str | None = None  # ticket_updated
    before: object = None  # "from" (ticket_updated, status_changed)
    after: object = None  # "to" (ticket_updated, status_changed, sla_changed)
    visibility: str = "any"  # comment_added
    author: str = "any"  # comment_added
    channel: str | None = None  # comment_added
    since: str | None = None  # time
    seconds: int = 0  # time: the `after` duration in seconds
    business_hours: bool = False  # time
    # from/to compared like conditions compare (any case, a category with its subcategories).
    _before: Callable[[object], bool] | None = dataclasses.field(
        init=False, repr=False, compare=False, default=None
    )
    _after: Callable[[object], bool] | None = dataclasses.field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        if self.on not in ("ticket_updated", "status_changed"):
            return
        target = "status" if self.on == "status_changed" else (self.field or "")
        if self.before is not None:
            object.__setattr__(self, "_before", equals(target, self.before))
        if self.after is not None:
            object.__setattr__(self, "_after", equals(target, self.after))

    def __reduce__(self) -> tuple[type[Trigger], tuple[object, ...]]:
        # Built again from its public fields: the compiled tests are functions, which pickle cannot keep.
        return Trigger, tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.init)

    @property
    def update_type(self) -> bool:
        """Fires on nearly every change, so a rule on it must say what it is looking for."""
        if self.on == "ticket_updated":
            return self.field is None
        if self.on == "comment_added":
            return self.visibility == "any" and self.author == "any" and self.channel is None
        return False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"on": self.on}
        if self.on == "ticket_updated" and self.field is not None:
            data["field"] = self.field
        if self.on in ("ticket_updated", "status_changed") and self.before is not None:
            data["from"] = _json_value(self.before)
        if self.on in ("ticket_updated", "status_changed", "sla_changed") and self.after is not None:
            data["to"] = _json_value(self.after)
        if self.on == "comment_added":
            if self.visibility != "any":
                data["visibility"] = self.visibility
            if self.author != "any":
                data["author"] = self.author
            if self.channel is not None:
                data["channel"] = self.channel
        if self.on == "time":
            data["since"] = self.since
            data["after"] = format_duration(self.seconds)
            data["business_hours"] = self.business_hours
        return data


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on a ticket: ``value`` is normalised (lists as tuples, canonical
    priorities, dates as :class:`~datetime.date`)."""

    field: str
    op: str
    value: object = None  # normalised (lists -> tuples, priorities -> canonical str, dates -> date)
    business: bool = False
    # Evaluated on every event for every rule: dispatch on the operator once, here.
    _test: Test = dataclasses.field(init=False, repr=False, compare=False, default=_never)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", compile_condition(self.field, self.op, self.value, self.business))

    def __reduce__(self) -> tuple[type[Condition], tuple[object, ...]]:
        return Condition, (self.field, self.op, self.value, self.business)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.op not in NO_VALUE:
            data["value"] = _json_value(self.value)
        if self.business:
            data["business"] = True
        return data


@dataclass(frozen=True, slots=True)
class Conditions:
    """All of ``all`` and, when ``any`` is not empty, at least one of ``any``."""

    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()

    def __len__(self) -> int:
        return len(self.all) + len(self.any)

    def as_json(self) -> dict[str, Any]:
        return {"all": [c.as_json() for c in self.all], "any": [c.as_json() for c in self.any]}


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a rule; parameters as sorted pairs so actions hash and compare by value."""

    do: str
    params: tuple[tuple[str, object], ...]  # sorted key/value pairs, normalised

    def get(self, key: str, default: object = None) -> object:
        for name, value in self.params:
            if name == key:
                return value
        return default

    def as_json(self) -> dict[str, Any]:
        return {"do": self.do, **{name: _json_value(value) for name, value in self.params}}


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as it runs; ``id`` is 0 until the store has given it one."""

    id: int
    name: str
    position: int
    enabled: bool
    mode: str  # "live" | "dry_run"
    stop: bool
    trigger: Trigger
    conditions: Conditions
    actions: tuple[Action, ...]
    match_all: bool = False

    def as_json(self) -> dict[str, Any]:
        """The shape admins write (without the id, which the store assigns), so that
        ``parse_rule(rule.as_json(), rule_id=rule.id)`` gives the same rule back."""
        return {
            "name": self.name,
            "position": self.position,
            "enabled": self.enabled,
            "mode": self.mode,
            "stop": self.stop,
            "trigger": self.trigger.as_json(),
            "conditions": self.conditions.as_json(),
            "actions": [action.as_json() for action in self.actions],
            "match_all": self.match_all,
        }


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A custom field definition as the parser needs it."""

    key: str
    type: str  # FieldType value
    choices: tuple[str, ...] = ()


def _json_value(value: object) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
