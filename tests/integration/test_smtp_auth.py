"""SMTP AUTH against a real aiosmtpd server with our protocol, driven by smtplib.

AUTH exists only when a login is configured, is offered and accepted only
over TLS (or from loopback when the setting allows it), and a run of wrong
passwords is slowed and then cut off, per connection and per address. The
delays are recorded by an injected sleep instead of being waited out, or held
until the test lets them go.

Every connection stays on loopback: a peer elsewhere (192.0.2.7) is a
stand-in transport handed to the protocol, never a socket.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from bot.config.settings import Mailbox, SmtpSettings
from bot.desk.facade import Desk
from bot.errors import ConfigError
from bot.model import Actor
from channels.email.ingest import EmailIngest
from channels.email.smtp_auth import LoginGuard
from channels.email.smtp_server import SupportHandler, SupportSMTP, protocol_factory
from tests.ports import free_port

SECRET = b"smtp-auth-test-secret"
PASSWORD = "s3cret"
MAIL = b"From: bob@example.com\r\nTo: support@localhost\r\nSubject: Relayed\r\n\r\nHello.\r\n"


class AuthServer(Controller):
    """aiosmtpd's test controller serving our protocol, with failed-login delays recorded.

    ``held``: each delay waits until :meth:`release` (signalled on ``delaying``), so a
    test can keep logins under way while it tries more.
    """

    def __init__(
        self, desk: Desk, settings: SmtpSettings, password: str | None, *, held: bool = False
    ) -> None:
        self.delays: list[float] = []
        self.delaying = threading.Semaphore(0)
        released = asyncio.Event()
        self.release = lambda: self.loop.call_soon_threadsafe(released.set)

        async def record(seconds: float) -> None:
            self.delays.append(seconds)
            self.delaying.release()
            if held:
                await released.wait()

        handler = SupportHandler(EmailIngest(desk, (Mailbox("support@localhost"),), SECRET))
        self.make = protocol_factory(handler, settings, password, sleep=record)
        super().__init__(handler, hostname="127.0.0.1", port=free_port())

    def factory(self):
        return self.make()


@pytest.fixture
def tls_settings(certificate: tuple[Path, Path]) -> SmtpSettings:
    cert, key = certificate
    return SmtpSettings(tls_cert=str(cert), tls_key=str(key), auth_user="relay")


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def running(server: AuthServer) -> Iterator[AuthServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def relay(desk: Desk, tls_settings: SmtpSettings) -> Iterator[AuthServer]:
    """TLS and a login, at most 3 failures a connection and 5 an address."""
    yield from running(AuthServer(desk, replace(tls_settings, auth_max_failures_per_peer=5), PASSWORD))


def plain(user: str, password: str) -> str:
    return "PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def secured(server: AuthServer, client_tls: ssl.SSLContext, host: str = "localhost") -> smtplib.SMTP:
    client = smtplib.SMTP(host, server.port, timeout=30)
    client.starttls(context=client_tls)
    client.ehlo()
    return client


def test_without_a_login_auth_is_neither_advertised_nor_accepted(desk, certificate, client_tls):
    cert, key = certificate
    for settings in (SmtpSettings(), SmtpSettings(tls_cert=str(cert), tls_key=str(key))):
        for server in running(AuthServer(desk, settings, None)):
            with smtplib.SMTP("localhost", server.port, timeout=30) as client:
                client.ehlo()
                if settings.tls_cert:
                    client.starttls(context=client_tls)
                    client.ehlo()
                assert not client.has_extn("auth")
                assert client.docmd("AUTH", plain("relay", PASSWORD))[0] == 502
                assert client.sendmail("bob@example.com", ["support@localhost"], MAIL) == {}


def test_auth_in_cleartext_is_refused_and_not_advertised_before_starttls(relay):
    with smtplib.SMTP("localhost", relay.port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        code, text = client.docmd("AUTH", plain("relay", PASSWORD))
        assert (code, text) == (538, b"5.7.11 Encryption required for requested authentication mechanism")
        assert client.mail("bob@example.com")[0] == 530  # and no mail without logging in


def test_a_login_without_tls_is_a_configuration_error(desk):
    handler = SupportHandler(EmailIngest(desk, (Mailbox("support@localhost"),), SECRET))
    with pytest.raises(ConfigError, match="smtp.auth_user needs smtp.tls_cert"):
        protocol_factory(handler, SmtpSettings(auth_user="relay"), PASSWORD)


def test_wrong_passwords_are_answered_ever_later_and_the_third_closes_the_connection(relay, client_tls):
    with secured(relay, client_tls) as client:
        assert client.has_extn("auth")
        assert client.docmd("AUTH", plain("relay", "guess1"))[0] == 535
        assert client.docmd("AUTH", plain("relay", "guess2"))[0] == 535
        assert client.docmd("AUTH", plain("relay", "guess3")) == (
            421,
            b"4.7.0 Too many failed logins; closing connection",
        )
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.docmd("AUTH", plain("relay", PASSWORD))
    assert relay.delays == [1.0, 2.0, 4.0]


def test_an_address_that_keeps_failing_is_refused_on_new_connections_even_with_the_password(
    relay, client_tls
):
    with secured(relay, client_tls) as client:
        for guess in ("a", "b", "c"):
            client.docmd("AUTH", plain("relay", guess))
    with secured(relay, client_tls) as client:
        assert client.docmd("AUTH", plain("relay", "d"))[0] == 535
        assert client.docmd("AUTH", plain("relay", "e"))[0] == 421  # the fifth from this address
    with secured(relay, client_tls) as client:
        assert client.docmd("AUTH", plain("relay", PASSWORD))[0] == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_the_right_password_over_starttls_still_works_after_a_wrong_one(relay, client_tls, desk):
    with secured(relay, client_tls) as client:
        assert client.docmd("AUTH", plain("relay", "typo"))[0] == 535
        assert client.docmd("AUTH", plain("relay", PASSWORD))[0] == 235
        assert client.sendmail("bob@example.com", ["support@localhost"], MAIL) == {}
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.subject == "Relayed"


def test_cleartext_login_from_loopback_only_when_allowed(desk):
    settings = SmtpSettings(auth_user="relay", allow_cleartext_auth_on_loopback=True)
    for server in running(AuthServer(desk, settings, PASSWORD)):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            assert client.has_extn("auth")
            client.login("relay", PASSWORD)
            assert client.sendmail("bob@example.com", ["support@localhost"], MAIL) == {}


class StandInTransport(asyncio.Transport):
    """A connection from ``peer`` without a socket: what the protocol writes is kept, nothing is sent."""

    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer = peer
        self.written = bytearray()
        self.closed = asyncio.Event()
        self.protocol: SupportSMTP | None = None

    def get_extra_info(self, name, default=None):
        return self.peer if name == "peername" else default

    def write(self, data) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)


def converse(desk: Desk, settings: SmtpSettings, peer: tuple[str, int], *commands: str) -> str:
    """Our protocol's answers to ``commands`` from ``peer``, through a stand-in transport."""
    handler = SupportHandler(EmailIngest(desk, (Mailbox("support@localhost"),), SECRET))

    async def talk() -> str:
        protocol = protocol_factory(handler, settings, PASSWORD)()
        assert isinstance(protocol, SupportSMTP)
        transport = StandInTransport(peer)
        transport.protocol = protocol
        protocol.connection_made(transport)
        for command in (*commands, "QUIT"):
            protocol.data_received(f"{command}\r\n".encode())
        await asyncio.wait_for(transport.closed.wait(), timeout=30)
        return transport.written.decode()

    return asyncio.run(talk())


