"""SLA policies and routing rules that admins write over the API, and what they do to tickets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.sla.settings import SlaPolicyOverride
from bot.store import tables as t
from bot.store.db import Store
from tests.fakes import FakeClock
from tests.integration.api.conftest import World

API = "/api/v1"
# The clock starts on Monday 2026-03-02 at 09:00 UTC; targets run around the clock.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    """The settings file has a policy for Network tickets of high priority."""
    return replace(
        load(None, environ),
        sla_policies=(
            SlaPolicyOverride(category="Network", priority="high", first_response="30m", resolution="4h"),
        ),
    )


@pytest.fixture
def network(world: World) -> str:
    """A Network category whose tickets go to team Ops."""
    added = world.client.post(
        f"{API}/categories", json={"path": "Network", "team": "Ops"}, headers=world.headers("admin")
    )
    assert added.status_code == 201, added.text
    return "Network"


def overrides(world: World) -> list[dict[str, Any]]:
    response = world.client.get(f"{API}/sla/policies", headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    return response.json()["overrides"]


def due(world: World, number: str) -> str:
    return world.client.get(f"{API}/tickets/{number}/sla", headers=world.headers("agent")).json()[
        "first_response_due"
    ]


def create(world: World, **body: Any) -> dict[str, Any]:
    response = world.client.post(f"{API}/tickets", json=body, headers=world.headers("agent"))
    assert response.status_code == 201, response.text
    return response.json()


def email(desk: Desk, sender: str, subject: str, mailbox: str | None = None) -> str:
    receipt = desk.receive(
        Inbound(channel="email", sender=Identity(email=sender), subject=subject, text="Help", mailbox=mailbox)
    )
    assert receipt.ticket_number is not None
    return receipt.ticket_number


def ticket(world: World, number: str) -> dict[str, Any]:
    response = world.client.get(f"{API}/tickets/{number}", headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


# -- SLA policies --------------------------------------------------------------------------


def test_admin_adds_a_policy_and_new_tickets_of_its_category_are_timed_by_it(
    world: World, network: str
) -> None:
    body = {"category": "network", "first_response": "1h", "resolution": "8h"}
    added = world.client.post(f"{API}/sla/policies", json=body, headers=world.headers("admin"))
    assert added.status_code == 201, added.text
    policy = added.json()
    assert policy["id"] >= 1
    assert {k: policy[k] for k in ("source", "category", "priority", "first_response")} == {
        "source": "api",
        "category": "Network",  # the category's own spelling
        "priority": None,
        "first_response": "1h",
    }
    assert (policy["first_response_seconds"], policy["resolution_seconds"]) == (3600, 28800)

    listed = overrides(world)
    assert [(p["source"], p["category"], p["priority"]) for p in listed] == [
        ("settings", "Network", "high"),
        ("api", "Network", None),
    ]
    medium = create(world, subject="Slow line", category="Network", priority="medium")
    assert due(world, medium["number"]) == "2026-03-02T10:00:00Z"
    # The file's more specific policy (Network, high) still wins for high priority.
    high = create(world, subject="Line down", category="Network", priority="high")
    assert due(world, high["number"]) == "2026-03-02T09:30:00Z"


def test_a_stored_policy_replaces_the_files_policy_until_it_is_removed(world: World, network: str) -> None:
    admin = world.headers("admin")
    body = {"category": "Network", "priority": "HIGH", "first_response": "2h", "resolution": "1d"}
    added = world.client.post(f"{API}/sla/policies", json=body, headers=admin).json()
    assert [(p["source"], p["first_response_seconds"]) for p in overrides(world)] == [("api", 7200)]
    assert due(world, create(world, subject="Down", category="Network", priority="high")["number"]) == (
        "2026-03-02T11:00:00Z"
    )

    removed = world.client.delete(f"{API}/sla/policies/{added['id']}", headers=admin)
    assert removed.status_code == 200, removed.text
    assert removed.json()["first_response"] == "2h"
    assert [(p["source"], p["first_response_seconds"]) for p in overrides(world)] == [("settings", 1800)]
    assert world.client.delete(f"{API}/sla/policies/{added['id']}", headers=admin).status_code == 404


def test_a_second_stored_policy_for_the_same_category_and_priority_is_a_conflict(world: World) -> None:
    admin = world.headers("admin")
    body = {"priority": "urgent", "first_response": "5m", "resolution": "1h"}
    assert world.client.post(f"{API}/sla/policies", json=body, headers=admin).status_code == 201
    again = world.client.post(f"{API}/sla/policies", json=body | {"priority": "critical"}, headers=admin)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["field"] == "category"


def test_put_replaces_a_whole_policy(world: World, network: str) -> None:
    admin = world.headers("admin")
    body = {"priority": "low", "first_response": "1d", "resolution": "5d"}
    policy = world.client.post(f"{API}/sla/policies", json=body, headers=admin).json()
    changed = world.client.put(
        f"{API}/sla/policies/{policy['id']}",
        json={"category": "Network", "first_response": "2h", "resolution": "2d", "timezone": "Europe/Berlin"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in ("id", "category", "priority", "timezone")} == {
        "id": policy["id"],
        "category": "Network",
        "priority": None,
        "timezone": "Europe/Berlin",
    }
    missing = world.client.put(f"{API}/sla/policies/999", json=body, headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"first_response": "soon"}, 422, "first_response"),
        ({"first_response": "366d"}, 422, "first_response"),  # due times past year 9999
        ({"resolution": "0h"}, 422, "resolution"),
        ({"timezone": "Mars/Olympus"}, 422, "timezone"),
        ({"business_hours": "weekdays"}, 422, "business_hours"),
        ({"business_hours": "mon-fri 09:00-25:00"}, 422, "business_hours"),
        ({"holiday_country": "XX"}, 422, "holiday_country"),
        ({"business_hours": "mon-fri 09:00-17:00", "holidays": "tomorrow"}, 422, "holidays"),
        ({"priority": "asap"}, 422, "priority"),
        ({"priority": ""}, 422, "category"),  # neither a category nor a priority
        ({"category": "Nowhere"}, 404, "category"),
        ({"extra": 1}, 422, "extra"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_bad_policy_is_refused_with_its_field_and_nothing_is_stored(
    world: World, change: dict[str, Any], status: int, field: str
) -> None:
    body = {"priority": "urgent", "first_response": "5m", "resolution": "1h"} | change
    response = world.client.post(f"{API}/sla/policies", json=body, headers=world.headers("admin"))
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert [p["source"] for p in overrides(world)] == ["settings"]


def test_unfinished_tickets_are_re_timed_at_the_next_sweep(
    world: World, desk: Desk, clock: FakeClock
) -> None:
    assert due(world, world.own) == "2026-03-02T13:00:00Z"  # medium: 4h
    desk.sla_sweep()
    body = {"priority": "medium", "first_response": "1h", "resolution": "8h"}
    assert (
        world.client.post(f"{API}/sla/policies", json=body, headers=world.headers("admin")).status_code == 201
    )
    clock.advance(minutes=1)
    desk.sla_sweep()
    assert due(world, world.own) == "2026-03-02T10:00:00Z"


# -- routing rules -------------------------------------------------------------------------

VPN_RULE = {
    "name": "VPN to Network",
    "conditions": {"keywords": ["vpn", "tunnel"]},
    "actions": {"category": "Network", "priority": "high", "tags": ["VPN issue"]},
}


def test_a_rule_places_new_tickets_that_match_and_leaves_the_rest(
    world: World, desk: Desk, network: str, store: Store
) -> None:
    added = world.client.post(f"{API}/routing/rules", json=VPN_RULE, headers=world.headers("admin"))
    assert added.status_code == 201, added.text
    assert added.json() | {"id": 0} == {
        "id": 0,
        "name": "VPN to Network",
        "position": 10,
        "enabled": True,
        "conditions": {"channel": None, "mailbox": None, "sender": None, "keywords": ["vpn", "tunnel"]},
        "actions": {"team": None, "category": "Network", "priority": "high", "tags": ["vpn-issue"]},
    }

    routed = ticket(world, email(desk, "rita@customer.test", "My VPN drops every hour"))
    assert (routed["category"], routed["team"], routed["priority"]) == ("Network", "Ops", "high")
    assert routed["tags"] == ["vpn-issue"]
    assert routed["assignee"] == "agent@support.test"  # the category's team assigns it
    plain = ticket(world, email(desk, "rita@customer.test", "vpnclient crashes"))  # not the word vpn
    assert (plain["category"], plain["priority"], plain["tags"]) == (None, "medium", [])

    with store.read() as session:
        created = session.scalars(
            select(t.Event).where(t.Event.kind == "created").order_by(t.Event.id.desc())
        ).all()
    assert created[1].after is not None
    assert created[1].after["routing_rule"] == "VPN to Network"
    assert "routing_rule" not in (created[0].after or {})


def test_rules_are_tried_by_position_and_disabled_ones_are_skipped(world: World, desk: Desk) -> None:
    admin = world.headers("admin")

    def add(name: str, position: int, conditions: dict[str, Any], priority: str, enabled: bool = True) -> int:
        body = {
            "name": name,
            "position": position,
            "enabled": enabled,
            "conditions": conditions,
            "actions": {"priority": priority},
        }
        response = world.client.post(f"{API}/routing/rules", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    add("Customers' domain", 20, {"sender": "@Customer.test"}, "low")
    everything = add("All email", 10, {"channel": "email"}, "urgent", enabled=False)
    add("Printers", 30, {"keywords": ["printer"]}, "high")
    listed = world.client.get(f"{API}/routing/rules", headers=world.headers("agent")).json()
    assert [rule["name"] for rule in listed] == ["All email", "Customers' domain", "Printers"]

    assert ticket(world, email(desk, "rita@customer.test", "Printer jam"))["priority"] == "low"
    assert ticket(world, email(desk, "otto@other.test", "Printer jam"))["priority"] == "high"
    body = listed[0] | {"enabled": True}
    body = {k: body[k] for k in ("name", "enabled", "conditions")} | {"actions": {"priority": "urgent"}}
    changed = world.client.put(f"{API}/routing/rules/{everything}", json=body, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["position"] == 10  # no position given: it keeps its place
    assert ticket(world, email(desk, "rita@customer.test", "Printer jam"))["priority"] == "urgent"
    # Only email: an API ticket is not matched by it, and goes on to the next rules.
    assert create(world, subject="Printer jam", requester="otto@other.test")["priority"] == "high"


def test_a_mailbox_rule_wins_over_the_mailboxs_own_defaults(world: World, desk: Desk, network: str) -> None:
    body = {
        "name": "Sales mail",
        "conditions": {"mailbox": "Sales@Support.test"},
        "actions": {"team": "Ops", "tags": ["sales"]},
    }
    assert (
        world.client.post(f"{API}/routing/rules", json=body, headers=world.headers("admin")).status_code
        == 201
    )
    sales = ticket(world, email(desk, "rita@customer.test", "Quote", mailbox="sales@support.test"))
    assert (sales["team"], sales["tags"]) == ("Ops", ["sales"])
    other = ticket(world, email(desk, "rita@customer.test", "Quote", mailbox="help@support.test"))
    assert (other["team"], other["tags"]) == (None, [])


def test_a_rule_after_one_at_the_last_position_goes_there_too(world: World) -> None:
    admin = world.headers("admin")
    last = {"name": "Last", "position": 2**31 - 1, "actions": {"priority": "low"}}
    assert world.client.post(f"{API}/routing/rules", json=last, headers=admin).status_code == 201
    after = world.client.post(
        f"{API}/routing/rules", json={"name": "After", "actions": {"priority": "low"}}, headers=admin
    )
    assert after.status_code == 201, after.text
    assert after.json()["position"] == 2**31 - 1
    names = [rule["name"] for rule in world.client.get(f"{API}/routing/rules", headers=admin).json()]
    assert names == ["Last", "After"]  # the same position: in the order they were added


def test_a_rule_that_changes_the_category_does_not_keep_the_old_categorys_team(
    world: World, network: str
) -> None:
    admin = world.headers("admin")
    assert world.client.post(f"{API}/categories", json={"path": "Billing"}, headers=admin).status_code == 201
    body = {"name": "Invoices", "conditions": {"keywords": ["invoice"]}, "actions": {"category": "Billing"}}
    assert world.client.post(f"{API}/routing/rules", json=body, headers=admin).status_code == 201
    placed = create(world, subject="Invoice for the VPN", category="Network")
    assert (placed["category"], placed["team"]) == ("Billing", None)


def test_a_rule_is_deleted_and_tickets_it_placed_keep_their_placing(
    world: World, desk: Desk, network: str
) -> None:
    admin = world.headers("admin")
    rule = world.client.post(f"{API}/routing/rules", json=VPN_RULE, headers=admin).json()
    placed = email(desk, "rita@customer.test", "VPN down")
    removed = world.client.delete(f"{API}/routing/rules/{rule['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["name"] == "VPN to Network"
    assert world.client.get(f"{API}/routing/rules", headers=admin).json() == []
    assert ticket(world, placed)["category"] == "Network"
    assert ticket(world, email(desk, "rita@customer.test", "VPN down"))["category"] is None
    assert world.client.delete(f"{API}/routing/rules/{rule['id']}", headers=admin).status_code == 404
    assert (
        world.client.put(f"{API}/routing/rules/{rule['id']}", json=VPN_RULE, headers=admin).status_code == 404
    )


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"name": ""}, 422, "name"),
        ({"name": "   "}, 422, "name"),
        ({"conditions": {"sender": "ann smith@example.com"}}, 422, "sender"),
        ({"conditions": {"channel": "fax"}}, 422, "channel"),
        ({"conditions": {"mailbox": "support"}}, 422, "mailbox"),
        ({"conditions": {"sender": "example"}}, 422, "sender"),
        ({"conditions": {"keywords": ["x" * 101]}}, 422, "conditions.keywords.0"),
        ({"actions": {"team": "Nobody"}}, 404, "team"),
        ({"actions": {"category": "Nowhere"}}, 404, "category"),
        ({"actions": {"priority": "asap"}}, 422, "priority"),
        ({"actions": {"tags": ["a,b"]}}, 422, "tags"),
        ({"actions": {}}, 422, "actions"),
        ({"position": -1}, 422, "position"),
        ({"position": 2**31}, 422, "position"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_bad_rule_is_refused_with_its_field_and_nothing_is_stored(
    world: World, change: dict[str, Any], status: int, field: str
) -> None:
    body = {"name": "Outages", "conditions": {"keywords": ["outage"]}, "actions": {"priority": "urgent"}}
    response = world.client.post(f"{API}/routing/rules", json=body | change, headers=world.headers("admin"))
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert world.client.get(f"{API}/routing/rules", headers=world.headers("admin")).json() == []


def test_routing_lists_the_rules_with_the_settings_files_part(world: World) -> None:
    body = {"name": "Outages", "conditions": {"keywords": ["outage"]}, "actions": {"priority": "urgent"}}
    world.client.post(f"{API}/routing/rules", json=body, headers=world.headers("admin"))
    routing = world.client.get(f"{API}/routing", headers=world.headers("agent")).json()
    assert routing["assignment"] == "round_robin"
    assert [rule["name"] for rule in routing["rules"]] == ["Outages"]


def test_every_change_is_in_the_audit_log_with_the_admin(world: World, store: Store) -> None:
    admin = world.headers("admin")
    rule = world.client.post(
        f"{API}/routing/rules",
        json={"name": "Outages", "conditions": {"keywords": ["outage"]}, "actions": {"priority": "urgent"}},
        headers=admin,
    ).json()
    world.client.delete(f"{API}/routing/rules/{rule['id']}", headers=admin)
    policy = world.client.post(
        f"{API}/sla/policies",
        json={"priority": "low", "first_response": "1d", "resolution": "5d"},
        headers=admin,
    ).json()
    world.client.put(
        f"{API}/sla/policies/{policy['id']}",
        json={"priority": "low", "first_response": "2d", "resolution": "5d"},
        headers=admin,
    )
    with store.read() as session:
        events = session.execute(
            select(t.Event.kind, t.Event.actor)
            .where(t.Event.kind.like("routing_rule_%") | t.Event.kind.like("sla_policy_%"))
            .order_by(t.Event.id)
        ).all()
    assert [tuple(row) for row in events] == [
        ("routing_rule_added", "ada@support.test"),
        ("routing_rule_removed", "ada@support.test"),
        ("sla_policy_added", "ada@support.test"),
        ("sla_policy_changed", "ada@support.test"),
    ]
