"""Categories, custom fields, people, SLA policies, routing and the SLA report over the API."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config.channels import Mailbox
from bot.config.settings import Settings, load
from bot.sla.settings import EscalationLevel, SlaPolicyOverride
from tests.fakes import FakeClock
from tests.integration.api.conftest import World


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    """An override for Network tickets and a two-level ladder, so the answers say something."""
    return replace(
        load(None, environ),
        sla_policies=(
            SlaPolicyOverride(category="Network", priority="high", first_response="30m", resolution="4h"),
        ),
        escalation_levels=(
            EscalationLevel(at="80%", notify="assignee"),
            EscalationLevel(
                at="2h after customer", notify="team_lead,email:boss@support.test", raise_priority=True
            ),
        ),
        mailboxes=(Mailbox("support@support.test", team="Ops", category="Network", priority="high"),),
    )


def test_admin_adds_a_subcategory_that_agents_then_read_with_its_parent(world: World) -> None:
    admin = world.headers("admin")
    assert world.client.post("/api/v1/categories", json={"path": "Network"}, headers=admin).status_code == 201
    added = world.client.post(
        "/api/v1/categories", json={"path": "Network/VPN", "team": "Ops"}, headers=admin
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"path": "Network/VPN", "parent": "Network", "team": "Ops"}

    listed = world.client.get("/api/v1/categories", headers=world.headers("agent")).json()
    assert listed == [
        {"path": "Network", "parent": None, "team": None},
        {"path": "Network/VPN", "parent": "Network", "team": "Ops"},
    ]


def test_a_subcategory_without_its_parent_is_not_found(world: World) -> None:
    response = world.client.post(
        "/api/v1/categories", json={"path": "HR/Payroll"}, headers=world.headers("admin")
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "category"


def test_admin_defines_a_dropdown_field_and_agents_read_it(world: World) -> None:
    body = {"key": "plan", "label": "Plan", "type": "dropdown", "options": {"choices": ["free", "pro"]}}
    added = world.client.post("/api/v1/fields", json=body, headers=world.headers("admin"))
    assert added.status_code == 201, added.text
    assert added.json() == {
        "key": "plan",
        "label": "Plan",
        "type": "dropdown",
        "required": False,
        "options": {"choices": ["free", "pro"]},
    }
    assert world.client.get("/api/v1/fields", headers=world.headers("agent")).json() == [added.json()]
    again = world.client.post("/api/v1/fields", json=body, headers=world.headers("admin"))
    assert again.status_code == 409 and again.json()["error"]["field"] == "key"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "plan", "label": "Plan", "type": "dropdown", "options": {}}, "choices"),
        ({"key": "plan", "label": "Plan", "type": "colour"}, "type"),
        ({"key": "bad key!", "label": "Plan", "type": "text"}, "key"),
        ({"label": "Plan", "type": "text"}, "key"),
        ({"key": "seats", "label": "Seats", "type": "number", "options": {"min": 5, "max": 1}}, "min"),
    ],
)
def test_a_bad_field_definition_is_refused_naming_the_field(
    world: World, body: dict[str, object], field: str
) -> None:
    response = world.client.post("/api/v1/fields", json=body, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert world.client.get("/api/v1/fields", headers=world.headers("admin")).json() == []


def test_sla_policies_show_the_defaults_overrides_and_ladder_in_force(world: World) -> None:
    policies = world.client.get("/api/v1/sla/policies", headers=world.headers("agent")).json()
    assert policies["default"]["timezone"] == "UTC"
    assert policies["default"]["business_hours"] is None
    assert policies["default"]["targets"]["urgent"] == {
        "first_response_seconds": 900,
        "resolution_seconds": 14400,
    }
    assert set(policies["default"]["targets"]) == {"urgent", "high", "medium", "low"}
    assert policies["overrides"] == [
        {
            "id": None,
            "source": "settings",
            "category": "Network",
            "priority": "high",
            "first_response": "30m",
            "resolution": "4h",
            "first_response_seconds": 1800,
            "resolution_seconds": 14400,
            "timezone": "UTC",
            "business_hours": None,
            "holiday_country": None,
            "holidays": None,
        }
    ]
    assert policies["escalation_levels"] == [
        {"level": 1, "at": "80%", "notify": ["assignee"], "raise_priority": False, "reassign_team": None},
        {
            "level": 2,
            "at": "2h after customer",
            "notify": ["team_lead", "email:boss@support.test"],
            "raise_priority": True,
            "reassign_team": None,
        },
    ]


def test_policies_and_routing_say_what_comes_from_the_settings_file(world: World) -> None:
    schema = world.client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]["/sla/policies"]) == {"get", "post"}
    assert set(schema["paths"]["/routing/rules/{rule_id}"]) == {"put", "delete"}
    assert "settings file" in schema["paths"]["/sla/policies"]["get"]["description"]


def test_routing_shows_the_strategy_and_mailbox_defaults(world: World) -> None:
    routing = world.client.get("/api/v1/routing", headers=world.headers("agent")).json()
    assert routing == {
        "assignment": "round_robin",
        "default_priority": "medium",
        "mailboxes": [
            {"address": "support@support.test", "team": "Ops", "category": "Network", "priority": "high"}
        ],
        "rules": [],
    }


def test_admin_adds_an_agent_and_lists_people(world: World) -> None:
    body = {"email": "Bo@Support.test", "name": "Bo", "role": "agent", "team": "Ops"}
    added = world.client.post("/api/v1/people", json=body, headers=world.headers("admin"))
    assert added.status_code == 201, added.text
    assert {k: added.json()[k] for k in ("email", "role", "team")} == {
        "email": "bo@support.test",
        "role": "agent",
        "team": "Ops",
    }
    agents = world.client.get("/api/v1/people?role=agent", headers=world.headers("admin")).json()
    assert [person["email"] for person in agents] == ["agent@support.test", "bo@support.test"]
    again = world.client.post("/api/v1/people", json=body, headers=world.headers("admin"))
    assert again.status_code == 409 and again.json()["error"]["field"] == "email"
    bad = world.client.post("/api/v1/people", json=body | {"role": "boss"}, headers=world.headers("admin"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "role"


def test_sla_report_gives_the_cli_json_figures(world: World, clock: FakeClock) -> None:
    """Two medium tickets left open (the world's) and one high ticket answered after 30
    minutes and resolved after 2 hours."""
    agent = world.headers("agent")
    opened = world.client.post(
        "/api/v1/tickets",
        json={"subject": "Disk full", "priority": "high"},
        headers=world.headers("requester"),
    )
    number = opened.json()["number"]
    clock.advance(minutes=30)
    world.client.post(f"/api/v1/tickets/{number}/comments", json={"body": "Cleaning up."}, headers=agent)
    clock.advance(minutes=90)
    world.client.patch(f"/api/v1/tickets/{number}", json={"status": "resolved"}, headers=agent)

    report = world.client.get("/api/v1/reports/sla?since=30d&by=priority", headers=agent)
    assert report.status_code == 200, report.text
    body = report.json()
    assert set(body) == {"since", "until", "by", "rows", "weeks", "period", "periods"}
    assert body["by"] == "priority" and body["period"] == "week"
    high, medium = body["rows"]
    assert high == {
        "group": "high",
        "tickets": 1,
        "resolved": 1,
        "sla_compliance_pct": 100.0,
        "first_response_mean_h": 0.5,
        "first_response_median_h": 0.5,
        "resolution_mean_h": 2.0,
        "resolution_median_h": 2.0,
        "escalations": 0,
    }
    assert (medium["group"], medium["tickets"], medium["resolved"]) == ("medium", 2, 0)
    assert sum(week["tickets"] for week in body["weeks"]) == 3

    [everything] = world.client.get("/api/v1/reports/sla", headers=agent).json()["rows"]
    assert (everything["group"], everything["tickets"], everything["resolved"]) == ("all", 3, 1)


@pytest.mark.parametrize(
    ("query", "field"), [("by=weekday", "by"), ("since=yesterday", "since"), ("interval=day", "interval")]
)
def test_a_bad_report_query_names_the_parameter(world: World, query: str, field: str) -> None:
    response = world.client.get(f"/api/v1/reports/sla?{query}", headers=world.headers("agent"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_field_options_with_nul_characters_are_refused_not_stored(world: World) -> None:
    body = {"key": "plan", "label": "Plan", "type": "dropdown", "options": {"choices": ["a\x00b"]}}
    response = world.client.post("/api/v1/fields", json=body, headers=world.headers("admin"))
    assert response.status_code == 422 and response.json()["error"]["field"] == "options"
