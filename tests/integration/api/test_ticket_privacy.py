"""A requester cannot tell someone else's ticket from one that does not exist.

Every route that names a ticket number answers a requester the same way for both, status
and body alike (the number asked for aside), so numbers cannot be probed for existence.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.desk.facade import Desk
from bot.model import Actor
from tests.integration.api.conftest import World, open_ticket

MISSING = "SUP-9"
# (method, path after /api/v1/tickets/{n}, JSON body or None, multipart file or None)
ROUTES: list[tuple[str, str, dict[str, Any] | None, bool]] = [
    ("GET", "", None, False),
    ("GET", "/sla", None, False),
    ("GET", "/comments", None, False),
    ("POST", "/comments", {"body": "Any news?"}, False),
    ("POST", "/comments", {"body": "Note", "public": False}, False),
    ("PATCH", "", {"status": "resolved"}, False),
    ("PATCH", "", {"status": "open"}, False),
    ("PATCH", "", {"priority": "high"}, False),
    ("PATCH", "", {"assignee": "agent@support.test"}, False),
    ("POST", "/escalate", {"reason": "Urgent"}, False),
    ("POST", "/merge", {"into": "SUP-1"}, False),
    ("GET", "/attachments", None, False),
    ("GET", "/attachments/1", None, False),
    ("POST", "/attachments", None, True),
    ("GET", "/shares", None, False),
    ("POST", "/shares", {"agreement": 1}, False),
    ("DELETE", "/shares/1", None, False),
]


def ask(world: World, number: str, method: str, path: str, body: dict[str, Any] | None, upload: bool) -> Any:
    files = {"file": ("note.txt", b"hello", "text/plain")} if upload else None
    return world.client.request(
        method,
        f"/api/v1/tickets/{number}{path}",
        json=body,
        files=files,
        headers=world.headers("requester"),
    )


@pytest.fixture
def merged(world: World, desk: Desk, agent: Actor) -> str:
    """Another requester's ticket, merged into their other one: refused as merged (409) to
    those who may see it, so a requester must not get that answer either."""
    number = open_ticket(desk, "otto@other.test", "VPN still down")
    desk.merge(agent, number, world.others)
    return number


@pytest.mark.parametrize(("method", "path", "body", "upload"), ROUTES, ids=lambda v: str(v)[:20])
def test_someone_elses_ticket_is_answered_as_a_missing_one(
    world: World, merged: str, method: str, path: str, body: dict[str, Any] | None, upload: bool
) -> None:
    assert world.own == "SUP-1" and world.others == "SUP-2" and merged == "SUP-3"
    missing = ask(world, MISSING, method, path, body, upload)
    assert missing.status_code in (403, 404), missing.text
    for theirs in (world.others, merged):
        answer = ask(world, theirs, method, path, body, upload)
        assert answer.status_code == missing.status_code, answer.text
        assert answer.content.replace(theirs.encode(), MISSING.encode()) == missing.content
        assert answer.headers.get("content-length") == missing.headers.get("content-length")
    if missing.status_code == 404:
        assert missing.json()["error"] == {"message": f"no ticket {MISSING}", "field": "number"}


def test_their_own_ticket_still_answers_them(world: World) -> None:
    response = ask(world, world.own, "POST", "/escalate", {"reason": "Urgent"}, False)
    assert response.status_code == 200, response.text
    refused = ask(world, world.own, "PATCH", "", {"priority": "high"}, False)
    assert refused.status_code == 403  # theirs: they may know it exists, and are told why not
