"""Time-based automation rules against the real store, moved by a fake clock (no sleeps).

"Remind the requester after 3 days waiting", "unassigned for 30 minutes in
business hours" and "resolved for 7 days": each fires once per episode (the
instant its state began), at the first sweep at or after its time whose
conditions hold, and the sweep reads only the tickets with a rule due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.automation.sweep import SweepReport
from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Priority, Status
from bot.store import tables as t
from bot.store.db import Store
from bot.views import TicketView
from tests.factories import make_person, make_ticket
from tests.fakes import FakeClock

REMIND: dict[str, Any] = {
    "name": "Remind the requester after 3 days waiting",
    "trigger": {"on": "time", "since": "status_changed", "after": "3d"},
    "conditions": {"all": [{"field": "status", "op": "is", "value": "waiting_customer"}]},
    "actions": [
        {"do": "send_email", "to": "requester", "template": "automation_reminder"},
        {"do": "add_tags", "tags": ["reminded"]},
    ],
}

UNASSIGNED: dict[str, Any] = {
    "name": "Unassigned for 30 minutes in business hours",
    "trigger": {"on": "time", "since": "assignment_changed", "after": "30m", "business_hours": True},
    "conditions": {"all": [{"field": "assignee", "op": "not_set"}]},
    "actions": [{"do": "add_tags", "tags": ["unassigned-30m"]}],
}

CLOSE_RESOLVED: dict[str, Any] = {
    "name": "Close after 7 days resolved",
    "trigger": {"on": "time", "since": "resolved", "after": "7d"},
    "actions": [{"do": "set_status", "value": "closed"}],
}

# Europe/Berlin is UTC+1 until the end of March 2026.
BERLIN = timedelta(hours=1)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Berlin in March 2026, as the UTC instant the clock holds."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - BERLIN


def _ticket(desk: Desk, number: str) -> TicketView:
    return desk.visible_ticket(Actor.console(), number).ticket


def _tags(desk: Desk, number: str) -> set[str]:
    return set(_ticket(desk, number).tags)


def _id(number: str) -> int:
    return int(number.rpartition("-")[2])


def _notices(store: Store, number: str, template: str = "automation_reminder") -> list[str]:
    with store.read() as session:
        return list(
            session.scalars(
                select(t.Notification.recipient).where(
                    t.Notification.ticket_id == _id(number), t.Notification.template == template
                )
            )
        )


def _count(store: Store, model: Any, *where: Any) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _check_at(store: Store, number: str) -> datetime | None:
    with store.read() as session:
        return session.scalar(select(t.Ticket.automation_check_at).where(t.Ticket.id == _id(number)))


def _runs(desk: Desk, admin: Actor, rule_id: int, outcome: str | None = None) -> list[Any]:
    return desk.automation_log(admin, rule_id=rule_id, outcome=outcome)


def _reply(desk: Desk, number: str, email: str, text: str) -> None:
    desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email=email),
            subject=f"Re: {number}",
            text=text,
            key=f"<reply-{number}-{text.replace(' ', '-')}@example.com>",
            ticket_number=number,
            verified=True,
        )
    )


# -- remind the requester after 3 days waiting ------------------------------------------------


def test_a_reminder_goes_once_three_days_after_the_ticket_began_waiting(desk, clock, admin, agent, store):
    rule = desk.add_automation(admin, REMIND)
    number = make_ticket(desk, subject="Printer on fire", email="casey@example.com")
    clock.advance(hours=1)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)

    clock.advance(days=3, minutes=-1)
    assert desk.automation_sweep().fired == 0
    assert _notices(store, number) == [] and "reminded" not in _tags(desk, number)

    clock.advance(minutes=1)
    assert desk.automation_sweep().fired == 1
    assert _notices(store, number) == ["casey@example.com"]
    assert "reminded" in _tags(desk, number)
    [run] = _runs(desk, admin, rule["id"])
    assert (run.ticket, run.trigger, run.outcome) == (number, "time", "applied")
    assert {"action": "add_tags", "field": "tags", "before": [], "after": ["reminded"]} in run.changes
    assert any(
        change["action"] == "send_email" and change["recipients"] == ["casey@example.com"]
        for change in run.changes
    )

    assert desk.automation_sweep().fired == 0  # swept again at once
    clock.advance(days=10)
    assert desk.automation_sweep().fired == 0  # and much later
    assert _notices(store, number) == ["casey@example.com"]
    assert len(_runs(desk, admin, rule["id"])) == 1
    assert _count(store, t.AutomationFiring) == 1


def test_an_unrelated_change_after_the_reminder_does_not_send_it_again(desk, clock, admin, agent, store):
    desk.add_automation(admin, REMIND)
    number = make_ticket(desk, email="casey@example.com")
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    assert desk.automation_sweep().fired == 1
    clock.advance(hours=1)
    desk.comment(agent, number, "still waiting on them", public=False)
    desk.set_priority(agent, number, Priority.HIGH)
    clock.advance(days=1)
    assert desk.automation_sweep().fired == 0
    assert _notices(store, number) == ["casey@example.com"]


def test_waiting_again_after_a_change_of_status_is_a_new_episode(desk, clock, admin, agent, store):
    rule = desk.add_automation(admin, REMIND)
    number = make_ticket(desk, email="casey@example.com")
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    assert desk.automation_sweep().fired == 1

    clock.advance(hours=2)
    desk.transition(agent, number, Status.IN_PROGRESS)
    clock.advance(hours=1)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=2)
    assert desk.automation_sweep().fired == 0
    clock.advance(days=1)
    assert desk.automation_sweep().fired == 1
    assert _notices(store, number) == ["casey@example.com", "casey@example.com"]
    assert [run.outcome for run in _runs(desk, admin, rule["id"])] == ["applied", "applied"]
    assert _count(store, t.AutomationFiring) == 2
    clock.advance(days=5)
    assert desk.automation_sweep().fired == 0


def test_no_reminder_when_the_customer_answered_first(desk, clock, admin, agent, store):
    rule = desk.add_automation(admin, REMIND)
    number = make_ticket(desk, email="casey@example.com")
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=2)
    _reply(desk, number, "casey@example.com", "Here is the serial number")
    assert _ticket(desk, number).status != Status.WAITING_CUSTOMER
    for _ in range(4):
        clock.advance(days=1)
        assert desk.automation_sweep().fired == 0
    assert _notices(store, number) == []
    assert "reminded" not in _tags(desk, number)
    assert _runs(desk, admin, rule["id"]) == []


def test_only_the_tickets_waiting_long_enough_are_reminded(desk, clock, admin, agent, store):
    desk.add_automation(admin, REMIND)
    early = make_ticket(desk, subject="early", email="early@example.com")
    late = make_ticket(desk, subject="late", email="late@example.com")
    desk.transition(agent, early, Status.WAITING_CUSTOMER)
    clock.advance(days=1)
    desk.transition(agent, late, Status.WAITING_CUSTOMER)
    clock.advance(days=2)
    assert desk.automation_sweep().fired == 1
    assert (_notices(store, early), _notices(store, late)) == (["early@example.com"], [])
    clock.advance(days=1)
    assert desk.automation_sweep().fired == 1
    assert _notices(store, late) == ["late@example.com"]


# -- the sweep reads only due tickets ------------------------------------------------------


def test_the_sweep_reads_only_the_tickets_with_a_rule_due(desk, clock, admin, agent):
    desk.add_automation(admin, REMIND)
    for n in range(20):
        make_ticket(desk, subject=f"open {n}", email=f"open{n}@example.com")
    waiting = [make_ticket(desk, subject=f"waiting {n}", email=f"w{n}@example.com") for n in range(2)]
    for number in waiting:
        desk.transition(agent, number, Status.WAITING_CUSTOMER)
    assert desk.automation_sweep().checked == 0
    clock.advance(days=3)
    report = desk.automation_sweep()
    assert (report.checked, report.fired) == (2, 2)
    clock.advance(days=30)
    assert desk.automation_sweep().checked == 0


def test_without_time_rules_the_sweep_reads_nothing(desk, clock, admin):
    desk.add_automation(
        admin,
        {
            "name": "Tag VPN tickets",
            "trigger": {"on": "ticket_created"},
            "conditions": {"all": [{"field": "text", "op": "contains", "value": "vpn"}]},
            "actions": [{"do": "add_tags", "tags": ["vpn"]}],
        },
    )
    for n in range(5):
        make_ticket(desk, subject=f"VPN {n}")
    clock.advance(days=400)
    assert desk.automation_sweep() == SweepReport(checked=0, fired=0)


def test_a_time_rule_added_later_counts_for_the_tickets_already_waiting(desk, clock, admin, agent, store):
    number = make_ticket(desk, email="casey@example.com")
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=1)
    desk.add_automation(admin, REMIND)
    clock.advance(days=2)
    assert desk.automation_sweep().fired == 1
    assert _notices(store, number) == ["casey@example.com"]


# -- unassigned for 30 minutes in business hours ----------------------------------------------


@pytest.fixture
def office(environ: dict[str, str], store: Store, clock: FakeClock) -> Desk:
    """A desk whose SLA calendar is Berlin, Monday to Friday, 09:00 to 17:00."""
    settings = load(
        None,
        environ
        | {
            "SUPPORTBOT_SLA_TIMEZONE": "Europe/Berlin",
            "SUPPORTBOT_SLA_BUSINESS_HOURS": "mon-fri 09:00-17:00",
        },
    )
    return Desk(store, clock, settings)


def test_unassigned_for_30_business_minutes_carries_a_friday_ticket_into_monday(office, clock, admin, store):
    office.add_automation(admin, UNASSIGNED)
    clock.set(berlin(6, 16, 45))  # Friday 16:45
    number = make_ticket(office, subject="Friday afternoon")
    assert _check_at(store, number) == berlin(9, 9, 15)  # Monday 09:15

    clock.set(berlin(6, 17, 15))  # 30 minutes on the wall clock, 15 of them in business hours
    assert office.automation_sweep().fired == 0
    clock.set(berlin(7, 12, 0))  # Saturday
    assert office.automation_sweep().fired == 0
    clock.set(berlin(9, 9, 14))
    assert office.automation_sweep().fired == 0
    assert "unassigned-30m" not in _tags(office, number)

    clock.set(berlin(9, 9, 15))
    assert office.automation_sweep().fired == 1
    assert "unassigned-30m" in _tags(office, number)
    clock.advance(days=3)
    assert office.automation_sweep().fired == 0


def test_a_ticket_assigned_in_time_is_not_flagged(office, clock, admin, store):
    office.add_automation(admin, UNASSIGNED)
    ann = make_person(office, admin, "ann@support.test", name="Ann")
    clock.set(berlin(6, 16, 45))
    flagged = make_ticket(office, subject="nobody takes it")
    taken = make_ticket(office, subject="Ann takes it")
    clock.set(berlin(6, 16, 50))
    office.assign(ann, taken, "ann@support.test")
    clock.set(berlin(9, 10, 0))
    assert office.automation_sweep().fired == 1
    assert "unassigned-30m" in _tags(office, flagged)
    assert "unassigned-30m" not in _tags(office, taken)


def test_unassigning_starts_the_30_business_minutes_again(office, clock, admin, store):
    office.add_automation(admin, UNASSIGNED)
    ann = make_person(office, admin, "ann@support.test", name="Ann")
    clock.set(berlin(9, 9, 0))  # Monday
    number = make_ticket(office)
    clock.set(berlin(9, 9, 10))
    office.assign(ann, number, "ann@support.test")
    clock.set(berlin(9, 16, 50))
    office.assign(ann, number, None)
    clock.set(berlin(9, 17, 30))
    assert office.automation_sweep().fired == 0
    clock.set(berlin(10, 9, 19))  # Tuesday: 10 minutes on Monday, 19 on Tuesday
    assert office.automation_sweep().fired == 0
    clock.set(berlin(10, 9, 20))
    assert office.automation_sweep().fired == 1
    assert "unassigned-30m" in _tags(office, number)


# -- resolved for 7 days -------------------------------------------------------------------


def test_a_ticket_resolved_for_7_days_is_closed(desk, clock, admin, agent):
    rule = desk.add_automation(admin, CLOSE_RESOLVED)
    number = make_ticket(desk)
    clock.advance(hours=3)
    desk.transition(agent, number, Status.RESOLVED)
    clock.advance(days=7, minutes=-1)
    assert desk.automation_sweep().fired == 0
    assert _ticket(desk, number).status == Status.RESOLVED
    clock.advance(minutes=1)
    assert desk.automation_sweep().fired == 1
    assert _ticket(desk, number).status == Status.CLOSED
    [run] = _runs(desk, admin, rule["id"])
    assert run.changes == [
        {"action": "set_status", "field": "status", "before": "resolved", "after": "closed"}
    ]
    clock.advance(days=30)
    assert desk.automation_sweep().fired == 0


def test_a_ticket_reopened_before_7_days_stays_open(desk, clock, admin, agent):
    desk.add_automation(admin, CLOSE_RESOLVED)
    number = make_ticket(desk)
    desk.transition(agent, number, Status.RESOLVED)
    clock.advance(days=3)
    desk.transition(agent, number, Status.OPEN)
    clock.advance(days=10)
    assert desk.automation_sweep().fired == 0
    assert _ticket(desk, number).status == Status.OPEN


def test_resolved_again_later_is_counted_from_the_new_resolution(desk, clock, admin, agent):
    desk.add_automation(admin, CLOSE_RESOLVED)
    number = make_ticket(desk)
    desk.transition(agent, number, Status.RESOLVED)
    clock.advance(days=3)
    desk.transition(agent, number, Status.IN_PROGRESS)
    clock.advance(days=1)
    desk.transition(agent, number, Status.RESOLVED)
    clock.advance(days=6)
    assert desk.automation_sweep().fired == 0
    clock.advance(days=1)
    assert desk.automation_sweep().fired == 1
    assert _ticket(desk, number).status == Status.CLOSED


# -- conditions decided when the time comes ----------------------------------------------------

URGENT_DAY_OLD: dict[str, Any] = {
    "name": "Urgent for a day",
    "trigger": {"on": "time", "since": "created", "after": "1d"},
    "conditions": {"all": [{"field": "priority", "op": "is", "value": "urgent"}]},
    "actions": [{"do": "add_tags", "tags": ["day-old-urgent"]}],
}


def test_a_condition_false_when_the_time_comes_does_not_fire(desk, clock, admin, agent):
    desk.add_automation(admin, URGENT_DAY_OLD)
    number = make_ticket(desk)
    clock.advance(days=1, hours=1)
    assert desk.automation_sweep().fired == 0
    clock.advance(days=5)
    assert desk.automation_sweep().fired == 0
    assert "day-old-urgent" not in _tags(desk, number)


def test_a_later_change_that_makes_the_condition_true_fires_it(desk, clock, admin, agent):
    rule = desk.add_automation(admin, URGENT_DAY_OLD)
    number = make_ticket(desk)
    clock.advance(days=1, hours=1)
    assert desk.automation_sweep().fired == 0
    clock.advance(hours=5)
    desk.set_priority(agent, number, Priority.URGENT)
    assert desk.automation_sweep().fired == 1
    assert "day-old-urgent" in _tags(desk, number)
    assert desk.automation_sweep().fired == 0
    desk.set_priority(agent, number, Priority.LOW)
    desk.set_priority(agent, number, Priority.URGENT)
    assert desk.automation_sweep().fired == 0  # the same episode: created once
    assert len(_runs(desk, admin, rule["id"])) == 1


def test_a_condition_the_row_cannot_answer_is_decided_by_the_sweep(desk, clock, admin, agent):
    """The latest comment is not on the ticket's row: the timer is kept, the sweep decides."""
    desk.add_automation(
        admin,
        {
            "name": "Still stuck after a day",
            "trigger": {"on": "time", "since": "created", "after": "1d"},
            "conditions": {"all": [{"field": "comment", "op": "contains", "value": "stuck"}]},
            "actions": [{"do": "add_tags", "tags": ["stuck"]}],
        },
    )
    stuck = make_ticket(desk, subject="one", text="The upload is stuck.")
    fine = make_ticket(desk, subject="two", text="The upload is slow.")
    clock.advance(days=1)
    assert desk.automation_sweep().fired == 1
    assert "stuck" in _tags(desk, stuck) and "stuck" not in _tags(desk, fine)


