"""Trying a rule on stored tickets (``supportbot automations test``): which tickets would match
and what each action would change, writing nothing at all, checked against a dump of the
whole database (every table, and on PostgreSQL every sequence) before and after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text

from bot.desk.facade import Desk
from bot.errors import Forbidden, UserError
from bot.model import Actor, Role, Status
from bot.read.queries import TicketFilter
from bot.store.db import Store
from bot.store.tables import Base
from tests.factories import make_person, make_ticket
from tests.fakes import FakeClock

HOOK = "https://hooks.example.com/supportbot"
SECRET = "s3cret-s3cret-s3cret"


def pick_up(subscription: int, **extra: Any) -> dict[str, Any]:
    """An event rule that would change status, assign, note, email and call a webhook."""
    return {
        "name": "Pick up tickets put on hold",
        "trigger": {"on": "status_changed", "to": "waiting_customer"},
        "actions": [
            {"do": "set_status", "value": "in_progress"},
            {"do": "set_assignee", "person": "agent@support.test"},
            {"do": "add_note", "text": "Picked up by a rule"},
            {"do": "send_email", "to": "requester", "template": "automation_notice"},
            {"do": "call_webhook", "subscription": subscription},
        ],
        **extra,
    }


VPN_ON_CREATE: dict[str, Any] = {
    "name": "VPN tickets to Ops",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "text", "op": "contains", "value": "vpn"}]},
    "actions": [
        {"do": "set_team", "value": "Ops"},
        {"do": "set_priority", "value": "urgent"},
        {"do": "add_tags", "tags": ["vpn"]},
    ],
}

REMIND: dict[str, Any] = {
    "name": "Remind after 3 days waiting",
    "trigger": {"on": "time", "since": "status_changed", "after": "3d"},
    "conditions": {"all": [{"field": "status", "op": "is", "value": "waiting_customer"}]},
    "actions": [
        {"do": "add_tags", "tags": ["reminded"]},
        {"do": "send_email", "to": "requester", "template": "automation_reminder"},
    ],
}

ROUND_ROBIN: dict[str, Any] = {
    "name": "Round-robin in Ops",
    "trigger": {"on": "status_changed", "to": "waiting_customer"},
    "actions": [
        {"do": "set_assignee", "round_robin": "Ops"},
        {"do": "escalate", "reason": "on hold"},
        {"do": "set_category", "value": "Network"},
    ],
}


def dump(store: Store) -> dict[str, list[str]]:
    """Every row of every table (modelled or not), and on PostgreSQL every sequence's state."""
    found: dict[str, list[str]] = {}
    with store.engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
        assert {table.name for table in Base.metadata.sorted_tables} <= names
        if connection.dialect.name == "sqlite":
            names |= {
                name
                for (name,) in connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
                )
            }
        for name in sorted(names):
            rows = connection.execute(text(f'SELECT * FROM "{name}"')).all()
            found[name] = sorted(repr(tuple(row)) for row in rows)
        if connection.dialect.name == "postgresql":
            sequences = connection.execute(
                text(
                    "SELECT sequence_name FROM information_schema.sequences"
                    " WHERE sequence_schema = current_schema()"
                )
            ).scalars()
            for sequence in sorted(sequences):
                state = connection.execute(text(f'SELECT last_value, is_called FROM "{sequence}"')).one()
                found[f"sequence {sequence}"] = [repr(tuple(state))]
            assert any(key.startswith("sequence ") for key in found)
    return found


@pytest.fixture
def stocked(desk: Desk, admin: Actor, agent: Actor, clock: FakeClock) -> dict[str, Any]:
    """Tickets with a history: one put on hold long ago, one on hold four days, one a day,
    one VPN ticket and one never touched; an Ops agent, a category and a webhook."""
    desk.add_category(admin, "Network")
    make_person(desk, admin, "bob@support.test", name="Bob", team="Ops")
    hook = desk.add_webhook(admin, HOOK, ["ticket.created"], SECRET)
    old = make_ticket(desk, subject="Old problem", email="old@example.com")
    desk.transition(agent, old, Status.WAITING_CUSTOMER)
    clock.advance(days=36)
    held = make_ticket(desk, subject="Printer jam", email="casey@example.com")
    clock.advance(hours=1)
    desk.transition(agent, held, Status.WAITING_CUSTOMER)
    vpn = make_ticket(desk, subject="VPN down", email="vera@example.com")
    untouched = make_ticket(desk, subject="Invoice question", email="ian@example.com")
    clock.advance(days=3)
    recent = make_ticket(desk, subject="Password reset", email="rita@example.com")
    desk.transition(agent, recent, Status.WAITING_CUSTOMER)
    clock.advance(days=1)
    return {
        "hook": hook.id,
        "old": old,
        "held": held,
        "vpn": vpn,
        "untouched": untouched,
        "recent": recent,
    }


def test_an_event_rule_is_tried_on_the_status_changes_on_record(desk, admin, stocked, clock):
    report = desk.test_automation(admin, pick_up(stocked["hook"]))
    assert report.since == clock.now() - timedelta(days=30)
    assert report.matched == 2
    assert sorted(match.ticket for match in report.matches) == sorted([stocked["held"], stocked["recent"]])
    [held] = [match for match in report.matches if match.ticket == stocked["held"]]
    assert held.trigger == "status_changed"
    assert held.at == clock.now() - timedelta(days=4)
    assert held.changes == [
        {"action": "set_status", "field": "status", "before": "waiting_customer", "after": "in_progress"},
        {"action": "set_assignee", "field": "assignee", "before": None, "after": "agent@support.test"},
        {"action": "add_note", "text": "Picked up by a rule"},
        {
            "action": "send_email",
            "to": "requester",
            "template": "automation_notice",
            "recipients": ["casey@example.com"],
        },
        {"action": "call_webhook", "subscription": stocked["hook"]},
    ]
    assert report.rule["name"] == "Pick up tickets put on hold"


