"""Who a client is, to the real server over raw sockets: ``X-Forwarded-For`` believed only from
``[http] trusted_proxies``, and at most ``[http] max_connections_per_client`` connections per
client address, trusted proxies not counted.

Clients on other addresses connect from other addresses of 127.0.0.0/8, all loopback on Linux.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from fastapi import FastAPI

from bot.config.settings import HttpSettings, load
from bot.desk.facade import Desk
from bot.errors import ConfigError
from bot.model import Actor
from bot.sharing.protocol import new_secret
from bot.sharing.service import Sharing
from bot.store.db import Store
from channels.http.server import ClientConnections
from tests.integration.api.conftest import World
from tests.integration.api.test_denial_audit import api_events
from tests.integration.api.test_http_hostile import LiveServer, read_response_keep_alive, serve
from tests.raw_http import head, read_response
from tests.waiting import wait_until

# -- [http] trusted_proxies ------------------------------------------------------------------


def refused_source(server: LiveServer, store: Store, source: str, forwarded: str) -> Any:
    """An anonymous request from ``source`` saying it forwards for ``forwarded``: the address
    the audit log then names (access.py records it after the response, so it is waited for)."""
    before = len(api_events(store))
    with server.connect(source=source) as sock:
        sock.sendall(head("GET", "/api/v1/reports/sla", f"X-Forwarded-For: {forwarded}", "Connection: close"))
        assert read_response(sock)[0] == 401
    wait_until(
        lambda: len(api_events(store)) != before, seconds=10, what="the refusal audited", interval=0.02
    )
    (event,) = api_events(store)[before:]
    return (event.after or {})["source"]


def test_x_forwarded_for_is_believed_from_trusted_proxies_only(
    world: World, store: Store, desk: Desk, api: FastAPI
) -> None:
    http = HttpSettings(trusted_proxies="127.0.0.1, 127.0.1.0/24")
    with serve(store, desk, api, http) as server:
        # Anyone else may write the header: it is ignored, the peer's address counts.
        assert refused_source(server, store, "127.0.0.2", "203.0.113.9") == "127.0.0.2"
        # A proxy in a trusted network: the client it names.
        assert refused_source(server, store, "127.0.1.5", "203.0.113.7") == "203.0.113.7"
        # A forged first entry is passed on by the proxy, which adds the real client last.
        assert refused_source(server, store, "127.0.0.1", "198.51.100.1, 203.0.113.8") == "203.0.113.8"


def test_sharing_invitations_are_counted_by_the_client_a_trusted_proxy_names(
    store: Store, desk: Desk, api: FastAPI, admin: Actor
) -> None:
    with serve(store, desk, api, HttpSettings(trusted_proxies="127.0.0.1")) as server:
        for source, forwarded in [("127.0.0.1", "203.0.113.7"), ("127.0.0.2", "203.0.113.8")]:
            uuid = new_secret()
            invitation = {
                "uuid": uuid,
                "access_key": new_secret(),
                "name": "Acme",
                "sender_url": "https://acme.zendesk.example/sharing",
                "status": "pending",
            }
            body = json.dumps(invitation).encode()
            with server.connect(source=source) as sock:
                sock.sendall(
                    head(
                        "POST",
                        f"/sharing/agreements/{uuid}",
                        f"X-Forwarded-For: {forwarded}",
                        "Content-Type: application/json",
                        f"Content-Length: {len(body)}",
                        "Connection: close",
                    )
                    + body
                )
                assert read_response(sock)[0] == 201
    sources = sorted(view.invited_from or "" for view in Sharing(desk).agreements(admin))
    assert sources == ["127.0.0.2", "203.0.113.7"]


def test_trusted_proxies_must_be_addresses_or_networks(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load(None, environ | {"SUPPORTBOT_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"})
    trusting = load(None, environ | {"SUPPORTBOT_HTTP_TRUSTED_PROXIES": "10.1.2.3/8, ::1"})
    assert [str(net) for net in trusting.http.proxy_networks()] == ["10.0.0.0/8", "::1/128"]


# -- [http] max_connections_per_client -------------------------------------------------------


def served(sock: socket.socket) -> int:
    sock.sendall(head("GET", "/healthz"))
    return read_response_keep_alive(sock)[0]


def test_a_client_over_its_connection_cap_is_refused_while_others_are_served(
    world: World, store: Store, desk: Desk, api: FastAPI
) -> None:
    http = HttpSettings(max_connections_per_client=2, trusted_proxies="127.0.0.1", keep_alive_seconds=60)
    with serve(store, desk, api, http) as server:
        held: list[socket.socket] = []
        try:
            held += [server.connect(source="127.0.0.2") for _ in range(2)]
            assert [served(sock) for sock in held] == [200, 200]
            # One more from the same address: 503 at once, and closed.
            with server.connect(source="127.0.0.2") as third:
                status, headers, body, closed = read_response(third)
            assert status == 503 and closed and headers["retry-after"] == "5"
            assert "too many connections" in json.loads(body)["error"]["message"]
            # Another client is served as ever, and a trusted proxy is not counted.
            held.append(server.connect(source="127.0.0.3"))
            held += [server.connect(source="127.0.0.1") for _ in range(3)]
            assert [served(sock) for sock in held[2:]] == [200] * 4
            # A connection closed gives its client room again, once the server has seen it go.
            held.pop(0).close()

            def served_again() -> bool:
                with server.connect(source="127.0.0.2") as again:
                    again.sendall(head("GET", "/healthz", "Connection: close"))
                    return read_response(again)[0] == 200

            wait_until(
                served_again, seconds=10, what="the closed connection no longer counted", interval=0.05
            )
        finally:
            for sock in held:
                sock.close()


def test_connections_count_per_ipv4_address_and_per_ipv6_64() -> None:
    clients = ClientConnections(1, HttpSettings(trusted_proxies="10.0.0.0/8").proxy_networks())
    assert clients.key("2001:db8:1:2::1") == clients.key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert clients.key("2001:db8:1:3::1") != clients.key("2001:db8:1:2::1")
    assert clients.key("::ffff:192.0.2.1") == clients.key("192.0.2.1") == "192.0.2.1"
    assert clients.key("10.9.8.7") is None  # a trusted proxy: all its clients share its address
    assert clients.take("192.0.2.1") and not clients.take("192.0.2.1")
    clients.release("192.0.2.1")
    assert clients.take("192.0.2.1")