# -- hours since, business hours now: conditions of event rules ---------------------------------


def _on_comment(name: str, author: str, condition: dict[str, Any], tag: str) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"on": "comment_added", "author": author, "visibility": "public"},
        "conditions": {"all": [condition]},
        "actions": [{"do": "add_tags", "tags": [tag]}],
    }


def test_hours_since_created_in_calendar_and_business_hours_and_business_hours_now(office, clock, admin):
    for rule in (
        _on_comment(
            "48 hours", "requester", {"field": "hours_since_created", "op": "gt", "value": 48}, "calendar-48h"
        ),
        _on_comment(
            "8 business hours",
            "requester",
            {"field": "hours_since_created", "op": "gt", "value": 8, "business": True},
            "business-8h",
        ),
        _on_comment(
            "in hours", "requester", {"field": "business_hours_now", "op": "is", "value": True}, "in-hours"
        ),
        _on_comment(
            "after hours",
            "requester",
            {"field": "business_hours_now", "op": "is", "value": False},
            "after-hours",
        ),
    ):
        office.add_automation(admin, rule)
    clock.set(berlin(6, 16, 45))  # Friday 16:45
    number = make_ticket(office, email="casey@example.com")
    assert _tags(office, number) == set()

    clock.set(berlin(8, 18, 0))  # Sunday 18:00: 49 h 15 min, of which 15 min in business hours
    _reply(office, number, "casey@example.com", "anyone there")
    assert _tags(office, number) == {"calendar-48h", "after-hours"}

    clock.set(berlin(10, 9, 30))  # Tuesday 09:30: 15 min + 8 h + 30 min = 8 h 45 min
    _reply(office, number, "casey@example.com", "hello again")
    assert _tags(office, number) == {"calendar-48h", "after-hours", "business-8h", "in-hours"}


