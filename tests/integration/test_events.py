"""Every change publishes a typed event on its unit of work; subscribers run in its transaction."""

from __future__ import annotations

from typing import Any

import pytest

from bot import events as ev
from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.errors import NotFound
from bot.messages import Identity
from bot.model import Actor, Priority, Status
from bot.unit import Subscribers, Unit
from channels.bootstrap import build
from tests.factories import make_ticket

ALL_EVENTS: tuple[type[Any], ...] = (
    ev.TicketOpened,
    ev.CommentAdded,
    ev.StatusChanged,
    ev.Assigned,
    ev.TicketChanged,
    ev.TagsChanged,
    ev.FieldChanged,
    ev.FollowersAdded,
    ev.Escalated,
    ev.SlaLevelReached,
    ev.Merged,
    ev.AutoClosed,
    ev.TicketExpired,
)


def _recording(desk: Desk) -> list[Any]:
    seen: list[Any] = []
    for kind in ALL_EVENTS:
        desk.subscribers.on(kind, lambda unit, event: seen.append(event))
    return seen


def test_each_change_publishes_its_event_with_ids_and_the_actor(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    desk.define_field(admin, "os", "Operating system", "text")
    seen = _recording(desk)
    number = make_ticket(desk, cc=(Identity(email="carol@example.com"),))
    ticket_id = int(number.split("-")[1])
    desk.comment(agent, number, "On it")
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.assign(agent, number, "agent@support.test")
    desk.set_priority(agent, number, Priority.HIGH)
    desk.set_tags(agent, number, add=["vip"])
    desk.set_field(agent, number, "os", "linux")
    desk.escalate(agent, number, "the CEO is waiting")
    other = make_ticket(desk)
    desk.merge(agent, other, number)

    kinds = [type(event).__name__ for event in seen]
    assert kinds == [
        "FollowersAdded",
        "TicketOpened",
        "CommentAdded",
        "StatusChanged",
        "Assigned",
        "TicketChanged",
        "TagsChanged",
        "FieldChanged",
        "Escalated",
        "TicketOpened",
        "Merged",
    ]
    followers, opened, comment, status, assigned, changed, tags, field, escalated, _, merged = seen
    assert followers.ticket_id == ticket_id and len(followers.person_ids) == 1
    assert opened.ticket_id == ticket_id and opened.acknowledge
    assert comment.ticket_id == ticket_id
    assert (status.before, status.after, status.announce) == ("open", "in_progress", True)
    assert status.actor == agent
    assert assigned.assignee_id == agent.person_id
    assert (changed.what, changed.actor) == ("priority", agent)
    assert (tags.before, tags.after) == ((), ("vip",))
    assert (field.key, field.before, field.after) == ("os", None, "linux")
    assert escalated.reason == "the CEO is waiting"
    assert (merged.source_id, merged.target_id, merged.before) == (
        int(other.split("-")[1]),
        ticket_id,
        "open",
    )


def test_a_quiet_change_is_published_unannounced(desk: Desk, agent: Actor, clock: Any) -> None:
    """Auto-close tells the requester by its own event; its status change is still an event
    (a partner sharing the ticket hears of it), marked not to be announced."""
    number = make_ticket(desk)
    desk.transition(agent, number, Status.RESOLVED)
    seen = _recording(desk)
    clock.advance(days=desk.settings.auto_close_days + 1)
    assert desk.auto_close() == [number]
    status, closed = seen
    assert isinstance(status, ev.StatusChanged) and not status.announce
    assert isinstance(closed, ev.AutoClosed) and closed.event_id == status.event_id


def test_a_failing_subscriber_rolls_the_change_back(desk: Desk, agent: Actor) -> None:
    """Subscribers run inside the change's transaction: what they fail, the change fails."""
    number = make_ticket(desk)

    def refuse(unit: Unit, event: ev.CommentAdded) -> None:
        raise NotFound("subscriber says no")

    desk.subscribers.on(ev.CommentAdded, refuse)
    with pytest.raises(NotFound, match="subscriber says no"):
        desk.comment(agent, number, "never stored")
    assert [c.body for c in desk.visible_ticket(agent, number).comments] == [
        "The printer on floor 3 is on fire again."
    ]


def test_subscribing_twice_runs_the_handler_once() -> None:
    subscribers = Subscribers()
    calls: list[object] = []

    def handler(unit: Unit, event: ev.TicketExpired) -> None:
        calls.append(event)

    subscribers.on(ev.TicketExpired, handler)
    subscribers.on(ev.TicketExpired, handler)
    assert list(subscribers.of(ev.TicketExpired)) == [handler]
    assert list(subscribers.of(ev.TicketOpened)) == []


def test_the_composition_root_subscribes_sharing_beside_the_core(settings: Settings) -> None:
    """Every process is built by ``build``: its desk's changes reach partners as well as people."""
    runtime = build(settings)
    try:
        heard_by = {handler.__module__ for handler in runtime.desk.subscribers.of(ev.CommentAdded)}
        assert heard_by == {
            "bot.notify.cards",
            "bot.notify.webhook_events",
            "bot.notify.audience",
            "bot.automation.engine",
            "bot.sharing.sync",
        }
    finally:
        runtime.store.dispose()
