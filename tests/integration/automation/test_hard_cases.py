"""The cases a second review found: forged senders, robots, dry-run time rules going live,
later rules seeing earlier ones' fields, dry-runs of comment rules, changes that breach at
once, rules that would restart their own clock, conditions that only time makes true, and
the run log's retention."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor, FieldType, Priority, Status
from bot.store import tables as t
from bot.store.db import Store
from tests.factories import make_inbound, make_ticket
from tests.fakes import FakeClock
from tests.integration.automation.conftest import cond, fired, log, outbox, rule

TAG = {"do": "add_tags", "tags": ["ruled"]}


def _tags(desk: Desk, admin: Actor, number: str) -> list[str]:
    return list(desk.visible_ticket(admin, number).ticket.tags)


def test_a_forged_staff_address_is_not_an_agent_to_rules(desk: Desk, admin: Actor, agent: Actor) -> None:
    rule(desk, admin, "Agent answered", {"on": "comment_added", "author": "agent"}, TAG)
    number = make_ticket(desk)
    # From: the agent, but nothing vouches for it: kept flagged, and no rule takes it as theirs.
    desk.receive(make_inbound(email="agent@support.test", ticket_number=number, text="Resolved, bye"))
    assert _tags(desk, admin, number) == []
    desk.comment(agent, number, "Here is the fix", channel="api")
    assert _tags(desk, admin, number) == ["ruled"]


def test_a_new_ticket_rule_does_not_write_to_a_robot(desk: Desk, admin: Actor, store: Store) -> None:
    rule_id = rule(
        desk,
        admin,
        "Welcome",
        {"on": "ticket_created"},
        {"do": "send_email", "to": "requester", "template": "automation_notice"},
        TAG,
    )
    robot = make_ticket(desk, email="ooo@vendor.example", auto_submitted=True)
    person = make_ticket(desk, email="casey@example.com")
    assert [row.recipient for row in outbox(store, "automation_notice")] == ["casey@example.com"]
    assert _tags(desk, admin, robot) == ["ruled"]  # the rest of the rule still runs
    robot_run = next(run for run in log(desk, rule_id=rule_id) if run.ticket == robot)
    assert robot_run.outcome == "applied"
    assert [change["action"] for change in robot_run.changes if "skipped" in change] == ["send_email"]
    assert person


def test_a_time_rule_tried_in_dry_run_still_acts_once_it_goes_live(
    desk: Desk, admin: Actor, agent: Actor, clock: FakeClock
) -> None:
    rule_id = rule(
        desk,
        admin,
        "Remind",
        {"on": "time", "since": "status_changed", "after": "3d"},
        TAG,
        all=[cond("status", "is", "waiting_customer")],
        mode="dry_run",
    )
    number = make_ticket(desk)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=3, minutes=1)
    desk.automation_sweep()
    assert [outcome for _, _, outcome in fired(desk, rule_id)] == ["dry_run"]
    desk.patch_automation(admin, rule_id, mode="live")  # counts the tickets already waiting
    desk.automation_sweep()
    assert _tags(desk, admin, number) == ["ruled"]
    assert [outcome for _, _, outcome in fired(desk, rule_id)] == ["dry_run", "applied"]


def test_a_later_rule_sees_the_field_an_earlier_one_set(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.define_field(
        admin, "tier", "Tier", FieldType.DROPDOWN.value, options={"choices": ["gold", "silver"]}
    )
    trigger = {"on": "status_changed", "to": "in_progress"}
    rule(desk, admin, "Gold", trigger, {"do": "set_field", "key": "tier", "value": "gold"})
    rule(desk, admin, "Tag gold", trigger, TAG, all=[cond("field.tier", "is", "gold")])
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)
    assert _tags(desk, admin, number) == ["ruled"]


def test_a_dry_run_of_a_comment_rule_reads_that_comment(desk: Desk, admin: Actor, agent: Actor) -> None:
    number = make_ticket(desk, text="Please open the door")
    desk.receive(make_inbound(ticket_number=number, verified=True, text="I want a refund"))
    desk.comment(agent, number, "Looking into it", channel="api")
    refund = {
        "name": "Refunds",
        "trigger": {"on": "comment_added", "author": "requester"},
        "conditions": {"all": [cond("comment", "contains", "refund")]},
        "actions": [TAG],
    }
    report = desk.test_automation(admin, refund)
    assert report.matched == 1 and [m.ticket for m in report.matches] == [number]
    looking = {**refund, "conditions": {"all": [cond("comment", "contains", "looking")]}}
    assert desk.test_automation(admin, looking).matched == 0  # the agent's, not the requester's


def test_a_change_that_breaches_at_once_is_an_sla_change(
    desk: Desk, admin: Actor, agent: Actor, clock: FakeClock
) -> None:
    rule(desk, admin, "Breached", {"on": "sla_changed", "to": "breached"}, TAG)
    number = make_ticket(desk)  # medium: 4 h to a first response
    clock.advance(hours=1)
    desk.set_priority(agent, number, Priority.URGENT)  # 15 min, an hour ago
    assert desk.visible_ticket(admin, number).ticket.sla_status == "breached"
    assert _tags(desk, admin, number) == ["ruled"]


def test_a_time_rule_from_the_last_update_may_only_send_messages(desk: Desk, admin: Actor) -> None:
    trigger = {"on": "time", "since": "updated", "after": "1h"}
    with pytest.raises(UserError) as refused:
        rule(desk, admin, "Nudge", trigger, {"do": "add_note", "text": "Still open"})
    assert refused.value.field == "trigger.since"
    assert desk.list_automations(admin) == []
    rule(desk, admin, "Nudge by mail", trigger)  # a message leaves the clock where it is


def test_a_condition_only_time_makes_true_is_looked_at_again(
    desk: Desk, admin: Actor, clock: FakeClock
) -> None:
    rule_id = rule(
        desk,
        admin,
        "Quiet for two hours",
        {"on": "time", "since": "created", "after": "1h"},
        TAG,
        all=[cond("hours_since_requester_reply", "gt", 2)],
    )
    number = make_ticket(desk)
    clock.advance(hours=1, minutes=1)
    desk.automation_sweep()
    assert fired(desk, rule_id) == []
    clock.advance(hours=1, minutes=5)
    desk.automation_sweep()
    assert _tags(desk, admin, number) == ["ruled"]


def test_the_run_log_forgets_runs_past_its_retention(
    desk: Desk, admin: Actor, agent: Actor, clock: FakeClock, store: Store
) -> None:
    rule(desk, admin, "Tag", {"on": "status_changed"}, TAG)
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)
    clock.advance(days=desk.settings.automation.log_retention_days + 1)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    assert desk.prune_automation_log() == 1
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(t.AutomationRun)) == 1


def test_a_field_a_new_tickets_rule_sets_is_on_record_as_the_rules_act(
    desk: Desk, admin: Actor, store: Store
) -> None:
    desk.define_field(
        admin, "tier", "Tier", FieldType.DROPDOWN.value, options={"choices": ["gold", "silver"]}
    )
    rule(desk, admin, "Gold", {"on": "ticket_created"}, {"do": "set_field", "key": "tier", "value": "gold"})
    number = make_ticket(desk, fields={"tier": "silver"})
    assert desk.visible_ticket(admin, number).ticket.custom_fields == {"tier": "gold"}
    with store.read() as session:
        who = session.scalars(select(t.Event.actor).where(t.Event.kind == "field_changed")).all()
    assert who == ["rule: Gold"]
