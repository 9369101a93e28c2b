"""Every action a rule can take, what it changes and what its run log row records."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.automation.runs import RunView
from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.messages import Identity
from bot.model import Actor, Role, Status
from bot.store import tables as t
from bot.store.db import Store
from tests.factories import make_person, make_ticket
from tests.fakes import FakeClock
from tests.integration.automation.conftest import log, outbox, recipients, rule

CUSTOMER = "customer@example.com"
# The trigger the live actions run on: an agent's internal note (a rule's own note is no agent's).
POKE = {"on": "comment_added", "visibility": "internal", "author": "agent"}


def poke(desk: Desk, agent: Actor, number: str) -> None:
    desk.comment(agent, number, "Rules, your turn.", public=False)


def acting(
    desk: Desk, admin: Actor, agent: Actor, *actions: dict[str, Any], number: str | None = None
) -> RunView:
    """A rule with ``actions`` run once on a ticket (a new one unless ``number``); its run."""
    rule_id = rule(desk, admin, "Act", POKE, *actions)
    number = number or make_ticket(desk)
    poke(desk, agent, number)
    [run] = log(desk, rule_id=rule_id)
    assert (run.ticket, run.trigger, run.outcome, run.reason) == (number, "comment_added", "applied", None)
    return run


def change(action: str, field: str, before: Any, after: Any) -> dict[str, Any]:
    return {"action": action, "field": field, "before": before, "after": after}


def view(desk: Desk, number: str) -> Any:
    return desk.visible_ticket(Actor.console(), number).ticket


def events(desk: Desk, number: str, kind: str) -> list[Any]:
    return [event for event in desk.visible_ticket(Actor.console(), number).events if event.kind == kind]


@pytest.fixture
def net(desk: Desk, admin: Actor) -> Desk:
    """Team Net with two agents, and the category Network that belongs to it."""
    desk.add_team(admin, "Net")
    make_person(desk, admin, "nia@support.test", name="Nia", team="Net")
    make_person(desk, admin, "ned@support.test", name="Ned", team="Net")
    desk.add_category(admin, "Network", team="Net")
    return desk


# -- status, priority, category, team --------------------------------------------------------


def test_set_status(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(desk, admin, agent, {"do": "set_status", "value": "waiting_customer"})
    assert run.changes == [change("set_status", "status", "open", "waiting_customer")]
    assert view(desk, run.ticket).status == "waiting_customer"
    [event] = events(desk, run.ticket, "status_changed")
    assert event.actor == "rule: Act" and event.after["status"] == "waiting_customer"


def test_set_status_to_what_it_is_changes_nothing(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(desk, admin, agent, {"do": "set_status", "value": "open"})
    assert run.changes == [] and events(desk, run.ticket, "status_changed") == []


def test_set_priority(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(desk, admin, agent, {"do": "set_priority", "value": "critical"})  # read as urgent
    assert run.changes == [change("set_priority", "priority", "medium", "urgent")]
    assert view(desk, run.ticket).priority == "urgent"


def test_set_category_brings_its_team_and_its_assignment(net: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(net, admin, agent, {"do": "set_category", "value": "network"})
    assert run.changes == [change("set_category", "category", None, "Network")]
    ticket = view(net, run.ticket)
    assert (ticket.category, ticket.team) == ("Network", "Net")
    assert ticket.assignee in ("nia@support.test", "ned@support.test")


def test_set_category_empty_clears_it(net: Desk, admin: Actor, agent: Actor) -> None:
    number = make_ticket(net, category="Network")
    run = acting(net, admin, agent, {"do": "set_category", "value": ""}, number=number)
    assert run.changes == [change("set_category", "category", "Network", None)]
    assert view(net, number).category is None


def test_set_team_and_clear_it(net: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(net, admin, agent, {"do": "set_team", "value": "NET"})
    assert run.changes == [change("set_team", "team", None, "Net")]
    assert view(net, run.ticket).team == "Net"
    cleared = rule(
        net,
        admin,
        "Clear",
        {"on": "comment_added", "visibility": "public", "author": "agent"},
        {"do": "set_team", "value": ""},
    )
    net.comment(agent, run.ticket, "public")
    [run] = log(net, rule_id=cleared)
    assert run.changes == [change("set_team", "team", "Net", None)]
    assert view(net, run.ticket).team is None


# -- assignee --------------------------------------------------------------------------------


def test_set_assignee_to_a_person_and_to_nobody(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(desk, admin, agent, {"do": "set_assignee", "person": "Agent@Support.test"})
    assert run.changes == [change("set_assignee", "assignee", None, "agent@support.test")]
    assert view(desk, run.ticket).assignee == "agent@support.test"
    [event] = events(desk, run.ticket, "assigned")
    assert event.actor == "rule: Act"
    nobody = rule(
        desk,
        admin,
        "Nobody",
        {"on": "status_changed", "to": "in_progress"},
        {"do": "set_assignee", "person": None},
    )
    desk.transition(agent, run.ticket, Status.IN_PROGRESS)
    [unassigned] = log(desk, rule_id=nobody)
    assert unassigned.changes == [change("set_assignee", "assignee", "agent@support.test", None)]
    assert view(desk, run.ticket).assignee is None


def test_set_assignee_round_robin_takes_the_teams_agents_in_turn(
    net: Desk, admin: Actor, agent: Actor
) -> None:
    rule_id = rule(net, admin, "Round", POKE, {"do": "set_assignee", "round_robin": "Net"})
    numbers = [make_ticket(net, key=f"<rr-{n}@example.com>") for n in range(4)]
    for number in numbers:
        poke(net, agent, number)
    chosen = [view(net, number).assignee for number in numbers]
    assert set(chosen) == {"nia@support.test", "ned@support.test"}
    assert chosen[0] != chosen[1] and chosen[0::2] == [chosen[0]] * 2 and chosen[1::2] == [chosen[1]] * 2
    runs = log(net, rule_id=rule_id)
    assert [run.changes for run in runs] == [
        [change("set_assignee", "assignee", None, who)] for who in chosen
    ]


def test_set_assignee_least_loaded_takes_the_agent_with_fewest_open_tickets(
    net: Desk, admin: Actor, agent: Actor
) -> None:
    for n in range(2):
        net.assign(agent, make_ticket(net, key=f"<busy-{n}@example.com>"), "nia@support.test")
    run = acting(net, admin, agent, {"do": "set_assignee", "least_loaded": "Net"})
    assert run.changes == [change("set_assignee", "assignee", None, "ned@support.test")]


# -- tags and fields -------------------------------------------------------------------------


def test_add_and_remove_tags(desk: Desk, admin: Actor, agent: Actor) -> None:
    number = make_ticket(desk)
    desk.set_tags(agent, number, add=["old", "keep"])
    run = acting(
        desk,
        admin,
        agent,
        {"do": "add_tags", "tags": ["VIP", "new"]},
        {"do": "remove_tags", "tags": ["old", "absent"]},
        number=number,
    )
    assert run.changes == [
        change("add_tags", "tags", ["keep", "old"], ["keep", "new", "old", "vip"]),
        change("remove_tags", "tags", ["keep", "new", "old", "vip"], ["keep", "new", "vip"]),
    ]
    assert sorted(view(desk, number).tags) == ["keep", "new", "vip"]


FIELDS = [
    ("asset", "text", None, "LAPTOP-42", "LAPTOP-42"),
    ("seats", "number", {"min": 1}, 25, 25),
    ("renewal", "date", None, "2026-12-31", "2026-12-31"),
    ("os", "dropdown", {"choices": ["Mac", "Windows", "Linux"]}, "Linux", "Linux"),
    ("platforms", "multiple_choice", {"choices": ["ios", "android", "web"]}, ["web", "ios"], ["ios", "web"]),
]


@pytest.mark.parametrize(("key", "kind", "options", "value", "stored"), FIELDS, ids=[f[1] for f in FIELDS])
def test_set_field_of_each_type(
    desk: Desk, admin: Actor, agent: Actor, key: str, kind: str, options: Any, value: Any, stored: Any
) -> None:
    desk.define_field(admin, key, key.title(), kind, options=options)
    run = acting(desk, admin, agent, {"do": "set_field", "key": key, "value": value})
    assert run.changes == [change("set_field", f"field.{key}", None, stored)]
    assert view(desk, run.ticket).custom_fields == {key: stored}


def test_set_field_null_clears_it(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.define_field(admin, "asset", "Asset", "text")
    number = make_ticket(desk)
    desk.set_field(agent, number, "asset", "PC-1")
    run = acting(desk, admin, agent, {"do": "set_field", "key": "asset", "value": None}, number=number)
    assert run.changes == [change("set_field", "field.asset", "PC-1", None)]
    assert view(desk, number).custom_fields == {}


# -- a note ----------------------------------------------------------------------------------


def test_add_note_is_internal_and_not_mailed_to_the_requester(
    desk: Desk, admin: Actor, agent: Actor, store: Store
) -> None:
    run = acting(desk, admin, agent, {"do": "add_note", "text": "Checked by a rule: {{ ticket.number }}"})
    comments = desk.visible_ticket(admin, run.ticket).comments
    note = comments[-1]
    assert (note.body, note.public, note.author, note.channel) == (
        "Checked by a rule: {{ ticket.number }}",  # plain text, not a template
        False,
        None,
        "automation",
    )
    assert run.changes == [{"action": "add_note", "comment_id": note.id}]
    assert [n.template for n in outbox(store) if n.recipient == CUSTOMER] == ["ticket_opened"]


# -- messages --------------------------------------------------------------------------------


def _email_rule(desk: Desk, admin: Actor, to: str) -> int:
    return rule(
        desk, admin, f"Mail {to}", POKE, {"do": "send_email", "to": to, "template": "automation_notice"}
    )


def test_send_email_to_the_requester(desk: Desk, admin: Actor, agent: Actor, store: Store) -> None:
    rule_id = _email_rule(desk, admin, "requester")
    number = make_ticket(desk)
    poke(desk, agent, number)
    [run] = log(desk, rule_id=rule_id)
    assert run.changes == [
        {"action": "send_email", "to": "requester", "template": "automation_notice", "recipients": [CUSTOMER]}
    ]
    [mail] = outbox(store, "automation_notice")
    assert (mail.channel, mail.recipient, mail.ticket, mail.status) == ("email", CUSTOMER, number, "pending")


def test_send_email_to_the_assignee_and_to_nobody_when_unassigned(
    desk: Desk, admin: Actor, agent: Actor, store: Store
) -> None:
    rule_id = _email_rule(desk, admin, "assignee")
    unassigned = make_ticket(desk)
    poke(desk, agent, unassigned)
    assigned = make_ticket(desk, key="<two@example.com>")
    desk.assign(agent, assigned, "agent@support.test")
    poke(desk, agent, assigned)
    assert [run.changes[0]["recipients"] for run in log(desk, rule_id=rule_id)] == [
        [],
        ["agent@support.test"],
    ]
    assert recipients(store, "automation_notice") == ["agent@support.test"]


def test_send_email_to_the_team(net: Desk, admin: Actor, agent: Actor, store: Store) -> None:
    make_person(net, admin, "boss@support.test", role=Role.ADMIN, team="Net")
    rule_id = _email_rule(net, admin, "team")
    number = make_ticket(net, team="Net")
    poke(net, agent, number)
    [run] = log(net, rule_id=rule_id)
    assert sorted(run.changes[0]["recipients"]) == [
        "boss@support.test",
        "ned@support.test",
        "nia@support.test",
    ]
    assert recipients(store, "automation_notice") == [
        "boss@support.test",
        "ned@support.test",
        "nia@support.test",
    ]


def test_send_email_to_the_followers(desk: Desk, admin: Actor, agent: Actor, store: Store) -> None:
    rule_id = _email_rule(desk, admin, "followers")
    number = make_ticket(desk, cc=(Identity(email="boss@example.com"), Identity(email="cfo@example.com")))
    poke(desk, agent, number)
    [run] = log(desk, rule_id=rule_id)
    assert sorted(run.changes[0]["recipients"]) == ["boss@example.com", "cfo@example.com"]
    assert recipients(store, "automation_notice") == ["boss@example.com", "cfo@example.com"]


def test_send_email_to_a_fixed_address(desk: Desk, admin: Actor, agent: Actor, store: Store) -> None:
    rule_id = rule(
        desk,
        admin,
        "List",
        POKE,
        {"do": "send_email", "to": "Oncall@Example.net", "template": "automation_reminder"},
    )
    number = make_ticket(desk)
    poke(desk, agent, number)
    [run] = log(desk, rule_id=rule_id)
    assert run.changes == [
        {
            "action": "send_email",
            "to": "oncall@example.net",
            "template": "automation_reminder",
            "recipients": ["oncall@example.net"],
        }
    ]
    [mail] = outbox(store, "automation_reminder")
    assert (mail.channel, mail.recipient, mail.ticket) == ("email", "oncall@example.net", number)


def test_each_run_sends_its_own_mail(desk: Desk, admin: Actor, agent: Actor, store: Store) -> None:
    """Two runs of the rule (two events) are two mails: each run's dedupe key is its own."""
    _email_rule(desk, admin, "requester")
    number = make_ticket(desk)
    poke(desk, agent, number)
    poke(desk, agent, number)
    assert recipients(store, "automation_notice") == [CUSTOMER, CUSTOMER]


