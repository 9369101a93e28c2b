"""Agents' actions through the desk: each audited, each refused cleanly when it cannot be done."""

from __future__ import annotations

import pytest

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.errors import Conflict, Forbidden, InvalidTransition, NotFound, UserError
from bot.model import Actor, Priority, Role, Status
from bot.notify.outbox import list_notifications
from tests.factories import make_inbound, make_ticket


def _templates(store):
    return sorted(n.template for n in list_notifications(store, prefix="SUP"))


def test_transition_records_actor_before_and_after(desk, agent):
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)
    [event] = [e for e in desk.visible_ticket(Actor.console(), number).events if e.kind == "status_changed"]
    assert (event.actor, event.before, event.after) == (
        "agent@support.test",
        {"status": "open"},
        {"status": "in_progress"},
    )


def test_transition_refused_by_configuration_leaves_no_trace(store, clock, environ, snapshot):
    strict = Desk(
        store,
        clock,
        load(
            None,
            environ
            | {"SUPPORTBOT_STATUS_TRANSITIONS": '{"open": ["in_progress"], "in_progress": ["resolved"]}'},
        ),
    )
    number = make_ticket(strict)
    before, detail_before = snapshot(), strict.visible_ticket(Actor.console(), number)
    with pytest.raises(InvalidTransition, match="cannot change status from open to resolved"):
        strict.transition(Actor.console(), number, Status.RESOLVED)
    assert snapshot() == before
    assert strict.visible_ticket(Actor.console(), number) == detail_before


def test_resolving_tells_the_requester_and_reopening_is_allowed(desk, agent, store):
    number = make_ticket(desk)
    desk.transition(agent, number, Status.RESOLVED)
    desk.transition(agent, number, Status.OPEN)
    assert _templates(store) == ["status_changed", "ticket_opened", "ticket_resolved"]


def test_unknown_ticket_is_not_found(desk, admin):
    with pytest.raises(NotFound, match="no ticket SUP-99"):
        desk.transition(admin, "SUP-99", Status.RESOLVED)


def test_public_agent_comment_is_sent_to_the_requester_and_internal_is_not(desk, agent, store):
    number = make_ticket(desk)
    desk.comment(agent, number, "Have you tried turning it off?")
    desk.comment(agent, number, "customer seems confused", public=False)
    assert _templates(store) == ["agent_replied", "ticket_opened"]
    comments = desk.visible_ticket(Actor.console(), number).comments
    assert [(c.author, c.public) for c in comments[1:]] == [
        ("agent@support.test", True),
        ("agent@support.test", False),
    ]


def test_empty_comment_is_refused(desk, agent, snapshot):
    number = make_ticket(desk)
    before = snapshot()
    with pytest.raises(UserError, match="needs some text"):
        desk.comment(agent, number, "   ")
    assert snapshot() == before


def test_assign_and_reassign_notify_the_new_agent(desk, admin, agent, store):
    desk.add_person(admin, "bo@support.test", role=Role.AGENT)
    number = make_ticket(desk)
    desk.assign(admin, number, "AGENT@support.test")
    desk.assign(admin, number, "bo@support.test")
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert ticket.assignee == "bo@support.test"
    assert [
        n.recipient for n in list_notifications(store, prefix="SUP") if n.template == "ticket_assigned"
    ] == ["bo@support.test", "agent@support.test"]
    desk.assign(admin, number, None)
    assert desk.visible_ticket(Actor.console(), number).ticket.assignee is None


def test_assigning_to_unknown_people_or_requesters_is_refused(desk, admin, snapshot):
    number = make_ticket(desk, email="req@example.com")
    before = snapshot()
    with pytest.raises(NotFound, match="no person with email ghost@example.com"):
        desk.assign(admin, number, "ghost@example.com")
    with pytest.raises(UserError, match="req@example.com is a requester"):
        desk.assign(admin, number, "req@example.com")
    assert snapshot() == before


