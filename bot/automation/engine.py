"""Rules hear the core's events and act, inside the transaction of the change that woke them.

For each event the rules of its trigger run in position order (their list is
compiled once per version of the rule book: an event with no rules for it costs
one dictionary lookup). A rule runs when its trigger's options fit the event and
its conditions hold on the ticket as it is now, earlier rules' changes included;
``stop`` ends the run for that event.

Bounds, so rules can never loop:

- a rule runs at most once per ticket for one originating event (a change made
  by a person, a message, the clock), however many events its chain publishes;
- a chain stops after ``automation.max_depth`` rounds of rule-made changes; the
  stop is written to the ticket's audit log and to the rules' run log.

A rule whose action cannot be done for data reasons (a person or team removed
since it was written, a transition the workflow refuses) is rolled back to a
savepoint and recorded as failed; the change that woke it (a customer's email)
is kept whatever a rule does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot import events as ev
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.automation import actions, runs
from bot.errors import UserError
from bot.model import Actor, Role
from bot.policies.new_ticket import PLACING
from bot.rules.conditions import Change, Occurrence, matches, trigger_fits
from bot.rules.model import Rule
from bot.store import tables as t
from bot.tickets.facts import TicketFacts
from bot.unit import Subscribers, Unit

logger = logging.getLogger(__name__)
CHAIN = "automation.chain"  # the unit's lookup holding the running chain


@dataclass(slots=True)
class Chain:
    """The rules woken by one originating event and what they woke in turn."""

    depth: int = 0
    ran: set[tuple[int, int]] = field(default_factory=set)
    stopped: set[int] = field(default_factory=set)


def subscribe(subscribers: Subscribers) -> None:
    subscribers.on(ev.TicketOpened, ticket_opened)
    subscribers.on(ev.CommentAdded, comment_added)
    subscribers.on(ev.StatusChanged, status_changed)
    subscribers.on(ev.Assigned, assigned)
    subscribers.on(ev.TicketChanged, ticket_changed)
    subscribers.on(ev.TagsChanged, tags_changed)
    subscribers.on(ev.FieldChanged, field_changed)


# -- events -> occurrences ------------------------------------------------------------


def ticket_opened(unit: Unit, event: ev.TicketOpened) -> None:
    """The "ticket created" rules placed the ticket before it was written; here their log,
    and their actions that needed the ticket to exist (notes, messages, escalations)."""
    if not event.placed_by:
        return
    ticket = unit.session.get(t.Ticket, event.ticket_id)
    assert ticket is not None
    book = unit.rules.automations
    with chain_round(unit) as chain:
        for rule_id, placed in event.placed_by:
            rule = book.get(rule_id)
            if rule is None:
                continue
            chain.ran.add((ticket.id, rule.id))
            _finish_placement(unit, rule, ticket, placed, customers=event.acknowledge)


def comment_added(unit: Unit, event: ev.CommentAdded) -> None:
    if not unit.rules.automations.on("comment_added") or event.ticket_id in unit.opening:
        return
    comment = unit.session.get(t.Comment, event.comment_id)
    ticket = unit.session.get(t.Ticket, event.ticket_id)
    assert comment is not None and ticket is not None
    visibility = "public" if comment.public and not comment.flagged else "internal"
    occurrence = Occurrence(
        "comment_added",
        visibility=visibility,
        author=author_kind(ticket, comment),
        channel=comment.channel,
    )
    run(unit, ticket, [occurrence], comment=comment)


def status_changed(unit: Unit, event: ev.StatusChanged) -> None:
    change = Change("status", event.before, event.after)
    _updated(unit, event.ticket_id, change, Occurrence("status_changed", change=change))


def assigned(unit: Unit, event: ev.Assigned) -> None:
    book = unit.rules.automations
    if not (book.on("assigned") or book.on("unassigned") or book.on("ticket_updated")):
        return
    before = _email_of(unit, event.previous_id)
    after = _email_of(unit, event.assignee_id)
    change = Change("assignee", before, after)
    on = "assigned" if event.assignee_id is not None else "unassigned"
    _updated(unit, event.ticket_id, change, Occurrence(on, change=change))


def ticket_changed(unit: Unit, event: ev.TicketChanged) -> None:
    if event.what == "sla":
        if event.after in ("at_risk", "breached") and event.after != event.before:
            ticket = _ticket(unit, event.ticket_id)
            if ticket is not None and unit.rules.automations.on("sla_changed"):
                run(unit, ticket, [Occurrence("sla_changed", sla_to=event.after)])
        return
    _updated(unit, event.ticket_id, Change(event.what, event.before, event.after))


def tags_changed(unit: Unit, event: ev.TagsChanged) -> None:
    _updated(unit, event.ticket_id, Change("tags", event.before, event.after))


def field_changed(unit: Unit, event: ev.FieldChanged) -> None:
    _updated(unit, event.ticket_id, Change(f"field.{event.key}", event.before, event.after))


def _updated(unit: Unit, ticket_id: int, change: Change, specific: Occurrence | None = None) -> None:
    """Every field change is a "ticket updated" occurrence; some are also their own trigger."""
    if ticket_id in unit.opening:
        return  # part of opening the ticket, not an update
    if change.before == change.after:
        return  # told, but nothing changed
    book = unit.rules.automations
    occurrences = [occ for occ in (specific, Occurrence("ticket_updated", change=change)) if occ is not None]
    occurrences = [occ for occ in occurrences if book.on(occ.on)]
    if not occurrences:
        return
    ticket = _ticket(unit, ticket_id)
    if ticket is not None:
        run(unit, ticket, occurrences)


# -- running --------------------------------------------------------------------------


def run(
    unit: Unit, ticket: t.Ticket, occurrences: Sequence[Occurrence], *, comment: t.Comment | None = None
) -> None:
    """The rules of each occurrence's trigger, in order, on one ticket."""
    book = unit.rules.automations
    with chain_round(unit) as chain:
        facts = TicketFacts(unit, ticket, comment=comment)
        for occurrence in occurrences:
            for rule in book.on(occurrence.on):
                if not trigger_fits(rule.trigger, occurrence):
                    continue
                if not matches(rule.conditions, facts, occurrence.change):
                    continue
                if execute(unit, chain, rule, ticket, occurrence.on, facts) and rule.stop:
                    break