SLACK = {
    "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test",
    "SUPPORTBOT_SLACK_SIGNING_SECRET": "s",
    "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "CSUPPORT",
}


@pytest.fixture
def slack_desk(environ: dict[str, str], store: Store, clock: FakeClock, admin: Actor) -> Desk:
    desk = Desk(store, clock, load(None, environ | SLACK))
    desk.add_team(admin, "Ops")
    desk.add_person(admin, "ann@support.test", name="Ann", role=Role.AGENT, team="Ops", slack_user_id="UANN")
    return desk


@pytest.mark.parametrize(
    ("action", "channel", "logged"),
    [
        ({"to": "thread"}, "CSUPPORT", {"to": "thread"}),
        ({"to": "channel", "channel": "CALERTS"}, "CALERTS", {"to": "channel", "channel": "CALERTS"}),
        ({"to": "dm", "person": "ann@support.test"}, "UANN", {"to": "dm", "person": "ann@support.test"}),
    ],
    ids=["thread", "channel", "dm"],
)
def test_send_slack(
    slack_desk: Desk, admin: Actor, store: Store, action: dict[str, str], channel: str, logged: dict[str, str]
) -> None:
    ann = slack_desk.actor("ann@support.test")
    rule_id = rule(
        slack_desk, admin, "Slack", POKE, {"do": "send_slack", "template": "automation_notice", **action}
    )
    number = make_ticket(slack_desk)
    poke(slack_desk, ann, number)
    [run] = log(slack_desk, rule_id=rule_id)
    assert run.outcome == "applied"
    assert run.changes == [{"action": "send_slack", "template": "automation_notice", **logged}]
    [post] = outbox(store, "automation_notice")
    assert (post.channel, post.recipient, post.ticket) == ("slack", channel, number)