def test_a_longer_window_and_a_filter_choose_the_tickets_tried(desk, admin, stocked, clock):
    rule = pick_up(stocked["hook"])
    wider = desk.test_automation(admin, rule, since=clock.now() - timedelta(days=60))
    assert sorted(m.ticket for m in wider.matches) == sorted(
        [stocked["old"], stocked["held"], stocked["recent"]]
    )
    one = desk.test_automation(
        admin,
        rule,
        since=clock.now() - timedelta(days=60),
        filters=TicketFilter(requester="old@example.com"),
    )
    assert [m.ticket for m in one.matches] == [stocked["old"]]
    assert one.examined == 1


def test_a_stored_rule_is_tried_by_its_id(desk, admin, stocked):
    stored = desk.add_automation(admin, pick_up(stocked["hook"], enabled=False))
    report = desk.test_automation(admin, stored["id"])
    assert report.matched == 2
    assert report.rule["name"] == "Pick up tickets put on hold"


def test_a_ticket_created_rule_is_tried_on_the_tickets_opened_in_the_window(desk, admin, stocked, clock):
    report = desk.test_automation(admin, VPN_ON_CREATE)
    [match] = report.matches
    assert (match.ticket, match.trigger) == (stocked["vpn"], "ticket_created")
    assert match.at == clock.now() - timedelta(days=4)
    assert match.changes == [
        {"action": "set_team", "field": "team", "before": None, "after": "Ops"},
        {"action": "set_priority", "field": "priority", "before": "medium", "after": "urgent"},
        {"action": "add_tags", "field": "tags", "before": [], "after": ["vpn"]},
    ]


def test_a_time_rule_is_tried_on_the_tickets_whose_time_has_come(desk, admin, stocked, clock):
    report = desk.test_automation(admin, REMIND)
    # On hold long ago and four days ago: due; on hold for a day: not yet.
    assert sorted(m.ticket for m in report.matches) == sorted([stocked["old"], stocked["held"]])
    [held] = [m for m in report.matches if m.ticket == stocked["held"]]
    assert held.trigger == "time"
    assert held.at == clock.now() - timedelta(days=4) + timedelta(days=3)
    assert held.changes == [
        {"action": "add_tags", "field": "tags", "before": [], "after": ["reminded"]},
        {
            "action": "send_email",
            "to": "requester",
            "template": "automation_reminder",
            "recipients": ["casey@example.com"],
        },
    ]
    assert held.note is None


def test_a_time_rule_that_fired_says_so(desk, admin, agent, clock):
    stored = desk.add_automation(admin, REMIND)
    reminded = make_ticket(desk, subject="reminded", email="rae@example.com")
    desk.transition(agent, reminded, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    assert desk.automation_sweep().fired == 1
    due = make_ticket(desk, subject="due", email="dee@example.com")
    desk.transition(agent, due, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    report = desk.test_automation(admin, stored["id"])
    notes = {m.ticket: m.note for m in report.matches}
    assert notes == {reminded: "already fired for this episode", due: None}


def test_trying_rules_writes_nothing_at_all(desk, admin, stocked, store, clock):
    stored = desk.add_automation(admin, pick_up(stocked["hook"], enabled=False))
    before = dump(store)
    wide = clock.now() - timedelta(days=90)
    reports = [
        desk.test_automation(admin, pick_up(stocked["hook"]), since=wide),
        desk.test_automation(admin, stored["id"], since=wide),
        desk.test_automation(admin, ROUND_ROBIN, since=wide),
        desk.test_automation(admin, VPN_ON_CREATE, since=wide),
        desk.test_automation(admin, REMIND),
        # the tickets on hold now whose change is in the last 30 days
        desk.test_automation(
            admin, pick_up(stocked["hook"]), filters=TicketFilter(status="waiting_customer")
        ),
    ]
    assert [report.matched for report in reports] == [3, 3, 3, 1, 2, 2]
    assert dump(store) == before
    # and the rules would have changed what they say, had they run
    [first] = [m for m in reports[2].matches if m.ticket == stocked["held"]]
    assert first.changes[0] == {
        "action": "set_assignee",
        "field": "assignee",
        "before": None,
        "after": "the next agent of Ops",
    }


def test_trying_a_rule_is_for_staff_and_a_bad_rule_is_refused(desk, admin, stocked, store):
    customer = make_person(desk, admin, "cora@example.com", role=Role.REQUESTER)
    with pytest.raises(Forbidden):
        desk.test_automation(customer, VPN_ON_CREATE)
    agent = Actor(None, "agent@support.test", Role.AGENT)
    assert desk.test_automation(agent, VPN_ON_CREATE).matched == 1
    before = dump(store)
    with pytest.raises(UserError) as refused:
        desk.test_automation(
            admin, pick_up(stocked["hook"]) | {"actions": [{"do": "set_team", "value": "Nope"}]}
        )
    assert refused.value.field == "actions[0].value"
    assert dump(store) == before
