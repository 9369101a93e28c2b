"""What a rule's actions do to a ticket, through the same changes agents make.

Each action goes through the ticket's own change functions (status, assignee,
classification, comments, escalation), so it is checked by the workflow,
recorded in the audit log under the rule's name and published as an event like
any change: notifications follow, and other rules may hear it. An action that
cannot be done for data reasons raises :class:`~bot.errors.UserError`; the
engine then skips the whole rule for this ticket.

:func:`plan` says what an action would change without changing anything, for
rules in dry-run and for ``supportbot automations test``.
"""

from __future__ import annotations

from typing import Any

from bot.automation import messages
from bot.errors import Conflict, UserError
from bot.model import Actor, Role, Status, clean_tag, format_number, parse_priority
from bot.people import directory
from bot.policies.new_ticket import tag_names
from bot.rules.model import Action, Rule
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.tickets import classify
from bot.tickets.facts import TicketFacts
from bot.unit import Unit

Change = dict[str, Any]
# Comments written by a rule are marked as such wherever a comment's channel shows.
NOTE_CHANNEL = "automation"


def actor_of(rule: Rule) -> Actor:
    """The audit log names the rule; it may do what an admin may."""
    return Actor(None, f"rule: {rule.name}"[:400], Role.ADMIN)


def perform(
    unit: Unit, rule: Rule, ticket: t.Ticket, action: Action, run_key: str, *, customers: bool = True
) -> list[Change]:
    """Do ``action``; what it changed (nothing, when the ticket already was so).
    ``customers=False``: no mail to the requester or followers (a robot's message)."""
    actor = actor_of(rule)
    number = format_number(unit.settings.ticket_prefix, ticket.id)
    if ticket.merged_into_id is not None:  # the ticket the event named, held by the change
        raise Conflict(f"{number} was merged into another ticket")
    do, value = action.do, action.get("value")
    if do == "set_status":
        before = ticket.status
        target = Status(str(value))
        if before == target.value:
            return []
        tickets.change_status(unit, ticket, target, actor, reason=f"automation rule {rule.name!r}")
        return [_changed(do, "status", before, target.value)]
    if do == "set_priority":
        was = ticket.priority
        classify.set_priority_on(unit, actor, ticket, parse_priority(str(value)))
        return _if_changed(do, "priority", was, ticket.priority)
    if do == "set_category":
        path = ticket.category.path if ticket.category else None
        classify.set_category_on(unit, actor, ticket, str(value) if value else None)
        return _if_changed(do, "category", path, ticket.category.path if ticket.category else None)
    if do == "set_team":
        team = ticket.team.name if ticket.team else None
        classify.set_team_on(unit, actor, ticket, str(value) if value else None)
        return _if_changed(do, "team", team, ticket.team.name if ticket.team else None)
    if do == "set_assignee":
        assignee = _assignee(ticket)
        person = _chosen_agent(unit, action, live=True)
        tickets.set_assignee(unit, ticket, person, actor, rule=f"automation rule {rule.name!r}")
        return _if_changed(do, "assignee", assignee, _assignee(ticket))
    if do in ("add_tags", "remove_tags"):
        names = tag_names(action)
        before_tags = sorted(tag.name for tag in ticket.tags)
        if do == "add_tags":
            classify.set_tags_on(unit, actor, ticket, add=names)
        else:
            classify.set_tags_on(unit, actor, ticket, remove=names)
        return _if_changed(do, "tags", before_tags, sorted(tag.name for tag in ticket.tags))
    if do == "set_field":
        key = str(action.get("key"))
        before_value = classify.field_values(unit, ticket.id).get(key)
        classify.set_field_on(unit, actor, ticket, key, value)
        return _if_changed(do, f"field.{key}", before_value, classify.field_values(unit, ticket.id).get(key))
    if do == "add_note":
        comment = tickets.add_comment(
            unit, ticket, None, actor, str(action.get("text")), public=False, channel=NOTE_CHANNEL
        )
        return [{"action": do, "comment_id": comment.id}]
    if do == "escalate":
        tickets.escalate(unit, actor, number, str(action.get("reason")))
        return [{"action": do, "reason": action.get("reason")}]
    return messages.send(unit, rule, ticket, action, run_key, customers=customers)


def plan(unit: Unit, ticket: t.Ticket, facts: TicketFacts, action: Action) -> list[Change]:
    """What :func:`perform` would change, reading only; a reference that no longer resolves
    is reported as the error the live run would record."""
    do, value = action.do, action.get("value")
    try:
        if do == "set_status":
            return _if_changed(do, "status", ticket.status, Status(str(value)).value)
        if do == "set_priority":
            return _if_changed(do, "priority", ticket.priority, parse_priority(str(value)).value)
        if do == "set_category":
            after = directory.find_category(unit, str(value)).path if value else None
            return _if_changed(do, "category", facts.value("category"), after)
        if do == "set_team":
            after = directory.find_team(unit, str(value)).name if value else None
            return _if_changed(do, "team", facts.value("team"), after)
        if do == "set_assignee":
            person = _chosen_agent(unit, action, live=False)
            after = (person.email or str(person.id)) if person is not None else None
            if person is None and (action.get("round_robin") or action.get("least_loaded")):
                after = f"the next agent of {action.get('round_robin') or action.get('least_loaded')}"
            return _if_changed(do, "assignee", _assignee(ticket), after)
        if do in ("add_tags", "remove_tags"):
            had = sorted(tag.name for tag in ticket.tags)
            names = {clean_tag(name) for name in tag_names(action)}
            tags = sorted(set(had) | names) if do == "add_tags" else sorted(set(had) - names)
            return _if_changed(do, "tags", had, tags)
        if do == "set_field":
            key = str(action.get("key"))
            stored = directory.field_value(unit, key, value)
            return _if_changed(do, f"field.{key}", facts.value(f"field.{key}"), stored)
        if do == "add_note":
            return [{"action": do, "text": action.get("text")}]
        if do == "escalate":
            return [{"action": do, "reason": action.get("reason")}]
        return messages.describe(unit, ticket, action)
    except UserError as error:
        return [{"action": do, "error": str(error)}]


def _chosen_agent(unit: Unit, action: Action, *, live: bool) -> t.Person | None:
    """The action's person, or (live only: the pick moves the team's cursor) its team's next
    agent; None to unassign, or when the team has no agent."""
    email = action.get("person")
    if email:
        return directory.find_agent(unit, str(email))
    strategy = (
        "round_robin" if action.get("round_robin") else "least_loaded" if action.get("least_loaded") else None
    )
    if strategy is None:
        return None
    team = directory.find_team(unit, str(action.get(strategy)))
    return tickets.pick_agent(unit, team.id, strategy) if live else None


def _assignee(ticket: t.Ticket) -> str | None:
    person = ticket.assignee
    return None if person is None else person.email or person.slack_user_id or str(person.id)


def _changed(action: str, field: str, before: Any, after: Any) -> Change:
    return {"action": action, "field": field, "before": before, "after": after}


def _if_changed(action: str, field: str, before: Any, after: Any) -> list[Change]:
    return [] if before == after else [_changed(action, field, before, after)]