def _webhook_rule(desk: Desk, admin: Actor) -> tuple[int, int]:
    subscription = desk.add_webhook(admin, "https://hooks.example.com/in", ["ticket.escalated"], "s" * 20)
    return subscription.id, rule(
        desk, admin, "Hook", POKE, {"do": "call_webhook", "subscription": subscription.id}
    )


def _check_webhook_run(desk: Desk, store: Store, subscription: int, rule_id: int, number: str) -> None:
    [run] = log(desk, rule_id=rule_id)
    assert run.changes == [{"action": "call_webhook", "subscription": subscription}]
    [delivery] = outbox(store, "automation.rule")
    assert (delivery.channel, delivery.recipient, delivery.ticket) == ("webhook", str(subscription), number)
    with store.read() as session:
        context = session.scalar(select(t.Notification.context).where(t.Notification.id == delivery.id))
    assert context["rule"] == {"id": rule_id, "name": "Hook"}
    assert context["event"] == "automation.rule" and context["ticket"]["number"] == number


def test_call_webhook_queues_a_delivery_to_the_subscription(
    desk: Desk, admin: Actor, agent: Actor, store: Store
) -> None:
    subscription, rule_id = _webhook_rule(desk, admin)
    number = make_ticket(desk)
    poke(desk, agent, number)  # in the process that stored the rule
    _check_webhook_run(desk, store, subscription, rule_id, number)


