"""Notification emails through a real SMTP relay (aiosmtpd), with STARTTLS and AUTH."""

from __future__ import annotations

import email
import ssl
from collections.abc import Iterator
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.config.settings import RelaySettings
from bot.messages import Outbound
from bot.notify.outbox import Dispatcher, PermanentDeliveryError, TransientDeliveryError, list_notifications
from bot.notify.render import Renderer
from channels.email.compose import Sender
from channels.email.sender import SmtpRelaySender
from tests.factories import make_inbound
from tests.ports import free_port

TICKET = {
    "number": "SUP-3",
    "subject": "VPN",
    "status": "open",
    "priority": "low",
    "requester": {"name": "Bob", "email": "bob@example.com", "role": "requester"},
    "assignee": None,
    "category": None,
}


class RecordingRelay:
    """A relay that keeps what it was given and can answer RCPT or DATA with a chosen code."""

    def __init__(self, *, rcpt_reply: str = "250 OK", data_reply: str = "250 OK") -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return self.data_reply


def start(handler: RecordingRelay, **smtp: object) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp)
    controller.start()
    return controller


def outbound(recipient: str = "bob@example.com") -> Outbound:
    return Outbound(
        notification_id=7,
        channel="email",
        recipient=recipient,
        template="ticket_opened",
        context={"ticket": TICKET, "recipient": TICKET["requester"]},
        dedupe_key="k",
        message_id="<sup-3.abc@support.test>",
    )


def relay_sender(controller: Controller, clock, **relay: object) -> SmtpRelaySender:
    settings = RelaySettings(host="127.0.0.1", port=controller.port, **{"starttls": False, **relay})
    return SmtpRelaySender(settings, None, Renderer(), Sender("support@support.test", "Support", b"s"), clock)


@pytest.fixture
def relay() -> Iterator[tuple[RecordingRelay, Controller]]:
    handler = RecordingRelay()
    controller = start(handler)
    yield handler, controller
    controller.stop()


def test_notification_is_handed_to_the_relay_with_its_headers(relay, clock):
    handler, controller = relay
    relay_sender(controller, clock).send(outbound())
    [(mail_from, rcpt_tos, raw)] = handler.messages
    assert (mail_from, rcpt_tos) == ("support@support.test", ["bob@example.com"])
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["Subject"] == "[SUP-3] VPN" and sent["Message-ID"] == "<sup-3.abc@support.test>"
    assert sent["Reply-To"].addresses[0].addr_spec.startswith("support+sup-3.")


def test_starttls_and_login_are_used_when_configured(certificate, clock):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, data):
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"relay-pass", handled=False)

    handler = RecordingRelay()
    controller = start(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    try:
        settings = RelaySettings(host="localhost", port=controller.port, starttls=True, user="bot")
        client_tls = ssl.create_default_context(cafile=str(cert))
        sender = SmtpRelaySender(
            settings,
            "relay-pass",
            Renderer(),
            Sender("support@support.test", "S"),
            clock,
            tls_context=client_tls,
        )
        sender.send(outbound())
        wrong = SmtpRelaySender(
            settings, "nope", Renderer(), Sender("support@support.test", "S"), clock, tls_context=client_tls
        )
        with pytest.raises(PermanentDeliveryError, match="535"):
            wrong.send(outbound())
    finally:
        controller.stop()
    assert len(handler.messages) == 1 and logins[0] == (b"bot", b"relay-pass")


def test_refused_recipient_is_final_and_a_busy_relay_is_retried(clock):
    refusing = start(RecordingRelay(rcpt_reply="550 5.1.1 no such user"))
    busy = start(RecordingRelay(data_reply="451 4.3.0 try later"))
    try:
        with pytest.raises(PermanentDeliveryError, match="550"):
            relay_sender(refusing, clock).send(outbound())
        with pytest.raises(TransientDeliveryError, match="451"):
            relay_sender(busy, clock).send(outbound())
    finally:
        refusing.stop()
        busy.stop()


def test_unreachable_relay_is_retried(clock):
    settings = RelaySettings(host="127.0.0.1", port=free_port(), starttls=False, timeout_seconds=5)
    sender = SmtpRelaySender(settings, None, Renderer(), Sender("s@x.test", "S"), clock)
    with pytest.raises(TransientDeliveryError):
        sender.send(outbound())


def test_outbox_parks_a_refused_recipient_and_keeps_retrying_a_busy_relay(desk, store, clock):
    refusing = start(RecordingRelay(rcpt_reply="550 5.1.1 no such user"))
    try:
        desk.receive(make_inbound())
        report = Dispatcher(
            store, clock, {"email": relay_sender(refusing, clock)}, desk.settings.outbox
        ).run_once()
    finally:
        refusing.stop()
    assert report.dead == 1
    [row] = list_notifications(store, prefix="SUP")
    assert row.status == "dead" and "550" in row.last_error


def test_serve_uses_the_relay_when_one_is_configured(environ, relay, clock):
    from bot.config.settings import load
    from bot.errors import ConfigError
    from channels.bootstrap import build

    handler, controller = relay
    relayed = {
        **environ,
        "SUPPORTBOT_RELAY_HOST": "127.0.0.1",
        "SUPPORTBOT_RELAY_PORT": str(controller.port),
        "SUPPORTBOT_RELAY_STARTTLS": "false",
    }
    with pytest.raises(ConfigError, match=r"\$SUPPORTBOT_RELAY_PASSWORD"):
        build(load(None, relayed | {"SUPPORTBOT_RELAY_USER": "bot"}), environ={})
    runtime = build(load(None, relayed), environ={}, clock=clock)
    try:
        runtime.desk.receive(make_inbound())
        assert runtime.dispatcher.run_once().sent == 1
    finally:
        runtime.store.dispose()
    [(_, rcpt_tos, _)] = handler.messages
    assert rcpt_tos == ["customer@example.com"]
    assert not runtime.settings.outbox_path.exists()
