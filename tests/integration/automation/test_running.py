"""How rules run: in position order, stopping, placing new tickets, bounded chains, failures
kept to the rule, dry-run mode, disabled rules, per-rule counts, and what they cost in SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import delete, event

from bot.automation.routing_rules import RuleInput
from bot.config.settings import load
from bot.desk.facade import Desk
from bot.model import Actor, Role, Status
from bot.store import tables as t
from bot.store.db import Store
from tests.factories import make_inbound, make_person, make_ticket
from tests.fakes import FakeClock
from tests.integration.automation.conftest import cond, fired, log, outbox, rule

CUSTOMER = "customer@example.com"
POKE = {"on": "comment_added", "visibility": "internal", "author": "agent"}


def poke(desk: Desk, agent: Actor, number: str) -> None:
    desk.comment(agent, number, "Rules, your turn.", public=False)


def view(desk: Desk, number: str) -> Any:
    return desk.visible_ticket(Actor.console(), number).ticket


def events(desk: Desk, number: str, kind: str | None = None) -> list[Any]:
    found = desk.visible_ticket(Actor.console(), number).events
    return [e for e in found if kind is None or e.kind == kind]


def runs(desk: Desk, **filters: Any) -> list[tuple[int, str, int, str | None]]:
    """(rule id, outcome, depth, reason) of each run, oldest first."""
    return [(run.rule_id, run.outcome, run.depth, run.reason) for run in log(desk, **filters)]


# -- order and stop ------------------------------------------------------------------------------


def test_rules_run_in_position_order_and_a_later_one_sees_an_earlier_ones_change(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    # Written in the opposite order: the position decides, not the id.
    tag_urgent = rule(
        desk,
        admin,
        "Tag urgent",
        POKE,
        {"do": "add_tags", "tags": ["hot"]},
        all=[cond("priority", "is", "urgent")],
        position=20,
    )
    raise_it = rule(desk, admin, "Raise", POKE, {"do": "set_priority", "value": "urgent"}, position=10)
    number = make_ticket(desk)
    poke(desk, agent, number)
    assert [run.rule_id for run in log(desk)] == [raise_it, tag_urgent]
    ticket = view(desk, number)
    assert (ticket.priority, ticket.tags) == ("urgent", ("hot",))


def test_moving_a_rule_changes_the_order(desk: Desk, admin: Actor, agent: Actor) -> None:
    tag_urgent = rule(
        desk,
        admin,
        "Tag urgent",
        POKE,
        {"do": "add_tags", "tags": ["hot"]},
        all=[cond("priority", "is", "urgent")],
    )
    raise_it = rule(desk, admin, "Raise", POKE, {"do": "set_priority", "value": "urgent"})
    number = make_ticket(desk)
    poke(desk, agent, number)  # Tag urgent first: the ticket was not urgent yet
    assert (fired(desk, tag_urgent), view(desk, number).tags) == ([], ())
    desk.patch_automation(admin, raise_it, position=1)
    second = make_ticket(desk, key="<second@example.com>")
    poke(desk, agent, second)
    assert view(desk, second).tags == ("hot",)


def test_stop_ends_the_run_when_its_rule_matched(desk: Desk, admin: Actor, agent: Actor) -> None:
    stopper = rule(
        desk,
        admin,
        "VIP only",
        POKE,
        {"do": "add_tags", "tags": ["vip"]},
        all=[cond("subject", "contains", "vip")],
        stop=True,
    )
    after = rule(desk, admin, "Everyone", POKE, {"do": "add_tags", "tags": ["seen"]})
    vip = make_ticket(desk, subject="VIP printer")
    poke(desk, agent, vip)
    assert view(desk, vip).tags == ("vip",)
    assert fired(desk, after) == []
    plain = make_ticket(desk, subject="Plain printer", key="<plain@example.com>")
    poke(desk, agent, plain)  # the stopper did not match: the next rule runs
    assert view(desk, plain).tags == ("seen",)
    assert [r[0] for r in runs(desk)] == [stopper, after]


def test_a_stopping_rule_that_failed_does_not_stop_the_others(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_team(admin, "Gone")
    failing = rule(desk, admin, "To Gone", POKE, {"do": "set_team", "value": "Gone"}, stop=True)
    after = rule(desk, admin, "Everyone", POKE, {"do": "add_tags", "tags": ["seen"]})
    _remove(desk, t.Team, t.Team.name == "Gone")
    number = make_ticket(desk)
    poke(desk, agent, number)
    assert [r[:2] for r in runs(desk)] == [(failing, "failed"), (after, "applied")]


# -- new tickets: placed as routing rules placed them ---------------------------------------------------


def _created(desk: Desk, number: str) -> dict[str, Any]:
    [row] = events(desk, number, "created")
    return {k: v for k, v in row.after.items() if k != "subject"}


def test_a_ticket_created_rule_places_a_ticket_exactly_as_a_routing_rule(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    desk.add_team(admin, "Net")
    desk.add_category(admin, "Network", team="Net")
    desk.add_category(admin, "Network/VPN", team="Net")
    routing = RuleInput(
        name="VPN",
        keywords=("vpn",),
        category="Network/VPN",
        team="Ops",
        priority="high",
        tags=("vpn", "remote"),
    )
    routed = desk.add_routing_rule(admin, routing)
    by_routing = make_ticket(desk, subject="VPN down", key="<one@example.com>")
    stored = desk.get_automation(admin, routed["id"])
    desk.remove_routing_rule(admin, routed["id"])
    written = {
        "name": "VPN",
        "stop": True,
        "trigger": {"on": "ticket_created"},
        "conditions": {"all": [cond("text", "contains", ["vpn"])]},
        "actions": [
            {"do": "set_category", "value": "Network/VPN"},
            {"do": "set_team", "value": "Ops"},
            {"do": "set_priority", "value": "high"},
            {"do": "add_tags", "tags": ["remote", "vpn"]},
        ],
    }
    mine = desk.add_automation(admin, written)
    by_rule = make_ticket(desk, subject="VPN down", key="<two@example.com>")
    same = ("trigger", "conditions", "actions", "stop", "mode", "match_all", "enabled")
    assert {k: mine[k] for k in same} == {k: stored[k] for k in same}
    expected = {
        "status": "open",
        "priority": "high",
        "requester": CUSTOMER,
        "channel": "email",
        "category": "Network/VPN",
        "team": "Ops",  # the team the rule names wins over the category's
        "routing_rule": "VPN",
        "tags": ["remote", "vpn"],
    }
    assert _created(desk, by_routing) == expected
    assert _created(desk, by_rule) == expected
    for number in (by_routing, by_rule):
        ticket = view(desk, number)
        assert (ticket.assignee, ticket.tags) == ("agent@support.test", ("remote", "vpn"))


def test_the_first_matching_routing_rule_wins_and_the_rest_are_not_tried(desk: Desk, admin: Actor) -> None:
    first = desk.add_routing_rule(admin, RuleInput(name="Outage", keywords=("outage",), priority="urgent"))
    second = desk.add_routing_rule(admin, RuleInput(name="Printers", keywords=("printer",), tags=("print",)))
    number = make_ticket(desk, subject="Printer outage")
    assert _created(desk, number)["routing_rule"] == "Outage"
    assert (view(desk, number).priority, view(desk, number).tags) == ("urgent", ())
    assert [r[:2] for r in runs(desk)] == [(first["id"], "applied")]
    assert second["id"] not in {r[0] for r in runs(desk)}


# -- loops and depth ------------------------------------------------------------------------------


def _ping_pong(desk: Desk, admin: Actor) -> tuple[int, int]:
    a = rule(
        desk,
        admin,
        "A: in progress means waiting",
        {"on": "status_changed", "to": "in_progress"},
        {"do": "set_status", "value": "waiting_customer"},
    )
    b = rule(
        desk,
        admin,
        "B: waiting means in progress",
        {"on": "status_changed", "to": "waiting_customer"},
        {"do": "set_status", "value": "in_progress"},
    )
    return a, b


def test_two_rules_that_would_loop_each_run_once_per_originating_event(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    a, b = _ping_pong(desk, admin)
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)
    # A (waiting), B (in progress), then A is held back: it already ran for this event.
    assert view(desk, number).status == "in_progress"
    assert sorted(runs(desk)) == sorted(
        [(a, "applied", 0, None), (b, "applied", 1, None), (a, "skipped", 2, "already ran for this event")]
    )
    statuses = [e.after["status"] for e in events(desk, number, "status_changed")]
    assert statuses == ["in_progress", "waiting_customer", "in_progress"]
    # The next event is another origin: each may run once again.
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    assert view(desk, number).status == "waiting_customer"
    later = runs(desk)[3:]
    assert sorted(later) == sorted(
        [(b, "applied", 0, None), (a, "applied", 1, None), (b, "skipped", 2, "already ran for this event")]
    )
    assert len(fired(desk, a)) == len(fired(desk, b)) == 3
    assert events(desk, number, "automation_chain_stopped") == []


def _steps(desk: Desk, admin: Actor, count: int) -> list[int]:
    """Rule i adds the tag step-(i+1) to a ticket tagged step-i: a chain ``count`` rules long."""
    return [
        rule(
            desk,
            admin,
            f"Step {i}",
            {"on": "ticket_updated", "field": "tags"},
            {"do": "add_tags", "tags": [f"step-{i + 1}"]},
            all=[cond("tags", "contains", f"step-{i}"), cond("tags", "not_contains", f"step-{i + 1}")],
        )
        for i in range(count)
    ]


def _chain_runs(desk: Desk, steps: list[int]) -> list[list[tuple[str, int, str | None]]]:
    """Per step, its runs (outcome, depth, reason), in the order they were recorded."""
    found = runs(desk)
    return [
        [(outcome, depth, reason) for rule_id, outcome, depth, reason in found if rule_id == step]
        for step in steps
    ]


STOPPED = "stopped: {} rounds of rule-made changes in a row"
ALREADY = "already ran for this event"


def test_a_deeper_chain_stops_at_max_depth_on_record(desk: Desk, admin: Actor, agent: Actor) -> None:
    assert desk.settings.automation.max_depth == 5
    steps = _steps(desk, admin, 7)
    number = make_ticket(desk)
    desk.set_tags(agent, number, add=["step-0"])
    assert sorted(view(desk, number).tags) == [f"step-{i}" for i in range(6)]  # five rounds of rules
    chain = _chain_runs(desk, steps)
    assert [chain[i] for i in range(5)] == [[("applied", i, None)] for i in range(5)]
    # Step 5 is held back at the sixth round, on record; the rounds below it, going on with
    # their later rules, see it match too and skip it: it was tried for this event.
    assert chain[5][0] == ("skipped", 5, STOPPED.format(5))
    assert chain[5][1:] == [("skipped", depth, ALREADY) for depth in (4, 3, 2, 1, 0)]
    assert chain[6] == []
    [stopped] = events(desk, number, "automation_chain_stopped")
    assert stopped.after == {"rule": "Step 5", "rule_id": steps[5], "depth": 5}
    # The next originating event starts a new chain: Step 4 puts step-5 back, and on it goes.
    desk.set_tags(agent, number, remove=["step-5"])
    assert sorted(view(desk, number).tags) == [f"step-{i}" for i in range(8)]
    assert len(events(desk, number, "automation_chain_stopped")) == 1


def test_max_depth_comes_from_the_settings(
    environ: dict[str, str], store: Store, clock: FakeClock, admin: Actor
) -> None:
    desk = Desk(store, clock, load(None, environ | {"SUPPORTBOT_AUTOMATION_MAX_DEPTH": "2"}))
    desk.add_team(admin, "Ops")
    agent = make_person(desk, admin, "agent@support.test", team="Ops")
    steps = _steps(desk, admin, 4)
    number = make_ticket(desk)
    desk.set_tags(agent, number, add=["step-0"])
    assert sorted(view(desk, number).tags) == ["step-0", "step-1", "step-2"]
    chain = _chain_runs(desk, steps)
    assert chain[:2] == [[("applied", 0, None)], [("applied", 1, None)]]
    assert chain[2][0] == ("skipped", 2, STOPPED.format(2))
    assert chain[3] == []
    [stopped] = events(desk, number, "automation_chain_stopped")
    assert stopped.after["depth"] == 2


# -- failures stay with their rule ------------------------------------------------------------------------


def _remove(desk: Desk, table: Any, where: Any) -> None:
    """What an admin removed after the rule was written (the desk has no remove for it)."""
    with desk.store.transaction() as session:
        assert session.execute(delete(table).where(where)).rowcount == 1


REMOVALS = {
    "team": ({"do": "set_team", "value": "Gone"}, t.Team, t.Team.name == "Gone", "Gone"),
    "category": ({"do": "set_category", "value": "Gone"}, t.Category, t.Category.path == "Gone", "Gone"),
    "person": (
        {"do": "set_assignee", "person": "gone@support.test"},
        t.Person,
        t.Person.email == "gone@support.test",
        "gone@support.test",
    ),
}


def _removable(desk: Desk, admin: Actor) -> None:
    desk.add_team(admin, "Gone")
    desk.add_category(admin, "Gone")
    desk.add_person(admin, "gone@support.test", role=Role.AGENT)


@pytest.mark.parametrize("removed", sorted(REMOVALS))
def test_a_new_ticket_rule_naming_something_removed_fails_alone_and_the_email_is_kept(
    desk: Desk, admin: Actor, store: Store, removed: str
) -> None:
    action, table, where, named = REMOVALS[removed]
    _removable(desk, admin)
    failing = rule(
        desk,
        admin,
        "Broken",
        {"on": "ticket_created"},
        {"do": "set_priority", "value": "urgent"},
        {"do": "add_tags", "tags": ["broken"]},
        action,
    )
    later = rule(desk, admin, "Later", {"on": "ticket_created"}, {"do": "add_tags", "tags": ["later"]})
    _remove(desk, table, where)
    receipt = desk.receive(make_inbound(subject="Printer on fire"))
    assert receipt.created and receipt.ticket_number is not None
    number = receipt.ticket_number
    [broken] = log(desk, rule_id=failing)
    assert (broken.ticket, broken.outcome) == (number, "failed")
    assert broken.reason is not None and named in broken.reason
    assert fired(desk, later) == [(number, "ticket_created", "applied")]
    ticket = view(desk, number)
    assert (ticket.priority, ticket.tags, ticket.team, ticket.category, ticket.assignee) == (
        "medium",
        ("later",),
        None,
        None,
        None,
    )
    comments = desk.visible_ticket(admin, number).comments
    assert [c.body for c in comments] == ["The printer on floor 3 is on fire again."]
    assert [n.template for n in outbox(store) if n.recipient == CUSTOMER] == ["ticket_opened"]


@pytest.mark.parametrize("removed", sorted(REMOVALS))
def test_a_rule_failing_on_a_reply_is_rolled_back_alone_and_the_reply_is_kept(
    desk: Desk, admin: Actor, agent: Actor, store: Store, removed: str
) -> None:
    action, table, where, named = REMOVALS[removed]
    _removable(desk, admin)
    first = rule(
        desk,
        admin,
        "First",
        {"on": "comment_added", "author": "requester"},
        {"do": "add_tags", "tags": ["first"]},
    )
    failing = rule(
        desk,
        admin,
        "Broken",
        {"on": "comment_added", "author": "requester"},
        {"do": "set_status", "value": "in_progress"},  # would mail the requester
        {"do": "add_tags", "tags": ["broken"]},
        {"do": "set_priority", "value": "urgent"},
        action,
        {"do": "add_note", "text": "never written"},
    )
    later = rule(
        desk,
        admin,
        "Later",
        {"on": "comment_added", "author": "requester"},
        {"do": "add_tags", "tags": ["later"]},
    )
    number = make_ticket(desk)
    _remove(desk, table, where)
    receipt = desk.receive(
        make_inbound(
            subject="Re: Printer on fire",
            text="Any news?",
            key="<re@example.com>",
            ticket_number=number,
            verified=True,
        )
    )
    assert receipt.ticket_number == number and receipt.comment_id is not None
    [broken] = log(desk, rule_id=failing)
    assert (broken.outcome, broken.trigger) == ("failed", "comment_added")
    assert broken.reason is not None and named in broken.reason
    # What it did before the failing action is undone on the ticket, so its row lists no
    # change: the reason says which action failed.
    assert broken.changes == []
    assert (fired(desk, first), fired(desk, later)) == (
        [(number, "comment_added", "applied")],
        [(number, "comment_added", "applied")],
    )
    ticket = view(desk, number)
    assert (ticket.status, ticket.priority, sorted(ticket.tags)) == ("open", "medium", ["first", "later"])
    detail = desk.visible_ticket(admin, number)
    assert [c.body for c in detail.comments][-1] == "Any news?"
    assert [n.template for n in outbox(store) if n.recipient == CUSTOMER] == ["ticket_opened"]


def _history_after_a_failed_rule(desk: Desk, admin: Actor, *broken: dict[str, Any]) -> tuple[int, list[Any]]:
    """A reply wakes First (tags it), then Broken (``broken`` actions, then a removed team)."""
    desk.add_team(admin, "Gone")
    on_reply = {"on": "comment_added", "author": "requester"}
    rule(desk, admin, "First", on_reply, {"do": "add_tags", "tags": ["first"]})
    rule(desk, admin, "Broken", on_reply, *broken, {"do": "set_team", "value": "Gone"})
    number = make_ticket(desk)
    _remove(desk, t.Team, t.Team.name == "Gone")
    receipt = desk.receive(
        make_inbound(text="Any news?", key="<re@example.com>", ticket_number=number, verified=True)
    )
    assert receipt.comment_id is not None
    assert view(desk, number).tags == ("first",)
    history = [(e.kind, e.actor, e.after) for e in desk.visible_ticket(admin, number).events]
    return receipt.comment_id, history


def _kept_and_dropped(comment_id: int, history: list[Any]) -> None:
    # The reply's own history and the rule before stay; the failed rule's goes with its changes.
    assert (
        "commented",
        CUSTOMER,
        {"comment_id": comment_id, "public": True, "flagged": False, "channel": "email"},
    ) in history
    assert ("tags_changed", "rule: First", {"tags": ["first"]}) in history
    assert [entry for entry in history if entry[1] == "rule: Broken"] == []


def test_a_failed_rule_takes_its_audit_rows_and_no_others(desk: Desk, admin: Actor) -> None:
    comment_id, history = _history_after_a_failed_rule(desk, admin, {"do": "add_tags", "tags": ["broken"]})
    _kept_and_dropped(comment_id, history)


def test_a_failed_rule_that_changed_the_status_takes_its_audit_rows_and_no_others(
    desk: Desk, admin: Actor
) -> None:
    """A status change writes the audit rows pending so far at once (its id keys its mail)."""
    comment_id, history = _history_after_a_failed_rule(
        desk, admin, {"do": "set_status", "value": "in_progress"}, {"do": "add_tags", "tags": ["broken"]}
    )
    _kept_and_dropped(comment_id, history)


def test_a_demoted_agent_fails_the_rule_that_assigns_them(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_person(admin, "bo@support.test", role=Role.AGENT)
    assign_bo = rule(desk, admin, "To Bo", POKE, {"do": "set_assignee", "person": "bo@support.test"})
    desk.update_person(admin, "bo@support.test", role=Role.REQUESTER)
    number = make_ticket(desk)
    poke(desk, agent, number)
    [run] = log(desk, rule_id=assign_bo)
    assert run.outcome == "failed" and "only agents and admins can be assigned" in (run.reason or "")
    assert view(desk, number).assignee is None


# -- dry-run mode and disabled rules ---------------------------------------------------------------------


def test_a_dry_run_rule_logs_what_it_would_change_and_changes_nothing(
    desk: Desk, admin: Actor, agent: Actor, store: Store
) -> None:
    trial = rule(
        desk,
        admin,
        "Trial",
        POKE,
        {"do": "set_priority", "value": "urgent"},
        {"do": "add_tags", "tags": ["trial"]},
        {"do": "set_status", "value": "waiting_customer"},
        {"do": "set_assignee", "person": "agent@support.test"},
        {"do": "add_note", "text": "would be written"},
        {"do": "send_email", "to": "requester", "template": "automation_notice"},
        {"do": "escalate", "reason": "would escalate"},
        mode="dry_run",
    )
    number = make_ticket(desk)
    before = desk.visible_ticket(admin, number)
    poke(desk, agent, number)
    [run] = log(desk, rule_id=trial)
    assert (run.outcome, run.ticket, run.trigger) == ("dry_run", number, "comment_added")
    assert run.changes == [
        {"action": "set_priority", "field": "priority", "before": "medium", "after": "urgent"},
        {"action": "add_tags", "field": "tags", "before": [], "after": ["trial"]},
        {"action": "set_status", "field": "status", "before": "open", "after": "waiting_customer"},
        {"action": "set_assignee", "field": "assignee", "before": None, "after": "agent@support.test"},
        {"action": "add_note", "text": "would be written"},
        {
            "action": "send_email",
            "to": "requester",
            "template": "automation_notice",
            "recipients": [CUSTOMER],
        },
        {"action": "escalate", "reason": "would escalate"},
    ]
    after = desk.visible_ticket(admin, number)
    assert after.ticket == replace(before.ticket, updated_at=after.ticket.updated_at)
    ticket = after.ticket
    assert (ticket.priority, ticket.tags, ticket.status, ticket.assignee) == ("medium", (), "open", None)
    assert [c.body for c in after.comments] == [c.body for c in before.comments] + ["Rules, your turn."]
    assert outbox(store, "automation_notice") == []
    assert not [e for e in after.events if e.actor == "rule: Trial"]


def test_a_dry_run_rule_on_new_tickets_places_nothing(net_desk: Desk, admin: Actor, store: Store) -> None:
    desk = net_desk
    trial = rule(
        desk,
        admin,
        "Trial",
        {"on": "ticket_created"},
        {"do": "set_team", "value": "Net"},
        {"do": "add_tags", "tags": ["trial"]},
        {"do": "add_note", "text": "would be written"},
        mode="dry_run",
    )
    live = rule(desk, admin, "Live", {"on": "ticket_created"}, {"do": "set_priority", "value": "low"})
    number = make_ticket(desk)
    [run] = log(desk, rule_id=trial)
    assert run.outcome == "dry_run"
    assert [(c["action"], c.get("before"), c.get("after")) for c in run.changes] == [
        ("set_team", None, "Net"),
        ("add_tags", [], ["trial"]),
        ("add_note", None, None),
    ]
    assert fired(desk, live) == [(number, "ticket_created", "applied")]
    detail = desk.visible_ticket(admin, number)
    assert (detail.ticket.team, detail.ticket.tags, detail.ticket.priority) == (None, (), "low")
    assert len(detail.comments) == 1
    assert _created(desk, number)["routing_rule"] == "Live"


@pytest.fixture
def net_desk(desk: Desk, admin: Actor) -> Desk:
    desk.add_team(admin, "Net")
    make_person(desk, admin, "nia@support.test", team="Net")
    return desk


def test_disabled_rules_do_not_run(desk: Desk, admin: Actor, agent: Actor) -> None:
    off = rule(desk, admin, "Off", POKE, {"do": "add_tags", "tags": ["off"]}, enabled=False)
    off_new = rule(
        desk, admin, "Off new", {"on": "ticket_created"}, {"do": "add_tags", "tags": ["new"]}, enabled=False
    )
    number = make_ticket(desk)
    poke(desk, agent, number)
    assert (fired(desk, off), fired(desk, off_new), view(desk, number).tags) == ([], [], ())
    desk.patch_automation(admin, off, enabled=True)
    poke(desk, agent, number)
    assert view(desk, number).tags == ("off",)
    desk.patch_automation(admin, off, enabled=False)
    desk.set_tags(agent, number, remove=["off"])
    poke(desk, agent, number)
    assert view(desk, number).tags == ()
    assert len(fired(desk, off)) == 1


def test_a_removed_rule_stops_running_and_its_log_stays(desk: Desk, admin: Actor, agent: Actor) -> None:
    gone = rule(desk, admin, "Gone soon", POKE, {"do": "add_tags", "tags": ["x"]})
    number = make_ticket(desk)
    poke(desk, agent, number)
    desk.remove_automation(admin, gone)
    desk.set_tags(agent, number, remove=["x"])
    poke(desk, agent, number)
    assert view(desk, number).tags == ()
    assert fired(desk, gone) == [(number, "comment_added", "applied")]


# -- per-rule counts -----------------------------------------------------------------------------------


def test_the_rule_list_counts_each_rules_outcomes(desk: Desk, admin: Actor, agent: Actor) -> None:
    a, b = _ping_pong(desk, admin)
    desk.add_team(admin, "Gone")
    failing = rule(
        desk, admin, "Failing", {"on": "status_changed", "from": "open"}, {"do": "set_team", "value": "Gone"}
    )
    trial = rule(
        desk,
        admin,
        "Trial",
        {"on": "status_changed", "from": "open"},
        {"do": "set_priority", "value": "low"},
        mode="dry_run",
    )
    idle = rule(desk, admin, "Idle", {"on": "status_changed", "to": "closed"})
    _remove(desk, t.Team, t.Team.name == "Gone")
    for n in range(2):
        desk.transition(agent, make_ticket(desk, key=f"<c-{n}@example.com>"), Status.IN_PROGRESS)
    counted = {view["id"]: view["runs"] for view in desk.list_automations(admin)}
    assert counted == {
        a: {"applied": 2, "dry_run": 0, "failed": 0, "skipped": 2},
        b: {"applied": 2, "dry_run": 0, "failed": 0, "skipped": 0},
        failing: {"applied": 0, "dry_run": 0, "failed": 2, "skipped": 0},
        trial: {"applied": 0, "dry_run": 2, "failed": 0, "skipped": 0},
        idle: {"applied": 0, "dry_run": 0, "failed": 0, "skipped": 0},
    }
    assert desk.get_automation(admin, a)["runs"] == counted[a]
    assert len(desk.automation_log(admin, outcome="skipped")) == 2
    assert len(desk.automation_log(admin, ticket="SUP-1")) == 5


# -- rules cost CPU, not round trips -------------------------------------------------------------------


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def _hot_paths(desk: Desk, store: Store, agent: Actor, n: int) -> dict[str, int]:
    """Statements for a new email from a known sender, an agent's comment and a status change."""
    with counted(store) as received:
        receipt = desk.receive(make_inbound(email="known@example.com", key=f"<hot-{n}@example.com>"))
    number = receipt.ticket_number
    assert number is not None and receipt.created
    with counted(store) as commented:
        desk.comment(agent, number, "Looking into it")
    with counted(store) as changed:
        desk.transition(agent, number, Status.IN_PROGRESS)
    return {"receive": len(received), "comment": len(commented), "status change": len(changed)}