def test_call_webhook_from_another_process(
    desk: Desk, admin: Actor, agent: Actor, store: Store, clock: FakeClock, settings: Settings
) -> None:
    subscription, rule_id = _webhook_rule(desk, admin)
    other = Desk(store, clock, settings)  # compiles the rules afresh from the store
    number = make_ticket(other)
    poke(other, agent, number)
    _check_webhook_run(other, store, subscription, rule_id, number)


def test_escalate(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(desk, admin, agent, {"do": "escalate", "reason": "VIP waiting"})
    assert run.changes == [{"action": "escalate", "reason": "VIP waiting"}]
    [event] = events(desk, run.ticket, "escalated")
    assert (event.actor, event.after["reason"]) == ("rule: Act", "VIP waiting")


def test_actions_run_in_order_and_the_row_lists_each_change(desk: Desk, admin: Actor, agent: Actor) -> None:
    run = acting(
        desk,
        admin,
        agent,
        {"do": "set_priority", "value": "high"},
        {"do": "add_tags", "tags": ["triaged"]},
        {"do": "set_status", "value": "in_progress"},
        {"do": "set_priority", "value": "high"},  # already so: nothing to record
    )
    assert run.changes == [
        change("set_priority", "priority", "medium", "high"),
        change("add_tags", "tags", [], ["triaged"]),
        change("set_status", "status", "open", "in_progress"),
    ]


# -- the placing actions on a new ticket ----------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "logged", "expect"),
    [
        (
            {"do": "set_status", "value": "in_progress"},
            change("set_status", "status", "open", "in_progress"),
            {"status": "in_progress"},
        ),
        (
            {"do": "set_priority", "value": "low"},
            change("set_priority", "priority", "medium", "low"),
            {"priority": "low"},
        ),
        (
            {"do": "set_category", "value": "Network"},
            change("set_category", "category", None, "Network"),
            {"category": "Network", "team": "Net"},
        ),
        ({"do": "set_team", "value": "Net"}, change("set_team", "team", None, "Net"), {"team": "Net"}),
        (
            {"do": "set_assignee", "person": "nia@support.test"},
            change("set_assignee", "assignee", None, "nia@support.test"),
            {"assignee": "nia@support.test"},
        ),
        ({"do": "add_tags", "tags": ["new"]}, change("add_tags", "tags", [], ["new"]), {"tags": ("new",)}),
    ],
    ids=["status", "priority", "category", "team", "assignee", "tags"],
)
def test_placing_actions_on_a_new_ticket(
    net: Desk, admin: Actor, action: dict[str, Any], logged: dict[str, Any], expect: dict[str, Any]
) -> None:
    rule_id = rule(net, admin, "Place", {"on": "ticket_created"}, action)
    number = make_ticket(net)
    [run] = log(net, rule_id=rule_id)
    assert (run.ticket, run.trigger, run.outcome) == (number, "ticket_created", "applied")
    assert run.changes == [logged]
    ticket = view(net, number)
    assert {key: getattr(ticket, key) for key in expect} == expect


