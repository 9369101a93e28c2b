"""Where a new ticket starts: the "ticket created" automation rules place it before it is written.

The rules run in position order over a draft of the ticket: the message's own
priority, category and team (a mailbox's defaults, a requester's choices), which
each rule's actions change in turn, so a later rule sees what an earlier one
set. Their placing actions (status, priority, category, team, assignee, tags,
fields) become the ticket's first state, written once with its row and its
"created" audit event: the acknowledgement and the team's notice already say
where it went. Their other actions (a note, a message, a webhook, an escalation)
run once the ticket is open (:mod:`bot.automation.engine`), after the
acknowledgement.

A rule whose action cannot be done (a team removed since it was written) is
skipped for this ticket, on record, and the message is kept all the same. A
rule marked ``stop`` that matched ends the run: routing rules, which these
replaced, stopped at the first match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bot.errors import UserError
from bot.events import PlacedChange
from bot.messages import Inbound
from bot.model import Priority, Role, Status, clean_tag, parse_priority
from bot.people import directory
from bot.rules.conditions import matches, text_fact
from bot.rules.model import Action, Rule
from bot.sla import calendar as sla
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Unit

# Actions that set where the ticket starts; the others run after it opens.
PLACING = frozenset(
    {
        "set_status",
        "set_priority",
        "set_category",
        "set_team",
        "set_assignee",
        "add_tags",
        "remove_tags",
        "set_field",
    }
)


@dataclass(frozen=True, slots=True)
class AssigneeChoice:
    """Who a rule gave the new ticket to: a person, or an agent of a team by a strategy."""

    person: t.Person | None = None
    team: t.Team | None = None
    strategy: str | None = None
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new ticket starts, after the rules had their say."""

    priority: Priority
    category: t.Category | None
    team: t.Team | None
    tags: tuple[str, ...] = ()
    rule: str | None = None  # the first rule that placed it (the audit event names it)
    status: Status = Status.OPEN
    assignee: AssigneeChoice | None = None
    # (key, value, the rule that set it): recorded as that rule's act.
    fields: tuple[tuple[str, Any, str], ...] = ()
    placed_by: tuple[tuple[int, tuple[PlacedChange, ...]], ...] = ()


@dataclass(slots=True)
class _Draft:
    priority: Priority
    category: t.Category | None
    team: t.Team | None
    status: Status = Status.OPEN
    tags: list[str] = field(default_factory=list)
    assignee: AssigneeChoice | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    field_rules: dict[str, str] = field(default_factory=dict)
    # The team came with the category (not named by the message or a rule): a rule that
    # replaces the category does not keep the old one's team.
    team_of_category: bool = False

    def copy(self) -> _Draft:
        return _Draft(
            self.priority,
            self.category,
            self.team,
            self.status,
            list(self.tags),
            self.assignee,
            dict(self.fields),
            dict(self.field_rules),
            self.team_of_category,
        )


def place(unit: Unit, inbound: Inbound, requester: t.Person) -> Placement:
    """The message's own priority, category and team, as the "ticket created" rules leave them."""
    priority = parse_priority(inbound.priority or unit.settings.default_priority)
    category = directory.find_category(unit, inbound.category) if inbound.category else None
    team = directory.find_team(unit, inbound.team) if inbound.team else None
    draft = _Draft(priority, category, team or _team_of(unit, category))
    draft.team_of_category = team is None and draft.team is not None
    rules = unit.rules.automations.on("ticket_created")
    if not rules:
        return Placement(draft.priority, draft.category, draft.team)
    facts = DraftFacts(unit, inbound, requester, draft)
    placed: list[tuple[int, tuple[PlacedChange, ...]]] = []
    first: str | None = None
    for rule in rules:
        if not matches(rule.conditions, facts):
            continue
        if rule.mode == "dry_run":
            trial = draft.copy()
            changes = _apply(unit, rule, trial, dry_run=True)
            placed.append((rule.id, changes))
            continue
        trial = draft.copy()
        changes = _apply(unit, rule, trial, dry_run=False)
        placed.append((rule.id, changes))
        if any(change.error for change in changes):
            continue  # skipped for this ticket: none of its changes are kept
        facts.draft = draft = trial
        facts.forget()
        first = first or rule.name
        if rule.stop:
            break
    return Placement(
        draft.priority,
        draft.category,
        draft.team,
        tuple(dict.fromkeys(draft.tags)),
        first,
        draft.status,
        draft.assignee,
        tuple((key, value, draft.field_rules[key]) for key, value in draft.fields.items()),
        tuple(placed),
    )


