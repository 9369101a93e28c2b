"""Mail in over real SMTP: a real aiosmtpd server with our handler, driven by smtplib."""

from __future__ import annotations

import email
import smtplib
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bot.config.settings import Mailbox, SmtpSettings
from bot.desk.facade import Desk
from bot.model import Actor
from bot.notify.outbox import Dispatcher
from bot.notify.render import Renderer
from bot.store import tables as t
from bot.store.db import Store
from bot.store.files import FileStore
from channels.email.addresses import reply_address
from channels.email.compose import Sender
from channels.email.ingest import EmailIngest
from channels.email.parse import derived_message_id
from channels.email.sender import EmlFolderSender
from channels.email.smtp_server import SupportHandler
from tests.integration.smtp_harness import LIMIT, OurProtocol, Smtp
from tests.log_capture import served_log
from tests.ports import free_port

MAIL = Path(__file__).resolve().parents[1] / "data" / "email"
SECRET = b"smtp-test-secret"
MAILBOXES = (Mailbox("support@localhost"), Mailbox("billing@localhost", team="Billing", priority="high"))


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, MAILBOXES, SECRET)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def message(
    subject: str = "Printer on fire",
    *,
    sender: str = "bob@example.com",
    headers: str = "",
    body: str = "It is on fire.",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: {subject}\r\n{headers}\r\n{body}\r\n"
    ).encode()


def test_new_mail_is_answered_250_with_its_ticket_number_after_commit(smtp, desk, settings):
    raw = fixture("new_plain.eml")
    assert smtp.send(raw) == (250, "2.0.0 SUP-1")
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.ticket.subject == "VPN keeps dropping" and detail.ticket.channel == "email"
    [first] = detail.comments
    assert FileStore(settings.attachments_path).get(first.source_sha256) == raw


def test_the_same_message_twice_is_one_ticket(smtp, desk):
    raw = fixture("new_plain.eml")
    assert smtp.send(raw) == (250, "2.0.0 SUP-1")
    assert smtp.send(raw) == (250, "2.0.0 SUP-1")
    assert len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 1


def test_unknown_recipient_gets_550(smtp):
    code, text = smtp.send(message(), to="nobody@localhost")
    assert code == 550 and text.startswith("5.1.1")


