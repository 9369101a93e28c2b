"""What the audit log keeps of refused API requests (channels/http/access.py), on the real store.

A request without a valid token never writes on a ticket's record, however many
come: they are counted on /metrics and recorded at a bounded rate per address.
Refusals with a valid token are on record everywhere under /api/v1.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.store import tables as t
from bot.store.db import Store
from tests.integration.api.conftest import World


def api_events(store: Store) -> list[t.Event]:
    with store.read() as session:
        return list(
            session.scalars(select(t.Event).where(t.Event.kind == "api_request").order_by(t.Event.id))
        )


def metric(world: World, line_start: str) -> float:
    text = world.client.get("/metrics").text
    found = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(found[0].split()[-1]) if found else 0.0


def test_anonymous_requests_on_a_ticket_write_nothing_on_it_and_are_counted(
    world: World, store: Store
) -> None:
    before = len(api_events(store))
    for _ in range(30):
        assert world.client.get(f"/api/v1/tickets/{world.own}").status_code == 401
    bad_token = {"Authorization": "Bearer sbt_forged"}
    assert world.client.get(f"/api/v1/tickets/{world.own}/comments", headers=bad_token).status_code == 401

    events = api_events(store)[before:]
    assert all(event.ticket_id is None for event in events)
    # Five rows a minute per address; the rest only counted.
    assert len(events) == 5
    first: dict[str, Any] = events[0].after or {}
    assert first == {
        "method": "GET",
        "path": f"/api/v1/tickets/{world.own}",
        "status": 401,
        "source": "127.0.0.1",
        "left_out": 0,
    }
    assert metric(world, 'supportbot_api_unauthenticated_denials_total{status="401"}') == 31
    assert metric(world, "supportbot_api_denials_not_audited_total") == 26


def test_refusals_outside_tickets_are_audited_with_the_person(world: World, store: Store) -> None:
    before = len(api_events(store))
    requester = world.client.get("/api/v1/people", headers=world.headers("requester"))
    agent = world.client.post("/api/v1/categories", json={"path": "Hardware"}, headers=world.headers("agent"))
    anonymous = world.client.get("/api/v1/reports/sla")
    assert (requester.status_code, agent.status_code, anonymous.status_code) == (403, 403, 401)

    events = api_events(store)[before:]
    assert [(e.actor, (e.after or {})["path"], (e.after or {})["status"]) for e in events] == [
        ("rita@customer.test", "/api/v1/people", 403),
        ("agent@support.test", "/api/v1/categories", 403),
        ("anonymous", "/api/v1/reports/sla", 401),
    ]
    assert all(event.ticket_id is None for event in events)


def test_allowed_requests_outside_tickets_are_not_audited(world: World, store: Store) -> None:
    before = len(api_events(store))
    assert world.client.get("/api/v1/categories", headers=world.headers("agent")).status_code == 200
    assert api_events(store)[before:] == []


def test_an_authenticated_denial_on_a_ticket_is_on_that_ticket(world: World, store: Store) -> None:
    before = len(api_events(store))
    response = world.client.post(
        f"/api/v1/tickets/{world.own}/comments",
        json={"body": "Note", "public": False},
        headers=world.headers("requester"),
    )
    assert response.status_code == 403
    (event,) = api_events(store)[before:]
    assert event.actor == "rita@customer.test"
    assert event.ticket_id == int(world.own.split("-")[1])
