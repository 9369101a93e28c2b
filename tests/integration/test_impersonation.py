"""Mail that claims to be an agent's, over real SMTP: only a reply token that verifies for the
From address makes it an agent's act. Every forged path is kept as a flagged internal note
and mails nobody: a help desk that passes it on sends phishing under its own name."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.config.settings import Mailbox
from bot.desk.facade import Desk
from bot.model import Actor, Status
from bot.store import tables as t
from bot.store.db import Store
from channels.email.addresses import reply_address
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.smtp_harness import Smtp

SECRET = b"impersonation-secret"
SUPPORT = "support@localhost"
AGENT = "agent@support.test"
_ids = itertools.count()


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, (Mailbox(SUPPORT),), SECRET)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


def mail(sender: str, subject: str, body: str, headers: str = "", message_id: str | None = None) -> bytes:
    mid = f"Message-ID: {message_id or f'<f{next(_ids)}@evil.test>'}\r\n"
    text = f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n{mid}{headers}\r\n{body}\r\n"
    return text.encode()


def notifications(store: Store) -> list[tuple[str, str]]:
    with store.read() as session:
        rows = session.execute(
            select(t.Notification.recipient, t.Notification.template).order_by(t.Notification.id)
        )
        return [(row.recipient, row.template) for row in rows]


def followers(store: Store, number: str) -> list[str]:
    with store.read() as session:
        ticket = session.get(t.Ticket, int(number.split("-")[1]))
        assert ticket is not None
        return [person.email or "" for person in ticket.followers]


def ack_message_id(store: Store, recipient: str) -> str:
    with store.read() as session:
        thread = session.scalar(
            select(t.Notification.thread).where(
                t.Notification.recipient == recipient, t.Notification.template == "ticket_opened"
            )
        )
    assert thread is not None
    return str(thread["message_id"])


@pytest.fixture
def opened(smtp: Smtp, desk: Desk, store: Store, agent: object) -> str:
    """A stranger opens a ticket with a victim on Cc: both are mailed what agents write."""
    raw = mail(
        "Mallory <mallory@evil.test>",
        "Invoice question",
        "Where is my invoice?",
        "Cc: Victim <victim@example.com>\r\n",
        message_id="<first@evil.test>",
    )
    assert smtp.send(raw, sender="mallory@evil.test") == (250, "2.0.0 SUP-1")
    assert followers(store, "SUP-1") == ["victim@example.com"]
    return "SUP-1"


PHISH = "Your account is suspended. Log in at https://evil.test/login to restore it."


def forged_paths(store: Store) -> dict[str, str]:
    ack = ack_message_id(store, "mallory@evil.test")
    return {
        "in-reply-to the first mail": "In-Reply-To: <first@evil.test>\r\n",
        "references the first mail": "References: <first@evil.test>\r\n",
        "in-reply-to the requester's acknowledgement": f"In-Reply-To: {ack}\r\n",
        "references the requester's acknowledgement": f"References: <first@evil.test> {ack}\r\n",
        "subject tag": "",
    }


@pytest.mark.parametrize(
    "path",
    [
        "in-reply-to the first mail",
        "references the first mail",
        "in-reply-to the requester's acknowledgement",
        "references the requester's acknowledgement",
        "subject tag",
    ],
)
def test_mail_claiming_an_agents_address_is_a_flagged_note_that_mails_nobody(smtp, desk, store, opened, path):
    before = notifications(store)
    raw = mail(f"Ann Agent <{AGENT}>", f"Re: [{opened}] Invoice question", PHISH, forged_paths(store)[path])
    code, reply = smtp.send(raw, sender=AGENT)
    assert (code, reply) == (250, "2.0.0 SUP-1")
    note = desk.visible_ticket(Actor.console(), opened).comments[-1]
    assert (note.author, note.body.strip(), note.public, note.flagged) == (AGENT, PHISH, False, True)
    assert notifications(store) == before
    received = [e for e in desk.visible_ticket(Actor.console(), opened).events if e.kind == "received"][-1]
    assert received.after["trusted"] is False and "not verified" in received.after["rule"]


def test_the_requesters_own_reply_token_does_not_vouch_for_an_agents_from(smtp, desk, store, opened):
    """The requester has a signed address for themselves; it is no proof of anyone else."""
    before = notifications(store)
    theirs = reply_address(SUPPORT, opened, "mallory@evil.test", SECRET)
    code, _ = smtp.send(mail(AGENT, "Re: Invoice question", PHISH), sender=AGENT, to=theirs)
    assert code == 250
    note = desk.visible_ticket(Actor.console(), opened).comments[-1]
    assert (note.author, note.public, note.flagged) == (AGENT, False, True)
    assert notifications(store) == before


def test_an_agents_own_reply_token_makes_their_mail_an_agents_reply(smtp, desk, store, opened):
    """The control: the agent's notification carried this address; their answer goes out."""
    before = notifications(store)
    signed = reply_address(SUPPORT, opened, AGENT, SECRET)
    code, _ = smtp.send(
        mail(AGENT, "Re: Invoice question", "Your invoice is attached."), sender=AGENT, to=signed
    )
    assert code == 250
    note = desk.visible_ticket(Actor.console(), opened).comments[-1]
    assert (note.author, note.public, note.flagged) == (AGENT, True, False)
    added = notifications(store)[len(before) :]
    assert sorted(added) == [("mallory@evil.test", "agent_replied"), ("victim@example.com", "agent_replied")]


