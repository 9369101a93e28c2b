"""What a ladder level reaches and changes: people, lists, channels, priority, team; and who opts out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Role
from bot.notify.outbox import list_notifications
from bot.notify.render import Renderer
from bot.store import tables as t


def _desk(environ, store, clock, **options: str) -> Desk:
    return Desk(store, clock, load(None, environ | options))


def _ladder(*levels: dict[str, object]) -> str:
    return json.dumps(list(levels))


def _open(desk: Desk, key: str = "<a@example.com>", team: str | None = "Ops") -> str:
    receipt = desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email="casey@example.com", name="Casey"),
            subject="Printer on fire",
            text="Help",
            key=key,
            team=team,
        )
    )
    assert receipt.ticket_number is not None
    return receipt.ticket_number


def _rows(store, template: str) -> list[tuple[str, str]]:
    return sorted(
        (n.channel, n.recipient)
        for n in list_notifications(store, prefix="SUP", limit=10_000)
        if n.template == template
    )


def _people(desk: Desk) -> None:
    admin = desk.actor(None)
    desk.add_team(admin, "Ops")
    desk.add_team(admin, "Tier2")
    desk.add_person(admin, "ann@support.test", name="Ann", role=Role.AGENT, team="Ops", slack_user_id="UANN")
    desk.add_person(admin, "lee@support.test", name="Lee", role=Role.AGENT)
    desk.add_person(admin, "tia@support.test", name="Tia", role=Role.AGENT, team="Tier2")


def test_a_level_can_raise_priority_move_team_and_reach_a_person_and_a_list(environ, store, clock):
    ladder = _ladder(
        {
            "at": "2h",
            "notify": "person:lee@support.test,email:oncall@example.com",
            "raise_priority": True,
            "reassign_team": "Tier2",
        }
    )
    desk = _desk(environ, store, clock, SUPPORTBOT_ESCALATION_LEVELS=ladder)
    _people(desk)
    number = _open(desk)
    clock.advance(hours=1, minutes=59)
    assert desk.sla_sweep().fired == ()
    clock.advance(minutes=2)
    [fired] = desk.sla_sweep().fired
    assert fired.changes == ("priority medium -> high", "team -> Tier2")
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert (ticket.priority, ticket.team, ticket.assignee) == ("high", "Tier2", "tia@support.test")
    assert _rows(store, "escalation") == [("email", "lee@support.test"), ("email", "oncall@example.com")]


def test_after_customer_threshold_counts_from_an_unanswered_customer_message(environ, store, clock):
    desk = _desk(
        environ,
        store,
        clock,
        SUPPORTBOT_ESCALATION_LEVELS=_ladder({"at": "1h after customer", "notify": "assignee"}),
    )
    _people(desk)
    number = _open(desk)
    agent = desk.actor("ann@support.test")
    desk.comment(agent, number, "Which floor?")
    clock.advance(hours=2)
    assert desk.sla_sweep().fired == ()  # nobody is waiting on us
    desk.comment(desk.actor("casey@example.com"), number, "Floor 3.")
    clock.advance(minutes=59)
    assert desk.sla_sweep().fired == ()
    clock.advance(minutes=2)
    assert [f.level for f in desk.sla_sweep().fired] == [1]
    assert _rows(store, "escalation") == [("email", "ann@support.test")]


def test_people_choose_their_channels_and_none_means_none(environ, store, clock):
    slack = {
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": "s",
        "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "CSUPPORT",
    }
    desk = _desk(environ, store, clock, **slack)
    _people(desk)
    admin = desk.actor(None)
    desk.set_team_lead(admin, "Ops", "lee@support.test")
    desk.set_preference(admin, "ann@support.test", "sla_warning", "both")
    desk.set_preference(admin, "lee@support.test", "sla_warning", "none")
    number = _open(desk)
    clock.advance(hours=3, minutes=30)  # past 70 % and 85 % of the 4 h first response
    assert [f.level for f in desk.sla_sweep().fired] == [1, 2]
    # Ann by both channels, Lee by none; agents also see both levels in the ticket's thread.
    assert _rows(store, "sla_warning") == [
        ("email", "ann@support.test"),
        ("slack", "CSUPPORT"),
        ("slack", "CSUPPORT"),
        ("slack", "UANN"),
    ]
    clock.advance(hours=1)
    desk.sla_sweep()
    # The breach also goes to the support channel, in the ticket's thread.
    assert ("slack", "CSUPPORT") in _rows(store, "escalation")
    assert number


def test_notifications_setting_turns_an_event_off_for_everyone(environ, store, clock):
    desk = _desk(environ, store, clock, SUPPORTBOT_NOTIFICATIONS_SLA_WARNING="false")
    _people(desk)
    _open(desk)
    clock.advance(hours=3)
    assert [f.level for f in desk.sla_sweep().fired] == [1]
    assert _rows(store, "sla_warning") == []


@pytest.mark.parametrize(
    ("ladder", "message"),
    [
        ('[{"at": "70", "notify": "assignee"}]', "escalation_levels[0].at"),
        ('[{"at": "70%", "notify": "boss"}]', "escalation_levels[0].notify"),
        ('[{"at": "70%"}]', "does nothing"),
    ],
)
def test_a_bad_ladder_stops_start_up_naming_the_level(environ, ladder, message):
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(None, environ | {"SUPPORTBOT_ESCALATION_LEVELS": ladder})


def test_category_policy_overrides_the_priority_default(environ, store, clock):
    policies = json.dumps([{"category": "Network", "first_response": "2h", "resolution": "8h"}])
    desk = _desk(environ, store, clock, SUPPORTBOT_SLA_POLICIES=policies)
    admin = desk.actor(None)
    desk.add_category(admin, "Network")
    desk.add_category(admin, "Network/VPN")
    receipt = desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email="casey@example.com"),
            subject="VPN down",
            text="x",
            key="<v@example.com>",
            category="Network/VPN",
        )
    )
    ticket = desk.visible_ticket(Actor.console(), receipt.ticket_number or "").ticket
    assert ticket.first_response_due == clock.now() + timedelta(hours=2)
    assert ticket.resolution_due == clock.now() + timedelta(hours=8)


def test_after_customer_counts_from_the_opening_message_and_does_not_block_the_ladder(environ, store, clock):
    ladder = _ladder({"at": "1h after customer", "notify": "assignee"}, {"at": "100%", "notify": "assignee"})
    desk = _desk(environ, store, clock, SUPPORTBOT_ESCALATION_LEVELS=ladder)
    _people(desk)
    _open(desk)
    clock.advance(hours=1, minutes=1)
    assert [f.level for f in desk.sla_sweep().fired] == [1]
    clock.advance(hours=3)
    assert [f.level for f in desk.sla_sweep().fired] == [2]


def test_an_out_of_office_reply_is_no_customer_waiting(environ, store, clock):
    desk = _desk(
        environ,
        store,
        clock,
        SUPPORTBOT_ESCALATION_LEVELS=_ladder({"at": "1h after customer", "notify": "assignee"}),
    )
    _people(desk)
    number = _open(desk)
    desk.comment(desk.actor("ann@support.test"), number, "Which floor?")
    desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email="casey@example.com"),
            subject="Out of office",
            text="I am away until Monday.",
            key="<ooo@example.com>",
            ticket_number=number,
            verified=True,
            auto_submitted=True,
        )
    )
    clock.advance(hours=2)
    assert desk.sla_sweep().fired == ()


def test_a_person_target_we_do_not_know_is_mailed_per_level(environ, store, clock):
    ladder = _ladder(
        {"at": "50%", "notify": "person:boss@example.com"},
        {"at": "100%", "notify": "person:boss@example.com"},
    )
    desk = _desk(environ, store, clock, SUPPORTBOT_ESCALATION_LEVELS=ladder)
    _people(desk)
    _open(desk)
    clock.advance(hours=5)
    assert [f.level for f in desk.sla_sweep().fired] == [1, 2]
    assert _rows(store, "sla_warning") == [("email", "boss@example.com")]
    assert _rows(store, "escalation") == [("email", "boss@example.com")]
    renderer = Renderer()
    with store.read() as session:
        rows = session.scalars(
            select(t.Notification).where(t.Notification.recipient == "boss@example.com")
        ).all()
        texts = [renderer.render(f"email/{row.template}.txt.j2", row.context) for row in rows]
    assert any("has reached 50%" in text for text in texts) and any(
        "escalated to you" in text for text in texts
    )
