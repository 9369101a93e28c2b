"""Mail in over IMAP: our poller against a real Dovecot, on SQLite and PostgreSQL.

Messages are put in the mailbox with imapclient's APPEND, as a delivering
server would, and the mailbox is read back with a second client, as a
person would see it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from imapclient import SEEN

from bot.config.settings import EmailSettings, Mailbox, load
from bot.desk.facade import Desk
from bot.errors import ConfigError
from bot.model import Actor
from bot.read.queries import TicketFilter
from bot.store.db import Store
from channels.bootstrap import build, imap_pollers
from channels.email.imap_mailbox import open_mailbox
from channels.email.imap_poller import ImapPoller, Tally, poll_once
from channels.email.ingest import EmailIngest
from channels.email.workers import MailWorkers
from tests.integration.cli.support import Cli
from tests.integration.dovecot import PASSWORD, USER, Dovecot
from tests.waiting import wait_until

MAIL = Path(__file__).resolve().parents[1] / "data" / "email"
SECRET = b"imap-test-secret"
MAILBOXES = (Mailbox("support@localhost"),)
RECIPIENTS = ["support@localhost"]
# How Dovecot's default Maildir++ layout spells the configured "Supportbot/Processed".
PROCESSED, ERRORS = "Supportbot.Processed", "Supportbot.Errors"
WAIT_SECONDS = 20.0


@pytest.fixture
def ingest(desk: Desk, tmp_path: Path) -> Iterator[EmailIngest]:
    with EmailIngest(desk, MAILBOXES, SECRET) as ingest:
        yield ingest


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def message(
    subject: str = "Printer on fire", *, message_id: str, headers: str = "", body: str = "It is on fire."
) -> bytes:
    return (
        f"From: Bob Example <bob@example.com>\r\nTo: support@localhost\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n{headers}\r\n{body}\r\n"
    ).encode()


def append(dovecot: Dovecot, *raws: bytes, seen: bool = False, when: datetime | None = None) -> None:
    with dovecot.client() as client:
        for raw in raws:
            client.append("INBOX", raw, flags=[SEEN] if seen else [], msg_time=when)


def flags(dovecot: Dovecot, folder: str) -> list[set[bytes]]:
    """The flags of each message in ``folder``, oldest first (without \\Recent, which is per session)."""
    with dovecot.client() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS"])
        return [set(fetched[uid][b"FLAGS"]) - {b"\\Recent"} for uid in sorted(fetched)]


def poll(dovecot: Dovecot, ingest: EmailIngest, *, basic: bool = False) -> Tally:
    with open_mailbox(dovecot.account(basic=basic), PASSWORD) as mailbox:
        return poll_once(mailbox, ingest, RECIPIENTS)


def tickets(desk: Desk) -> list[str]:
    return sorted(view.number for view in desk.list_tickets(TicketFilter()))


@contextlib.contextmanager
def looping(poller: ImapPoller) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), name="imap test loop")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive(), "the loop did not stop"


def imap_env(dovecot: Dovecot) -> dict[str, str]:
    # poll_seconds = 1: mail that lands between a search and IDLE's start waits for the next
    # round (Dovecot's Maildir may not report it in IDLE), and the test should not wait a minute.
    account = {"host": "127.0.0.1", "port": dovecot.port, "tls": False, "user": USER, "poll_seconds": 1}
    return {"SUPPORTBOT_IMAP": json.dumps([account]), "SUPPORTBOT_IMAP_PASSWORD": PASSWORD}


# -- one round ------------------------------------------------------------------------


def test_new_mail_becomes_a_ticket_then_is_seen_in_the_processed_folder(dovecot, ingest, desk):
    append(dovecot, fixture("new_plain.eml"))

    tally = poll(dovecot, ingest)

    assert (tally.new, tally.errors, tally.deferred) == (1, 0, False)
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.subject == "VPN keeps dropping"
    assert flags(dovecot, "INBOX") == []
    assert flags(dovecot, PROCESSED) == [{SEEN}]


def test_mail_someone_already_read_in_webmail_is_still_taken_in(dovecot, ingest, desk):
    append(dovecot, fixture("new_plain.eml"), seen=True)

    assert poll(dovecot, ingest).new == 1
    assert flags(dovecot, "INBOX") == []


def test_reply_in_reply_to_an_earlier_message_becomes_a_comment(dovecot, ingest, desk):
    append(dovecot, fixture("new_plain.eml"))
    poll(dovecot, ingest)
    reply = message(
        "Re: VPN keeps dropping",
        message_id="<bob-reply-1@example.com>",
        headers="In-Reply-To: <new-plain-1@mail.example.com>\r\n",
        body="It dropped again at noon.",
    )
    append(dovecot, reply)

    tally = poll(dovecot, ingest)

    assert (tally.new, tally.comments) == (0, 1)
    assert tickets(desk) == ["SUP-1"]
    assert desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].body == "It dropped again at noon."
    assert flags(dovecot, PROCESSED) == [{SEEN}, {SEEN}]


def test_a_ticket_and_its_reply_in_one_round_are_taken_in_oldest_first(dovecot, ingest, desk):
    append(dovecot, fixture("new_plain.eml"), fixture("gmail_reply.eml"))

    tally = poll(dovecot, ingest)

    assert (tally.new, tally.comments) == (1, 1)
    assert tickets(desk) == ["SUP-1"] and len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2


def test_polling_twice_stores_nothing_twice(dovecot, ingest, desk):
    raw = fixture("new_plain.eml")
    append(dovecot, raw)
    poll(dovecot, ingest)

    assert poll(dovecot, ingest) == Tally()
    append(dovecot, raw)  # the same message delivered a second time
    again = poll(dovecot, ingest)

    assert (again.new, again.duplicates) == (0, 1)
    assert tickets(desk) == ["SUP-1"] and len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 1
    assert flags(dovecot, PROCESSED) == [{SEEN}, {SEEN}]


def test_store_outage_leaves_the_mail_unseen_in_the_inbox_for_the_next_round(
    dovecot, ingest, desk, settings, clock, tmp_path
):
    append(dovecot, fixture("new_plain.eml"), message(message_id="<fire-1@example.com>"))
    down = Desk(Store("postgresql+psycopg://postgres@127.0.0.1:1/none"), clock, settings)
    try:
        with EmailIngest(down, MAILBOXES, SECRET) as failing:
            tally = poll(dovecot, failing)
    finally:
        down.store.dispose()

    assert tally.deferred and tally.seen == 0
    assert flags(dovecot, "INBOX") == [set(), set()]
    assert flags(dovecot, PROCESSED) == flags(dovecot, ERRORS) == []

    assert poll(dovecot, ingest).new == 2


def test_mail_is_left_unseen_for_the_next_round_while_hostile_parses_hold_every_parse_thread(
    dovecot, desk, settings
):
    """Bounds lifted so nh3 really runs (25,000 levels: about 1 s) past a 0.1 s limit on the one thread."""
    html = "\r\n".join(["<div>" * 100] * 250)
    hostile = message(message_id="<deep@example.com>", headers="Content-Type: text/html\r\n", body=html)
    options = EmailSettings(max_html_depth=10**6, max_html_elements=10**6, ingest_threads=1)
    workers = MailWorkers(options, parse_limit=0.1)
    try:
        with EmailIngest(desk, MAILBOXES, SECRET, options, workers) as ingest:
            append(dovecot, hostile, message(message_id="<genuine@example.com>"))
            tally = poll(dovecot, ingest)
            assert (tally.new, tally.deferred) == (1, True)  # the hostile one, read cheaply
            assert flags(dovecot, "INBOX") == [set()] and flags(dovecot, ERRORS) == []
    finally:
        workers.shutdown(wait_for_parses=True)
    with EmailIngest(desk, MAILBOXES, SECRET) as ingest:
        assert poll(dovecot, ingest).new == 1  # the genuine one, whole, in the next round
    assert [t.subject for t in desk.list_tickets(TicketFilter())] == ["Printer on fire"] * 2
    assert tickets(desk) == ["SUP-1", "SUP-2"] and flags(dovecot, "INBOX") == []


def test_mail_that_ingest_refuses_goes_to_the_error_folder_and_the_round_goes_on(
    dovecot, ingest, desk, caplog
):
    anonymous = (
        b"To: support@localhost\r\nSubject: Who am I\r\nMessage-ID: <anon-1@example.com>\r\n\r\nSecret.\r\n"
    )
    append(dovecot, anonymous, fixture("new_plain.eml"))

    with caplog.at_level(logging.WARNING, logger="channels.email.imap_poller"):
        tally = poll(dovecot, ingest)

    assert (tally.errors, tally.new) == (1, 1)
    assert flags(dovecot, ERRORS) == [set()]  # left unread, for a person to look at
    assert flags(dovecot, PROCESSED) == [{SEEN}] and flags(dovecot, "INBOX") == []
    [record] = [r for r in caplog.records if "refused" in r.getMessage()]
    logged = record.getMessage()
    assert re.search(r"uid \d+ <anon-1@example.com>: refused \(a message needs a sender", logged)
    assert "Secret." not in caplog.text


def test_crash_after_commit_before_the_move_gives_no_duplicate_next_time(dovecot, ingest, desk):
    raw = fixture("new_plain.eml")
    ingest.ingest(raw, recipients=RECIPIENTS)  # committed; then the process died before filing it
    append(dovecot, raw)

    tally = poll(dovecot, ingest)

    assert (tally.new, tally.duplicates) == (0, 1)
    assert tickets(desk) == ["SUP-1"] and len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 1
    assert flags(dovecot, "INBOX") == [] and flags(dovecot, PROCESSED) == [{SEEN}]


def test_without_move_the_mail_is_copied_then_expunged(dovecot, ingest, desk):
    append(dovecot, fixture("new_plain.eml"))

    with open_mailbox(dovecot.account(basic=True), PASSWORD) as mailbox:
        assert not mailbox.client.has_capability("MOVE")
        tally = poll_once(mailbox, ingest, RECIPIENTS)

    assert tally.new == 1
    assert flags(dovecot, "INBOX") == [] and flags(dovecot, PROCESSED) == [{SEEN}]


# -- the loop -------------------------------------------------------------------------


def test_loop_takes_mail_appended_while_it_idles(dovecot, ingest, desk):
    # poll_seconds far beyond the wait: only IDLE's notification can bring the mail in.
    poller = ImapPoller(dovecot.account(poll_seconds=300), ingest, PASSWORD, RECIPIENTS)
    with looping(poller):
        wait_until(poller.idling.is_set, seconds=WAIT_SECONDS, what="the loop is in IDLE", interval=0.05)
        append(dovecot, fixture("new_plain.eml"))
        wait_until(
            lambda: tickets(desk) == ["SUP-1"],
            seconds=WAIT_SECONDS,
            what="the appended mail is a ticket",
            interval=0.05,
        )
        wait_until(
            lambda: flags(dovecot, PROCESSED) == [{SEEN}],
            seconds=WAIT_SECONDS,
            what="the mail is filed away",
            interval=0.05,
        )


def test_loop_polls_on_a_timer_when_the_server_has_no_idle(dovecot, ingest, desk):
    poller = ImapPoller(dovecot.account(basic=True, poll_seconds=1), ingest, PASSWORD, RECIPIENTS)
    with looping(poller):
        append(dovecot, fixture("new_plain.eml"))
        wait_until(
            lambda: tickets(desk) == ["SUP-1"],
            seconds=WAIT_SECONDS,
            what="the mail is a ticket",
            interval=0.05,
        )
        assert not poller.idling.is_set()


def test_loop_reconnects_when_the_server_drops_it(dovecot, ingest, desk, caplog):
    poller = ImapPoller(dovecot.account(poll_seconds=300), ingest, PASSWORD, RECIPIENTS, backoff_first=0.1)
    with caplog.at_level(logging.INFO, logger="channels.email.imap_poller"), looping(poller):
        wait_until(poller.idling.is_set, seconds=WAIT_SECONDS, what="the loop is in IDLE", interval=0.05)
        dovecot.kick()
        wait_until(
            lambda: "reconnecting" in caplog.text,
            seconds=WAIT_SECONDS,
            what="the loop notices the lost connection",
            interval=0.05,
        )
        wait_until(
            poller.idling.is_set, seconds=WAIT_SECONDS, what="the loop is in IDLE again", interval=0.05
        )
        append(dovecot, fixture("new_plain.eml"))
        wait_until(
            lambda: tickets(desk) == ["SUP-1"],
            seconds=WAIT_SECONDS,
            what="mail after the reconnect is a ticket",
            interval=0.05,
        )


def test_loop_stops_promptly_while_it_backs_off_from_an_unreachable_server(dovecot, ingest, caplog):
    account = dovecot.account(port=1)  # nothing listens there: connection refused, then backoff
    poller = ImapPoller(account, ingest, PASSWORD, RECIPIENTS, backoff_first=60)
    with caplog.at_level(logging.WARNING, logger="channels.email.imap_poller"), looping(poller) as stop:
        wait_until(
            lambda: "reconnecting in 60s" in caplog.text,
            seconds=WAIT_SECONDS,
            what="the connection fails",
            interval=0.05,
        )
        stop.set()
    # looping() asserts the thread ended within the wait, although its backoff was 60 s.


def test_serve_starts_a_polling_thread_per_account_and_stops_it(dovecot, environ):
    settings = load(None, {**environ, "SUPPORTBOT_IMAP": imap_env(dovecot)["SUPPORTBOT_IMAP"]})
    runtime = build(settings)
    try:
        with pytest.raises(ConfigError, match="SUPPORTBOT_IMAP_PASSWORD"):
            imap_pollers(runtime, {})
        workers = MailWorkers(settings.email)  # as serve does: the pollers use, never own, them
        threads = imap_pollers(runtime, {"SUPPORTBOT_IMAP_PASSWORD": PASSWORD}, workers)
        threads.start()
        try:
            append(dovecot, fixture("new_plain.eml"))
            wait_until(
                lambda: tickets(runtime.desk) == ["SUP-1"],
                seconds=WAIT_SECONDS,
                what="the mail is a ticket",
                interval=0.05,
            )
        finally:
            threads.stop()
            workers.shutdown()
        assert not any(thread.is_alive() for thread in threads.threads)
    finally:
        runtime.store.dispose()


# -- supportbot imap import -----------------------------------------------------------


def test_imap_import_since_backfills_without_touching_the_mailbox(dovecot, environ, desk):
    recent, old = datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2025, 12, 1, 9, tzinfo=UTC)
    append(dovecot, fixture("new_plain.eml"), when=recent)
    append(dovecot, fixture("gmail_reply.eml"), seen=True, when=recent)
    append(dovecot, message("Old news", message_id="<old-1@example.com>"), when=old)
    cli = Cli(environ)

    first = cli.ok("imap", "import", "--since", "2026-01-01", env=imap_env(dovecot))

    assert "1 new tickets, 1 comments, 0 duplicates, 0 bounces, 0 errors" in first
    assert tickets(desk) == ["SUP-1"] and len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2
    assert flags(dovecot, "INBOX") == [set(), {SEEN}, set()]
    with dovecot.client() as client:
        assert [name for _, _, name in client.list_folders()] == ["INBOX"]

    again = cli.ok("imap", "import", "--since", "2026-01-01", env=imap_env(dovecot))

    assert "0 new tickets, 0 comments, 2 duplicates" in again
    assert tickets(desk) == ["SUP-1"]


def test_imap_import_needs_a_configured_account_and_its_password(dovecot, environ):
    cli = Cli(environ)
    assert "no [[imap]] account" in cli.fails("imap", "import", "--since", "2026-01-01", code=2)
    env = {**imap_env(dovecot), "SUPPORTBOT_IMAP_PASSWORD": ""}
    assert "SUPPORTBOT_IMAP_PASSWORD" in cli.fails("imap", "import", "--since", "2026-01-01", code=2, env=env)
    env = {**imap_env(dovecot), "SUPPORTBOT_IMAP_PASSWORD": "wrong"}
    assert "login refused" in cli.fails("imap", "import", "--since", "2026-01-01", code=2, env=env)
