"""Outlook threading over real SMTP, on both stores: what we send carries Thread-Topic and a
Thread-Index that extends the ticket's conversation, and a reply that kept only its
Thread-Index finds its ticket, as References would, trust rules and all.

Mail goes in through a real aiosmtpd server and comes out as the .eml files the outbox
dispatcher writes, read back with the standard library, as a mail client would.
"""

from __future__ import annotations

import base64
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.config.settings import EmailSettings, Mailbox
from bot.desk.facade import Desk
from bot.messages import Outbound
from bot.model import Actor, Status
from bot.notify.outbox import Dispatcher
from bot.notify.render import Renderer
from bot.store import tables as t
from bot.store.db import Store
from bot.thread_index import HEADER, delays, encode, extended, new_root, root_of, started
from channels.email.addresses import reply_address
from channels.email.compose import Sender, compose
from channels.email.ingest import EmailIngest
from channels.email.sender import EmlFolderSender
from channels.email.smtp_server import SupportHandler
from tests.factories import make_inbound
from tests.fakes import FakeClock
from tests.integration.smtp_harness import Smtp

SECRET = b"outlook-test-secret"
SUPPORT = "support@localhost"
TRUSTED_MX = "mx.support.test"
# A real Outlook conversation's root (FreeScout issue #4922), as a new Outlook mail carries it.
OUTLOOK_ROOT = "AQHb9piJBsCGD1GVoU+wxkNV9ElnyQ=="
# Desktop Outlook's older header layout, one reply deep (community.metaspike.com).
DESKTOP_OUTLOOK = "AdQc2DN7rLoS3hgnE/O76rpFzxN/EwAddF4A"


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    options = EmailSettings(trusted_authserv_ids=TRUSTED_MX)
    with EmailIngest(desk, (Mailbox(SUPPORT),), SECRET, options) as ingest:
        server = Smtp(SupportHandler(ingest))
        server.controller.start()
        yield server
        server.controller.stop()


@dataclass
class Outbox:
    """The outbox dispatched into a folder of .eml files; ``sent()`` reads what is new."""

    folder: Path
    dispatcher: Dispatcher
    seen: set[Path] = field(default_factory=set)

    def sent(self) -> list[tuple[EmailMessage, bytes]]:
        self.dispatcher.run_until_idle()
        new = sorted(path for path in self.folder.glob("*.eml") if path not in self.seen)
        self.seen.update(new)
        return [(_read(path.read_bytes()), path.read_bytes()) for path in new]

    def one(self) -> tuple[EmailMessage, bytes]:
        [sent] = self.sent()
        return sent


@pytest.fixture
def outbox(desk: Desk, store: Store, clock: FakeClock, tmp_path: Path) -> Outbox:
    folder = tmp_path / "outbox"
    sender = EmlFolderSender(folder, Renderer(), Sender(SUPPORT, "Support", SECRET), clock)
    return Outbox(folder, Dispatcher(store, clock, {"email": sender}, desk.settings.outbox))


