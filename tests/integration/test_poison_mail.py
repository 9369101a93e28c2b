"""Messages that fail every time they are stored, for a reason of ours: retried a few times,
then set aside (SMTP ``554 5.6.0``, IMAP's error folder), kept for an agent, and counted;
the mail behind them keeps flowing. On SQLite and PostgreSQL, over real SMTP and Dovecot.

The failure is real: a trigger in the store refuses any comment whose text says POISON,
as a bug of ours or a broken database object would refuse one message and not the next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from bot.config.settings import Mailbox, load
from bot.desk.facade import Desk
from bot.store import tables as t
from bot.store.db import Store
from bot.tickets.held_mail import HeldFilter
from channels.email.imap_mailbox import open_mailbox
from channels.email.imap_poller import poll_once
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.dovecot import PASSWORD, Dovecot
from tests.integration.smtp_harness import Smtp

SECRET = b"poison-test-secret"
MAILBOXES = (Mailbox("support@localhost"),)
ERRORS = "Supportbot.Errors"

SQLITE_TRIGGER = """
CREATE TRIGGER poison BEFORE INSERT ON comments WHEN NEW.body LIKE '%POISON%'
BEGIN SELECT RAISE(ABORT, 'comment refused by the poison trigger'); END
"""
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION poison() RETURNS trigger AS $$
BEGIN
  IF NEW.body LIKE '%POISON%' THEN RAISE EXCEPTION 'comment refused by the poison trigger'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""
PG_TRIGGER = "CREATE TRIGGER poison BEFORE INSERT ON comments FOR EACH ROW EXECUTE FUNCTION poison()"


@contextlib.contextmanager
def poisoned(store: Store) -> Iterator[None]:
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as conn:
        if postgres:
            conn.execute(text(PG_FUNCTION))
            conn.execute(text(PG_TRIGGER))
        else:
            conn.execute(text(SQLITE_TRIGGER))
    try:
        yield
    finally:
        cure(store)


def cure(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS poison" + (" ON comments" if _pg(store) else "")))


def _pg(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def message(n: int | str, *, poison: bool = False, sender: str = "bob@example.com") -> bytes:
    body = "POISON: this one always fails." if poison else f"Good message {n}."
    return (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: Message {n}\r\n"
        f"Message-ID: <msg-{n}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def tickets(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(t.Ticket)) or 0


@pytest.fixture
def desk(store, clock, environ) -> Desk:
    # Burst limit off: a hundred good messages from one sender are the point here.
    return Desk(store, clock, load(None, {**environ, "SUPPORTBOT_EMAIL_BURST_LIMIT": "0"}))


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, MAILBOXES, SECRET, desk.settings.email)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


def test_smtp_answers_451_then_554_after_max_attempts_and_keeps_the_message(smtp, desk, store, agent):
    raw = message("p1", poison=True)
    with poisoned(store):
        answers = [smtp.send(raw) for _ in range(3)]
        code, text = smtp.send(message(1))  # the store still takes other mail
        assert code == 250 and text.startswith("2.0.0 SUP-")

    retry = (451, "4.3.0 Temporary failure: please try again later")
    aside = (
        554,
        "5.6.0 Message could not be processed after 3 attempts; it is kept for the help desk to review",
    )
    assert answers == [retry, retry, aside]
    [held] = desk.suspended_mail(agent, HeldFilter(reason="failed"))
    assert held.subject == "Message p1" and "poison trigger" in held.detail
    assert desk.suspended_source(agent, held.id) == raw
    assert desk.mail_set_aside() == {"smtp": 1, "imap": 0}
    # Once its cause is fixed, an agent releases it and it is a ticket like any other.
    [released] = desk.release_suspended(agent, [held.id])
    assert released.error is None and released.created
    assert desk.visible_ticket(agent, released.ticket).ticket.subject == "Message p1"


def test_a_release_that_fails_again_is_reported_and_the_message_stays_held(smtp, desk, store, agent):
    with poisoned(store):
        for _ in range(3):
            smtp.send(message("p2", poison=True))
        [held] = desk.suspended_mail(agent)
        [result] = desk.release_suspended(agent, [held.id])
    assert result.ticket is None and result.error.startswith("could not be received")
    assert [h.id for h in desk.suspended_mail(agent)] == [held.id]


# -- IMAP --------------------------------------------------------------------------------


def test_imap_moves_each_failing_message_once_after_max_attempts_and_takes_the_100_behind_it(
    dovecot, desk, store, agent
):
    poison = [message(f"p{n}", poison=True, sender=f"p{n}@example.com") for n in range(3)]
    good = [message(n) for n in range(100)]
    with dovecot.client() as client:
        for raw in [*poison, *good]:
            client.append("INBOX", raw)

    rounds = []
    with EmailIngest(desk, MAILBOXES, SECRET, desk.settings.email) as ingest, poisoned(store):
        with open_mailbox(dovecot.account(), PASSWORD) as mailbox:
            for _ in range(4):
                rounds.append(poll_once(mailbox, ingest, ["support@localhost"]))

    assert [(r.new, r.failed, r.errors) for r in rounds] == [(100, 3, 0), (0, 3, 0), (0, 0, 3), (0, 0, 0)]
    assert tickets(store) == 100
    with dovecot.client() as client:
        client.select_folder(ERRORS, readonly=True)
        moved = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == []
    ids = sorted(v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split()[-1] for v in moved.values())
    assert ids == ["<msg-p0@example.com>", "<msg-p1@example.com>", "<msg-p2@example.com>"]  # each once
    assert desk.mail_set_aside() == {"smtp": 0, "imap": 3}
    assert len(desk.suspended_mail(agent, HeldFilter(reason="failed"))) == 3


def poll_all(dovecot: Dovecot, desk: Desk, **account: object):
    with EmailIngest(desk, MAILBOXES, SECRET, desk.settings.email) as ingest:
        with open_mailbox(dovecot.account(**account), PASSWORD) as mailbox:
            return poll_once(mailbox, ingest, ["support@localhost"])


def test_imap_spam_verdicts_count_only_from_accounts_that_trust_them(dovecot, desk, store, agent):
    spam = message("s1").replace(b"\r\n\r\n", b"\r\nX-Spam-Flag: YES\r\n\r\n", 1)
    with dovecot.client() as client:
        client.append("INBOX", spam)
    tally = poll_all(dovecot, desk, trust_spam_verdicts=True)
    assert (tally.suspended, tally.new) == (1, 0)
    assert [h.reason for h in desk.suspended_mail(agent)] == ["spam"]

    other = message("s2").replace(b"\r\n\r\n", b"\r\nX-Spam-Flag: YES\r\n\r\n", 1)
    with dovecot.client() as client:
        client.append("INBOX", other)
    tally = poll_all(dovecot, desk)  # by default, an IMAP server's verdicts are not believed
    assert (tally.suspended, tally.new) == (0, 1)


def test_imap_mail_from_a_banned_sender_goes_to_the_error_folder(dovecot, desk, store, admin):
    desk.ban_sender(admin, "pest@example.com")
    with dovecot.client() as client:
        client.append("INBOX", message("b1", sender="pest@example.com"))
        client.append("INBOX", message("b2"))
    tally = poll_all(dovecot, desk)
    assert (tally.errors, tally.new) == (1, 1)
    with dovecot.client() as client:
        client.select_folder(ERRORS, readonly=True)
        assert len(client.search("ALL")) == 1
