"""Hostile HTTP clients against the real server: uvicorn as ``supportbot serve`` configures it
(channels/http/server.py) serving the application it builds, driven over raw sockets.

Chunked bodies past the limit, bodies sent without a token, request heads sent one
line at a time, and more connections than allowed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from bot.config.settings import HttpSettings
from bot.desk.facade import Desk
from bot.sharing.service import Sharing
from bot.store.db import Store
from channels.http.api import MAX_BODY, create_app
from channels.sharing.endpoints import sharing_routes
from tests.integration.api.conftest import World
from tests.integration.slack_harness import Slack
from tests.live_http import LiveServer
from tests.raw_http import CHUNK, Sender, head, read_response
from tests.waiting import wait_until


def serve(store: Store, desk: Desk, api: FastAPI, http: HttpSettings) -> LiveServer:
    app = create_app(store, sharing_routes(Sharing(desk)), desk=desk, api=api)
    return LiveServer(app, http)


@pytest.fixture
def live(world: World, store: Store, desk: Desk, api: FastAPI) -> Iterator[LiveServer]:
    with serve(store, desk, api, HttpSettings(header_timeout_seconds=1)) as server:
        yield server


def chunked_post(
    server: LiveServer, path: str, total: int, *headers: str, prefix: bytes = b"", method: str = "POST"
) -> tuple[Sender, socket.socket]:
    sock = server.connect()
    sock.sendall(head(method, path, "Transfer-Encoding: chunked", *headers))
    return Sender(sock, total, prefix), sock


MULTIPART = "Content-Type: multipart/form-data; boundary=b"
FILE_PART = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
)


# -- item 2: bodies counted as they arrive, and no body read before the token -------------


def test_chunked_body_over_the_limit_gets_413_and_the_connection_closes(
    live: LiveServer, world: World
) -> None:
    token = f"Authorization: Bearer {world.tokens['agent']}"
    total = 64 * 1024 * 1024
    sender, sock = chunked_post(live, "/api/v1/tickets", total, token, "Content-Type: application/json")
    with sock:
        status, _, body, closed = read_response(sock)
        sender.join()
    assert status == 413 and b"over" in body
    assert closed
    assert sender.sent < total  # the server stopped taking it


def test_the_sharing_protocol_answers_its_own_422_past_its_limit_and_stops_reading(
    live: LiveServer, desk: Desk
) -> None:
    # Its own limit, counted as the chunks come, in the protocol's words (never 400 or 413
    # for a Zendesk client); the server's ceiling is a megabyte above it.
    total = desk.settings.sharing.max_body_bytes + 64 * 1024 * 1024  # past any socket buffers
    sender, sock = chunked_post(live, "/sharing/agreements/abc", total, "Content-Type: application/json")
    with sock:
        status, _, _, closed = read_response(sock)
        sender.join()
    assert status == 422 and closed and sender.sent < total


def test_slacks_endpoint_is_bounded_too(slack: Slack) -> None:
    # Slack signs the body, so no check can come before it: only its size is bounded.
    url = urlsplit(slack.url)
    total = 64 * 1024 * 1024  # past the limit and what a lingering close drops after it
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head("POST", url.path, "Transfer-Encoding: chunked", "X-Slack-Signature: v0=00"))
        sender = Sender(sock, total)
        status, _, _, closed = read_response(sock)
        sender.join()
    assert status == 413 and closed and sender.sent < total


def test_an_upload_has_its_wider_limit_and_no_more(live: LiveServer, world: World, desk: Desk) -> None:
    token = f"Authorization: Bearer {world.tokens['agent']}"
    limit = desk.settings.attachments.max_bytes + MAX_BODY
    total = limit + 16 * CHUNK
    path = f"/api/v1/tickets/{world.own}/attachments"
    sender, sock = chunked_post(live, path, total, token, MULTIPART, prefix=FILE_PART)
    with sock:
        status, _, body, closed = read_response(sock)
        sender.join()
    assert status == 413 and str(limit).encode() in body and closed


def test_unauthenticated_chunked_post_gets_401_before_its_body_is_read(live: LiveServer) -> None:
    with live.connect() as sock:
        # The head and one chunk: no end of the body, and no JSON parser could finish.
        sock.sendall(head("POST", "/api/v1/tickets", "Transfer-Encoding: chunked"))
        sock.sendall(b'5\r\n{"sub\r\n')
        status, headers, body, closed = read_response(sock)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert b"Bearer" in body and closed


def test_wrong_token_is_refused_before_the_body_too(live: LiveServer) -> None:
    with live.connect() as sock:
        sock.sendall(
            head("POST", "/api/v1/tickets", "Content-Length: 1000000", "Authorization: Bearer sbt_x")
        )
        sock.sendall(b"{")
        status, _, _, closed = read_response(sock)
    assert status == 401 and closed


def test_unauthenticated_chunked_multipart_upload_is_refused_before_anything_is_spooled(
    live: LiveServer, world: World
) -> None:
    total = 32 * 1024 * 1024
    path = f"/api/v1/tickets/{world.own}/attachments"
    sender, sock = chunked_post(live, path, total, MULTIPART, prefix=FILE_PART)
    with sock:
        # Answered while the multipart body is nowhere near complete: it was never parsed.
        status, _, _, closed = read_response(sock)
        sender.join()
    assert status == 401 and closed
    assert sender.sent < total


# -- item 12: slow heads and too many connections ------------------------------------------


def trickle(sock: socket.socket, first: bytes, every: float, seconds: float) -> float | None:
    """Send ``first`` then a header line every ``every`` s; the time the server closed, if it did."""
    started = time.monotonic()
    sock.sendall(first)
    sock.settimeout(every)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        try:
            sock.sendall(b"X-Slow: yes\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return None


def test_a_client_sending_its_head_a_line_at_a_time_is_disconnected(live: LiveServer) -> None:
    with live.connect() as sock:
        closed_after = trickle(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", every=0.3, seconds=10)
    assert closed_after is not None, "still connected after 10 s of a 1 s header time-out"


def test_a_silent_connection_is_disconnected(live: LiveServer) -> None:
    with live.connect() as sock:
        sock.settimeout(10)
        assert sock.recv(1) == b""


def test_a_kept_alive_connection_slow_with_its_next_head_is_disconnected(live: LiveServer) -> None:
    with live.connect() as sock:
        sock.sendall(head("GET", "/healthz"))
        status, _, _, closed = read_response_keep_alive(sock)
        assert status == 200 and not closed
        closed_after = trickle(sock, b"GET /healthz HTTP/1.1\r\n", every=0.3, seconds=10)
    assert closed_after is not None


def read_response_keep_alive(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """The response read with the socket's long time-out (a loaded machine may take a while
    to answer); only the probe that the connection stayed open is short."""
    return read_response(sock, probe=0.2)


def test_requests_past_max_connections_get_503(world: World, store: Store, desk: Desk, api: FastAPI) -> None:
    with serve(store, desk, api, HttpSettings(max_connections=2, keep_alive_seconds=60)) as server:
        held = [server.connect(), server.connect()]
        try:
            for sock in held:  # two connections open and served, then kept alive
                sock.sendall(head("GET", "/healthz"))
                assert read_response_keep_alive(sock)[0] == 200
            with server.connect() as third:
                third.sendall(head("GET", "/healthz"))
                status, _, _, closed = read_response(third)
            assert status == 503 and closed
            held.pop().close()

            def newcomer_served() -> bool:
                with server.connect() as again:
                    # Closed after the answer: the probe of read_response need not wait out keep-alive.
                    again.sendall(head("GET", "/healthz", "Connection: close"))
                    return read_response(again)[0] == 200

            # The server notices the closed one, then serves a newcomer again.
            wait_until(newcomer_served, seconds=10, what="a newcomer served after a close", interval=0.05)
        finally:
            for sock in held:
                sock.close()
