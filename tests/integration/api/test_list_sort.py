"""Sorted ticket lists over the API: every order pages by cursor without gaps or repeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

import pytest

from bot.desk.facade import Desk
from bot.model import Actor, Priority, Status
from bot.read import sorting
from channels.http.tickets import SortName, encode_cursor
from tests.fakes import FakeClock
from tests.integration.api.conftest import World, open_ticket

RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}


@pytest.fixture
def mixed(world: World, desk: Desk, agent: Actor, clock: FakeClock) -> list[dict[str, Any]]:
    """Nine tickets (the world's two and seven more) with ties on every key: some opened at
    the same moment, priorities repeated, some without a due time (waiting on the customer,
    resolved), one answered (so due for resolution), updated out of their opening order."""
    numbers = [world.own, world.others]
    for n, priority in enumerate(("high", "low", "urgent", "high", "medium", "urgent", "low")):
        if n % 3 == 0:
            clock.advance(minutes=7)
        number = open_ticket(desk, "rita@customer.test", f"Ticket {n}")
        desk.set_priority(agent, number, Priority(priority))
        numbers.append(number)
    clock.advance(minutes=5)
    desk.transition(agent, numbers[3], Status.WAITING_CUSTOMER)
    desk.transition(agent, numbers[5], Status.RESOLVED)
    desk.comment(agent, numbers[6], "Looking into it.", channel="api")
    clock.advance(minutes=5)
    desk.set_tags(agent, numbers[1], add=["touched"])
    everything = world.client.get("/api/v1/tickets?limit=200", headers=world.headers("agent")).json()
    assert everything["next_cursor"] is None and len(everything["items"]) == 9
    return list(everything["items"])


def expected(items: list[dict[str, Any]], sort: str) -> list[str]:
    """The order the API promises, worked out here: the key, then the id, nulls last."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")

    def value(item: dict[str, Any]) -> Any:
        if key == "priority":
            return RANK[item["priority"]]
        if key == "number":
            return item["id"]
        if key == "due":
            due = item["first_response_due"] or item["resolution_due"]
            return datetime.fromisoformat(due) if due else None
        return datetime.fromisoformat(item[key])

    present = [item for item in items if value(item) is not None]
    missing = [item for item in items if value(item) is None]
    present.sort(key=lambda item: (value(item), item["id"]), reverse=descending)
    missing.sort(key=lambda item: item["id"], reverse=descending)
    return [item["number"] for item in present + missing]


