"""Every trigger fires on its own event, and not on the others' (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from bot.desk.facade import Desk
from bot.messages import Identity
from bot.model import Actor, Priority, Status
from tests.factories import make_inbound, make_ticket
from tests.fakes import FakeClock
from tests.integration.automation.conftest import cond, fired, log, rule

CUSTOMER = "customer@example.com"


def _reply_by_email(
    desk: Desk, number: str, text: str = "Still broken.", key: str = "<re-1@example.com>"
) -> None:
    receipt = desk.receive(
        make_inbound(
            email=CUSTOMER,
            subject="Re: Printer on fire",
            text=text,
            key=key,
            ticket_number=number,
            verified=True,
        )
    )
    assert receipt.ticket_number == number and not receipt.created


# -- ticket created ---------------------------------------------------------------------


def test_ticket_created_fires_once_for_a_new_ticket_and_never_on_later_changes(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    created = rule(desk, admin, "Created", {"on": "ticket_created"})
    number = make_ticket(desk)
    assert fired(desk, created) == [(number, "ticket_created", "applied")]
    desk.comment(agent, number, "On it")
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.set_priority(agent, number, Priority.HIGH)
    desk.assign(agent, number, "agent@support.test")
    _reply_by_email(desk, number)
    assert fired(desk, created) == [(number, "ticket_created", "applied")]


def test_ticket_created_tells_the_channels_apart(desk: Desk, admin: Actor) -> None:
    by_api = rule(desk, admin, "By API", {"on": "ticket_created"}, all=[cond("channel", "is", "api")])
    by_email = rule(desk, admin, "By email", {"on": "ticket_created"}, all=[cond("channel", "is", "email")])
    mailed = make_ticket(desk)
    posted = desk.receive(
        make_inbound(channel="api", new_only=True, authenticated=True, subject="Posted", key="api-1")
    ).ticket_number
    assert posted is not None
    assert fired(desk, by_api) == [(posted, "ticket_created", "applied")]
    assert fired(desk, by_email) == [(mailed, "ticket_created", "applied")]


def test_a_reply_to_an_existing_ticket_is_no_new_ticket(desk: Desk, admin: Actor) -> None:
    created = rule(desk, admin, "Created", {"on": "ticket_created"})
    number = make_ticket(desk)
    _reply_by_email(desk, number)
    assert [run.ticket for run in log(desk, rule_id=created)] == [number]


# -- ticket updated ---------------------------------------------------------------------


def test_ticket_updated_on_any_field_fires_on_every_change_while_its_conditions_hold(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    urgent = rule(
        desk, admin, "Any change of urgent", {"on": "ticket_updated"}, all=[cond("priority", "is", "urgent")]
    )
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)  # not urgent yet
    desk.comment(agent, number, "A comment is no field change")
    assert fired(desk, urgent) == []
    desk.set_priority(agent, number, Priority.URGENT)
    assert fired(desk, urgent) == [(number, "ticket_updated", "applied")]
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    desk.set_tags(agent, number, add=["printer"])
    desk.comment(agent, number, "Comments still are not updates", public=False)
    assert fired(desk, urgent) == [(number, "ticket_updated", "applied")] * 3


def test_ticket_updated_with_match_all_fires_on_any_field_of_any_ticket(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    desk.define_field(admin, "os", "Operating system", "text")
    every = rule(desk, admin, "Every update", {"on": "ticket_updated"}, match_all=True)
    number = make_ticket(desk)
    desk.set_priority(agent, number, Priority.HIGH)
    desk.set_tags(agent, number, add=["a"])
    desk.set_field(agent, number, "os", "linux")
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.assign(agent, number, "agent@support.test")
    assert fired(desk, every) == [(number, "ticket_updated", "applied")] * 5


def test_ticket_updated_on_a_named_field_fires_only_for_that_field(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    desk.add_category(admin, "Network")
    desk.define_field(admin, "os", "Operating system", "text")
    on_priority = rule(desk, admin, "Priority", {"on": "ticket_updated", "field": "priority"})
    on_tags = rule(desk, admin, "Tags", {"on": "ticket_updated", "field": "tags"})
    on_field = rule(desk, admin, "OS", {"on": "ticket_updated", "field": "field.os"})
    on_category = rule(desk, admin, "Category", {"on": "ticket_updated", "field": "category"})
    on_team = rule(desk, admin, "Team", {"on": "ticket_updated", "field": "team"})
    on_status = rule(desk, admin, "Status", {"on": "ticket_updated", "field": "status"})
    on_assignee = rule(desk, admin, "Assignee", {"on": "ticket_updated", "field": "assignee"})
    number = make_ticket(desk)
    desk.set_priority(agent, number, Priority.HIGH)
    assert [
        len(fired(desk, r))
        for r in (on_priority, on_tags, on_field, on_category, on_team, on_status, on_assignee)
    ] == [1, 0, 0, 0, 0, 0, 0]
    desk.set_tags(agent, number, add=["vpn"])
    desk.set_field(agent, number, "os", "linux")
    desk.set_category(agent, number, "Network")
    desk.set_team(agent, number, "Ops")  # Ops has an agent: the team's rule assigns them too
    desk.transition(agent, number, Status.IN_PROGRESS)
    counts = [
        len(fired(desk, r))
        for r in (on_priority, on_tags, on_field, on_category, on_team, on_status, on_assignee)
    ]
    assert counts == [1, 1, 1, 1, 1, 1, 1]
    desk.comment(agent, number, "no field")
    assert [
        len(fired(desk, r))
        for r in (on_priority, on_tags, on_field, on_category, on_team, on_status, on_assignee)
    ] == counts


def test_ticket_updated_from_and_to_values(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_category(admin, "Network")
    desk.add_category(admin, "Network/VPN")
    desk.add_category(admin, "Hardware")
    low_to_urgent = rule(
        desk,
        admin,
        "Low to urgent",
        {"on": "ticket_updated", "field": "priority", "from": "low", "to": "urgent"},
    )
    into_network = rule(
        desk, admin, "Into Network", {"on": "ticket_updated", "field": "category", "to": "Network"}
    )
    number = make_ticket(desk)
    desk.set_priority(agent, number, Priority.URGENT)  # medium -> urgent: not from low
    desk.set_priority(agent, number, Priority.LOW)
    assert fired(desk, low_to_urgent) == []
    desk.set_priority(agent, number, Priority.URGENT)
    assert fired(desk, low_to_urgent) == [(number, "ticket_updated", "applied")]
    desk.set_category(agent, number, "Hardware")
    assert fired(desk, into_network) == []
    desk.set_category(agent, number, "Network/VPN")  # a subcategory is in Network
    assert fired(desk, into_network) == [(number, "ticket_updated", "applied")]


# -- status changed -----------------------------------------------------------------------


def test_status_changed_from_and_to(desk: Desk, admin: Actor, agent: Actor) -> None:
    any_status = rule(desk, admin, "Any status", {"on": "status_changed"})
    to_resolved = rule(desk, admin, "Resolved", {"on": "status_changed", "to": "resolved"})
    from_waiting = rule(desk, admin, "Was waiting", {"on": "status_changed", "from": "waiting_customer"})
    number = make_ticket(desk)
    desk.set_priority(agent, number, Priority.HIGH)  # no status change
    assert fired(desk, any_status) == []
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    assert (len(fired(desk, any_status)), fired(desk, to_resolved), fired(desk, from_waiting)) == (2, [], [])
    _reply_by_email(desk, number)  # the customer's answer takes it out of waiting_customer
    assert fired(desk, from_waiting) == [(number, "status_changed", "applied")]
    assert desk.visible_ticket(admin, number).ticket.status == "open"
    desk.transition(agent, number, Status.RESOLVED)
    assert fired(desk, to_resolved) == [(number, "status_changed", "applied")]
    assert len(fired(desk, any_status)) == 4
    assert {run.trigger for run in log(desk, rule_id=any_status)} == {"status_changed"}


# -- assigned / unassigned -----------------------------------------------------------------


def test_assigned_and_unassigned(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_person(admin, "bo@support.test", role=agent.role)
    assigned = rule(desk, admin, "Assigned", {"on": "assigned"})
    unassigned = rule(desk, admin, "Unassigned", {"on": "unassigned"})
    number = make_ticket(desk)  # no team: nobody assigned on opening
    desk.assign(agent, number, "agent@support.test")
    assert (fired(desk, assigned), fired(desk, unassigned)) == ([(number, "assigned", "applied")], [])
    desk.assign(agent, number, "bo@support.test")  # another person: assigned again, not unassigned
    assert (len(fired(desk, assigned)), fired(desk, unassigned)) == (2, [])
    desk.assign(agent, number, None)
    assert (len(fired(desk, assigned)), fired(desk, unassigned)) == (2, [(number, "unassigned", "applied")])
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.set_priority(agent, number, Priority.HIGH)
    assert (len(fired(desk, assigned)), len(fired(desk, unassigned))) == (2, 1)


def test_assigned_conditions_see_the_new_assignee(desk: Desk, admin: Actor, agent: Actor) -> None:
    desk.add_person(admin, "bo@support.test", role=agent.role)
    to_bo = rule(desk, admin, "To Bo", {"on": "assigned"}, all=[cond("assignee", "is", "BO@support.test")])
    number = make_ticket(desk)
    desk.assign(agent, number, "agent@support.test")
    assert fired(desk, to_bo) == []
    desk.assign(agent, number, "bo@support.test")
    assert fired(desk, to_bo) == [(number, "assigned", "applied")]


# -- comment added ------------------------------------------------------------------------


def test_comment_added_public_or_internal(desk: Desk, admin: Actor, agent: Actor) -> None:
    public = rule(desk, admin, "Public", {"on": "comment_added", "visibility": "public"})
    internal = rule(desk, admin, "Internal", {"on": "comment_added", "visibility": "internal"})
    number = make_ticket(desk)  # the opening message is part of the new ticket, no comment_added
    assert (fired(desk, public), fired(desk, internal)) == ([], [])
    desk.comment(agent, number, "Visible to the customer")
    assert (len(fired(desk, public)), len(fired(desk, internal))) == (1, 0)
    desk.comment(agent, number, "Just for us", public=False)
    assert (len(fired(desk, public)), len(fired(desk, internal))) == (1, 1)
    assert {run.trigger for run in log(desk)} == {"comment_added"}


def test_comment_added_by_requester_agent_or_partner(desk: Desk, admin: Actor, agent: Actor) -> None:
    by_requester = rule(desk, admin, "Requester", {"on": "comment_added", "author": "requester"})
    by_agent = rule(desk, admin, "Agent", {"on": "comment_added", "author": "agent"})
    by_partner = rule(desk, admin, "Partner", {"on": "comment_added", "author": "partner"})
    number = make_ticket(desk)

    def counts() -> tuple[int, int, int]:
        return (len(fired(desk, by_requester)), len(fired(desk, by_agent)), len(fired(desk, by_partner)))

    _reply_by_email(desk, number)
    assert counts() == (1, 0, 0)
    desk.comment(desk.actor(CUSTOMER), number, "And from the portal", channel="web")
    assert counts() == (2, 0, 0)
    desk.comment(agent, number, "We are on it")
    assert counts() == (2, 1, 0)
    desk.comment(agent, number, "From the partner desk", channel="sharing")
    assert counts() == (2, 1, 1)


def test_comment_added_through_a_channel(desk: Desk, admin: Actor, agent: Actor) -> None:
    by_email = rule(desk, admin, "By email", {"on": "comment_added", "channel": "email"})
    by_api = rule(desk, admin, "By API", {"on": "comment_added", "channel": "api"})
    number = make_ticket(desk)
    _reply_by_email(desk, number)
    assert (len(fired(desk, by_email)), len(fired(desk, by_api))) == (1, 0)
    desk.comment(agent, number, "Through the API", channel="api")
    assert (len(fired(desk, by_email)), len(fired(desk, by_api))) == (1, 1)
    desk.comment(agent, number, "Through the CLI", channel="cli")
    assert (len(fired(desk, by_email)), len(fired(desk, by_api))) == (1, 1)


def test_comment_added_without_options_needs_conditions_and_sees_the_comment(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    refund = rule(desk, admin, "Refund", {"on": "comment_added"}, all=[cond("comment", "contains", "refund")])
    number = make_ticket(desk)
    desk.comment(agent, number, "No money back here")
    _reply_by_email(desk, number, "I want a REFUND now")
    assert fired(desk, refund) == [(number, "comment_added", "applied")]


# -- SLA changed ---------------------------------------------------------------------------


def test_sla_changed_to_at_risk_and_breached_by_the_sweep(desk: Desk, admin: Actor, clock: FakeClock) -> None:
    any_change = rule(desk, admin, "SLA changed", {"on": "sla_changed"})
    at_risk = rule(desk, admin, "At risk", {"on": "sla_changed", "to": "at_risk"})
    breached = rule(desk, admin, "Breached", {"on": "sla_changed", "to": "breached"})
    number = make_ticket(desk)
    opened = clock.now()
    # Medium: first response due in 4 h; at risk from 85 % (3 h 24 min).
    clock.set(opened + timedelta(hours=2, minutes=50))
    desk.sla_sweep()  # the first ladder level (70 %) only warns: still on time
    assert desk.visible_ticket(admin, number).ticket.sla_status == "on_time"
    assert log(desk) == []
    clock.set(opened + timedelta(hours=3, minutes=25))
    desk.sla_sweep()
    assert desk.visible_ticket(admin, number).ticket.sla_status == "at_risk"
    assert fired(desk, at_risk) == [(number, "sla_changed", "applied")]
    assert (len(fired(desk, any_change)), fired(desk, breached)) == (1, [])
    clock.set(opened + timedelta(hours=4, minutes=1))
    desk.sla_sweep()
    assert desk.visible_ticket(admin, number).ticket.sla_status == "breached"
    assert fired(desk, breached) == [(number, "sla_changed", "applied")]
    assert (len(fired(desk, any_change)), len(fired(desk, at_risk))) == (2, 1)
    clock.advance(hours=1)
    desk.sla_sweep()  # still breached: no change, no run
    assert len(log(desk)) == 4


def test_sla_changed_is_not_an_update_of_the_ticket(desk: Desk, admin: Actor, clock: FakeClock) -> None:
    every = rule(desk, admin, "Every update", {"on": "ticket_updated"}, match_all=True)
    make_ticket(desk)
    clock.advance(hours=5)
    desk.sla_sweep()
    assert fired(desk, every) == []


# -- a new ticket's own setup ---------------------------------------------------------------


def test_a_new_tickets_own_setup_fires_no_update_or_assignment_rules(
    desk: Desk, admin: Actor, agent: Actor
) -> None:
    desk.add_category(admin, "Network", team="Ops")
    assigned = rule(desk, admin, "Assigned", {"on": "assigned"})
    updated = rule(desk, admin, "Updated", {"on": "ticket_updated"}, match_all=True)
    on_assignee = rule(desk, admin, "Assignee field", {"on": "ticket_updated", "field": "assignee"})
    commented = rule(desk, admin, "Commented", {"on": "comment_added"}, match_all=True)
    placing = rule(
        desk,
        admin,
        "Place",
        {"on": "ticket_created"},
        {"do": "set_priority", "value": "high"},
        {"do": "add_tags", "tags": ["new"]},
    )
    # Opened into Ops (by its category): the team's rule assigns Ann while it opens; Cc'd
    # people become followers; the rule sets priority and tags.
    number = make_ticket(desk, category="Network", cc=(Identity(email="boss@example.com"),))
    ticket = desk.visible_ticket(admin, number).ticket
    assert (ticket.assignee, ticket.team, ticket.priority, ticket.tags) == (
        "agent@support.test",
        "Ops",
        "high",
        ("new",),
    )
    assert fired(desk, placing) == [(number, "ticket_created", "applied")]
    assert [fired(desk, r) for r in (assigned, updated, on_assignee, commented)] == [[], [], [], []]
    desk.assign(agent, number, None)  # a later change is an update
    assert len(fired(desk, updated)) == 1 and len(fired(desk, on_assignee)) == 1
    desk.assign(agent, number, "agent@support.test")
    assert fired(desk, assigned) == [(number, "assigned", "applied")]