def test_cleartext_login_from_another_address_is_refused_though_loopback_is_allowed(desk):
    settings = SmtpSettings(auth_user="relay", allow_cleartext_auth_on_loopback=True)
    login = "AUTH " + plain("relay", PASSWORD)
    remote = converse(desk, settings, ("192.0.2.7", 25), "EHLO relay.example", login)
    assert "AUTH" not in remote.split("538")[0], "not advertised"
    assert "538 5.7.11 Encryption required" in remote and "235" not in remote
    local = converse(desk, settings, ("127.0.0.1", 25), "EHLO relay.example", login)
    assert "250-AUTH LOGIN PLAIN" in local and "235 2.7.0 Authentication successful" in local
    mapped = converse(desk, settings, ("::ffff:192.0.2.7", 25, 0, 0), "EHLO relay.example", login)
    assert "538 5.7.11" in mapped and "235" not in mapped


def test_only_two_logins_from_one_address_may_be_under_way_at_once(desk, tls_settings, client_tls):
    for server in running(AuthServer(desk, tls_settings, PASSWORD, held=True)):
        first, second, third = (secured(server, client_tls) for _ in range(3))
        with ThreadPoolExecutor(2) as pool:
            guesses = [
                pool.submit(client.docmd, "AUTH", plain("relay", "guess")) for client in (first, second)
            ]
            for _ in guesses:  # both wrong passwords are waiting out their delay
                assert server.delaying.acquire(timeout=30)
            assert third.docmd("AUTH", plain("relay", PASSWORD)) == (
                454,
                b"4.7.0 Too many logins at once; try again later",
            )
            server.release()
            assert [guess.result(timeout=30)[0] for guess in guesses] == [535, 535]
        assert third.docmd("AUTH", plain("relay", PASSWORD))[0] == 235, "a slot is free again"
        for client in (first, second, third):
            client.quit()


def test_a_block_reached_while_a_login_is_under_way_refuses_its_password_unchecked(
    desk, tls_settings, client_tls
):
    """Both connections are past the start of AUTH when the first guess fails: the second is not checked."""
    settings = replace(tls_settings, auth_max_failures_per_peer=1)
    for server in running(AuthServer(desk, settings, PASSWORD)):
        first, second = secured(server, client_tls), secured(server, client_tls)
        assert first.docmd("AUTH", "PLAIN")[0] == 334
        assert second.docmd("AUTH", "PLAIN")[0] == 334
        assert first.docmd(plain("relay", "guess").removeprefix("PLAIN "))[0] == 421
        assert second.docmd(plain("relay", PASSWORD).removeprefix("PLAIN ")) == (
            421,
            b"4.7.0 Too many failed logins; try again later",
        )
        assert server.delays == [1.0], "only the first guess was checked and answered late"
        for client in (first, second):
            client.close()


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.7", False),
        ("::ffff:192.0.2.7", False),
        ("fd00::2", False),
        ("", False),
    ],
)
def test_only_loopback_peers_may_log_in_without_tls(peer, allowed):
    settings = SmtpSettings(auth_user="relay", allow_cleartext_auth_on_loopback=True)
    assert LoginGuard("relay", PASSWORD, settings).cleartext_allowed(peer) is allowed
    assert not LoginGuard("relay", PASSWORD, SmtpSettings(auth_user="relay")).cleartext_allowed(peer)