def test_new_tickets_of_a_team_go_round_robin(desk, admin, agent):
    desk.add_person(admin, "bo@support.test", role=Role.AGENT, team="Ops")
    desk.add_person(admin, "cy@support.test", role=Role.REQUESTER, team="Ops")  # not an agent
    owners = [
        desk.visible_ticket(Actor.console(), make_ticket(desk, team="Ops")).ticket.assignee for _ in range(4)
    ]
    assert owners == ["agent@support.test", "bo@support.test", "agent@support.test", "bo@support.test"]


def test_least_loaded_assignment_picks_the_agent_with_fewest_open_tickets(store, clock, environ):
    desk = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ROUTING_ASSIGNMENT": "least_loaded"}))
    admin = Actor.console()
    desk.add_team(admin, "Ops")
    desk.add_person(admin, "a@support.test", role=Role.AGENT, team="Ops")
    desk.add_person(admin, "b@support.test", role=Role.AGENT, team="Ops")
    first = make_ticket(desk, team="Ops")
    second = make_ticket(desk, team="Ops")
    desk.transition(admin, first, Status.RESOLVED)
    third = make_ticket(desk, team="Ops")
    owners = [desk.visible_ticket(Actor.console(), n).ticket.assignee for n in (first, second, third)]
    assert owners == ["a@support.test", "b@support.test", "a@support.test"]


def test_no_assignment_when_routing_is_off(store, clock, environ, admin):
    desk = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ROUTING_ASSIGNMENT": "none"}))
    desk.add_team(admin, "Ops")
    desk.add_person(admin, "a@support.test", role=Role.AGENT, team="Ops")
    assert desk.visible_ticket(Actor.console(), make_ticket(desk, team="Ops")).ticket.assignee is None


def test_priority_category_and_tags_are_set_and_audited(desk, admin, agent):
    desk.add_category(admin, "Network", team="Ops")
    desk.add_category(admin, "Network/VPN")
    number = make_ticket(desk)
    desk.set_priority(admin, number, Priority.HIGH)
    desk.set_category(admin, number, "network/vpn")
    view = desk.set_tags(admin, number, add=["VPN", "Remote Work"], remove=["nothing"])
    assert (view.priority, view.category, view.tags) == ("high", "Network/VPN", ("remote-work", "vpn"))
    view = desk.set_tags(admin, number, remove=["vpn"])
    assert view.tags == ("remote-work",)
    kinds = [e.kind for e in desk.visible_ticket(Actor.console(), number).events]
    assert kinds.count("tags_changed") == 2 and "priority_changed" in kinds and "category_changed" in kinds


def test_category_with_a_team_routes_the_ticket_to_it(desk, admin, agent):
    desk.add_category(admin, "Billing", team="Ops")
    number = make_ticket(desk)
    view = desk.set_category(admin, number, "Billing")
    assert (view.team, view.assignee) == ("Ops", "agent@support.test")


def test_subcategory_needs_its_parent_and_unknown_category_lists_known_ones(desk, admin):
    with pytest.raises(NotFound, match="no category 'Hardware'"):
        desk.add_category(admin, "Hardware/Laptops")
    desk.add_category(admin, "Network")
    with pytest.raises(Conflict, match="exists already"):
        desk.add_category(admin, "network")
    number = make_ticket(desk)
    with pytest.raises(NotFound, match="known: Network"):
        desk.set_category(admin, number, "Plumbing")