def test_a_hundred_rules_that_do_not_match_cost_no_statement(
    desk: Desk, admin: Actor, agent: Actor, store: Store
) -> None:
    _hot_paths(desk, store, agent, 0)  # warms the rules and the known sender
    without = _hot_paths(desk, store, agent, 1)
    for i in range(20):
        rule(
            desk, admin, f"New {i}", {"on": "ticket_created"}, all=[cond("subject", "contains", f"never-{i}")]
        )
        rule(
            desk,
            admin,
            f"Status {i}",
            {"on": "status_changed"},
            all=[cond("priority", "is", "urgent"), cond("channel", "is", "slack")],
        )
        rule(desk, admin, f"Closed {i}", {"on": "status_changed", "to": "closed"})
        rule(
            desk,
            admin,
            f"Updated {i}",
            {"on": "ticket_updated"},
            any=[cond("priority", "is", "low"), cond("status", "is", "resolved")],
        )
        rule(
            desk,
            admin,
            f"Comment {i}",
            {"on": "comment_added"},
            all=[cond("comment", "contains", f"never-{i}")],
        )
    assert len(desk.list_automations(admin)) == 100
    _hot_paths(desk, store, agent, 2)  # the first transaction after the change compiles the rules
    with_rules = _hot_paths(desk, store, agent, 3)
    assert with_rules == without
    assert log(desk) == []