def test_business_hours_now_on_a_desk_open_all_hours_is_always_true(desk, clock, admin):
    desk.add_automation(
        admin,
        _on_comment(
            "in hours", "requester", {"field": "business_hours_now", "op": "is", "value": True}, "in-hours"
        ),
    )
    clock.set(datetime(2026, 3, 8, 3, 0, tzinfo=UTC))  # a Sunday night
    number = make_ticket(desk, email="casey@example.com")
    _reply(desk, number, "casey@example.com", "hello")
    assert "in-hours" in _tags(desk, number)


def test_hours_since_the_last_reply_of_either_side(desk, clock, admin, agent):
    desk.add_automation(
        admin,
        _on_comment(
            "answered late",
            "agent",
            {"field": "hours_since_requester_reply", "op": "gt", "value": 24},
            "answered-late",
        ),
    )
    desk.add_automation(
        admin,
        _on_comment(
            "came back late",
            "requester",
            {"field": "hours_since_agent_reply", "op": "gt", "value": 72},
            "came-back-late",
        ),
    )
    desk.add_automation(
        admin,
        _on_comment(
            "answer before any agent",
            "requester",
            {"field": "hours_since_agent_reply", "op": "not_set"},
            "no-agent-yet",
        ),
    )
    slow = make_ticket(desk, subject="slow", email="slow@example.com")
    quick = make_ticket(desk, subject="quick", email="quick@example.com")
    _reply(desk, quick, "quick@example.com", "more detail")
    assert "no-agent-yet" in _tags(desk, quick)
    clock.advance(hours=1)
    desk.comment(agent, quick, "On it.")
    clock.advance(hours=24)
    desk.comment(agent, slow, "Sorry for the wait.")
    assert "answered-late" in _tags(desk, slow) and "answered-late" not in _tags(desk, quick)

    clock.advance(hours=71)  # 95 h after quick's answer, 71 h after slow's
    _reply(desk, quick, "quick@example.com", "back from holiday")
    _reply(desk, slow, "slow@example.com", "back from holiday")
    assert "came-back-late" in _tags(desk, quick) and "came-back-late" not in _tags(desk, slow)
    assert "no-agent-yet" not in _tags(desk, slow)