def test_custom_fields_are_validated_and_stored(desk, admin):
    desk.define_field(admin, "os", "Operating system", "dropdown", options={"choices": ["mac", "linux"]})
    desk.define_field(admin, "seats", "Seats", "number", options={"min": 1})
    desk.define_field(admin, "due", "Due", "date")
    desk.define_field(admin, "apps", "Apps", "multiple_choice", options={"choices": ["mail", "vpn", "chat"]})
    number = make_ticket(desk)
    desk.set_field(admin, number, "os", "linux")
    desk.set_field(admin, number, "seats", "3")
    desk.set_field(admin, number, "due", "2026-12-01")
    view = desk.set_field(admin, number, "apps", "chat,mail")
    assert view.custom_fields == {"os": "linux", "seats": 3, "due": "2026-12-01", "apps": ["mail", "chat"]}
    view = desk.set_field(admin, number, "os", None)
    assert "os" not in view.custom_fields


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("os", "windows", "os: 'windows' is not one of mac, linux"),
        ("seats", "0", "seats: must be at least 1"),
        ("due", "tomorrow", "due: 'tomorrow' is not a date"),
        ("colour", "red", "no custom field 'colour'; known: due, os, seats"),
    ],
)
def test_invalid_custom_field_values_are_refused_and_leave_no_trace(
    desk, admin, snapshot, key, value, message
):
    desk.define_field(admin, "os", "OS", "dropdown", options={"choices": ["mac", "linux"]})
    desk.define_field(admin, "seats", "Seats", "number", options={"min": 1})
    desk.define_field(admin, "due", "Due", "date")
    number = make_ticket(desk)
    before = snapshot()
    with pytest.raises(UserError, match=message):
        desk.set_field(admin, number, key, value)
    assert snapshot() == before


def test_required_field_cannot_be_cleared(desk, admin):
    desk.define_field(admin, "site", "Site", "text", required=True)
    number = make_ticket(desk)
    desk.set_field(admin, number, "site", "Berlin")
    with pytest.raises(UserError, match="site is required"):
        desk.set_field(admin, number, "site", "")


def test_merge_moves_comments_references_tags_and_closes_the_source(desk, admin):
    a = make_ticket(desk, key="<a1@x>", text="first")
    desk.set_tags(admin, a, add=["printer"])
    b = make_ticket(desk, key="<b1@x>", text="second")
    survivor = desk.merge(admin, a, b)
    assert survivor.number == b and survivor.tags == ("printer",)
    source = desk.visible_ticket(Actor.console(), a)
    assert source.ticket.status == "closed" and source.ticket.merged_into == b and source.comments == ()
    assert sorted(c.body for c in desk.visible_ticket(Actor.console(), b).comments) == ["first", "second"]
    assert desk.receive(make_inbound(key="<a2@x>", references=("<a1@x>",))).ticket_number == b
    assert any(
        e.kind == "merged_from" and e.after == {"merged_from": a}
        for e in desk.visible_ticket(Actor.console(), b).events
    )


def test_merge_refuses_itself_and_merged_tickets(desk, admin, snapshot):
    a = make_ticket(desk)
    b = make_ticket(desk)
    with pytest.raises(Conflict, match="into itself"):
        desk.merge(admin, a, a)
    desk.merge(admin, a, b)
    before = snapshot()
    with pytest.raises(Conflict, match=f"{a} was merged into {b}"):
        desk.merge(admin, a, b)
    with pytest.raises(Conflict, match="was merged into"):
        desk.transition(admin, a, Status.OPEN)
    assert snapshot() == before


def test_comment_on_a_merged_ticket_lands_on_the_survivor(desk, admin, agent):
    a = make_ticket(desk)
    b = make_ticket(desk)
    desk.merge(admin, a, b)
    assert desk.comment(agent, a, "hello").ticket_number == b


def test_people_are_unique_by_email_whatever_the_case(desk, admin):
    desk.add_person(admin, "Dana@Example.com", name="Dana")
    with pytest.raises(Conflict, match="already a person"):
        desk.add_person(admin, "dana@example.com")
    with pytest.raises(UserError, match="not an email address"):
        desk.add_person(admin, "dana")
    person = desk.update_person(admin, "DANA@example.com", role=Role.AGENT)
    assert (person.email, person.role) == ("dana@example.com", "agent")


def test_email_notifications_can_be_switched_off(store, clock, environ):
    quiet = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ENABLE_EMAIL_NOTIFICATIONS": "false"}))
    quiet.receive(make_inbound())
    assert list_notifications(store, prefix="SUP") == []


def test_default_priority_comes_from_configuration(store, clock, environ):
    urgent = Desk(store, clock, load(None, environ | {"SUPPORTBOT_DEFAULT_PRIORITY": "critical"}))
    number = make_ticket(urgent)
    assert urgent.visible_ticket(Actor.console(), number).ticket.priority == "urgent"


