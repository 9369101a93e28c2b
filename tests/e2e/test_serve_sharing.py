"""Two real ``supportbot serve`` processes sharing a ticket over the ticket-sharing protocol.

Acme (on SQLite or PostgreSQL) invites Globex (SQLite); Globex accepts; Acme
shares a ticket; an agent on each side comments; Globex resolves it. Each
side's own scheduler sends its requests; the test only drives the REST API
and waits. At the end each comment exists once on each side, and each side
sent exactly the requests its own changes called for: nothing echoed back.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.e2e.test_serve import Server, wait_for
from tests.ports import free_port


@dataclass
class Desk:
    server: Server
    token: str
    name: str

    @property
    def sharing_url(self) -> str:
        return f"{self.server.url}/sharing"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.server.url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10.0,
            trust_env=False,
        )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def comments(self, number: str) -> list[str]:
        return [c["body"] for c in self.api("GET", f"/tickets/{number}/comments")]

    def wait(self, check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
        return wait_for(lambda: check() or None, seconds=seconds, what=what, server=self.server)


def _start(stack: ExitStack, tmp_path: Path, name: str, database_url: str | None) -> Desk:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / name / "data"),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_ENABLED": "false",
        "SUPPORTBOT_OUTBOX_INTERVAL_SECONDS": "1",
        "SUPPORTBOT_SHARING_NAME": name,
        "SUPPORTBOT_TICKET_PREFIX": name[:3].upper(),
        "SUPPORTBOT_SHARING_ALLOW_PRIVATE_ADDRESSES": "true",  # both on loopback
    }
    if database_url:
        env["SUPPORTBOT_DATABASE_URL"] = database_url
    upgraded = supportbot(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    admin = f"admin@{name.lower()}.test"
    added = supportbot(env, "people", "add", "--email", admin, "--role", "admin", "--name", f"{name} Admin")
    assert added.returncode == 0, added.stderr
    created = supportbot(env, "tokens", "create", "--person", admin)
    assert created.returncode == 0, created.stderr
    log = tmp_path / f"{name}.log"
    handle = log.open("wb")
    stack.callback(handle.close)
    process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    stack.callback(stop)
    server = Server(process, f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}", env, tmp_path / name, log)
    wait_for(lambda: healthy(server.url), seconds=20, what="200 from /healthz", server=server)
    return Desk(server, created.stdout.strip(), name)


@pytest.fixture(params=["sqlite", "postgresql"])
def desks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Desk, Desk]]:
    url = request.getfixturevalue("empty_schema") if request.param == "postgresql" else None
    with ExitStack() as stack:
        yield _start(stack, tmp_path, "Acme", url), _start(stack, tmp_path, "Globex", None)


@pytest.mark.slow
def test_two_servers_share_a_ticket_both_ways_without_echo(desks: tuple[Desk, Desk]) -> None:
    acme, globex = desks

    invited = acme.api("POST", "/sharing/agreements", {"url": globex.sharing_url})
    assert invited["status"] == "pending"
    pending = globex.wait(
        lambda: [a for a in globex.api("GET", "/sharing/agreements") if a["status"] == "pending"],
        "the invitation at Globex",
    )
    assert pending[0]["partner"] == "Acme" and pending[0]["side"] == "receiver"
    globex.api("POST", f"/sharing/agreements/{pending[0]['id']}/accept")
    acme.wait(
        lambda: acme.api("GET", f"/sharing/agreements/{invited['id']}")["status"] == "accepted",
        "Globex's acceptance at Acme",
    )

    ticket = acme.api("POST", "/tickets", {"subject": "Printer on fire", "description": "It is on fire."})
    number = ticket["number"]
    acme.api("POST", f"/tickets/{number}/comments", {"body": "Internal: vendor case", "public": False})
    acme.api("POST", f"/tickets/{number}/shares", {"agreement": invited["id"]})
    theirs = globex.wait(lambda: globex.api("GET", "/tickets")["items"], "the shared ticket at Globex")[0]
    assert theirs["subject"] == "Printer on fire" and theirs["number"].startswith("GLO-")
    assert globex.comments(theirs["number"]) == ["It is on fire."]

    globex.api("POST", f"/tickets/{theirs['number']}/comments", {"body": "Replacement shipped."})
    acme.wait(lambda: "Replacement shipped." in acme.comments(number), "Globex's comment at Acme")
    acme.api("POST", f"/tickets/{number}/comments", {"body": "Thanks, Globex!"})
    globex.wait(lambda: "Thanks, Globex!" in globex.comments(theirs["number"]), "Acme's comment at Globex")

    globex.api("PATCH", f"/tickets/{theirs['number']}", {"status": "resolved"})
    acme.wait(
        lambda: acme.api("GET", f"/tickets/{number}")["ticket"]["status"] == "resolved", "the status at Acme"
    )

    # Let any echo that would come have its chance (two scheduler ticks on each side).
    time.sleep(2.5)
    assert acme.comments(number) == [
        "It is on fire.",
        "Internal: vendor case",
        "Replacement shipped.",
        "Thanks, Globex!",
    ]
    assert globex.comments(theirs["number"]) == ["It is on fire.", "Replacement shipped.", "Thanks, Globex!"]
    assert globex.api("GET", f"/tickets/{theirs['number']}")["ticket"]["status"] == "resolved"
    # Each side's outbox: only what its own people did crossed over.
    assert _sent(acme) == ["POST agreements", "POST tickets", "PUT tickets"]
    assert _sent(globex) == ["PUT agreements", "PUT tickets", "PUT tickets"]


def _sent(desk: Desk) -> list[str]:
    shown = supportbot(desk.server.env, "outbox", "list", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    return [row["template"] for row in sorted(rows, key=lambda r: r["id"]) if row["channel"] == "sharing"]
