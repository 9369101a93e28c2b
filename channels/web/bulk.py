"""Bulk changes from the queue: what the API's bulk endpoint does, from a form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor, format_number, parse_number, parse_priority, parse_status
from bot.tickets.classify import TicketChanges
from channels.web import forms

# Tickets per bulk change: a queue page's selection (the API's bulk endpoint takes 1,000;
# a form takes at most site.MAX_FIELDS fields).
MAX_BULK = 100


@dataclass(frozen=True, slots=True)
class BulkResult:
    number: str
    ok: bool
    error: str | None = None


def apply(
    desk: Desk, actor: Actor, numbers: Sequence[str], values: Mapping[str, list[str]]
) -> tuple[list[BulkResult], str | None]:
    """What the API's bulk endpoint does: the same change on each ticket, each in its own
    transaction, so one refusal leaves the others done; the results say which."""
    if not numbers:
        return [], "Select at least one ticket."
    if len(numbers) > MAX_BULK:
        return [], f"Select at most {MAX_BULK} tickets at a time."
    action = forms.one(values, "action", 20)
    changes, status, assign, assignee = TicketChanges(), None, False, None
    try:
        if action == "assign_me":
            assign, assignee = True, actor.label
        elif action == "assign":
            who = forms.one(values, "assignee")
            assign, assignee = True, actor.label if who == "me" else who or None
        elif action == "team" and forms.one(values, "team", 200):
            changes = TicketChanges(team=forms.one(values, "team", 200))
        elif action == "team":
            return [], "Choose the team to move the tickets to."
        elif action == "status":
            status = parse_status(forms.one(values, "status", 30))
        elif action == "priority":
            changes = TicketChanges(priority=parse_priority(forms.one(values, "priority", 20)))
        elif action == "tag" and forms.one(values, "tag", 100):
            changes = TicketChanges(add_tags=[forms.one(values, "tag", 100)])
        elif action == "tag":
            return [], "Write the tag to add."
        else:
            return [], "Choose what to do with the selected tickets."
    except UserError as refused:
        return [], refused.message
    results = []
    for number in dict.fromkeys(_spelled(desk, n) for n in numbers):
        try:
            desk.change_ticket(actor, number, changes, status=status, assign=assign, assignee=assignee)
        except UserError as refused:
            results.append(BulkResult(number, False, refused.message))
        else:
            results.append(BulkResult(number, True))
    return results, None


def _spelled(desk: Desk, number: str) -> str:
    """A number as the desk spells it (``sup-1`` is ``SUP-1``: one ticket, changed once);
    one that is no number is left as typed, for the desk to refuse by name."""
    prefix = desk.settings.ticket_prefix
    try:
        return format_number(prefix, parse_number(prefix, number))
    except UserError:
        return number[:40]
