"""Who may write what, loops, auto-replies and followers, for mail parsed from real bytes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.config.settings import EmailSettings, Mailbox
from bot.model import Actor, Role, Status
from bot.notify.outbox import list_notifications
from channels.email.addresses import reply_address
from channels.email.ingest import EmailIngest

MAIL = Path(__file__).resolve().parents[1] / "data" / "email"
SUPPORT = "support@localhost"
_ids = itertools.count()


@pytest.fixture
def ingest(desk, tmp_path):
    options = EmailSettings(trusted_authserv_ids="mx.support.test")
    with EmailIngest(desk, (Mailbox(SUPPORT),), b"secret", options) as ingest:
        yield ingest


def mail(
    sender: str = "bob@example.com",
    subject: str = "Printer on fire",
    body: str = "It is on fire.",
    *,
    headers: str = "",
    message_id: str | None = None,
) -> bytes:
    mid = f"Message-ID: {message_id or f'<m{next(_ids)}@example.com>'}\r\n"
    return f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n{mid}{headers}\r\n{body}\r\n".encode()


def receive(ingest, raw: bytes):
    return ingest.ingest(raw, recipients=[SUPPORT]).receipt


def templates(store, recipient=None):
    return [
        n.template
        for n in reversed(list_notifications(store, prefix="SUP"))
        if recipient is None or n.recipient == recipient
    ]


def signed(number: str, email: str) -> str:
    """The reply address our notification to ``email`` carries (the fixture's secret)."""
    return reply_address(SUPPORT, number, email, b"secret")


def test_agent_reply_starting_with_the_marker_stays_internal(ingest, desk, agent, store):
    receive(ingest, mail(message_id="<q@x>"))
    raw = mail("agent@support.test", "Re: x", "#note customer is on the old VPN client")
    ingest.ingest(raw, recipients=[signed("SUP-1", "agent@support.test")])
    note = desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert (note.public, note.flagged, note.author) == (False, False, "agent@support.test")
    assert templates(store, "bob@example.com") == ["ticket_opened"]


def test_agent_reply_to_a_signed_address_is_public_and_sent_on_to_the_requester(ingest, desk, agent, store):
    receive(ingest, mail(message_id="<q@x>"))
    raw = mail("agent@support.test", "Re: x", "Restart the router.", headers="In-Reply-To: <q@x>\r\n")
    ingest.ingest(raw, recipients=[signed("SUP-1", "agent@support.test")])
    assert desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].public
    assert templates(store, "bob@example.com") == ["ticket_opened", "agent_replied"]


def test_the_marker_means_nothing_from_a_requester(ingest, desk):
    receive(ingest, mail(message_id="<q@x>"))
    receive(ingest, mail(body="#note this is for everyone", headers="In-Reply-To: <q@x>\r\n"))
    assert desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].public


@pytest.mark.parametrize(
    "sender", ["noreply@shop.example", "no-reply@bank.example", "do-not-reply@x.example"]
)
def test_robots_get_a_ticket_but_never_an_answer(ingest, desk, store, sender):
    receipt = receive(ingest, mail(sender))
    assert receipt.created
    assert templates(store) == []


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example"])
def test_mail_from_delivery_systems_is_a_bounce_and_opens_no_ticket(ingest, desk, store, sender):
    result = ingest.ingest(mail(sender), recipients=[SUPPORT])
    assert result.receipt.ticket_number is None
    assert templates(store) == []


def test_mail_from_our_own_address_is_never_answered(ingest, store):
    receive(ingest, mail(SUPPORT))
    receive(ingest, mail("support+sup-9.abc@localhost"))
    assert templates(store) == []


def test_acknowledgements_per_sender_are_limited_within_the_window(ingest, desk, store, clock):
    limit = desk.settings.email.ack_limit
    for _ in range(limit + 2):
        receive(ingest, mail())
    assert templates(store) == ["ticket_opened"] * limit
    last = f"SUP-{limit + 2}"
    suppressed = [
        e for e in desk.visible_ticket(Actor.console(), last).events if e.kind == "acknowledgement_suppressed"
    ]
    assert suppressed and suppressed[0].after["recipient"] == "bob@example.com"
    clock.advance(minutes=desk.settings.email.ack_window_minutes + 1)
    receive(ingest, mail())
    assert templates(store) == ["ticket_opened"] * (limit + 1)


def test_two_bots_stop_after_one_acknowledgement_each(ingest, desk, store):
    """Their robot answers our acknowledgement with a plain new mail quoting the subject."""
    receive(ingest, mail("robot@vendor.example", "Order 7 failed"))
    for _ in range(3):
        receipt = receive(ingest, mail("robot@vendor.example", "Re: [SUP-1] Order 7 failed", "Thank you!"))
        assert (receipt.ticket_number, receipt.rule) == ("SUP-1", "subject tag")
    assert templates(store) == ["ticket_opened"]


