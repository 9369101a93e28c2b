"""SLA clocks and the escalation ladder against the real store, with a fake clock (no sleeps)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Priority, Role, Status
from bot.notify.outbox import list_notifications
from bot.store import tables as t

ROOT = Path(__file__).resolve().parents[2]


def _open(
    desk: Desk,
    subject: str = "Printer on fire",
    *,
    key: str | None = None,
    team: str | None = None,
    email: str = "casey@example.com",
) -> str:
    receipt = desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email=email, name="Casey"),
            subject=subject,
            text="It is on fire.",
            key=key or f"<{subject}@example.com>",
            team=team,
        )
    )
    assert receipt.ticket_number is not None
    return receipt.ticket_number


def _notices(store, template: str) -> list[str]:
    return sorted(
        n.recipient for n in list_notifications(store, prefix="SUP", limit=10_000) if n.template == template
    )


def test_new_ticket_gets_due_times_from_its_priority(desk, clock):
    number = _open(desk)
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert ticket.first_response_due == clock.now() + timedelta(hours=4)
    assert ticket.resolution_due == clock.now() + timedelta(hours=24)
    assert (ticket.sla_status, ticket.escalation_level) == ("on_time", 0)


def test_business_hours_carry_a_friday_afternoon_ticket_into_monday(environ, store, clock):
    settings = load(
        None,
        environ
        | {
            "SUPPORTBOT_SLA_TIMEZONE": "Europe/Berlin",
            "SUPPORTBOT_SLA_BUSINESS_HOURS": "mon-fri 09:00-17:00",
            "SUPPORTBOT_DEFAULT_PRIORITY": "high",
        },
    )
    clock.set(datetime(2026, 3, 6, 15, 0, tzinfo=UTC))  # Friday 16:00 in Berlin
    desk = Desk(store, clock, settings)
    ticket = desk.visible_ticket(Actor.console(), _open(desk)).ticket
    assert ticket.first_response_due == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # 1 h: Friday 17:00
    assert ticket.resolution_due == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # 8 h: Monday 16:00


def test_first_public_answer_by_an_agent_meets_first_response(desk, clock, agent):
    number = _open(desk)
    clock.advance(minutes=30)
    desk.comment(agent, number, "checking internally", public=False)
    assert desk.visible_ticket(Actor.console(), number).ticket.first_response_due is not None
    desk.comment(agent, number, "On my way.")
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert ticket.first_response_due is None and ticket.sla_status == "on_time"


def test_waiting_on_the_customer_pauses_the_clock_and_their_reply_resumes_it(desk, clock, agent):
    number = _open(desk)
    desk.comment(agent, number, "Which printer?")
    clock.advance(hours=2)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    paused = desk.visible_ticket(Actor.console(), number).ticket
    assert (paused.sla_status, paused.resolution_due) == ("paused", None)
    clock.advance(days=3)
    desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email="casey@example.com"),
            subject="Re: Printer on fire",
            text="The one on floor 3.",
            key="<reply@example.com>",
            ticket_number=number,
            verified=True,
        )
    )
    resumed = desk.visible_ticket(Actor.console(), number).ticket
    assert resumed.status == "in_progress" or resumed.status == "open"
    assert resumed.resolution_due == datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(hours=24, days=3)
    assert resumed.sla_status == "on_time"


@pytest.fixture
def ladder(desk, admin):
    """Ops with an agent (assigned round-robin), a lead, and an admin as the manager."""
    desk.add_team(admin, "Ops")
    desk.add_person(admin, "ann@support.test", name="Ann", role=Role.AGENT, team="Ops")
    desk.add_person(admin, "lee@support.test", name="Lee", role=Role.AGENT)
    desk.add_person(admin, "max@support.test", name="Max", role=Role.ADMIN)
    desk.set_team_lead(admin, "Ops", "lee@support.test")
    return desk


def test_every_ladder_level_fires_once_at_its_share_of_the_target(ladder, store, clock):
    desk = ladder
    number = _open(desk, team="Ops")
    assert desk.visible_ticket(Actor.console(), number).ticket.assignee == "ann@support.test"
    opened = clock.now()
    # Medium: first response in 4 h. 70 % is 2 h 48 min, 85 % 3 h 24 min, 95 % 3 h 48 min.
    clock.set(opened + timedelta(hours=2, minutes=47))
    assert desk.sla_sweep().fired == ()
    clock.set(opened + timedelta(hours=2, minutes=49))
    [first] = desk.sla_sweep().fired
    assert (first.number, first.level) == (number, 1)
    assert _notices(store, "sla_warning") == ["ann@support.test"]
    clock.set(opened + timedelta(hours=3, minutes=25))
    assert [f.level for f in desk.sla_sweep().fired] == [2]
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "at_risk"
    clock.set(opened + timedelta(hours=3, minutes=49))
    assert [f.level for f in desk.sla_sweep().fired] == [3]
    clock.set(opened + timedelta(hours=4, minutes=1))
    assert [f.level for f in desk.sla_sweep().fired] == [4]
    assert _notices(store, "sla_warning") == ["ann@support.test", "lee@support.test", "max@support.test"]
    assert _notices(store, "escalation") == ["max@support.test"]
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert (ticket.sla_status, ticket.escalation_level) == ("breached", 4)
    clock.advance(hours=5)
    assert desk.sla_sweep().fired == ()  # the ladder is done; nothing twice


def test_a_restart_in_the_middle_of_the_ladder_sends_nothing_twice(ladder, store, clock, settings):
    number = _open(ladder, team="Ops")
    clock.advance(hours=3, minutes=30)
    assert [f.level for f in ladder.sla_sweep().fired] == [1, 2]
    before = len(list_notifications(store, prefix="SUP", limit=10_000))
    restarted = Desk(store, clock, settings)  # a new process on the same store
    assert restarted.sla_sweep().fired == ()
    assert len(list_notifications(store, prefix="SUP", limit=10_000)) == before
    clock.advance(minutes=20)
    assert [f.level for f in restarted.sla_sweep().fired] == [3]
    with store.read() as session:
        levels = session.scalars(select(t.Escalation.level).order_by(t.Escalation.level)).all()
    assert levels == [1, 2, 3] and number


def test_a_priority_change_moves_the_due_times_without_repeating_levels(ladder, store, clock, admin):
    number = _open(ladder, team="Ops")
    clock.advance(hours=3)
    assert [f.level for f in ladder.sla_sweep().fired] == [1]
    ladder.set_priority(admin, number, Priority.URGENT)  # 15 min first response: long breached
    ticket = ladder.visible_ticket(Actor.console(), number).ticket
    assert ticket.first_response_due == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert [f.level for f in ladder.sla_sweep().fired] == [2, 3, 4]
    assert _notices(store, "sla_warning").count("ann@support.test") == 1


def test_enable_escalation_false_turns_the_ladder_off(environ, store, clock):
    desk = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ENABLE_ESCALATION": "false"}))
    number = _open(desk)
    clock.advance(hours=30)
    assert desk.sla_sweep().fired == ()
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "breached"


def test_dry_run_shows_what_would_fire_and_changes_nothing(ladder, store, clock):
    number = _open(ladder, team="Ops")
    later = clock.now() + timedelta(hours=5)
    report = ladder.sla_sweep(at=later, dry_run=True)
    assert [(f.number, f.level) for f in report.fired] == [(number, 1), (number, 2), (number, 3), (number, 4)]
    assert ladder.visible_ticket(Actor.console(), number).ticket.escalation_level == 0
    assert _notices(store, "sla_warning") == []


def test_the_sweep_reads_only_due_tickets(desk, clock):
    for n in range(20):
        _open(desk, f"ticket {n}")
    report = desk.sla_sweep()
    assert report.checked == 0
    clock.advance(hours=3)  # 70 % of 4 h: each ticket's first level is due
    assert desk.sla_sweep().checked == 20


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # several processes share PostgreSQL
def test_two_processes_sweeping_1000_due_tickets_send_each_notification_once(
    database_url, ladder, store, clock, tmp_path
):
    for n in range(1000):  # from a hundred customers: one sender's thousand would be a flood
        _open(ladder, f"ticket {n}", team="Ops", email=f"c{n % 100}@example.com")
    at = (clock.now() + timedelta(hours=5)).isoformat()
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.sweep_sla",
                database_url,
                str(tmp_path / f"d{n}"),
                at,
                str(go),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    go.touch()
    fired = 0
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err
        fired += int(out.split()[-1])
    assert fired == 4000
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(t.Escalation)) == 4000
        keys = session.scalars(
            select(t.Notification.dedupe_key).where(
                t.Notification.template.in_(("sla_warning", "escalation"))
            )
        ).all()
    assert len(keys) == len(set(keys)) == 4000


def test_resolving_while_waiting_on_the_customer_is_not_a_breach(desk, clock, agent):
    number = _open(desk)
    desk.comment(agent, number, "Does it work now?")
    clock.advance(hours=1)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    clock.advance(days=3)
    desk.transition(agent, number, Status.RESOLVED)
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "on_time"
    desk.transition(agent, number, Status.CLOSED)
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "on_time"


def test_a_breach_stays_when_the_priority_is_lowered(desk, clock, agent, admin):
    number = _open(desk)
    clock.advance(hours=5)  # medium: first response was due after 4 h
    desk.sla_sweep()
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "breached"
    desk.set_priority(admin, number, Priority.LOW)  # 8 h: would be on time again
    assert desk.visible_ticket(Actor.console(), number).ticket.sla_status == "breached"


def test_after_a_first_response_the_ladder_climbs_again_for_resolution(ladder, store, clock):
    number = _open(ladder, team="Ops")
    clock.advance(hours=4, minutes=1)
    assert [f.level for f in ladder.sla_sweep().fired] == [1, 2, 3, 4]
    ladder.comment(ladder.actor("ann@support.test"), number, "Looking into it.")
    assert ladder.visible_ticket(Actor.console(), number).ticket.escalation_level == 0
    clock.advance(hours=13)  # resolution: 70 % of 24 h is 16 h 48 min after opening
    assert [f.level for f in ladder.sla_sweep().fired] == [1]
    with store.read() as session:
        keys = sorted(session.scalars(select(t.Escalation.level)))
    assert keys == [1, 2, 3, 4, 101]


def test_a_dry_run_covers_every_due_ticket_not_one_batch(desk, clock):
    for n in range(12):
        _open(desk, f"ticket {n}")
    report = desk.sla_sweep(at=clock.now() + timedelta(hours=5), dry_run=True, batch=5)
    assert report.checked == 12 and len(report.fired) == 48


def test_changed_rules_recheck_every_unfinished_ticket(environ, store, clock, desk):
    number = _open(desk)
    desk.sla_sweep()
    stricter = Desk(store, clock, load(None, environ | {"SUPPORTBOT_SLA_MEDIUM": "1h/4h"}))
    clock.advance(hours=2)
    preview = stricter.sla_sweep(dry_run=True)
    assert [(f.number, f.level) for f in preview.fired] == [
        (number, 1),
        (number, 2),
        (number, 3),
        (number, 4),
    ]
    assert desk.visible_ticket(Actor.console(), number).ticket.first_response_due == datetime(
        2026, 3, 2, 13, 0, tzinfo=UTC
    )
    stricter.sla_sweep()
    ticket = stricter.visible_ticket(Actor.console(), number).ticket
    assert (ticket.first_response_due, ticket.sla_status) == (
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        "breached",
    )
