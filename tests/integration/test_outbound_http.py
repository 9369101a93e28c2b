"""The outbound guard over real sockets: a name is resolved once, checked, and the connection goes
to the address that was checked, never to what a second lookup would say (DNS rebinding).

Only loopback is ever connected to: 127.0.0.1 plays the address that was checked, 127.0.0.2
the one a rebinding name would answer next. The resolver is the process boundary a test may
replace: a name whose answer changes between two lookups.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError
from channels import outbound_http


class Listener:
    """A real HTTP server on one loopback address that records the Host header of each request."""

    def __init__(self, address: str, port: int) -> None:
        hosts: list[str] = []
        self.hosts = hosts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hosts.append(self.headers["Host"])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def pair() -> Iterator[tuple[Listener, Listener]]:
    """Two servers on one port: 127.0.0.1 (the checked address) and 127.0.0.2 (the rebound one)."""
    checked = Listener("127.0.0.1", 0)
    try:
        rebound = Listener("127.0.0.2", checked.port)
    except OSError as error:  # pragma: no cover - a loopback without 127.0.0.2
        checked.close()
        pytest.skip(f"127.0.0.2 is not usable here: {error}")
    yield checked, rebound
    rebound.close()
    checked.close()


class Rebinding:
    """A name that answers ``first`` to the first lookup and ``then`` to every later one."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.first, self.then = first, then
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.first if len(self.asked) == 1 else self.then


def _post(url: str, resolver: outbound_http.Resolver, *, allow_private: bool) -> int:
    response = outbound_http.request(
        "POST",
        url,
        content=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=5,
        allow_private=allow_private,
        setting="test.allow_private_addresses",
        resolver=resolver,
    )
    return response.status_code


def test_the_connection_goes_to_the_checked_address_not_to_a_second_answer(
    pair: tuple[Listener, Listener],
) -> None:
    checked, rebound = pair
    name = Rebinding(first=["127.0.0.1"], then=["127.0.0.2"])
    assert _post(f"http://rebind.example.com:{checked.port}/hook", name, allow_private=True) == 200
    assert name.asked == [("rebind.example.com", checked.port)], "resolved once, by the guard"
    assert checked.hosts == [f"rebind.example.com:{checked.port}"], "Host keeps the name"
    assert rebound.hosts == []


def test_a_name_answering_inside_the_network_is_refused_before_any_connection(
    pair: tuple[Listener, Listener],
) -> None:
    checked, rebound = pair
    name = Rebinding(first=["127.0.0.1"], then=["127.0.0.2"])
    with pytest.raises(PermanentDeliveryError, match="not on the internet"):
        _post(f"http://rebind.example.com:{checked.port}/hook", name, allow_private=False)
    assert len(name.asked) == 1
    assert checked.hosts == [] and rebound.hosts == []


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.2"],
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["::1"],
        ["::ffff:127.0.0.2"],
        ["fe80::1%1"],
        ["192.0.0.9"],  # Python calls it global; an IETF assignment, anycast on local networks
        ["fec0::1"],  # deprecated site-local, still routed inside some networks
        ["64:ff9b::7f00:1"],  # NAT64 of 127.0.0.1
        ["93.184.216.34", "127.0.0.2"],  # one address inside is enough: the system may pick it
    ],
)
def test_every_resolved_address_must_be_on_the_internet(
    pair: tuple[Listener, Listener], answer: list[str]
) -> None:
    checked, rebound = pair
    with pytest.raises(PermanentDeliveryError, match="test.allow_private_addresses is off"):
        _post(f"http://hooks.example.com:{checked.port}/hook", Rebinding(answer, answer), allow_private=False)
    assert checked.hosts == [] and rebound.hosts == []


def test_a_literal_loopback_url_is_refused_too(pair: tuple[Listener, Listener]) -> None:
    checked, _ = pair
    with pytest.raises(PermanentDeliveryError, match="127.0.0.1 is 127.0.0.1"):
        _post(f"http://127.0.0.1:{checked.port}/hook", outbound_http.system_resolver, allow_private=False)
    assert checked.hosts == []


def test_a_name_that_does_not_resolve_is_an_outage_to_retry() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(TransientDeliveryError, match="cannot reach nowhere.example.com"):
        _post("http://nowhere.example.com/hook", nothing, allow_private=False)
