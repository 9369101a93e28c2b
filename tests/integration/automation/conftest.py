"""Helpers for automation rules against the real store: write a rule, read what rules did."""

from __future__ import annotations

from typing import Any

from bot.automation.runs import RunView
from bot.desk.facade import Desk
from bot.model import Actor
from bot.notify.outbox import list_notifications
from bot.store.db import Store
from bot.views import NotificationView

# An action that changes nothing on the ticket (so it wakes no other rule): a mail to a list.
MARK_TO = "rules@example.net"
MARK = {"do": "send_email", "to": MARK_TO, "template": "automation_notice"}


def rule(
    desk: Desk,
    admin: Actor,
    name: str,
    trigger: dict[str, Any],
    *actions: dict[str, Any],
    all: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),  # noqa: A002 - the rule's own word
    any: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),  # noqa: A002
    **extra: Any,
) -> int:
    """Store a rule (by default: mark the ticket with a mail to a list); its id."""
    data: dict[str, Any] = {
        "name": name,
        "trigger": trigger,
        "conditions": {"all": list(all), "any": list(any)},
        "actions": list(actions) or [MARK],
        **extra,
    }
    return int(desk.add_automation(admin, data)["id"])


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}


def log(desk: Desk, *, rule_id: int | None = None, ticket: str | None = None) -> list[RunView]:
    """The run log, oldest first."""
    return list(reversed(desk.automation_log(Actor.console(), rule_id=rule_id, ticket=ticket, limit=500)))


def fired(desk: Desk, rule_id: int) -> list[tuple[str | None, str, str]]:
    """(ticket, trigger, outcome) of each run of the rule, oldest first."""
    return [(run.ticket, run.trigger, run.outcome) for run in log(desk, rule_id=rule_id)]


def outbox(store: Store, template: str | None = None) -> list[NotificationView]:
    """Queued notifications, oldest first, of one template or all."""
    rows = reversed(list_notifications(store, prefix="SUP", limit=10_000))
    return [row for row in rows if template is None or row.template == template]


def recipients(store: Store, template: str, channel: str | None = None) -> list[str]:
    return sorted(
        row.recipient for row in outbox(store, template) if channel is None or row.channel == channel
    )
