"""Every endpoint x requester (own and someone else's ticket), agent, admin and anonymous."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.store import tables as t
from bot.store.db import Store
from tests.integration.api.conftest import World

OWN, OTHERS = "{own}", "{others}"

# (method, path, body, {who: expected status}); "requester" acts on OWN, "requester:others" on
# the other requester's ticket (404: its existence must not leak).
Case = tuple[str, str, dict[str, Any] | None, dict[str, int]]
CASES: list[Case] = [
    ("POST", "/tickets", {"subject": "Help", "description": "Please"}, {"requester": 201, "agent": 201}),
    ("GET", "/tickets", None, {"requester": 200, "agent": 200}),
    ("GET", "/tickets/{n}", None, {"requester": 200, "agent": 200}),
    ("GET", "/tickets/{n}/sla", None, {"requester": 200, "agent": 200}),
    ("GET", "/tickets/{n}/comments", None, {"requester": 200, "agent": 200}),
    ("POST", "/tickets/{n}/comments", {"body": "Any news?"}, {"requester": 201, "agent": 201}),
    ("POST", "/tickets/{n}/comments", {"body": "Note", "public": False}, {"requester": 403, "agent": 201}),
    ("PATCH", "/tickets/{n}", {"status": "resolved"}, {"requester": 200, "agent": 200}),
    ("PATCH", "/tickets/{n}", {"priority": "high"}, {"requester": 403, "agent": 200}),
    ("PATCH", "/tickets/{n}", {"assignee": "agent@support.test"}, {"requester": 403, "agent": 200}),
    ("PATCH", "/tickets/{n}", {"add_tags": ["vip"]}, {"requester": 403, "agent": 200}),
    ("POST", "/tickets/{n}/escalate", {"reason": "Urgent"}, {"requester": 200, "agent": 200}),
    ("POST", "/tickets/{n}/merge", {"into": OTHERS}, {"requester": 403, "agent": 200}),
    ("GET", "/tickets/search?q=printer", None, {"requester": 200, "agent": 200}),
    (
        "POST",
        "/tickets/bulk",
        {"filter": {"status": "open"}, "changes": {}},
        {"requester": 403, "agent": 200},
    ),
    ("GET", "/tickets/export", None, {"requester": 403, "agent": 200}),
    ("GET", "/tickets/export?format=jsonl", None, {"requester": 403, "agent": 200}),
]
WHO = ("requester", "requester:others", "agent", "admin", "anonymous")


def expected(allowed: dict[str, int], who: str, path: str) -> int:
    if who == "anonymous":
        return 401
    if who == "requester:others":
        return 404 if "{n}" in path else allowed["requester"]
    return allowed["agent" if who == "admin" else who]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), CASES, ids=lambda v: str(v)[:30])
def test_role_matrix(
    world: World,
    store: Store,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    allowed: dict[str, int],
    who: str,
) -> None:
    number = world.others if who == "requester:others" else world.own
    if body and body.get("into") == OTHERS:
        # Merge the other way round for a requester on someone else's ticket, so the
        # target, not the source, is the one they own.
        body = {"into": world.own if who == "requester:others" else world.others}
    url = "/api/v1" + path.replace("{n}", number)
    response = world.client.request(method, url, json=body, headers=world.headers(who.split(":")[0]))
    assert response.status_code == expected(allowed, who, path), response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # The request is on record, allowed or denied, with the person and the outcome; one
    # without a token never on a ticket (anyone could write there), with its address.
    with store.read() as session:
        event = session.scalars(
            select(t.Event).where(t.Event.kind == "api_request").order_by(t.Event.id.desc())
        ).first()
    assert event is not None and event.after is not None
    recorded = {"method": method, "path": url.split("?")[0], "status": response.status_code}
    if who == "anonymous":
        assert event.actor == "anonymous" and event.ticket_id is None
        assert event.after == recorded | {"source": "127.0.0.1", "left_out": 0}
        return
    assert event.after == recorded
    if "{n}" in path:
        assert event.ticket_id == int(number.split("-")[1])


def test_requester_lists_only_own_tickets(world: World) -> None:
    response = world.client.get("/api/v1/tickets", headers=world.headers("requester"))
    assert [item["number"] for item in response.json()["items"]] == [world.own]
    response = world.client.get("/api/v1/tickets", headers=world.headers("agent"))
    assert {item["number"] for item in response.json()["items"]} == {world.own, world.others}


def test_requester_never_sees_internal_comments(world: World) -> None:
    note = world.client.post(
        f"/api/v1/tickets/{world.own}/comments",
        json={"body": "Customer is grumpy", "public": False},
        headers=world.headers("agent"),
    )
    assert note.status_code == 201
    for path in (f"/tickets/{world.own}/comments", f"/tickets/{world.own}"):
        mine = world.client.get("/api/v1" + path, headers=world.headers("requester")).text
        staff = world.client.get("/api/v1" + path, headers=world.headers("agent")).text
        assert "grumpy" not in mine and "grumpy" in staff


def test_unknown_token_is_unauthenticated(world: World) -> None:
    response = world.client.get("/api/v1/tickets", headers={"Authorization": "Bearer sbt_nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


SLA_POLICY = {"priority": "low", "first_response": "1d", "resolution": "5d"}
ROUTING_RULE = {"name": "Outages", "conditions": {"keywords": ["outage"]}, "actions": {"priority": "urgent"}}

# Configuration, people and reports: (method, path, body, {who: expected status}); "{p}" and
# "{r}" are an SLA policy and a routing rule an admin stored beforehand.
CONFIG_CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/categories", None, {"requester": 403, "agent": 200, "admin": 200}),
    ("POST", "/categories", {"path": "Billing"}, {"requester": 403, "agent": 403, "admin": 201}),
    ("GET", "/fields", None, {"requester": 403, "agent": 200, "admin": 200}),
    (
        "POST",
        "/fields",
        {"key": "plan", "label": "Plan", "type": "text"},
        {"requester": 403, "agent": 403, "admin": 201},
    ),
    ("GET", "/sla/policies", None, {"requester": 403, "agent": 200, "admin": 200}),
    ("GET", "/routing", None, {"requester": 403, "agent": 200, "admin": 200}),
    (
        "POST",
        "/sla/policies",
        {"priority": "urgent", "first_response": "10m", "resolution": "2h"},
        {"requester": 403, "agent": 403, "admin": 201},
    ),
    ("PUT", "/sla/policies/{p}", SLA_POLICY, {"requester": 403, "agent": 403, "admin": 200}),
    ("DELETE", "/sla/policies/{p}", None, {"requester": 403, "agent": 403, "admin": 200}),
    ("GET", "/routing/rules", None, {"requester": 403, "agent": 200, "admin": 200}),
    ("POST", "/routing/rules", ROUTING_RULE, {"requester": 403, "agent": 403, "admin": 201}),
    ("PUT", "/routing/rules/{r}", ROUTING_RULE, {"requester": 403, "agent": 403, "admin": 200}),
    ("DELETE", "/routing/rules/{r}", None, {"requester": 403, "agent": 403, "admin": 200}),
    ("GET", "/reports/sla?by=team", None, {"requester": 403, "agent": 200, "admin": 200}),
    ("GET", "/people", None, {"requester": 403, "agent": 403, "admin": 200}),
    (
        "POST",
        "/people",
        {"email": "new@support.test", "role": "agent"},
        {"requester": 403, "agent": 403, "admin": 201},
    ),
]


@pytest.mark.parametrize("who", ("requester", "agent", "admin", "anonymous"))
@pytest.mark.parametrize(("method", "path", "body", "allowed"), CONFIG_CASES, ids=lambda v: str(v)[:30])
def test_configuration_role_matrix(
    world: World, method: str, path: str, body: dict[str, Any] | None, allowed: dict[str, int], who: str
) -> None:
    if "{" in path:
        admin = world.headers("admin")
        policy = world.client.post("/api/v1/sla/policies", json=SLA_POLICY, headers=admin).json()
        rule = world.client.post("/api/v1/routing/rules", json=ROUTING_RULE, headers=admin).json()
        path = path.format(p=policy["id"], r=rule["id"])
    response = world.client.request(method, "/api/v1" + path, json=body, headers=world.headers(who))
    assert response.status_code == (401 if who == "anonymous" else allowed[who]), response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


# Attachments: (method, path, multipart form or None, {who: expected status}); "{a}" is a public
# file an agent attached to the ticket beforehand.
ATTACHMENT_CASES: list[tuple[str, str, dict[str, str] | None, dict[str, int]]] = [
    ("POST", "/tickets/{n}/attachments", {}, {"requester": 201, "agent": 201}),
    ("POST", "/tickets/{n}/attachments", {"public": "false"}, {"requester": 403, "agent": 201}),
    ("GET", "/tickets/{n}/attachments", None, {"requester": 200, "agent": 200}),
    ("GET", "/tickets/{n}/attachments/{a}", None, {"requester": 200, "agent": 200}),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "path", "form", "allowed"), ATTACHMENT_CASES, ids=lambda v: str(v)[:30])
def test_attachment_role_matrix(
    world: World,
    store: Store,
    method: str,
    path: str,
    form: dict[str, str] | None,
    allowed: dict[str, int],
    who: str,
) -> None:
    number = world.others if who == "requester:others" else world.own
    seeded = world.client.post(
        f"/api/v1/tickets/{number}/attachments",
        files={"file": ("seed.txt", b"seed", "text/plain")},
        headers=world.headers("agent"),
    )
    assert seeded.status_code == 201, seeded.text
    url = "/api/v1" + path.replace("{n}", number).replace("{a}", str(seeded.json()["id"]))
    files = {"file": ("note.txt", b"hello", "text/plain")} if form is not None else None
    response = world.client.request(
        method, url, data=form, files=files, headers=world.headers(who.split(":")[0])
    )
    assert response.status_code == expected(allowed, who, path), response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]
    with store.read() as session:
        event = session.scalars(
            select(t.Event).where(t.Event.kind == "api_request").order_by(t.Event.id.desc())
        ).first()
    assert event is not None and event.after is not None
    if who == "anonymous":
        assert event.ticket_id is None and event.after["status"] == 401
        return
    assert event.after == {"method": method, "path": url, "status": response.status_code}
    assert event.ticket_id == int(number.split("-")[1])