def _requester(desk, email="req@example.com"):
    receipt = desk.receive(make_inbound(email=email))
    person = next(p for p in desk.list_people() if p.email == email)
    return receipt.ticket_number, Actor(person.id, email, Role.REQUESTER)


def test_requester_may_resolve_and_reopen_their_own_ticket(desk):
    number, requester = _requester(desk)
    assert desk.transition(requester, number, Status.RESOLVED).status == "resolved"
    assert desk.transition(requester, number, Status.OPEN).status == "open"


def test_requester_cannot_work_tickets(desk, agent, snapshot):
    number, requester = _requester(desk)
    other, _ = _requester(desk, "someone@example.com")
    before = snapshot()
    with pytest.raises(Forbidden, match="only agents and admins can assign"):
        desk.assign(requester, number, "agent@support.test")
    with pytest.raises(Forbidden, match="only agents and admins can set SUP-1 to in_progress"):
        desk.transition(requester, number, Status.IN_PROGRESS)
    with pytest.raises(Forbidden, match="change the priority"):
        desk.set_priority(requester, number, Priority.URGENT)
    with pytest.raises(Forbidden, match="merge"):
        desk.merge(requester, number, other)
    # Someone else's ticket is answered as a missing one: the refusal must not say it exists.
    missing = f"no ticket {other}$"
    with pytest.raises(NotFound, match=missing):
        desk.comment(requester, other, "let me in")
    with pytest.raises(NotFound, match=missing):
        desk.transition(requester, other, Status.RESOLVED)
    with pytest.raises(NotFound, match=missing):
        desk.escalate(requester, other, "now")
    with pytest.raises(NotFound, match=missing):
        desk.visible_ticket(requester, other)
    assert snapshot() == before


def test_several_changes_succeed_or_fail_together(desk, admin, snapshot):
    from bot.tickets.classify import TicketChanges

    desk.define_field(admin, "floor", "Floor", "number", options={"min": 1})
    number = make_ticket(desk)
    before = snapshot()
    detail = desk.visible_ticket(Actor.console(), number)
    with pytest.raises(UserError, match="floor: must be at least 1"):
        desk.update(
            admin, number, TicketChanges(priority=Priority.LOW, add_tags=["fire"], fields={"floor": 0})
        )
    assert snapshot() == before and desk.visible_ticket(Actor.console(), number) == detail
    view = desk.update(
        admin, number, TicketChanges(priority=Priority.LOW, add_tags=["fire"], fields={"floor": 3})
    )
    assert (view.priority, view.tags, view.custom_fields) == ("low", ("fire",), {"floor": 3})


def test_round_robin_stays_fair_when_tickets_arrive_at_once(desk, admin, agent):
    import threading

    desk.add_person(admin, "bo@support.test", role=Role.AGENT, team="Ops")
    barrier = threading.Barrier(4)
    numbers: list[str] = []

    def open_tickets() -> None:
        barrier.wait()
        for _ in range(5):
            numbers.append(make_ticket(desk, team="Ops"))

    threads = [threading.Thread(target=open_tickets) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    owners = [desk.visible_ticket(Actor.console(), n).ticket.assignee for n in numbers]
    assert owners.count("agent@support.test") == owners.count("bo@support.test") == 10


@pytest.mark.parametrize("address", ["x@y.com,evil@z.com", "a b@c.d", "no-at-sign", "@example.com"])
def test_addresses_a_mail_header_would_refuse_are_refused_up_front(desk, admin, address):
    with pytest.raises(UserError, match="is not an email address"):
        desk.add_person(admin, address)


def test_ticket_lists_carry_custom_field_values(desk, admin):
    from bot.read.queries import TicketFilter

    desk.define_field(admin, "site", "Site", "text")
    number = make_ticket(desk)
    desk.receive(make_inbound())
    desk.set_field(admin, number, "site", "Berlin")
    listed = {view.number: view.custom_fields for view in desk.list_tickets(TicketFilter())}
    assert listed == {number: {"site": "Berlin"}, "SUP-2": {}}