def execute(unit: Unit, chain: Chain, rule: Rule, ticket: t.Ticket, trigger: str, facts: TicketFacts) -> bool:
    """Run a rule that matched; True if its actions were applied."""
    depth = chain.depth - 1
    if (ticket.id, rule.id) in chain.ran:
        runs.record(
            unit, rule, ticket.id, trigger, runs.SKIPPED, reason="already ran for this event", depth=depth
        )
        return False
    chain.ran.add((ticket.id, rule.id))
    if chain.depth > unit.settings.automation.max_depth:
        _chain_stopped(unit, chain, rule, ticket, trigger)
        return False
    if rule.mode == "dry_run":
        planned = [change for action in rule.actions for change in actions.plan(unit, ticket, facts, action)]
        runs.record(unit, rule, ticket.id, trigger, runs.DRY_RUN, planned, depth=depth)
        return False
    run_key = _run_key(rule, ticket)
    changes: list[dict[str, object]] = []
    try:
        with audit.savepoint(unit):
            for action in rule.actions:
                changes += actions.perform(unit, rule, ticket, action, run_key)
    except UserError as error:
        # Rolled back whole: the log shows what failed, not changes that did not happen.
        logger.info("automation rule %s skipped for ticket %s: %s", rule.id, ticket.id, error)
        runs.record(unit, rule, ticket.id, trigger, runs.FAILED, reason=str(error), depth=depth)
        return False
    runs.record(unit, rule, ticket.id, trigger, runs.APPLIED, changes, depth=depth)
    facts.forget()  # what it changed outside the row (fields, a note) is read afresh
    return True