def test_a_forged_internal_marker_is_flagged_too(smtp, desk, store, opened):
    before = notifications(store)
    raw = mail(
        AGENT, "Re: Invoice question", "#note refund approved, pay them", "In-Reply-To: <first@evil.test>\r\n"
    )
    assert smtp.send(raw, sender=AGENT)[0] == 250
    note = desk.visible_ticket(Actor.console(), opened).comments[-1]
    assert (note.public, note.flagged) == (False, True)
    assert notifications(store) == before


def test_forged_agent_mail_neither_reopens_nor_moves_a_resolved_ticket(smtp, desk, store, opened, admin):
    desk.transition(admin, opened, Status.RESOLVED)
    before = notifications(store)
    raw = mail(AGENT, "Re: Invoice question", "Reopening this.", "In-Reply-To: <first@evil.test>\r\n")
    assert smtp.send(raw, sender=AGENT)[0] == 250
    detail = desk.visible_ticket(Actor.console(), opened)
    assert detail.ticket.status == Status.RESOLVED.value
    assert detail.comments[-1].flagged
    assert notifications(store) == before


def test_forged_agent_mail_to_a_closed_ticket_opens_a_flagged_follow_up(smtp, desk, store, opened, admin):
    desk.transition(admin, opened, Status.RESOLVED)
    desk.transition(admin, opened, Status.CLOSED)
    before = notifications(store)
    raw = mail(
        AGENT, "Re: Invoice question", PHISH, "In-Reply-To: <first@evil.test>\r\nCc: other@example.com\r\n"
    )
    assert smtp.send(raw, sender=AGENT) == (250, "2.0.0 SUP-2")
    follow_up = desk.visible_ticket(Actor.console(), "SUP-2")
    assert [(c.public, c.flagged) for c in follow_up.comments] == [(False, True)]
    assert followers(store, "SUP-2") == []
    assert notifications(store) == before


def test_new_mail_from_an_agents_address_is_flagged_and_enrols_nobody(smtp, desk, store, agent):
    raw = mail(AGENT, "Please reset my password", PHISH, "Cc: victim@example.com\r\n")
    assert smtp.send(raw, sender=AGENT) == (250, "2.0.0 SUP-1")
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert [(c.public, c.flagged) for c in detail.comments] == [(False, True)]
    assert followers(store, "SUP-1") == []
    assert notifications(store) == []
