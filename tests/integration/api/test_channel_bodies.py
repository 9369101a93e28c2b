"""The bodies other channels take on the HTTP port, against the real server over raw sockets:
sharing checks a partner's token before it reads a body and reads an invitation (which
needs no token) up to 64 KiB only; Slack's routes take 1 MiB; a partner's large bodies
never hold up the event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI

from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.model import Actor
from bot.sharing.protocol import new_secret
from bot.sharing.service import Sharing
from bot.store.db import Store
from channels.http.api import create_app
from channels.sharing.endpoints import INVITATION_MAX_BYTES, sharing_routes
from channels.slack.app import EVENTS_PATH, create_slack_app
from tests.fakes import FakeClock
from tests.integration.api.test_http_hostile import LiveServer, chunked_post
from tests.raw_http import CHUNK, head, read_response

MB = 1000 * 1000


@pytest.fixture
def partners_desk(store: Store, clock: FakeClock, settings: Settings) -> Desk:
    """A desk whose partners may live on loopback, as the test's partner does."""
    return Desk(
        store, clock, replace(settings, sharing=replace(settings.sharing, allow_private_addresses=True))
    )


@pytest.fixture
def server(store: Store, partners_desk: Desk, api: FastAPI) -> Iterator[LiveServer]:
    slack_settings = replace(
        partners_desk.settings,
        slack=replace(partners_desk.settings.slack, bot_token="xoxb-test", signing_secret="shh"),
    )
    slack = create_slack_app(partners_desk, slack_settings)
    routes = [*slack.routes(), *sharing_routes(Sharing(partners_desk))]
    app = create_app(store, routes, desk=partners_desk, api=api)
    with LiveServer(app) as live:
        yield live


def accepted_agreement(desk: Desk, admin: Actor) -> str:
    """An agreement in force with a partner; its token."""
    sharing = Sharing(desk)
    uuid, key = new_secret(), new_secret()
    invitation = {
        "uuid": uuid,
        "access_key": key,
        "name": "Acme",
        "sender_url": "http://127.0.0.1:9/sharing",
        "status": "pending",
    }
    assert sharing.receive_invitation(None, uuid, invitation, "192.0.2.1")
    [view] = [agreement for agreement in sharing.agreements(admin) if agreement.uuid == uuid]
    sharing.answer(admin, view.id, "accepted")
    sharing.confirm(view.id, True)  # what the client does once the partner took our answer
    return f"{uuid}:{key}"


@pytest.mark.parametrize(
    ("method", "path", "token", "status"),
    [
        ("PUT", "/sharing/tickets/b5e0", None, 401),
        ("POST", "/sharing/tickets/b5e0", "forged:key", 403),
        ("PUT", "/sharing/tickets/b5e0", "valid uuid, wrong key", 403),
        ("PUT", "/sharing/agreements/{uuid}", "valid uuid, wrong key", 403),
    ],
)
def test_a_sharing_request_without_its_partners_token_is_refused_before_its_body_is_read(
    server: LiveServer,
    partners_desk: Desk,
    admin: Actor,
    method: str,
    path: str,
    token: str | None,
    status: int,
) -> None:
    uuid = accepted_agreement(partners_desk, admin).split(":")[0]
    if token == "valid uuid, wrong key":
        token = f"{uuid}:{new_secret()}"
    headers = ["Content-Length: 10000000", "Content-Type: application/json"]
    if token is not None:
        headers.append(f"X-Ticket-Sharing-Token: {token}")
    with server.connect() as sock:
        sock.sendall(head(method, path.format(uuid=uuid), *headers))
        sock.sendall(b'{"subject": "')  # and no more: a server reading the body would wait for it
        answered, response_headers, body, closed = read_response(sock)
    assert answered == status and "error" in json.loads(body)
    assert closed
    if status == 401:
        assert response_headers["www-authenticate"] == "X-Ticket-Sharing"


def test_an_invitation_is_read_up_to_64_kib_only(server: LiveServer) -> None:
    total = 64 * 1024 * 1024  # past what socket buffers and the server's lingering take
    sender, sock = chunked_post(server, f"/sharing/agreements/{new_secret()}", total)
    with sock:
        status, _, body, closed = read_response(sock)
        sender.join()
    # The protocol's own answer (never 413 to a Zendesk client), naming the invitation's limit.
    assert status == 422 and str(INVITATION_MAX_BYTES).encode() in body
    assert closed and sender.sent < total

    declared = INVITATION_MAX_BYTES + 1
    with server.connect() as sock:
        sock.sendall(head("POST", f"/sharing/agreements/{new_secret()}", f"Content-Length: {declared}"))
        status, _, _, closed = read_response(sock)
    assert status == 422 and closed


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_a_2_mb_slack_request_is_refused_413(server: LiveServer, framing: str) -> None:
    # Slack's payloads are a few KB; Slack signs the body, so its size is all that can be
    # checked before it is read.
    signed = ("X-Slack-Signature: v0=00", f"X-Slack-Request-Timestamp: {int(time.time())}")
    total = 2 * MB
    with server.connect() as sock:
        if framing == "chunked":
            sock.sendall(head("POST", EVENTS_PATH, "Transfer-Encoding: chunked", *signed))
            block = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
            try:
                for _ in range(total // CHUNK):
                    sock.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before all of it went
        else:
            sock.sendall(head("POST", EVENTS_PATH, f"Content-Length: {total}", *signed))
        status, _, body, closed = read_response(sock)
    assert status == 413 and b"1048576" in body and closed


def test_ten_partners_sending_10_mb_at_once_leave_healthz_answering(
    server: LiveServer, partners_desk: Desk, admin: Actor
) -> None:
    token = accepted_agreement(partners_desk, admin)
    sent = [
        chunked_post(
            server,
            f"/sharing/tickets/t{i}",
            10 * MB,
            f"X-Ticket-Sharing-Token: {token}",
            "Content-Type: application/json",
            method="PUT",
        )
        for i in range(10)
    ]
    slowest = 0.0
    try:
        while any(sender.thread.is_alive() for sender, _ in sent):
            started = time.monotonic()
            with server.connect() as probe:
                probe.sendall(head("GET", "/healthz", "Connection: close"))
                assert read_response(probe)[0] == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        statuses = []
        for sender, sock in sent:
            statuses.append(read_response(sock, probe=0.2)[0])  # kept alive: no need to wait
            sender.join()
    finally:
        for _, sock in sent:
            sock.close()
    # Each body was read whole (not JSON, so refused with the protocol's 422, not 413).
    assert statuses == [422] * 10
    assert slowest < 1.0, f"/healthz took {slowest:.2f} s while the bodies arrived"