def _apply(unit: Unit, rule: Rule, draft: _Draft, *, dry_run: bool) -> tuple[PlacedChange, ...]:
    """The rule's placing actions on ``draft``, in order; at the first that cannot be done,
    only its error (the caller keeps none of the changes)."""
    changes: list[PlacedChange] = []
    for action in rule.actions:
        try:
            if action.do not in PLACING:
                action_ready(unit, action)  # it runs once the ticket is open: it must be able to
                changes.append(PlacedChange(action.do, dry_run=dry_run))
                continue
            change = _set(unit, rule, action, draft)
        except UserError as error:
            return (PlacedChange(action.do, error=str(error), dry_run=dry_run),)
        if change is not None:
            changes.append(replace(change, dry_run=dry_run))
    return tuple(changes)


def action_ready(unit: Unit, action: Action) -> None:
    """What a message action names still exists: checked when a rule is written, and before a
    new ticket's rule places it (so that it is not half applied: placed, then failing)."""
    if action.do == "call_webhook":
        subscription = action.get("subscription")
        if not any(s.id == subscription for s in unit.rules.webhooks):
            raise UserError(f"no active webhook subscription {subscription}", field="subscription")
    elif action.do == "send_slack" and action.get("to") == "dm":
        person = directory.find_person(unit, str(action.get("person")))
        if not person.slack_user_id:
            raise UserError(f"{person.email} has no Slack account on record", field="person")


def _set(unit: Unit, rule: Rule, action: Action, draft: _Draft) -> PlacedChange | None:
    do, value = action.do, action.get("value")
    if do == "set_priority":
        before, draft.priority = draft.priority, parse_priority(str(value))
        return PlacedChange(do, "priority", before.value, draft.priority.value)
    if do == "set_status":
        target = Status(str(value))
        if target is not Status.OPEN:
            unit.workflow.check(Status.OPEN, target)
        before_status, draft.status = draft.status, target
        return PlacedChange(do, "status", before_status.value, target.value)
    if do == "set_category":
        was = draft.category.path if draft.category else None
        draft.category = directory.find_category(unit, str(value)) if value else None
        # A category brings its team, as an agent's change of category does; the one it
        # replaced does not leave its own behind.
        brought = _team_of(unit, draft.category)
        kept = None if draft.team_of_category else draft.team
        draft.team, draft.team_of_category = brought or kept, brought is not None
        return PlacedChange(do, "category", was, draft.category.path if draft.category else None)
    if do == "set_team":
        was = draft.team.name if draft.team else None
        draft.team = directory.find_team(unit, str(value)) if value else None
        draft.team_of_category = False
        return PlacedChange(do, "team", was, draft.team.name if draft.team else None)
    if do == "set_assignee":
        return _assignee(unit, rule, action, draft)
    if do in ("add_tags", "remove_tags"):
        before_tags = list(draft.tags)
        names = [clean_tag(name) for name in tag_names(action)]
        if do == "add_tags":
            draft.tags += [name for name in names if name not in draft.tags]
        else:
            draft.tags = [name for name in draft.tags if name not in names]
        return PlacedChange(do, "tags", before_tags, list(draft.tags))
    if do == "set_field":
        key = str(action.get("key"))
        was_value = draft.fields.get(key)
        stored = directory.field_value(unit, key, value)
        draft.fields[key] = stored
        draft.field_rules[key] = rule.name
        return PlacedChange(do, f"field.{key}", was_value, stored)
    return None