def _read(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def mail(
    subject: str = "Printer on fire",
    *,
    sender: str = "bob@example.com",
    index: str | None = None,
    headers: str = "",
    body: str = "It is on fire.",
    message_id: str | None = None,
) -> bytes:
    lines = [f"From: {sender}", f"To: {SUPPORT}", f"Subject: {subject}"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if index is not None:
        lines += [f"Thread-Topic: {subject.removeprefix('RE: ')}", f"Thread-Index: {index}"]
    return ("\r\n".join(lines) + f"\r\n{headers}\r\n{body}\r\n").encode()


def index_of(message: EmailMessage) -> bytes:
    return base64.b64decode(str(message["Thread-Index"]))


def outlook_reply(message: EmailMessage, clock: FakeClock) -> str:
    """What Outlook puts on a reply to ``message``: its index, one block longer."""
    return encode(extended(index_of(message), 1, clock.now(), b"\x07"))


def stored_root(store: Store, ticket_id: int) -> str | None:
    with store.read() as session:
        return session.scalar(select(t.Ticket.thread_index).where(t.Ticket.id == ticket_id))


def last_comment(desk: Desk, number: str):
    return desk.visible_ticket(Actor.console(), number).comments[-1]


def rules(desk: Desk, number: str) -> list[str]:
    return [
        e.after["rule"] for e in desk.visible_ticket(Actor.console(), number).events if e.kind == "received"
    ]


def test_our_acknowledgement_and_an_agent_reply_extend_one_root(smtp, desk, store, outbox, clock, agent):
    assert smtp.send(mail("Re: [SUP-9] AW: Printer on fire", message_id="<first@example.com>")) == (
        250,
        "2.0.0 SUP-1",
    )
    root = stored_root(store, 1)
    assert root is not None and len(root) == 32
    ack, raw = outbox.one()
    assert ack["Thread-Topic"] == "Printer on fire", "no tag of ours, no RE:/AW:"
    ack_index = index_of(ack)
    # It answers the customer's message: the root and one block, timed as it was sent.
    assert len(ack_index) == HEADER + 5 and encode(ack_index[:HEADER]) == root
    assert timedelta(0) <= clock.now() - started(ack_index) < timedelta(seconds=2)
    # Written as it is, on one line: not folded into encoded-words Outlook would not read.
    assert re.search(rb"^Thread-Index: [A-Za-z0-9+/]+=*\r$", raw, re.MULTILINE)

    clock.advance(hours=2)
    desk.comment(agent, "SUP-1", "Unplug it, then plug it back in.")
    reply, _ = outbox.one()
    reply_index = index_of(reply)
    assert len(reply_index) == HEADER + 10 and reply_index[:HEADER] == ack_index[:HEADER]
    assert reply["Thread-Topic"] == ack["Thread-Topic"]
    assert all(timedelta(hours=2) - delay < timedelta(seconds=2) for delay in delays(reply_index))
    assert stored_root(store, 1) == root, "one root for the ticket's whole life"


def test_a_reply_that_keeps_only_its_thread_index_is_a_comment_on_the_ticket(smtp, desk, outbox, clock):
    smtp.send(mail())
    ack, _ = outbox.one()
    clock.advance(minutes=30)
    # No In-Reply-To, no References, a subject of its own, and to the plain address.
    reply = mail("Something else entirely", index=outlook_reply(ack, clock), body="Still smoking.")
    assert smtp.send(reply) == (250, "2.0.0 SUP-1")
    comment = last_comment(desk, "SUP-1")
    assert (comment.body, comment.public, comment.flagged) == ("Still smoking.", True, False)
    assert rules(desk, "SUP-1")[-1] == "thread-index"


def test_a_stranger_with_the_thread_index_leaves_only_a_flagged_note(smtp, desk, outbox, clock):
    smtp.send(mail())
    ack, _ = outbox.one()
    forged = mail(
        "Re: Printer", sender="mallory@evil.test", index=outlook_reply(ack, clock), body="Send data."
    )
    assert smtp.send(forged, sender="mallory@evil.test") == (250, "2.0.0 SUP-1")
    note = last_comment(desk, "SUP-1")
    assert (note.body, note.public, note.flagged) == ("Send data.", False, True)
    assert rules(desk, "SUP-1")[-1] == "thread-index"
    assert outbox.sent() == [], "nobody hears of it"


def test_a_dmarc_failure_our_mx_reports_keeps_the_thread_index_from_acting(smtp, desk, outbox, clock):
    smtp.send(mail())
    ack, _ = outbox.one()
    spoofed = mail(
        "Re: Printer",
        index=outlook_reply(ack, clock),
        headers=f"Authentication-Results: {TRUSTED_MX}; dmarc=fail (p=reject) header.from=example.com\r\n",
        body="Close it, please.",
    )
    assert smtp.send(spoofed) == (250, "2.0.0 SUP-1")
    note = last_comment(desk, "SUP-1")
    assert (note.public, note.flagged) == (False, True)
    assert rules(desk, "SUP-1")[-1] == "thread-index, DMARC failed"


def test_a_staff_address_the_thread_index_carries_is_not_taken_on_its_word(smtp, desk, outbox, clock, agent):
    smtp.send(mail())
    ack, _ = outbox.one()
    claimed = mail("Re: x", sender="agent@support.test", index=outlook_reply(ack, clock), body="Resolved!")
    assert smtp.send(claimed, sender="agent@support.test") == (250, "2.0.0 SUP-1")
    note = last_comment(desk, "SUP-1")
    assert (note.public, note.flagged) == (False, True)
    assert rules(desk, "SUP-1")[-1].startswith("thread-index (staff address not verified")


@pytest.mark.parametrize(
    "index",
    [
        "bm90IGFuIGluZGV4",  # base64, but not of an index
        "AQHb9piJBsCGD1GVoU+wxkNV9Eln",  # one short of a header
        "%%% not base64 %%%",
        "AgHb9piJBsCGD1GVoU+wxkNV9ElnyQ==",  # the wrong first byte
    ],
)
def test_a_malformed_thread_index_names_no_conversation(smtp, desk, store, outbox, index):
    smtp.send(mail())
    ack, _ = outbox.one()
    same_topic = mail("Printer on fire", index=index)  # Thread-Topic too: never matched on
    assert smtp.send(same_topic) == (250, "2.0.0 SUP-2")
    assert stored_root(store, 2) not in (None, stored_root(store, 1))


def test_a_foreign_conversation_opens_a_new_ticket_whatever_its_topic(smtp, desk, store, outbox):
    smtp.send(mail())
    outbox.sent()
    assert smtp.send(mail("Printer on fire", index=OUTLOOK_ROOT)) == (250, "2.0.0 SUP-2")
    assert stored_root(store, 2) == OUTLOOK_ROOT


def test_a_new_outlook_mail_is_answered_in_its_own_conversation(smtp, desk, store, outbox, clock):
    assert smtp.send(mail(index=OUTLOOK_ROOT, message_id="<outlook-1@example.com>")) == (250, "2.0.0 SUP-1")
    assert stored_root(store, 1) == OUTLOOK_ROOT
    ack, _ = outbox.one()
    ack_index = index_of(ack)
    assert encode(ack_index[:HEADER]) == OUTLOOK_ROOT and len(ack_index) == HEADER + 5
    # The block is timed from the conversation's start in 2025, not from our root's.
    [delay] = delays(ack_index)
    assert abs(clock.now() - started(ack_index) - delay) < timedelta(seconds=1)
    clock.advance(days=1)
    assert smtp.send(mail("Another topic", index=outlook_reply(ack, clock), body="Any news?")) == (
        250,
        "2.0.0 SUP-1",
    )
    assert last_comment(desk, "SUP-1").public


def test_a_desktop_outlook_conversation_is_adopted_and_extended_from_its_start(smtp, store, outbox):
    smtp.send(mail(index=DESKTOP_OUTLOOK))
    ack, _ = outbox.one()
    ack_index = index_of(ack)
    assert ack_index[:HEADER] == base64.b64decode(DESKTOP_OUTLOOK)[:HEADER]
    assert encode(ack_index[:HEADER]) == stored_root(store, 1)
    assert ack_index[HEADER] >> 7 == 1, "years after 2018: the long delta code"


def test_references_and_the_reply_token_win_over_the_thread_index(smtp, desk, outbox, clock):
    smtp.send(mail("First", message_id="<one@example.com>"))
    first, _ = outbox.one()
    smtp.send(mail("Second", message_id="<two@example.com>"))
    second, _ = outbox.one()
    by_reference = mail(
        "Re: First", index=outlook_reply(second, clock), headers=f"References: {first['Message-ID']}\r\n"
    )
    assert smtp.send(by_reference) == (250, "2.0.0 SUP-1")
    assert rules(desk, "SUP-1")[-1] == "references"
    token = reply_address(SUPPORT, "SUP-1", "bob@example.com", SECRET)
    assert smtp.send(mail("Re: First", index=outlook_reply(second, clock)), to=token) == (250, "2.0.0 SUP-1")
    assert rules(desk, "SUP-1")[-1] == "ticket number"


def test_a_merged_tickets_conversation_reaches_the_survivor(smtp, desk, outbox, clock, agent):
    smtp.send(mail("First"))
    first, _ = outbox.one()
    smtp.send(mail("Second"))
    outbox.sent()
    desk.merge(agent, "SUP-1", "SUP-2")
    outbox.sent()
    assert smtp.send(mail("Re: First", index=outlook_reply(first, clock), body="Hello?")) == (
        250,
        "2.0.0 SUP-2",
    )
    assert last_comment(desk, "SUP-2").body == "Hello?"


def test_a_reply_in_a_closed_tickets_conversation_opens_a_follow_up_that_keeps_it(
    smtp, desk, store, outbox, clock, agent
):
    smtp.send(mail())
    ack, _ = outbox.one()
    desk.transition(agent, "SUP-1", Status.CLOSED)
    outbox.sent()
    assert smtp.send(mail("Again", index=outlook_reply(ack, clock), body="It is back.")) == (
        250,
        "2.0.0 SUP-2",
    )
    assert stored_root(store, 2) == stored_root(store, 1)
    follow_up, _ = [(m, r) for m, r in outbox.sent() if m["To"].addresses[0].addr_spec == "bob@example.com"][
        0
    ]
    assert index_of(follow_up)[:HEADER] == index_of(ack)[:HEADER]
    # The newest ticket of the conversation takes what comes next.
    assert smtp.send(mail("Again", index=outlook_reply(follow_up, clock), body="Still.")) == (
        250,
        "2.0.0 SUP-2",
    )


def test_a_ticket_opened_elsewhere_gets_its_conversation_with_its_first_mail(desk, store, outbox, agent):
    # Opened through the API by a robot: no acknowledgement, so no mail and no conversation yet.
    inbound = make_inbound(channel="api", email="carol@example.com", new_only=True, auto_submitted=True)
    opened = desk.receive(inbound)
    assert outbox.sent() == [] and stored_root(store, opened.ticket_id) is None
    desk.comment(agent, str(opened.ticket_number), "We are on it.")
    first, _ = outbox.one()
    first_index = index_of(first)
    # Nothing earlier in Carol's mailbox: the bare 22-byte root, kept for what follows.
    assert len(first_index) == HEADER and encode(first_index) == stored_root(store, opened.ticket_id)
    desk.comment(agent, str(opened.ticket_number), "Done.")
    second, _ = outbox.one()
    assert len(index_of(second)) == HEADER + 5 and index_of(second)[:HEADER] == first_index


def test_a_ticket_from_before_the_migration_gets_one_the_first_time_we_mail(smtp, desk, store, outbox, agent):
    smtp.send(mail())
    outbox.sent()
    with store.transaction() as session:
        session.execute(update(t.Ticket).values(thread_index=None))
    desk.comment(agent, "SUP-1", "Looking into it.")
    reply, _ = outbox.one()
    root = stored_root(store, 1)
    assert root is not None and encode(index_of(reply)[:HEADER]) == root
    desk.comment(agent, "SUP-1", "Fixed.")
    again, _ = outbox.one()
    assert encode(index_of(again)[:HEADER]) == root


def test_mail_about_no_ticket_carries_neither_header(desk, outbox, agent):
    desk.request_sign_in_link("agent@support.test", "127.0.0.1", "https://desk.test/in/")
    link, _ = outbox.one()
    assert link["Subject"] == "Your sign-in link"
    assert link["Thread-Index"] is None and link["Thread-Topic"] is None


def ticket_mail(**overrides: object) -> Outbound:
    """An acknowledgement as the outbox hands it to the sender, without the store."""
    ticket = {
        "number": "SUP-7",
        "subject": "RE: Stüdio – VPN down",
        "status": "open",
        "priority": "high",
        "requester": {"name": "Bob", "email": "bob@example.com", "role": "requester"},
        "assignee": None,
        "category": None,
        "sla": {"status": "on time", "target": "first response", "due": "soon", "left": "4h left"},
    }
    values: dict[str, object] = {
        "notification_id": 1,
        "channel": "email",
        "recipient": "bob@example.com",
        "template": "ticket_opened",
        "context": {"ticket": ticket, "recipient": ticket["requester"]},
        "dedupe_key": "k",
        "message_id": "<sup-7.x@support.test>",
    }
    values.update(overrides)
    return Outbound(**values)  # type: ignore[arg-type]


def test_a_long_thread_stays_one_unfolded_line_and_a_reply_to_it_still_parses(clock):
    root = encode(new_root(clock.now(), bytes(16)))
    outbound = ticket_mail(thread=tuple(f"<m{n}@example.com>" for n in range(20)), thread_index=root)
    raw = compose(outbound, Renderer(), Sender(SUPPORT, "Support"), clock.now()).as_bytes()
    sent = _read(raw)
    assert len(index_of(sent)) == HEADER + 20 * 5
    assert re.search(rb"^Thread-Index: [A-Za-z0-9+/]{100,}=*\r$", raw, re.MULTILINE)
    assert sent["Thread-Topic"] == "Stüdio – VPN down"
    again = compose(outbound, Renderer(), Sender(SUPPORT, "Support"), clock.now())
    assert again["Thread-Index"] == sent["Thread-Index"], "a retry sends the same header"
    assert root_of(outlook_reply(sent, clock)) == root


def test_a_stored_root_gone_bad_sends_the_mail_without_outlooks_headers(clock):
    sent = compose(
        ticket_mail(thread_index="not a root"), Renderer(), Sender(SUPPORT, "Support"), clock.now()
    )
    assert sent["Thread-Index"] is None and sent["Thread-Topic"] is None
    assert sent["Subject"] == "[SUP-7] RE: Stüdio – VPN down"


def test_both_parses_read_the_conversation_and_only_a_well_formed_one():
    from channels.email.parse import parse, parse_cheaply

    raw = mail(index=f"{OUTLOOK_ROOT[:20]}\r\n {OUTLOOK_ROOT[20:]}")  # folded, as long headers come
    assert parse(raw).conversation == OUTLOOK_ROOT
    assert parse_cheaply(raw, problem="slow").conversation == OUTLOOK_ROOT
    assert parse(mail(index="AgHb9piJBsCGD1GVoU+wxkNV9ElnyQ==")).conversation is None
    assert parse(mail()).conversation is None


def test_a_stranger_writing_in_a_closed_tickets_conversation_cannot_take_its_replies(
    smtp, desk, store, outbox, clock, agent
):
    smtp.send(mail())
    ack, _ = outbox.one()
    desk.transition(agent, "SUP-1", Status.CLOSED)
    outbox.sent()
    stranger = mail("Me too", sender="mallory@example.net", index=outlook_reply(ack, clock))
    assert smtp.send(stranger) == (250, "2.0.0 SUP-2")
    assert stored_root(store, 2) != stored_root(store, 1)  # a conversation of its own
    # Bob's next reply in his conversation is his follow-up, never Mallory's ticket.
    assert smtp.send(mail("Again", index=outlook_reply(ack, clock), body="It is back.")) == (
        250,
        "2.0.0 SUP-3",
    )
    assert stored_root(store, 3) == stored_root(store, 1)
