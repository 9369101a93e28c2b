"""Spam, banned senders and floods over real SMTP: held as suspended mail, never a ticket,
until an agent releases it; on SQLite and PostgreSQL."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.config.settings import Mailbox, load
from bot.desk.facade import Desk
from bot.errors import Forbidden, UserError
from bot.model import Actor, Role
from bot.read.queries import TicketFilter
from bot.store import tables as t
from bot.store.db import Store
from bot.store.files import FileStore
from bot.tickets.held_mail import HeldFilter
from channels.email.addresses import reply_address
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.smtp_harness import Smtp

SECRET = b"suspend-test-secret"
MAILBOXES = (Mailbox("support@localhost"),)


def message(
    subject: str = "Cheap pills",
    *,
    sender: str = "spammer@example.net",
    headers: str = "",
    body: str = "Buy now.",
    message_id: str | None = None,
) -> bytes:
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: {subject}\r\n{mid}{headers}\r\n{body}\r\n"
    ).encode()


def serve(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, MAILBOXES, SECRET, desk.settings.email)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
        ingest.close()


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    yield from serve(desk)


def desk_with(environ: dict[str, str], store: Store, clock, **options: str) -> Desk:
    names = {f"SUPPORTBOT_EMAIL_{name.upper()}": value for name, value in options.items()}
    return Desk(store, clock, load(None, {**environ, **names}))


def count(store: Store, table: type) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def tickets(desk: Desk) -> list[str]:
    return [view.number for view in desk.list_tickets(TicketFilter())]


SPAM_HEADERS = [
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes, score=12.3 required=5.0 tests=BAYES_99,URIBL_BLACK",
    "X-Spam: Yes",
    "x-spam-flag:   yes",
]


# -- spam ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", SPAM_HEADERS)
def test_mail_an_upstream_filter_marked_as_spam_is_held_with_no_ticket_person_or_answer(
    smtp, desk, store, header
):
    code, text = smtp.send(message(headers=f"{header}\r\n"), sender="spammer@example.net")

    assert (code, text) == (250, "2.0.0 Accepted")
    assert tickets(desk) == []
    assert count(store, t.Person) == 0  # a forged sender is made nobody
    assert count(store, t.Notification) == 0  # no acknowledgement: no backscatter
    [held] = desk.suspended_mail(Actor.console())
    assert (held.reason, held.sender, held.subject) == ("spam", "spammer@example.net", "Cheap pills")
    assert held.detail.lower().startswith(header.split(":")[0].lower())
    assert desk.suspended_counts(Actor.console())["spam"] == 1


@pytest.mark.parametrize(
    "header",
    ["X-Spam-Flag: NO", "X-Spam-Status: No, score=-0.1 required=5.0", "X-Spam: No", "X-Spam-Level: *****"],
)
def test_a_negative_verdict_is_a_normal_ticket(smtp, desk, header):
    code, text = smtp.send(message("Printer", headers=f"{header}\r\n"), sender="bob@example.com")
    assert (code, text) == (250, "2.0.0 SUP-1")
    assert desk.suspended_mail(Actor.console()) == []


def test_verdicts_from_an_untrusted_host_are_ignored(environ, store, clock):
    """A sender's own X-Spam-Flag (their filter, or a forger's) is no verdict of ours."""
    desk = desk_with(environ, store, clock, spam_trusted_hosts="192.0.2.10")
    for server in serve(desk):
        code, text = server.send(message("Printer", headers="X-Spam-Flag: YES\r\n"), sender="bob@example.com")
    assert (code, text) == (250, "2.0.0 SUP-1")
    assert desk.suspended_mail(Actor.console()) == []


def test_a_custom_verdict_header_replaces_the_shipped_ones(environ, store, clock, tmp_path):
    config = tmp_path / "supportbot.toml"
    config.write_text('[[email.spam_headers]]\nheader = "X-Barracuda-Spam-Status"\npattern = "^yes"\n')
    desk = Desk(store, clock, load(config, environ))
    for server in serve(desk):
        assert (
            server.send(message(headers="X-Barracuda-Spam-Status: Yes, score 9\r\n"))[1] == "2.0.0 Accepted"
        )
        assert server.send(message("Hello", headers="X-Spam-Flag: YES\r\n", sender="b@example.com")) == (
            250,
            "2.0.0 SUP-1",
        )


def test_a_bad_verdict_pattern_stops_start_up(environ, tmp_path):
    from bot.errors import ConfigError

    config = tmp_path / "supportbot.toml"
    config.write_text('[[email.spam_headers]]\nheader = "X-Spam"\npattern = "(unclosed"\n')
    with pytest.raises(ConfigError, match=r"email.spam_headers\[0\].pattern"):
        load(config, environ)


def test_spam_with_a_verified_reply_token_is_the_requesters_reply(smtp, desk):
    assert smtp.send(message("Printer", sender="bob@example.com", body="It burns.")) == (250, "2.0.0 SUP-1")
    token_address = reply_address("support@localhost", "SUP-1", "bob@example.com", SECRET)
    raw = message("Re: Printer", sender="bob@example.com", headers="X-Spam-Flag: YES\r\n", body="Still.")
    with smtplib.SMTP(smtp.controller.hostname, smtp.controller.port) as client:
        client.sendmail("bob@example.com", [token_address], raw)
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert [c.body for c in detail.comments] == ["It burns.", "Still."]
    assert desk.suspended_mail(Actor.console()) == []


def test_spam_that_only_references_a_ticket_is_still_held(smtp, desk, store):
    assert smtp.send(message("Printer", sender="bob@example.com", message_id="<first@example.com>"))[0] == 250
    raw = message(
        "Re: Printer", sender="bob@example.com", headers="In-Reply-To: <first@example.com>\r\nX-Spam: yes\r\n"
    )
    assert smtp.send(raw) == (250, "2.0.0 Accepted")
    assert len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 1


def test_the_same_spam_delivered_twice_is_held_once(smtp, desk, store):
    raw = message(headers="X-Spam-Flag: YES\r\n", message_id="<twice@example.net>")
    assert smtp.send(raw) == smtp.send(raw) == (250, "2.0.0 Accepted")
    assert count(store, t.SuspendedMail) == 1


# -- agents' work on suspended mail -------------------------------------------------------


def test_agents_search_and_release_held_mail_which_is_then_acknowledged(smtp, desk, store, agent, settings):
    raw = (
        b"From: Carol <carol@example.org>\r\nTo: support@localhost\r\nSubject: Invoice question\r\n"
        b"Message-ID: <carol-1@example.org>\r\nX-Spam-Flag: YES\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"Where is my invoice?\r\n--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK\r\n--b--\r\n"
    )
    assert smtp.send(raw, sender="carol@example.org") == (250, "2.0.0 Accepted")
    smtp.send(message("Winner!!!", headers="X-Spam-Flag: YES\r\n"))

    assert [h.subject for h in desk.suspended_mail(agent, HeldFilter(query="INVOICE"))] == [
        "Invoice question"
    ]
    assert [h.subject for h in desk.suspended_mail(agent, HeldFilter(query="carol@"))] == ["Invoice question"]
    [carol] = desk.suspended_mail(agent, HeldFilter(query="carol"))
    shown = desk.suspended_message(agent, carol.id)
    assert shown.text == "Where is my invoice?" and shown.attachments == 1
    assert desk.suspended_source(agent, carol.id) == raw
    assert count(store, t.Notification) == 0

    [released] = desk.release_suspended(agent, [carol.id])

    assert (released.ticket, released.created, released.error) == ("SUP-1", True, None)
    detail = desk.visible_ticket(agent, "SUP-1")
    assert "carol@example.org" in detail.ticket.requester
    assert [a.filename for a in desk.ticket_files(agent, "SUP-1")] == ["invoice.pdf"]
    assert FileStore(settings.attachments_path).get(detail.comments[0].source_sha256) == raw
    with store.read() as session:
        [ack] = session.scalars(select(t.Notification)).all()
    assert (ack.template, ack.recipient) == ("ticket_opened", "carol@example.org")
    assert [h.subject for h in desk.suspended_mail(agent)] == ["Winner!!!"]
    [kept] = desk.suspended_mail(agent, HeldFilter(released=True))
    assert (kept.ticket, kept.released_by) == ("SUP-1", agent.label)
    # Released once: a second release changes nothing; a retry of the mail is a duplicate.
    assert desk.release_suspended(agent, [carol.id])[0].error == "already released"
    assert smtp.send(raw, sender="carol@example.org") == (250, "2.0.0 SUP-1")
    assert len(desk.visible_ticket(agent, "SUP-1").comments) == 1


def test_agents_delete_held_mail_in_bulk(smtp, desk, agent):
    for n in range(5):
        smtp.send(message(f"Offer {n}", headers="X-Spam-Flag: YES\r\n"))
    smtp.send(message("Keep me", headers="X-Spam-Flag: YES\r\n", sender="maybe@example.com"))
    offers = desk.suspended_mail(agent, HeldFilter(query="offer"))
    assert desk.delete_suspended(agent, ids=[offers[0].id]) == 1
    assert desk.delete_suspended(agent, held=HeldFilter(query="offer", reason="spam"), batch=2) == 4
    assert [h.subject for h in desk.suspended_mail(agent)] == ["Keep me"]


def test_requesters_cannot_see_or_release_held_mail(smtp, desk):
    smtp.send(message(headers="X-Spam-Flag: YES\r\n"))
    nobody = Actor(7, "someone@example.com", Role.REQUESTER)
    for action in (
        lambda: desk.suspended_mail(nobody),
        lambda: desk.release_suspended(nobody, [1]),
        lambda: desk.delete_suspended(nobody, ids=[1]),
    ):
        with pytest.raises(Forbidden):
            action()


def test_a_bad_filter_is_refused_with_its_field(desk, agent):
    with pytest.raises(UserError, match="reason") as refused:
        desk.suspended_mail(agent, HeldFilter(reason="junk"))
    assert refused.value.field == "reason"


def test_held_mail_is_forgotten_after_its_retention(smtp, desk, clock, agent):
    smtp.send(message(headers="X-Spam-Flag: YES\r\n"))
    clock.advance(days=29)
    assert desk.prune_suspended() == 0
    clock.advance(days=2)
    assert desk.prune_suspended() == 1
    assert desk.suspended_mail(agent) == []


# -- the ban list ------------------------------------------------------------------------


def test_a_banned_envelope_sender_is_refused_at_rcpt_with_5_7_1(smtp, desk, admin, store):
    desk.ban_sender(admin, "Pest@Example.COM", "sends every hour")
    with smtplib.SMTP(smtp.controller.hostname, smtp.controller.port) as client:
        client.ehlo()
        assert client.mail("pest@example.com")[0] == 250
        code, text = client.rcpt("support@localhost")
    assert (code, text.decode()) == (
        550,
        "5.7.1 <pest@example.com>: sender refused by this help desk's policy",
    )
    assert count(store, t.SuspendedMail) == 0 and tickets(desk) == []


def test_a_banned_domain_covers_its_subdomains_but_not_lookalikes(smtp, desk, admin):
    desk.ban_sender(admin, "spam.example")
    assert smtp.send(message(), sender="a@mail.spam.example")[0] == 550
    assert smtp.send(message(), sender="b@spam.example")[0] == 550
    assert smtp.send(message("Hi"), sender="c@notspam.example") == (250, "2.0.0 SUP-1")


def test_a_banned_from_header_behind_another_envelope_is_refused_at_data(smtp, desk, admin):
    desk.ban_sender(admin, "pest@example.com")
    code, text = smtp.send(message(sender="pest@example.com"), sender="bounces@relay.example")
    assert (code, text) == (550, "5.7.1 <pest@example.com>: sender refused by this help desk's policy")


def test_with_the_suspend_policy_banned_mail_is_held(environ, store, clock, admin):
    desk = desk_with(environ, store, clock, banned_action="suspend")
    desk.ban_sender(admin, "pest@example.com")
    for server in serve(desk):
        assert server.send(message(sender="pest@example.com"), sender="pest@example.com") == (
            250,
            "2.0.0 Accepted",
        )
    [held] = desk.suspended_mail(admin)
    assert (held.reason, held.detail) == ("banned", "sender banned (pest@example.com)")


def test_lifting_a_ban_lets_mail_in_again_at_once(smtp, desk, admin):
    ban = desk.ban_sender(admin, "pest@example.com")
    assert smtp.send(message(), sender="pest@example.com")[0] == 550
    assert [b.pattern for b in desk.bans(admin)] == ["pest@example.com"]
    desk.unban_sender(admin, str(ban.id))
    assert smtp.send(message("Sorry"), sender="pest@example.com") == (250, "2.0.0 SUP-1")


@pytest.mark.parametrize("pattern", ["", "not an address", "a@", "@", "com", "a@b@c.example", "x" * 400])
def test_a_ban_that_names_no_address_or_domain_is_refused(desk, admin, pattern):
    with pytest.raises(UserError) as refused:
        desk.ban_sender(admin, pattern)
    assert refused.value.field == "pattern"


def test_only_admins_keep_the_ban_list(desk, agent, admin):
    with pytest.raises(Forbidden):
        desk.ban_sender(agent, "pest@example.com")
    desk.ban_sender(admin, "pest@example.com")
    with pytest.raises(UserError, match="already banned"):
        desk.ban_sender(admin, "PEST@example.com")


# -- floods --------------------------------------------------------------------------------


def test_new_tickets_beyond_the_burst_limit_are_held_until_the_hour_passes(environ, store, clock, admin):
    desk = desk_with(environ, store, clock, burst_limit="3")
    for server in serve(desk):
        answers = [server.send(message(f"Alert {n}", sender="monitor@example.com")) for n in range(5)]
        assert answers == [(250, f"2.0.0 SUP-{n}") for n in (1, 2, 3)] + [(250, "2.0.0 Accepted")] * 2
        # Replies on its tickets still arrive; another sender is not held back.
        token = reply_address("support@localhost", "SUP-1", "monitor@example.com", SECRET)
        with smtplib.SMTP(server.controller.hostname, server.controller.port) as client:
            client.sendmail(
                "monitor@example.com", [token], message("Re: Alert 0", sender="monitor@example.com")
            )
        assert server.send(message("Hello", sender="else@example.com")) == (250, "2.0.0 SUP-4")
        clock.advance(minutes=61)
        assert server.send(message("Alert 6", sender="monitor@example.com")) == (250, "2.0.0 SUP-5")
    held = desk.suspended_mail(admin)
    assert {h.reason for h in held} == {"burst"} and len(held) == 2
    assert "3 tickets within the hour (limit 3)" in held[0].detail
    assert len(desk.visible_ticket(admin, "SUP-1").comments) == 2


def test_a_ban_made_by_another_process_is_enforced_at_data_at_once(smtp, desk, store, clock, settings, admin):
    other_process = Desk(store, clock, settings)
    other_process.ban_sender(admin, "pest@example.com")
    code, text = smtp.send(message(sender="pest@example.com"), sender="pest@example.com")
    assert (code, text) == (550, "5.7.1 <pest@example.com>: sender refused by this help desk's policy")
    # That message refreshed this process's list: the next one is refused at RCPT already.
    with smtplib.SMTP(smtp.controller.hostname, smtp.controller.port) as client:
        client.ehlo()
        client.mail("pest@example.com")
        assert client.rcpt("support@localhost")[0] == 550


def test_with_the_suspend_policy_a_banned_envelope_sender_is_held_whatever_from_says(
    environ, store, clock, admin
):
    desk = desk_with(environ, store, clock, banned_action="suspend")
    desk.ban_sender(admin, "pest@example.com")
    for server in serve(desk):
        assert server.send(message(sender="innocent@example.com"), sender="pest@example.com") == (
            250,
            "2.0.0 Accepted",
        )
    [held] = desk.suspended_mail(admin)
    assert held.reason == "banned" and held.sender == "innocent@example.com"


def test_a_flood_forging_an_agents_address_is_held_like_any_other(environ, store, clock, admin):
    desk = desk_with(environ, store, clock, burst_limit="2")
    desk.add_person(admin, "agent@support.test", role=Role.AGENT)
    for server in serve(desk):
        answers = [server.send(message(f"Fake {n}", sender="agent@support.test"))[1] for n in range(3)]
    assert answers[2] == "2.0.0 Accepted"
    assert [h.reason for h in desk.suspended_mail(admin)] == ["burst"]


def test_the_burst_limit_counts_messages_of_one_batch(environ, store, clock, admin):
    """Several messages in one transaction (group commit) from a sender new to the desk."""
    from bot.messages import Identity, Inbound

    desk = desk_with(environ, store, clock, burst_limit="2")
    batch = [
        Inbound(
            channel="email",
            key=f"<b{n}@example.com>",
            sender=Identity(email="new@example.com"),
            subject=f"Alert {n}",
            text="Down.",
        )
        for n in range(4)
    ]
    receipts = desk.receive_together(batch)
    assert [r.suspended_id is not None for r in receipts] == [False, False, True, True]