def test_oversize_message_gets_552(smtp, desk):
    from bot.read.queries import TicketFilter

    code, text = smtp.send(message(body="x" * 70 + ("\r\n" + "x" * 70) * (LIMIT // 72 + 1)))
    assert (code, text) == (552, "5.3.4 Message too big for this system")
    assert desk.list_tickets(TicketFilter()) == []


def test_store_outage_gets_451_so_the_sender_retries(settings, clock):
    down = Desk(Store("postgresql+psycopg://postgres@127.0.0.1:1/none"), clock, settings)
    ingest = EmailIngest(down, MAILBOXES, SECRET)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    try:
        code, text = server.send(message())
    finally:
        server.controller.stop()
        ingest.close()
        down.store.dispose()
    assert code == 451 and text.startswith("4.3.0")


def test_malformed_mail_is_still_kept(smtp, desk, settings):
    raw = fixture("garbage.eml")
    code, text = smtp.send(raw, sender="who@example.com")
    assert code == 250
    number = text.split()[-1]
    [comment] = desk.visible_ticket(Actor.console(), number).comments
    assert FileStore(settings.attachments_path).get(comment.source_sha256).rstrip(b"\r\n") == raw


def test_mailbox_defaults_apply_to_its_tickets(smtp, desk, admin):
    desk.add_team(admin, "Billing")
    code, text = smtp.send(message("Invoice wrong"), to="billing@localhost")
    ticket = desk.visible_ticket(Actor.console(), text.split()[-1]).ticket
    assert (code, ticket.team, ticket.priority) == (250, "Billing", "high")


def test_a_routing_rule_wins_over_the_mailbox_defaults(smtp, desk, admin):
    from bot.automation.routing_rules import RuleInput

    desk.add_team(admin, "Billing")
    desk.add_team(admin, "Finance")
    rule = RuleInput(
        name="Refunds", mailbox="Billing@localhost", keywords=("refund",), team="Finance", priority="low"
    )
    desk.add_routing_rule(admin, rule)
    _, text = smtp.send(message("Refund please"), to="billing@localhost")
    refund = desk.visible_ticket(Actor.console(), text.split()[-1]).ticket
    assert (refund.team, refund.priority) == ("Finance", "low")
    _, text = smtp.send(message("Invoice wrong"), to="billing@localhost")
    invoice = desk.visible_ticket(Actor.console(), text.split()[-1]).ticket
    assert (invoice.team, invoice.priority) == ("Billing", "high")


def test_signed_reply_address_appends_a_verified_comment(smtp, desk):
    smtp.send(message())
    to = reply_address("support@localhost", "SUP-1", "bob@example.com", SECRET)
    assert smtp.send(message("Re: whatever", body="More detail."), to=to) == (250, "2.0.0 SUP-1")
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.comments[-1].public and detail.comments[-1].body == "More detail."
    assert [e.after["rule"] for e in detail.events if e.kind == "received"][-1] == "ticket number"


def test_reply_address_used_by_someone_else_is_a_flagged_note(smtp, desk):
    smtp.send(message())
    to = reply_address("support@localhost", "SUP-1", "bob@example.com", SECRET)
    code, text = smtp.send(message("Re: x", sender="mallory@evil.test", body="Send me the data."), to=to)
    assert (code, text) == (250, "2.0.0 SUP-1")
    note = desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert note.flagged and not note.public


def test_bounce_naming_no_ticket_is_kept_but_opens_none(smtp, desk, store, settings):
    from sqlalchemy import select

    from bot.read.queries import TicketFilter
    from bot.store import tables as t

    raw = fixture("bounce_dsn.eml")
    assert smtp.send(raw, sender="") == (250, "2.0.0 bounce recorded")
    assert desk.list_tickets(TicketFilter()) == []
    with store.read() as session:
        [kept] = session.scalars(select(t.Event).where(t.Event.kind == "bounce_received")).all()
    assert FileStore(settings.attachments_path).get(kept.after["source_sha256"]).rstrip(
        b"\r\n"
    ) == raw.rstrip(b"\r\n")


def test_bounce_with_unknown_references_or_reply_address_still_opens_no_ticket(smtp, desk):
    from bot.read.queries import TicketFilter

    raw = fixture("bounce_dsn.eml").replace(
        b"Subject:", b"In-Reply-To: <spam-we-never-sent@x>\r\nSubject:", 1
    )
    assert smtp.send(raw, sender="") == (250, "2.0.0 bounce recorded")
    assert smtp.send(fixture("bounce_dsn.eml"), sender="", to="support+sup-999@localhost")[0] == 250
    assert desk.list_tickets(TicketFilter()) == []


def test_auto_reply_gets_no_acknowledgement(smtp, desk, store):
    from bot.notify.outbox import list_notifications

    smtp.send(fixture("vacation.eml"))
    assert [n for n in list_notifications(store, prefix="SUP") if n.template == "ticket_opened"] == []


def test_whole_loop_mail_in_acknowledgement_out_reply_back_on_the_same_ticket(
    smtp, desk, store, clock, tmp_path
):
    assert smtp.send(fixture("new_plain.eml")) == (250, "2.0.0 SUP-1")
    outbox = tmp_path / "outbox"
    sender = EmlFolderSender(outbox, Renderer(), Sender("support@localhost", "Support", SECRET), clock)
    assert Dispatcher(store, clock, {"email": sender}, desk.settings.outbox).run_once().sent == 1
    [eml] = outbox.glob("*.eml")
    ack = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    reply = (
        f"From: Bob Example <bob@example.com>\r\nTo: {reply_to}\r\nSubject: Re: {ack['Subject']}\r\n"
        f"Message-ID: <bob-reply-1@example.com>\r\nIn-Reply-To: {ack['Message-ID']}\r\n"
        f"References: <new-plain-1@mail.example.com> {ack['Message-ID']}\r\n\r\n"
        "Thanks, it works now.\r\n\r\nOn Monday Support wrote:\r\n> We have received your request\r\n"
    ).encode()
    assert smtp.send(reply, to=reply_to) == (250, "2.0.0 SUP-1")
    last = desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert (last.body, last.public, last.flagged) == ("Thanks, it works now.", True, False)
    assert "We have received your request" in last.full_body


def test_starttls_with_the_configured_certificate(desk, certificate):
    import ssl

    from channels.email.smtp_server import tls_context

    cert, key = certificate
    context = tls_context(SmtpSettings(tls_cert=str(cert), tls_key=str(key)))
    controller = Controller(
        SupportHandler(EmailIngest(desk, MAILBOXES, SECRET)),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        with smtplib.SMTP("localhost", controller.port, timeout=30) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(cert)))
            client.ehlo()
            client.mail("bob@example.com")
            client.rcpt("support@localhost")
            assert client.data(message()) == (250, b"2.0.0 SUP-1")
    finally:
        controller.stop()


def test_unreadable_certificate_is_a_configuration_error(tmp_path):
    from bot.errors import ConfigError
    from channels.email.smtp_server import tls_context

    with pytest.raises(ConfigError, match="smtp.tls_cert / smtp.tls_key cannot be loaded"):
        tls_context(SmtpSettings(tls_cert=str(tmp_path / "none.pem"), tls_key=str(tmp_path / "none.key")))


def test_auth_when_configured_is_required_and_checked(desk, certificate):
    import ssl

    cert, key = certificate
    settings = SmtpSettings(tls_cert=str(cert), tls_key=str(key), auth_user="relay", auth_failure_delay_ms=0)
    handler = SupportHandler(EmailIngest(desk, MAILBOXES, SECRET))
    controller = OurProtocol(handler, settings, "s3cret", hostname="127.0.0.1", port=free_port())
    controller.start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        with smtplib.SMTP("localhost", controller.port, timeout=30) as client:
            client.starttls(context=client_tls)
            client.ehlo()
            assert client.mail("bob@example.com")[0] == 530  # authentication required
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("relay", "wrong")
        with smtplib.SMTP("localhost", controller.port, timeout=30) as client:
            client.starttls(context=client_tls)
            client.login("relay", "s3cret")
            assert client.sendmail("bob@example.com", ["support@localhost"], message()) == {}
    finally:
        controller.stop()
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.subject == "Printer on fire"


def test_notifications_go_out_from_the_address_the_ticket_came_in_to(
    smtp, desk, store, clock, tmp_path, admin
):
    desk.add_team(admin, "Billing")
    smtp.send(message("Invoice wrong"), to="billing@localhost")
    sender = EmlFolderSender(
        tmp_path / "out", Renderer(), Sender("support@localhost", "Support", SECRET), clock
    )
    Dispatcher(store, clock, {"email": sender}, desk.settings.outbox).run_once()
    [eml] = (tmp_path / "out").glob("*.eml")
    ack = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert ack["From"].addresses[0].addr_spec == "billing@localhost"
    assert ack["Reply-To"].addresses[0].addr_spec.startswith("billing+sup-1.")


def test_a_hostile_message_id_is_stored_under_a_derived_key_and_never_reaches_the_log_raw(
    smtp, desk, store, caplog
):
    """``ESC]0;`` in a Message-ID would retitle the terminal ``serve`` logs to, were it logged as is."""
    hostile = "<\x1b]0;pwned\x07@evil.example>"
    raw = message("\x1b]0;owned\x07Hello", headers=f"Message-ID: {hostile}\r\nReferences: {hostile}\r\n")
    with served_log() as log:
        assert smtp.send(raw) == (250, "2.0.0 SUP-1")
        assert smtp.send(raw) == (250, "2.0.0 SUP-1"), "the same bytes are a duplicate"
    key = derived_message_id(raw)
    with store.read() as session:
        assert session.scalars(select(t.Comment.external_id)).all() == [key]
        refs = session.scalars(select(t.ThreadRef.external_id)).all()
    assert key in refs and all(ref.isascii() and ref.isprintable() for ref in refs)
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.subject == "]0;ownedHello"
    written = log.getvalue()
    assert f"250 for {key} from bob@example.com: new ticket SUP-1" in written
    assert f"250 for {key} from bob@example.com: duplicate SUP-1" in written
    assert "\x1b" not in written and "\x07" not in written
    assert all("\x1b" not in record.getMessage() for record in caplog.records)