def _assignee(unit: Unit, rule: Rule, action: Action, draft: _Draft) -> PlacedChange:
    was = _assignee_label(draft.assignee)
    email = action.get("person")
    if email:
        draft.assignee = AssigneeChoice(person=directory.find_agent(unit, str(email)), rule=rule.name)
    elif action.get("round_robin") or action.get("least_loaded"):
        strategy = "round_robin" if action.get("round_robin") else "least_loaded"
        team = directory.find_team(unit, str(action.get(strategy)))
        draft.assignee = AssigneeChoice(team=team, strategy=strategy, rule=rule.name)
    else:
        draft.assignee = AssigneeChoice(rule=rule.name)  # nobody: the team's rule does not pick either
    return PlacedChange("set_assignee", "assignee", was, _assignee_label(draft.assignee))


def _assignee_label(choice: AssigneeChoice | None) -> str | None:
    if choice is None:
        return None
    if choice.person is not None:
        return choice.person.email or str(choice.person.id)
    if choice.team is not None:
        return f"{choice.strategy} in {choice.team.name}"
    return None


def tag_names(action: Action) -> list[str]:
    """An ``add_tags``/``remove_tags`` action's tags (a list, checked when the rule was written)."""
    value = action.get("tags")
    return [str(name) for name in value] if isinstance(value, list | tuple) else []


def tag_new(unit: Unit, ticket: t.Ticket, names: Sequence[str]) -> None:
    """A rule's tags on a ticket just opened (its creation event records them)."""
    have = {tag.name for tag in ticket.tags}
    for name in names:
        if name not in have:
            ticket.tags.append(get_or_create(unit.session, t.Tag, partial(t.Tag, name=name), name=name))


def _team_of(unit: Unit, category: t.Category | None) -> t.Team | None:
    if category is None or category.team_id is None:
        return None
    return unit.session.get(t.Team, category.team_id)


class DraftFacts:
    """A ticket not yet written, as rules' conditions see it: the message and the draft."""

    def __init__(self, unit: Unit, inbound: Inbound, requester: t.Person, draft: _Draft) -> None:
        self.unit = unit
        self.inbound = inbound
        self.requester = requester
        self.draft = draft
        self._values: dict[str, object] = {}

    def forget(self) -> None:
        """The draft changed (a rule applied): its facts are read again."""
        self._values.clear()

    def value(self, name: str) -> object:
        if name not in self._values:
            self._values[name] = self._read(name)
        return self._values[name]

    def _read(self, name: str) -> object:
        draft, inbound = self.draft, self.inbound
        if name.startswith("field."):
            key = name[6:]
            return draft.fields[key] if key in draft.fields else inbound.fields.get(key)
        match name:
            case "status":
                return draft.status.value
            case "priority":
                return draft.priority.value
            case "category":
                return draft.category.path if draft.category else None
            case "team":
                return draft.team.name if draft.team else None
            case "assignee":
                choice = draft.assignee
                return choice.person.email if choice is not None and choice.person is not None else None
            case "tags":
                return tuple(draft.tags)
            case "channel":
                return inbound.channel
            case "mailbox":
                return inbound.mailbox
            case "requester":
                return self.requester.email
            case "requester_domain":
                return directory.domain_of(self.requester.email)
            case "subject":
                return text_fact(inbound.subject)
            case "comment":
                return text_fact(inbound.text)
            case "text":
                return text_fact(f"{inbound.subject}\n{inbound.text}")
            case "sla_status":
                return None
        return None

    def hours_since(self, anchor: str, business: bool) -> float | None:
        """A ticket being opened: created, updated and (from a customer) replied to just now."""
        if anchor == "agent_reply":
            return None
        if anchor == "requester_reply" and Role(self.requester.role).is_staff:
            return None
        return 0.0

    def business_hours_now(self) -> bool:
        return sla.is_working(_calendar(self.unit, self.draft), self.unit.now)


def _calendar(unit: Unit, draft: _Draft) -> sla.Calendar:
    path = draft.category.path if draft.category else None
    return unit.rules.policies.for_ticket(draft.priority.value, path).calendar
