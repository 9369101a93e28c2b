"""A ticket list reads rows, not ORM tickets: each row must equal the ticket's own view."""

from __future__ import annotations

from bot.desk.facade import Desk
from bot.messages import Identity
from bot.model import Actor, Priority, Role, Status
from bot.read.queries import TicketFilter
from tests.factories import make_person, make_ticket


def test_every_list_row_is_the_ticket_as_shown_alone(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_category(admin, "Hardware", team="Ops")
    desk.add_category(admin, "Hardware/Printers", team="Ops")
    desk.define_field(admin, "os", "Operating system", "text")
    make_person(desk, admin, "nameless@support.test", role=Role.AGENT)
    numbers = [make_ticket(desk, email=f"c{i}@example.com", name=f"Customer {i}") for i in range(6)]
    desk.assign(agent, numbers[0], "agent@support.test")
    desk.set_category(agent, numbers[1], "Hardware/Printers")
    desk.set_tags(agent, numbers[1], add=["vip", "printer"])
    desk.set_field(agent, numbers[2], "os", "linux")
    desk.set_priority(agent, numbers[2], Priority.URGENT)
    desk.transition(agent, numbers[3], Status.RESOLVED)
    desk.merge(agent, numbers[4], numbers[5])
    desk.assign(agent, numbers[5], "nameless@support.test")
    chat_only = Identity(slack_user_id="U123", name="Chat Only")  # a requester known only by Slack
    numbers.append(make_ticket(desk, channel="slack", authenticated=True, sender=chat_only))

    listed = desk.list_tickets(TicketFilter(limit=100))
    assert [view.number for view in listed] == sorted(numbers, key=lambda n: -int(n.split("-")[1]))
    for view in listed:
        assert view == desk.visible_ticket(Actor.console(), view.number).ticket
    exported = list(desk.export_tickets(TicketFilter(), batch=2))
    assert exported == listed
    assert {view.number for view in desk.list_tickets(TicketFilter(tag="vip"))} == {numbers[1]}
    by_agent = desk.list_tickets(TicketFilter(assignee="agent@support.test"))  # a filter's join, and ours
    assert by_agent == [view for view in listed if view.assignee == "agent@support.test"]
    assert by_agent
