"""Rules an admin stores through one process hold in every other at its next transaction.

Two desks on their own engines and rule books stand for two ``supportbot serve``
processes on one store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.automation.routing_rules import RuleInput
from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.errors import UserError
from bot.messages import Identity, Inbound
from bot.model import Actor
from bot.sla.settings import SlaPolicyOverride
from bot.store import tables as t
from bot.store.db import Store
from tests.fakes import FakeClock


@pytest.fixture
def other(settings: Settings, clock: FakeClock) -> Iterator[Desk]:
    store = Store(settings.database_url)
    yield Desk(store, clock, settings)
    store.dispose()


def mail(desk: Desk, subject: str) -> str:
    receipt = desk.receive(
        Inbound(channel="email", sender=Identity(email="ann@customer.test"), subject=subject, text="Help")
    )
    assert receipt.ticket_number is not None
    return receipt.ticket_number


def test_a_rule_stored_in_one_process_places_the_next_ticket_in_another(
    desk: Desk, other: Desk, admin: Actor
) -> None:
    mail(desk, "Outage")  # this process has compiled the rules before the change
    other.add_routing_rule(admin, RuleInput(name="Outages", keywords=("outage",), priority="urgent"))
    assert desk.visible_ticket(Actor.console(), mail(desk, "Outage again")).ticket.priority == "urgent"

    rule = other.list_routing_rules(admin)[0]
    other.change_routing_rule(
        admin, rule["id"], RuleInput(name="Outages", keywords=("outage",), priority="urgent", enabled=False)
    )
    assert desk.visible_ticket(Actor.console(), mail(desk, "Outage once more")).ticket.priority == "medium"


def test_a_policy_stored_in_one_process_times_the_next_ticket_in_another(
    desk: Desk, other: Desk, admin: Actor
) -> None:
    before = desk.visible_ticket(Actor.console(), mail(desk, "Slow")).ticket
    assert before.first_response_due is not None
    other.add_sla_policy(admin, SlaPolicyOverride(priority="medium", first_response="1h", resolution="8h"))
    after = desk.visible_ticket(Actor.console(), mail(desk, "Slower")).ticket
    assert after.first_response_due is not None
    assert (before.first_response_due - after.first_response_due).total_seconds() == 3 * 3600


def test_the_rules_are_compiled_again_only_after_a_change(desk: Desk, admin: Actor) -> None:
    first = desk.rules_in_force()
    mail(desk, "Anything")
    assert desk.rules_in_force() is first
    desk.add_sla_policy(admin, SlaPolicyOverride(priority="low", first_response="1d", resolution="5d"))
    changed = desk.rules_in_force()
    assert changed is not first
    assert changed.version == first.version + 1
    assert desk.rules_in_force() is changed


def test_a_refused_change_leaves_the_rules_in_force_as_they_were(desk: Desk, admin: Actor) -> None:
    before = desk.rules_in_force()
    with pytest.raises(UserError):
        desk.add_sla_policy(admin, SlaPolicyOverride(priority="low", first_response="soon", resolution="5d"))
    assert desk.rules_in_force() is before
    assert desk.list_routing_rules(admin) == []


def test_a_stored_policy_the_settings_no_longer_build_is_left_out_not_fatal(
    desk: Desk, store: Store, admin: Actor
) -> None:
    """Written before a settings change made it unbuildable (here: written by hand)."""
    with store.transaction() as session:
        session.add(
            t.SlaPolicyRule(
                category="",
                priority="low",
                first_response="1h",
                resolution="8h",
                timezone="Mars/Olympus",
                business_hours="mon-fri 09:00-17:00",
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
                updated_at=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )
    desk.add_sla_policy(admin, SlaPolicyOverride(priority="high", first_response="20m", resolution="2h"))
    assert [entry.priority for entry in desk.rules_in_force().sla_entries] == ["high"]
    assert desk.visible_ticket(Actor.console(), mail(desk, "Still opens")).ticket.priority == "medium"


def test_a_webhook_added_or_removed_in_one_process_holds_in_another(
    desk: Desk, other: Desk, admin: Actor
) -> None:
    """Subscriptions are compiled with the rules, so they follow the rules' version."""
    mail(desk, "Before")  # this process has compiled the rules before the subscription
    hook = other.add_webhook(admin, "https://hooks.example.com/a", ["ticket.created"], "s" * 20)
    mail(desk, "After")
    assert len(desk.webhook_deliveries(admin, hook.id)) == 1
    other.remove_webhook(admin, hook.id)
    mail(desk, "Removed")
    assert len(desk.webhook_deliveries(admin, hook.id)) == 1