def read_all(world: World, path: str, limit: int, **params: str) -> list[str]:
    numbers: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        query = params | {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = world.client.get(path, params=query, headers=world.headers("agent"))
        assert response.status_code == 200, response.text
        numbers += [item["number"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return numbers
    raise AssertionError("the cursor never ran out")


@pytest.mark.parametrize("sort", sorting.names())
def test_every_sort_pages_through_every_ticket_once_in_its_order(
    world: World, mixed: list[dict[str, Any]], sort: str
) -> None:
    order = expected(mixed, sort)
    assert read_all(world, "/api/v1/tickets", 2, sort=sort) == order
    assert read_all(world, "/api/v1/tickets", 4, sort=sort) == order
    assert read_all(world, "/api/v1/tickets", 200, sort=sort) == order


def test_the_sorts_tell_apart_what_they_should(world: World, mixed: list[dict[str, Any]]) -> None:
    """A check of the fixture as much as of the API: no two sorts may agree by accident
    (but tickets are opened in the order of their numbers, so those two sorts must)."""
    orders = {sort: tuple(expected(mixed, sort)) for sort in sorting.names()}
    assert orders["created_at"] == orders["number"]
    assert len(set(orders.values())) == len(orders) - 2
    assert read_all(world, "/api/v1/tickets", 5, sort="-updated_at")[0] == world.others  # tagged last
    most_urgent = read_all(world, "/api/v1/tickets", 3, sort="-priority")[:2]
    assert {item["priority"] for item in mixed if item["number"] in most_urgent} == {"urgent"}


def test_without_sort_the_list_is_newest_first_and_minus_number_is_the_same(
    world: World, mixed: list[dict[str, Any]]
) -> None:
    newest_first = sorted((item["id"], item["number"]) for item in mixed)[::-1]
    assert read_all(world, "/api/v1/tickets", 2) == [number for _, number in newest_first]
    page = world.client.get("/api/v1/tickets?limit=2", headers=world.headers("agent")).json()
    # The default order's cursor is the one handed out before lists could be sorted.
    assert page["next_cursor"] == encode_cursor(page["items"][-1]["id"])
    again = world.client.get(
        "/api/v1/tickets",
        params={"limit": "2", "sort": "-number", "cursor": page["next_cursor"]},
        headers=world.headers("agent"),
    )
    assert again.status_code == 200


def test_a_page_read_after_changes_neither_repeats_nor_skips_what_was_there(
    world: World, desk: Desk, agent: Actor, mixed: list[dict[str, Any]], clock: FakeClock
) -> None:
    agent_headers = world.headers("agent")
    first = world.client.get("/api/v1/tickets?sort=created_at&limit=4", headers=agent_headers).json()
    clock.advance(minutes=1)
    open_ticket(desk, "otto@other.test", "Opened while reading")
    rest = read_all(world, "/api/v1/tickets", 4, sort="created_at")
    seen = [item["number"] for item in first["items"]]
    follow = world.client.get(
        "/api/v1/tickets",
        params={"sort": "created_at", "cursor": first["next_cursor"]},
        headers=agent_headers,
    ).json()
    after = [item["number"] for item in follow["items"]]
    assert seen + after == rest  # the new ticket is last, read on the second page, and nothing twice


def test_a_search_sorts_and_pages_like_the_list(world: World, mixed: list[dict[str, Any]]) -> None:
    matching = [item for item in mixed if item["subject"].startswith("Ticket")]
    for sort in ("-priority", "due", "updated_at"):
        assert read_all(world, "/api/v1/tickets/search", 3, q="ticket", sort=sort) == expected(matching, sort)


@pytest.mark.parametrize(
    ("path", "base"), [("/api/v1/tickets", {}), ("/api/v1/tickets/search", {"q": "ticket"})]
)
def test_an_unknown_sort_or_another_sorts_cursor_is_refused_by_name(
    world: World, mixed: list[dict[str, Any]], path: str, base: dict[str, str]
) -> None:
    agent = world.headers("agent")
    for sort in ("colour", "-", "--due", "subject"):
        unknown = world.client.get(path, params=base | {"sort": sort}, headers=agent)
        assert unknown.status_code == 422, (sort, unknown.text)
        assert unknown.json()["error"]["field"] == "sort"
    page = world.client.get(path, params=base | {"sort": "due", "limit": "2"}, headers=agent).json()
    for other in ("-due", "updated_at", None):
        params = base | {"cursor": page["next_cursor"]} | ({"sort": other} if other else {})
        refused = world.client.get(path, params=params, headers=agent)
        assert refused.status_code == 422, (other, refused.text)
        assert refused.json()["error"]["field"] == "cursor"
        assert "due" in refused.json()["error"]["message"]
    newest = world.client.get(path, params=base | {"limit": "2"}, headers=agent).json()
    params = base | {"cursor": newest["next_cursor"], "sort": "number"}
    refused = world.client.get(path, params=params, headers=agent)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cursor"


def test_a_cursor_the_api_never_handed_out_is_a_bad_request(world: World) -> None:
    forged = [
        encode_cursor(sorting.Position("due", 10**19, 1)),  # past any time
        encode_cursor(sorting.Position("priority", 9, 1)),
        encode_cursor(sorting.Position("number", 5, 6)),
        encode_cursor(sorting.Position("bogus", 1, 1)),
        encode_cursor(sorting.Position("due", 1, 0)),
    ]
    for cursor in forged:
        response = world.client.get(
            "/api/v1/tickets", params={"cursor": cursor}, headers=world.headers("agent")
        )
        assert response.status_code == 400, (cursor, response.text)
        assert response.json()["error"]["field"] == "cursor"


def test_the_openapi_document_lists_every_sort() -> None:
    assert get_args(SortName) == sorting.names()
