"""A rule's messages: a templated email, a Slack message, a webhook call.

They are queued in the outbox with the change, like every notification, so they
are sent once and only if the transaction commits. Emails go through the same
paths as the desk's own (our own and robots' addresses are never written to; a
requester's reply threads back onto the ticket); dedupe keys name the run, so a
retried delivery is not a second message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.errors import NotFound
from bot.model import Role
from bot.notify import audience, webhooks
from bot.notify import slack as slack_notify
from bot.people import directory
from bot.rules.model import Action, Rule
from bot.store import tables as t
from bot.unit import Unit

Change = dict[str, Any]
# Who is written to as the ticket's customers; never in answer to a robot or a partner desk.
CUSTOMERS = ("requester", "followers")
NOT_TO_ROBOTS = "the message came from a robot or a partner desk: its sender is not written to"


def send(
    unit: Unit, rule: Rule, ticket: t.Ticket, action: Action, run_key: str, *, customers: bool = True
) -> list[Change]:
    extra = {"rule": {"id": rule.id, "name": rule.name}}
    key = f"rule:{run_key}"
    if action.do == "send_email":
        template = str(action.get("template"))
        if not customers and action.get("to") in CUSTOMERS:
            return [{"action": action.do, "to": action.get("to"), "skipped": NOT_TO_ROBOTS}]
        sent: list[str] = []
        for target in _email_targets(unit, ticket, str(action.get("to"))):
            if isinstance(target, str):
                audience.email_address(unit, ticket, target, template, f"{key}:{target}", extra)
                sent.append(target)
            elif target.email:
                audience.email_person(unit, ticket, target, template, f"{key}:{target.id}", extra)
                sent.append(target.email)
        return [{"action": action.do, "to": action.get("to"), "template": template, "recipients": sent}]
    if action.do == "send_slack":
        return [_slack(unit, ticket, action, key, extra)]
    if action.do == "call_webhook":
        subscription = int(str(action.get("subscription")))
        webhooks.emit_to(unit, subscription, ticket, extra["rule"], key)
        return [{"action": action.do, "subscription": subscription}]
    raise NotFound(f"unknown action {action.do!r}")


def describe(unit: Unit, ticket: t.Ticket, action: Action) -> list[Change]:
    """Who would hear what, without queueing anything."""
    if action.do == "send_email":
        recipients = [
            target if isinstance(target, str) else target.email
            for target in _email_targets(unit, ticket, str(action.get("to")))
        ]
        return [
            {
                "action": action.do,
                "to": action.get("to"),
                "template": action.get("template"),
                "recipients": [r for r in recipients if r],
            }
        ]
    if action.do == "send_slack":
        return [{"action": action.do, "to": action.get("to"), "template": action.get("template")}]
    return [{"action": action.do, "subscription": action.get("subscription")}]


def _email_targets(unit: Unit, ticket: t.Ticket, to: str) -> list[t.Person | str]:
    if to == "requester":
        return [ticket.requester]
    if to == "assignee":
        return [ticket.assignee] if ticket.assignee is not None else []
    if to == "followers":
        return list(ticket.followers)
    if to == "team":
        if ticket.team_id is None:
            return []
        return list(
            unit.session.scalars(
                select(t.Person)
                .where(
                    t.Person.team_id == ticket.team_id,
                    t.Person.role.in_([Role.AGENT.value, Role.ADMIN.value]),
                )
                .order_by(t.Person.id)
            ).unique()
        )
    return [to]  # a fixed address (checked when the rule was written)


def _slack(unit: Unit, ticket: t.Ticket, action: Action, key: str, extra: dict[str, Any]) -> Change:
    template, to = str(action.get("template")), str(action.get("to"))
    if to == "thread":
        slack_notify.thread_notice(unit, ticket, template, key, extra)
        return {"action": action.do, "to": to, "template": template}
    if to == "channel":
        channel = str(action.get("channel"))
        slack_notify.channel_post(unit, ticket, channel, template, key, extra)
        return {"action": action.do, "to": to, "channel": channel, "template": template}
    person = directory.find_person(unit, str(action.get("person")))
    if not person.slack_user_id:
        raise NotFound(f"{person.email} has no Slack account on record", field="person")
    if unit.settings.slack.enabled:
        slack_notify.direct(unit, ticket, person, template, key, extra)
    return {"action": action.do, "to": to, "person": person.email, "template": template}