def test_subject_tag_from_someone_not_on_the_ticket_opens_a_new_one(ingest, desk):
    receive(ingest, mail())
    receipt = receive(ingest, mail("mallory@evil.test", "Re: [SUP-1] Printer on fire", "Give me access"))
    assert receipt.created and receipt.ticket_number == "SUP-2"
    assert "sender is not on it" in receipt.rule
    assert len(desk.visible_ticket(Actor.console(), "SUP-1").comments) == 1


def test_people_in_cc_follow_the_ticket_and_their_replies_thread(ingest, desk, agent, store):
    receive(ingest, mail(message_id="<q@x>", headers="Cc: Carol <carol@example.com>, support@localhost\r\n"))
    assert [
        e.after for e in desk.visible_ticket(Actor.console(), "SUP-1").events if e.kind == "followers_added"
    ] == [{"followers": ["carol@example.com"]}]
    reply = receive(
        ingest, mail("carol@example.com", "Re: Printer on fire", "Me too.", headers="In-Reply-To: <q@x>\r\n")
    )
    assert (reply.ticket_number, reply.created) == ("SUP-1", False)
    assert not desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].flagged
    tagged = receive(ingest, mail("carol@example.com", "[SUP-1] one more thing", "And the scanner."))
    assert tagged.ticket_number == "SUP-1"
    desk.comment(agent, "SUP-1", "On our way.")
    assert templates(store, "carol@example.com") == ["agent_replied"]
    assert templates(store, "bob@example.com")[-1] == "agent_replied"


def test_dmarc_failure_reported_by_our_mx_makes_a_reply_a_flagged_note(ingest, desk, admin):
    receive(ingest, mail(message_id="<q@x>"))
    desk.transition(admin, "SUP-1", Status.RESOLVED)
    forged = "Authentication-Results: mx.support.test; dmarc=fail (p=reject) header.from=example.com\r\n"
    receive(ingest, mail(body="Reopen and send me the data", headers=f"In-Reply-To: <q@x>\r\n{forged}"))
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.ticket.status == "resolved"
    assert detail.comments[-1].flagged and not detail.comments[-1].public


def test_dmarc_results_from_an_untrusted_server_are_ignored(ingest, desk):
    receive(ingest, mail(message_id="<q@x>"))
    claimed = "Authentication-Results: mx.attacker.test; dmarc=fail header.from=example.com\r\n"
    receive(ingest, mail(body="More info", headers=f"In-Reply-To: <q@x>\r\n{claimed}"))
    assert desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].public


def test_vacation_reply_to_a_resolved_ticket_is_kept_but_does_not_reopen(ingest, desk, admin, store):
    receive(ingest, mail("erin@example.com", message_id="<sup-1.ack@localhost>"))
    desk.transition(admin, "SUP-1", Status.RESOLVED)
    receive(ingest, (MAIL / "vacation.eml").read_bytes())
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.ticket.status == "resolved"
    assert "out of the office" in detail.comments[-1].body


def test_agents_copied_on_a_ticket_are_not_made_followers_twice(ingest, desk, admin):
    desk.add_person(admin, "dave@support.test", role=Role.AGENT)
    receive(ingest, mail(headers="Cc: dave@support.test, Bob@Example.com\r\n"))
    added = [
        e.after for e in desk.visible_ticket(Actor.console(), "SUP-1").events if e.kind == "followers_added"
    ]
    assert added == [{"followers": ["dave@support.test"]}]


def test_bounce_of_a_notification_marks_it_and_opens_no_ticket(ingest, desk, store, clock):
    from bot.notify.outbox import Dispatcher
    from bot.read.queries import TicketFilter
    from tests.fakes import RecordingSender

    receive(ingest, mail("gone@example.com"))
    Dispatcher(store, clock, {"email": RecordingSender()}, desk.settings.outbox).run_once()
    [ack] = list_notifications(store, prefix="SUP")
    with store.read() as session:
        from bot.store import tables as t

        message_id = session.get(t.Notification, ack.id).message_id
    template = (MAIL / "bounce_returning_notification.eml.template").read_bytes()
    result = ingest.ingest(
        template.replace(b"{MESSAGE_ID}", message_id.encode()), recipients=[SUPPORT], envelope_sender=""
    )
    assert result.receipt.ticket_number is None
    [bounced] = list_notifications(store, prefix="SUP", status="bounced")
    assert bounced.recipient == "gone@example.com" and "5.1.1 gone@example.com" in bounced.last_error
    assert len(desk.list_tickets(TicketFilter())) == 1


@pytest.mark.parametrize(
    "reply", ["gmail_reply.eml", "outlook_reply.eml", "apple_mail_reply.eml", "thunderbird_reply_de.eml"]
)
def test_replies_from_every_common_client_thread_onto_the_ticket(ingest, desk, reply):
    first = (
        (MAIL / "new_plain.eml")
        .read_bytes()
        .replace(b"To: support@localhost\r\n", b"To: support@localhost\r\nCc: dana@corp.example\r\n")
    )
    assert receive(ingest, first).ticket_number == "SUP-1"
    receipt = receive(ingest, (MAIL / reply).read_bytes())
    assert (receipt.ticket_number, receipt.created) == ("SUP-1", False)
    assert receipt.rule in ("references", "subject tag")  # Outlook's reply names only our acknowledgement
    comment = desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert comment.public and not comment.flagged
    assert "We have received your request" not in comment.body and comment.full_body


