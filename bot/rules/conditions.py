"""Whether a rule applies: its trigger fits the event and its conditions hold.

Called for every rule on every ticket event, so the work is done when rules are
built (:mod:`bot.rules.predicates`); here each condition costs one call, facts are
asked for only when a condition needs them, and evaluation stops at the first answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.rules.model import Condition, Conditions, Trigger
from bot.rules.predicates import Change, Facts, Text, text_fact

__all__ = ["Change", "Facts", "Occurrence", "Text", "holds", "matches", "text_fact", "trigger_fits"]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A live event as triggers see it (time rules are found by the scheduler instead)."""

    on: str  # one of TRIGGERS except "time"
    change: Change | None = None  # ticket_updated, status_changed, assigned/unassigned
    visibility: str | None = None  # comment_added: "public" | "internal"
    author: str | None = None  # comment_added: "requester" | "agent" | "partner" | "other"
    channel: str | None = None  # comment_added
    sla_to: str | None = None  # sla_changed


def matches(conditions: Conditions, facts: Facts, change: Change | None = None) -> bool:
    """Every ``all`` condition and, if there are any, one of ``any``; ``all`` first, since
    it is where admins put what narrows most."""
    for condition in conditions.all:
        if not condition._test(facts, change):
            return False
    if not conditions.any:
        return True
    for condition in conditions.any:
        if condition._test(facts, change):
            return True
    return False


def holds(condition: Condition, facts: Facts, change: Change | None = None) -> bool:
    return condition._test(facts, change)


def trigger_fits(trigger: Trigger, event: Occurrence) -> bool:
    """The event is the trigger's kind and passes its narrowing options, ``from``/``to``
    compared like conditions compare (any case; a category with its subcategories)."""
    if trigger.on != event.on:
        return False
    if trigger.on == "comment_added":
        return (
            trigger.visibility in ("any", event.visibility)
            and trigger.author in ("any", event.author)
            and (trigger.channel is None or trigger.channel == event.channel)
        )
    if trigger.on == "sla_changed":
        return trigger.after is None or trigger.after == event.sla_to
    if trigger.on not in ("ticket_updated", "status_changed"):
        return True
    if trigger.field is None and trigger._before is None and trigger._after is None:
        return True
    change = event.change
    wanted = "status" if trigger.on == "status_changed" else trigger.field
    if change is None or change.field != wanted:
        return False
    if trigger._before is not None and not trigger._before(change.before):
        return False
    return trigger._after is None or trigger._after(change.after)