# -- dry-run mode ------------------------------------------------------------------------


def test_a_time_rule_in_dry_run_logs_once_per_episode_and_changes_nothing(desk, clock, admin, agent, store):
    rule = desk.add_automation(admin, REMIND | {"mode": "dry_run"})
    number = make_ticket(desk, email="casey@example.com")
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    before = _ticket(desk, number)
    clock.advance(days=3)
    desk.automation_sweep()
    [run] = _runs(desk, admin, rule["id"])
    assert (run.ticket, run.trigger, run.outcome) == (number, "time", "dry_run")
    assert {"action": "add_tags", "field": "tags", "before": [], "after": ["reminded"]} in run.changes
    assert any(
        change["action"] == "send_email" and change["recipients"] == ["casey@example.com"]
        for change in run.changes
    )
    after = _ticket(desk, number)
    assert (after.tags, after.status, after.updated_at) == (before.tags, before.status, before.updated_at)
    assert _notices(store, number) == []

    desk.automation_sweep()
    clock.advance(days=4)
    desk.automation_sweep()
    assert len(_runs(desk, admin, rule["id"])) == 1

    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    desk.automation_sweep()
    assert [r.outcome for r in _runs(desk, admin, rule["id"])] == ["dry_run", "dry_run"]
    assert _notices(store, number) == [] and "reminded" not in _tags(desk, number)
    assert desk.get_automation(admin, rule["id"])["runs"]["dry_run"] == 2
