"""Creating, listing and changing tickets over the API: idempotency, pagination, errors as JSON."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.desk.facade import Desk
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store
from tests.integration.api.conftest import World, open_ticket


def _tickets(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(t.Ticket)) or 0


def test_retried_create_with_idempotency_key_returns_the_first_ticket(world: World, store: Store) -> None:
    headers = world.headers("requester") | {"Idempotency-Key": "retry-1"}
    body = {"subject": "Laptop", "description": "Will not boot"}
    before = _tickets(store)
    first = world.client.post("/api/v1/tickets", json=body, headers=headers)
    again = world.client.post("/api/v1/tickets", json=body, headers=headers)
    assert first.status_code == 201
    assert again.status_code in (200, 201)
    assert again.json()["number"] == first.json()["number"]
    assert _tickets(store) == before + 1
    # The key is the person's own: someone else using it opens their own ticket.
    other = world.client.post(
        "/api/v1/tickets", json=body, headers=world.headers("other") | {"Idempotency-Key": "retry-1"}
    )
    assert other.status_code == 201 and other.json()["number"] != first.json()["number"]


def test_agent_opens_a_ticket_for_a_requester_who_cannot_do_so_for_others(world: World) -> None:
    body = {"subject": "Phone", "requester": "rita@customer.test", "priority": "high"}
    opened = world.client.post("/api/v1/tickets", json=body, headers=world.headers("agent"))
    assert opened.status_code == 201
    assert opened.json()["requester"] == "rita@customer.test"
    assert opened.json()["priority"] == "high"
    refused = world.client.post(
        "/api/v1/tickets", json=body | {"requester": "otto@other.test"}, headers=world.headers("requester")
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "requester"


def test_errors_are_json_with_the_field_at_fault(world: World) -> None:
    agent = world.headers("agent")
    cases = [
        ("POST", "/tickets", {"description": "no subject"}, 422, "subject"),
        ("POST", "/tickets", {"subject": "x", "colour": "red"}, 422, "colour"),
        ("PATCH", f"/tickets/{world.own}", {"priority": "whenever"}, 422, "priority"),
        ("PATCH", f"/tickets/{world.own}", {"status": "bogus"}, 422, "status"),
        ("PATCH", f"/tickets/{world.own}", {"assignee": "rita@customer.test"}, 422, "assignee"),
        ("POST", f"/tickets/{world.own}/comments", {"body": "   "}, 422, "body"),
        ("POST", f"/tickets/{world.own}/comments", {"body": "a\x00b"}, 422, "body"),
        ("POST", f"/tickets/{world.own}/merge", {"into": world.own}, 409, None),
        ("GET", "/tickets/SUP-999", None, 404, "number"),
        ("GET", "/tickets/nonsense", None, 422, "number"),
        ("GET", "/tickets?limit=0", None, 422, "limit"),
        ("GET", "/tickets?cursor=%%%", None, 400, "cursor"),
        ("GET", "/tickets?sla_status=late", None, 422, "sla_status"),
        ("GET", "/tickets?created_after=2026-01-01T00:00:00", None, 422, "created_after"),
    ]
    for method, path, body, status, field in cases:
        response = world.client.request(method, "/api/v1" + path, json=body, headers=agent)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["error"]["field"] == field, (path, body, response.text)
        assert response.json()["error"]["message"]


def test_malformed_json_is_a_bad_request_and_a_huge_body_too_large(world: World) -> None:
    headers = world.headers("agent") | {"Content-Type": "application/json"}
    broken = world.client.post("/api/v1/tickets", content=b"{not json", headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["field"] == "body"
    huge = world.client.post("/api/v1/tickets", content=b"x" * (2 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413


def test_list_pages_by_cursor_and_filters(world: World, desk: Desk, admin: Actor) -> None:
    numbers = [open_ticket(desk, "rita@customer.test", f"Ticket {n}") for n in range(5)]
    agent = world.headers("agent")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params = {"limit": "3", "requester": "rita@customer.test"} | ({"cursor": cursor} if cursor else {})
        page = world.client.get("/api/v1/tickets", params=params, headers=agent).json()
        seen += [item["number"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*reversed(numbers), world.own]
    desk.set_tags(admin, numbers[0], add=["vip"])
    tagged = world.client.get("/api/v1/tickets", params={"tag": "vip"}, headers=agent).json()
    assert [item["number"] for item in tagged["items"]] == [numbers[0]]
    later = world.client.get(
        "/api/v1/tickets", params={"created_after": "2030-01-01T00:00:00Z"}, headers=agent
    ).json()
    assert later == {"items": [], "next_cursor": None}


def test_patch_changes_everything_or_nothing(world: World, desk: Desk) -> None:
    agent = world.headers("agent")
    refused = world.client.patch(
        f"/api/v1/tickets/{world.own}",
        json={"priority": "urgent", "assignee": "rita@customer.test"},
        headers=agent,
    )
    assert refused.status_code == 422
    assert desk.visible_ticket(Actor.console(), world.own).ticket.priority != "urgent"
    done = world.client.patch(
        f"/api/v1/tickets/{world.own}",
        json={
            "priority": "urgent",
            "assignee": "agent@support.test",
            "status": "in_progress",
            "add_tags": ["vip"],
        },
        headers=agent,
    ).json()
    assert (done["priority"], done["assignee"], done["status"], done["tags"]) == (
        "urgent",
        "agent@support.test",
        "in_progress",
        ["vip"],
    )
    sla = world.client.get(f"/api/v1/tickets/{world.own}/sla", headers=agent).json()
    assert set(sla) == {"sla_status", "first_response_due", "resolution_due", "escalation_level"}


def test_patch_moves_a_ticket_to_a_team_and_out_of_it(world: World, desk: Desk) -> None:
    agent = world.headers("agent")
    desk.add_team(Actor.console(), "Network")
    moved = world.client.patch(f"/api/v1/tickets/{world.own}", json={"team": "Network"}, headers=agent)
    assert moved.status_code == 200 and moved.json()["team"] == "Network"
    unknown = world.client.patch(f"/api/v1/tickets/{world.own}", json={"team": "Nowhere"}, headers=agent)
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "team"
    cleared = world.client.patch(f"/api/v1/tickets/{world.own}", json={"team": None}, headers=agent)
    assert cleared.json()["team"] is None
    requester = world.client.patch(
        f"/api/v1/tickets/{world.own}", json={"team": "Network"}, headers=world.headers("requester")
    )
    assert requester.status_code == 403


def test_openapi_document_is_served(world: World) -> None:
    document = world.client.get("/api/v1/openapi.json").json()
    assert "/tickets/{number}/comments" in document["paths"]


def test_a_create_naming_a_ticket_in_its_subject_is_still_a_new_ticket(world: World) -> None:
    body = {"subject": f"Same as [{world.own}]", "description": "again"}
    created = world.client.post("/api/v1/tickets", json=body, headers=world.headers("requester"))
    assert created.status_code == 201
    assert created.json()["number"] != world.own
