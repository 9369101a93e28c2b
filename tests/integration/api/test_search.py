"""Search, bulk changes and export over the REST API, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from bot.desk.facade import Desk
from bot.model import Actor, Status, parse_priority
from bot.read.queries import TicketFilter
from tests.integration.api.conftest import World, open_ticket


def found(world: World, who: str, query: str, **params: Any) -> list[str]:
    response = world.client.get(
        "/api/v1/tickets/search", params={"q": query, **params}, headers=world.headers(who)
    )
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_search_finds_words_of_subjects_descriptions_and_comments(
    world: World, desk: Desk, agent: Actor
) -> None:
    desk.comment(agent, world.others, "Replaced the toner cartridge.", channel="api")
    assert found(world, "agent", "printer") == [world.own]  # subject
    assert found(world, "agent", "broken") == [world.others, world.own]  # description, newest first
    assert found(world, "agent", "cartridge TONER") == [world.others]  # a comment, every word
    assert found(world, "agent", "toner printer") == []
    assert found(world, "agent", 'toner" OR "printer*') == []  # operators are only words


def test_requesters_search_their_own_tickets_without_internal_notes(
    world: World, desk: Desk, agent: Actor
) -> None:
    desk.comment(agent, world.own, "Customer is grumpy", public=False, channel="api")
    desk.comment(agent, world.own, "Sent a technician", public=True, channel="api")
    assert found(world, "agent", "grumpy") == [world.own]
    assert found(world, "requester", "grumpy") == []
    assert found(world, "requester", "technician") == [world.own]
    assert found(world, "requester", "broken") == [world.own]
    assert found(world, "requester", "vpn") == []


def test_search_combines_with_filters_and_pages_by_cursor(world: World, desk: Desk, agent: Actor) -> None:
    desk.set_priority(agent, world.own, parse_priority("high"))
    assert found(world, "agent", "broken", priority="high") == [world.own]
    first = world.client.get(
        "/api/v1/tickets/search", params={"q": "broken", "limit": 1}, headers=world.headers("agent")
    ).json()
    assert [item["number"] for item in first["items"]] == [world.others]
    assert found(world, "agent", "broken", limit=1, cursor=first["next_cursor"]) == [world.own]


def test_search_without_words_is_unprocessable(world: World) -> None:
    response = world.client.get("/api/v1/tickets/search?q=%22*%22", headers=world.headers("agent"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "q"


def test_bulk_reports_each_ticket_including_refused_ones(world: World, desk: Desk, agent: Actor) -> None:
    desk.transition(agent, world.others, Status.CLOSED)
    missing = world.own.split("-")[0] + "-99999"
    response = world.client.post(
        "/api/v1/tickets/bulk",
        json={
            "numbers": [world.own, world.others, missing],
            "changes": {"status": "resolved", "priority": "high", "add_tags": ["printer"]},
        },
        headers=world.headers("agent"),
    )
    assert response.status_code == 200, response.text
    results = {result["number"]: result for result in response.json()["results"]}
    assert results[world.own] == {"number": world.own, "ok": True, "status_code": 200, "error": None}
    assert results[world.others]["status_code"] == 409 and not results[world.others]["ok"]
    assert results[missing]["status_code"] == 404 and results[missing]["error"]
    own = desk.visible_ticket(Actor.console(), world.own).ticket
    assert (own.status, own.priority, own.tags) == ("resolved", "high", ("printer",))
    # The refused ticket is untouched: its transaction, priority and tags included, rolled back.
    others = desk.visible_ticket(Actor.console(), world.others).ticket
    assert (others.status, others.priority, others.tags) == ("closed", "medium", ())


def test_bulk_on_a_filter_assigns_and_unassigns(world: World, desk: Desk, agent: Actor) -> None:
    body = {"filter": {"requester": "otto@other.test"}, "changes": {"assignee": agent.label}}
    response = world.client.post("/api/v1/tickets/bulk", json=body, headers=world.headers("admin"))
    assert [r["number"] for r in response.json()["results"]] == [world.others]
    assert desk.visible_ticket(Actor.console(), world.others).ticket.assignee == agent.label
    body = {"filter": {"assignee": agent.label}, "changes": {"assignee": None}}
    world.client.post("/api/v1/tickets/bulk", json=body, headers=world.headers("admin"))
    assert desk.visible_ticket(Actor.console(), world.others).ticket.assignee is None


def test_bulk_refuses_more_than_a_thousand_tickets_and_ambiguous_selections(world: World) -> None:
    too_many = {"numbers": [f"T-{n}" for n in range(1, 1002)], "changes": {"priority": "low"}}
    both = {"numbers": [world.own], "filter": {}, "changes": {}}
    neither: dict[str, Any] = {"changes": {}}
    for body in (too_many, both, neither):
        response = world.client.post("/api/v1/tickets/bulk", json=body, headers=world.headers("agent"))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "numbers"


def test_export_streams_every_ticket_as_csv_and_jsonl(world: World, desk: Desk) -> None:
    numbers = [world.own, world.others]
    numbers += [open_ticket(desk, "rita@customer.test", f"=Cell {n}") for n in range(5)]
    numbers.reverse()  # newest first
    response = world.client.get("/api/v1/tickets/export", headers=world.headers("agent"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["number"] for row in rows] == numbers
    assert rows[0]["subject"] == "'=Cell 4"  # never a formula in a spreadsheet
    assert rows[-1]["requester"] == "rita@customer.test"
    response = world.client.get("/api/v1/tickets/export?format=jsonl", headers=world.headers("admin"))
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["number"] for line in lines] == numbers
    assert lines[0]["subject"] == "=Cell 4"


def test_export_honours_the_filters(world: World, desk: Desk, agent: Actor) -> None:
    desk.transition(agent, world.others, Status.CLOSED)
    response = world.client.get(
        "/api/v1/tickets/export",
        params={"format": "jsonl", "status": "closed"},
        headers=world.headers("agent"),
    )
    assert [json.loads(line)["number"] for line in response.text.splitlines()] == [world.others]
    response = world.client.get(
        "/api/v1/tickets/export", params={"requester": "nobody@x.test"}, headers=world.headers("agent")
    )
    assert response.text.splitlines() == [response.text.splitlines()[0]]  # the header row only
    response = world.client.get("/api/v1/tickets/export?status=nonsense", headers=world.headers("agent"))
    assert response.status_code == 422


def test_export_reads_page_after_page_to_the_end(world: World, desk: Desk) -> None:
    for n in range(7):
        open_ticket(desk, "rita@example.com", f"export page {n}")
    everything = list(desk.export_tickets(TicketFilter()))
    paged = list(desk.export_tickets(TicketFilter(), batch=2))
    assert [view.number for view in paged] == [view.number for view in everything]
    assert len(paged) >= 9 and len({view.number for view in paged}) == len(paged)
