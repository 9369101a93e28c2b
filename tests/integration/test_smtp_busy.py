"""SMTP while hostile mail holds every parse thread: genuine mail gets 451 4.3.2 and comes back whole.

Before, the limit counted from the moment a message was queued and stuck
parses kept their threads, so a few hostile mails every few seconds made
every genuine message time out and be stored without its attachments.
"""

from __future__ import annotations

import base64
import smtplib

from bot.config.settings import EmailSettings, Mailbox, SmtpSettings
from bot.desk.facade import Desk
from bot.model import Actor
from bot.read.queries import TicketFilter
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from channels.email.workers import MailWorkers
from tests.integration.smtp_harness import OurProtocol
from tests.ports import free_port

SUPPORT = "support@localhost"


class Server:
    """Our SMTP protocol on a free port, taking messages of up to 1 MB (the shared harness takes 64 KB)."""

    def __init__(self, desk: Desk, options: EmailSettings, workers: MailWorkers) -> None:
        handler = SupportHandler(EmailIngest(desk, (Mailbox(SUPPORT),), b"secret", options, workers))
        settings = SmtpSettings(max_message_bytes=2**20)
        self.controller = OurProtocol(handler, settings, hostname="127.0.0.1", port=free_port())

    def send(self, raw: bytes, sender: str) -> tuple[int, str]:
        with smtplib.SMTP(self.controller.hostname, self.controller.port, timeout=30) as client:
            client.ehlo()
            assert client.mail(sender)[0] == 250 and client.rcpt(SUPPORT)[0] == 250
            code, message = client.data(raw)
            return code, message.decode()


def hostile() -> bytes:
    """HTML nested 25,000 deep: about 1 s of nh3 once the depth bounds are lifted."""
    html = "\r\n".join(["<div>" * 100] * 250)
    return (
        f"From: eve@example.com\r\nTo: {SUPPORT}\r\nSubject: Deep\r\nMessage-ID: <deep@example.com>\r\n"
        f"Content-Type: text/html\r\n\r\n{html}\r\n"
    ).encode()


def genuine() -> bytes:
    """A message with an attachment, which a cheap reading would not keep."""
    attachment = base64.b64encode(b"%PDF-1.4 invoice").decode()
    return (
        f"From: bob@example.com\r\nTo: {SUPPORT}\r\nSubject: Invoice\r\nMessage-ID: <bob@example.com>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nPlease see the invoice.\r\n"
        "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b--\r\n"
    ).encode()


def test_genuine_mail_gets_451_while_abandoned_parses_hold_every_thread_then_is_taken_whole(desk: Desk):
    options = EmailSettings(max_html_depth=10**6, max_html_elements=10**6, ingest_threads=1)
    workers = MailWorkers(options, parse_limit=0.1)
    server = Server(desk, options, workers)
    server.controller.start()
    try:
        assert server.send(hostile(), "eve@example.com") == (250, "2.0.0 SUP-1")  # read cheaply
        code, text = server.send(genuine(), "bob@example.com")
        assert (code, text.split()[0]) == (451, "4.3.2")
    finally:
        server.controller.stop()
        workers.shutdown(wait_for_parses=True)

    workers = MailWorkers(options, parse_limit=10)
    server = Server(desk, options, workers)
    server.controller.start()
    try:  # the sending server tries again later: this time the parse is free
        assert server.send(genuine(), "bob@example.com") == (250, "2.0.0 SUP-2")
    finally:
        server.controller.stop()
        workers.shutdown()
    [comment] = desk.visible_ticket(Actor.console(), "SUP-2").comments
    assert [a.filename for a in comment.attachments] == ["invoice.pdf"]
    assert len(desk.list_tickets(TicketFilter())) == 2
