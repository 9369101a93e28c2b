"""SMTP AUTH against a real aiosmtpd server with our protocol, driven by smtplib.

AUTH exists only when a login is configured, is offered and accepted only
over TLS (or from loopback when the setting allows it), and a run of wrong
passwords is slowed and then cut off, per connection and per address. The
delays are recorded by an injected sleep instead of being waited out.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from bot.config import Mailbox, SmtpSettings
from bot.desk import Desk
from bot.errors import ConfigError
from channels.email.ingest import EmailIngest
from channels.email.smtp_auth import LoginGuard
from channels.email.smtp_server import SupportHandler, protocol_factory
from tests.integration.smtp_harness import free_port

SECRET = b"smtp-auth-test-secret"
PASSWORD = "s3cret"
MAIL = b"From: bob@example.com\r\nTo: support@localhost\r\nSubject: Relayed\r\n\r\nHello.\r\n"


class AuthServer(Controller):
    """aiosmtpd's test controller serving our protocol, with failed-login delays recorded."""

    def __init__(
        self, desk: Desk, settings: SmtpSettings, password: str | None, *, hostname: str = "127.0.0.1"
    ) -> None:
        self.delays: list[float] = []

        async def record(seconds: float) -> None:
            self.delays.append(seconds)

        handler = SupportHandler(EmailIngest(desk, (Mailbox("support@localhost"),), SECRET))
        self.make = protocol_factory(handler, settings, password, sleep=record)
        super().__init__(handler, hostname=hostname, port=free_port())

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


def interface_addresses() -> list[str]:
    """This machine's IPv4 addresses (Linux): connecting to one of them is not loopback."""
    import fcntl
    import struct

    found = []
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:  # SIOCGIFADDR
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
        found.append(socket.inet_ntoa(packed[20:24]))
    return found


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
    assert desk.show_ticket("SUP-1").ticket.subject == "Relayed"


def test_cleartext_login_from_loopback_only_when_allowed(desk):
    settings = SmtpSettings(auth_user="relay", allow_cleartext_auth_on_loopback=True)
    for server in running(AuthServer(desk, settings, PASSWORD)):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            assert client.has_extn("auth")
            client.login("relay", PASSWORD)
            assert client.sendmail("bob@example.com", ["support@localhost"], MAIL) == {}


def test_cleartext_login_from_another_address_is_refused_though_loopback_is_allowed(desk):
    ours = [address for address in interface_addresses() if not address.startswith("127.")]
    if not ours:
        pytest.skip("this machine has no address but loopback to connect from")
    settings = SmtpSettings(auth_user="relay", allow_cleartext_auth_on_loopback=True)
    for server in running(AuthServer(desk, settings, PASSWORD, hostname=ours[0])):
        with smtplib.SMTP(ours[0], server.port, timeout=30) as client:
            client.ehlo()
            assert not client.has_extn("auth")
            assert client.docmd("AUTH", plain("relay", PASSWORD))[0] == 538


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