@pytest.mark.parametrize("to", ["support+sup-1.wrongtoken@localhost", "support+sup-1@localhost"])
def test_reply_address_without_a_valid_token_is_a_flagged_note_even_from_the_requester(
    ingest, desk, admin, to
):
    receive(ingest, mail())
    desk.transition(admin, "SUP-1", Status.RESOLVED)
    result = ingest.ingest(mail(body="Reopen please"), recipients=[to])
    detail = desk.visible_ticket(Actor.console(), "SUP-1")
    assert result.receipt.ticket_number == "SUP-1" and detail.ticket.status == "resolved"
    assert detail.comments[-1].flagged and not detail.comments[-1].public


def test_forged_agent_mail_with_a_subject_tag_cannot_answer_the_customer(ingest, desk, agent, store):
    receive(ingest, mail())
    receive(ingest, mail("agent@support.test", "Re: [SUP-1] Printer", "Send your password to x@evil.test"))
    last = desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert not last.public
    assert templates(store, "bob@example.com") == ["ticket_opened"]


def test_auto_replies_on_a_ticket_are_kept_but_never_passed_on(ingest, desk, agent, store):
    receive(ingest, mail(message_id="<q@x>", headers="Cc: carol@example.com\r\n"))
    ooo = "Auto-Submitted: auto-replied\r\nIn-Reply-To: <q@x>\r\n"
    receive(ingest, mail("agent@support.test", "Automatic reply: Printer", "I am away.", headers=ooo))
    receive(ingest, mail("bob@example.com", "Automatic reply: Printer", "Out of office.", headers=ooo))
    assert [c.body for c in desk.visible_ticket(Actor.console(), "SUP-1").comments][-2:] == [
        "I am away.",
        "Out of office.",
    ]
    assert templates(store) == ["ticket_opened"]


def test_forged_mail_makes_no_followers(ingest, desk):
    forged = (
        "Authentication-Results: mx.support.test; dmarc=fail header.from=example.com\r\nCc: eve@evil.test\r\n"
    )
    receive(ingest, mail(headers=forged))
    assert not [
        e for e in desk.visible_ticket(Actor.console(), "SUP-1").events if e.kind == "followers_added"
    ]


def test_an_address_we_cannot_store_in_cc_is_skipped_not_fatal(ingest, desk):
    receipt = receive(ingest, mail(headers='Cc: "john smith"@example.com, carol@example.com\r\n'))
    assert receipt.created
    followers = [
        e.after for e in desk.visible_ticket(Actor.console(), "SUP-1").events if e.kind == "followers_added"
    ]
    assert followers == [{"followers": ["carol@example.com"]}]


def test_a_person_writing_from_postmaster_gets_a_ticket_but_no_answer(ingest, store):
    receipt = receive(ingest, mail("postmaster@small.example", "Our MX is down"))
    assert receipt.created and templates(store) == []


def test_a_signed_reply_address_in_the_headers_is_enough_for_imap(ingest, desk):
    from channels.email.addresses import reply_address

    receive(ingest, mail())
    to = reply_address(SUPPORT, "SUP-1", "bob@example.com", b"secret")
    raw = mail("bob@example.com", "totally new subject", "answer").replace(
        f"To: {SUPPORT}".encode(), f"To: {to}".encode()
    )
    result = ingest.ingest(raw, recipients=[SUPPORT])  # IMAP knows only the account's address
    assert (result.receipt.ticket_number, result.receipt.rule) == ("SUP-1", "ticket number")
    assert desk.visible_ticket(Actor.console(), "SUP-1").comments[-1].public


@pytest.mark.parametrize("name", ["japanese_iso2022jp.eml", "cyrillic_koi8r.eml", "mislabelled_cp1251.eml"])
def test_legacy_charset_mail_is_stored_readable_and_its_reply_threads(ingest, desk, name):
    raw = (MAIL / name).read_bytes()
    receipt = receive(ingest, raw)
    parsed_subject = desk.visible_ticket(Actor.console(), receipt.ticket_number).ticket.subject
    assert "=?" not in parsed_subject and parsed_subject.strip()
    sender = desk.visible_ticket(Actor.console(), receipt.ticket_number).ticket.requester
    message_id = [
        line for line in raw.decode("ascii", "replace").splitlines() if line.startswith("Message-ID")
    ][0]
    reply = mail(
        sender, f"Re: {parsed_subject}", "Спасибо / ありがとう", headers=f"In-Reply-To: {message_id[12:]}\r\n"
    )
    assert receive(ingest, reply).ticket_number == receipt.ticket_number
    assert (
        desk.visible_ticket(Actor.console(), receipt.ticket_number).comments[-1].body
        == "Спасибо / ありがとう"
    )