def test_set_field_on_a_new_ticket(desk: Desk, admin: Actor) -> None:
    desk.define_field(admin, "os", "OS", "dropdown", options={"choices": ["Mac", "Linux"]})
    rule_id = rule(
        desk, admin, "Place", {"on": "ticket_created"}, {"do": "set_field", "key": "os", "value": "Mac"}
    )
    number = make_ticket(desk)
    [run] = log(desk, rule_id=rule_id)
    assert run.changes == [change("set_field", "field.os", None, "Mac")]
    assert view(desk, number).custom_fields == {"os": "Mac"}


def test_non_placing_actions_run_once_the_new_ticket_is_open(desk: Desk, admin: Actor, store: Store) -> None:
    rule_id = rule(
        desk,
        admin,
        "Greet",
        {"on": "ticket_created"},
        {"do": "set_priority", "value": "high"},
        {"do": "add_note", "text": "Opened on a holiday"},
        {"do": "send_email", "to": "requester", "template": "automation_notice"},
        {"do": "escalate", "reason": "New VIP"},
    )
    number = make_ticket(desk)
    [run] = log(desk, rule_id=rule_id)
    note = desk.visible_ticket(admin, number).comments[-1]
    assert run.changes == [
        change("set_priority", "priority", "medium", "high"),
        {"action": "add_note", "comment_id": note.id},
        {
            "action": "send_email",
            "to": "requester",
            "template": "automation_notice",
            "recipients": [CUSTOMER],
        },
        {"action": "escalate", "reason": "New VIP"},
    ]
    assert (note.body, note.public) == ("Opened on a holiday", False)
    # The acknowledgement first, then the rule's mail.
    assert [n.template for n in outbox(store) if n.recipient == CUSTOMER] == [
        "ticket_opened",
        "automation_notice",
    ]
    assert len(events(desk, number, "escalated")) == 1