def _finish_placement(
    unit: Unit, rule: Rule, ticket: t.Ticket, placed: tuple[ev.PlacedChange, ...], *, customers: bool
) -> None:
    """Log what a "ticket created" rule set, then run its actions that needed the ticket.

    ``customers=False``: the message came from a robot or a partner desk, which the desk
    does not acknowledge either; a rule does not write to its sender (that is how two
    help desks answer each other all night)."""
    trigger = "ticket_created"
    error = next((change.error for change in placed if change.error), None)
    set_ = [_placed_change(c, ticket) for c in placed if c.field]
    if error is not None:
        runs.record(unit, rule, ticket.id, trigger, runs.FAILED, reason=error)
        return
    later = [action for action in rule.actions if action.do not in PLACING]
    if rule.mode == "dry_run":
        facts = TicketFacts(unit, ticket)
        planned = [change for action in later for change in actions.plan(unit, ticket, facts, action)]
        runs.record(unit, rule, ticket.id, trigger, runs.DRY_RUN, set_ + planned)
        return
    run_key = _run_key(rule, ticket)
    changes: list[dict[str, object]] = list(set_)
    try:
        with audit.savepoint(unit):
            for action in later:
                changes += actions.perform(unit, rule, ticket, action, run_key, customers=customers)
    except UserError as failure:
        # What it set when placing the ticket stands; what it did after is rolled back.
        runs.record(unit, rule, ticket.id, trigger, runs.FAILED, set_, reason=str(failure))
        return
    runs.record(unit, rule, ticket.id, trigger, runs.APPLIED, changes)


def _placed_change(change: ev.PlacedChange, ticket: t.Ticket) -> dict[str, object]:
    """As the log shows it: a team's next agent by name, now that the ticket has one."""
    after = change.after
    if change.field == "assignee" and ticket.assignee is not None:
        after = ticket.assignee.email or after
    return {"action": change.action, "field": change.field, "before": change.before, "after": after}


def _chain_stopped(unit: Unit, chain: Chain, rule: Rule, ticket: t.Ticket, trigger: str) -> None:
    limit = unit.settings.automation.max_depth
    reason = f"stopped: {limit} rounds of rule-made changes in a row"
    runs.record(unit, rule, ticket.id, trigger, runs.SKIPPED, reason=reason, depth=chain.depth - 1)
    if ticket.id not in chain.stopped:
        chain.stopped.add(ticket.id)
        logger.warning(
            "automation chain on ticket %s stopped at depth %d (rule %s)", ticket.id, limit, rule.id
        )
        audit.record(
            unit,
            ticket_id=ticket.id,
            actor=Actor.system(),
            kind=AuditKind.AUTOMATION_CHAIN_STOPPED,
            after={"rule": rule.name, "rule_id": rule.id, "depth": limit},
        )


class chain_round:  # noqa: N801  (a context manager, named as it is used)
    """One level of the chain: the first opens it (an originating event), the last closes it."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def __enter__(self) -> Chain:
        chain = self.unit.lookups.get(CHAIN)
        if chain is None:
            chain = self.unit.lookups[CHAIN] = Chain()
        chain.depth += 1
        self.chain: Chain = chain
        return chain

    def __exit__(self, *_: object) -> None:
        self.chain.depth -= 1
        if self.chain.depth == 0:
            self.chain.ran.clear()
            self.chain.stopped.clear()


def author_kind(ticket: t.Ticket, comment: t.Comment) -> str:
    """Who wrote, as a rule's trigger tells them apart. A comment kept flagged (a staff
    address the channel did not vouch for, a stranger on the thread) is nobody's word: a
    From header is anyone's to write."""
    if comment.flagged:
        return "other"
    if comment.channel == "sharing":
        return "partner"
    author = comment.author
    if author is None:
        return "other"  # the bot itself, a rule's note
    if Role(author.role).is_staff:
        return "agent"
    if author.id == ticket.requester_id or author in ticket.followers:
        return "requester"
    return "other"


def _run_key(rule: Rule, ticket: t.Ticket) -> str:
    """Names one run in its messages' dedupe keys. Random, not derived: two runs are two
    messages even at the same instant, and a retried transaction rolled the first one back."""
    return f"{rule.id}:{ticket.id}:{uuid.uuid4().hex}"


def _email_of(unit: Unit, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    person = unit.session.get(t.Person, person_id)
    return None if person is None else person.email


def _ticket(unit: Unit, ticket_id: int) -> t.Ticket | None:
    """The ticket, from this transaction's session (the change already loaded it)."""
    return unit.session.get(t.Ticket, ticket_id)
