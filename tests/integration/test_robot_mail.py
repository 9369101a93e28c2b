"""Robots' mail over real SMTP, on both stores: kept, but never acknowledged, reopening or
passed on; and people's mail that looks a little like a robot's still taken as a person's.

Every rule has its forged or over-eager path here: a reply through a mailing list
(``Precedence: list``, ``List-Id``, ``Delivered-To``) reopens; another help desk's tag
from someone who wrote to us as a person before is a person's; single-kind
``X-Auto-Response-Suppress`` values (what Exchange puts on people's mail) are a person's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from email.header import Header

import pytest
from sqlalchemy import event, select

from bot.config.settings import Mailbox
from bot.desk.facade import Desk
from bot.model import Actor, Status
from bot.notify.outbox import list_notifications
from bot.store import tables as t
from bot.store.db import Store
from channels.email.addresses import reply_address
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.smtp_harness import Smtp

SECRET = b"robot-test-secret"
SUPPORT = "support@localhost"
AGENT = "agent@support.test"
BOB = "bob@example.com"
_ids = itertools.count()


@pytest.fixture
def smtp(desk: Desk, agent: Actor) -> Iterator[Smtp]:
    """Tickets mailed to support@ go to team Ops, so each has ``agent`` as its assignee."""
    ingest = EmailIngest(desk, (Mailbox(SUPPORT, team="Ops"),), SECRET)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


def mail(
    sender: str = BOB,
    subject: str = "Printer on fire",
    body: str = "It is on fire.",
    *,
    headers: str = "",
    message_id: str | None = None,
) -> bytes:
    encoded = subject if subject.isascii() else Header(subject, "utf-8").encode()
    mid = message_id or f"<robot-{next(_ids)}@example.com>"
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {encoded}\r\nMessage-ID: {mid}\r\n"
        f"{headers}\r\n{body}\r\n"
    ).encode()


def send(smtp: Smtp, raw: bytes, *, sender: str = BOB, to: str = SUPPORT) -> str:
    """The ticket number the 250 names."""
    code, text = smtp.send(raw, sender=sender, to=to)
    assert code == 250, text
    return text.split()[-1]


def signed(number: str, email: str) -> str:
    return reply_address(SUPPORT, number, email, SECRET)


def sent(store: Store) -> list[tuple[str, str]]:
    """(template, recipient) of every notification queued, oldest first."""
    return [(n.template, n.recipient) for n in reversed(list_notifications(store, prefix="SUP"))]


def last_comment(store: Store, number: str) -> t.Comment:
    with store.read() as session:
        comment = session.scalars(
            select(t.Comment).where(t.Comment.ticket_id == int(number.split("-")[1])).order_by(t.Comment.id)
        ).all()[-1]
        session.expunge(comment)
        return comment


def status(desk: Desk, number: str) -> str:
    return desk.visible_ticket(Actor.console(), number).ticket.status


@pytest.fixture
def resolved(smtp: Smtp, desk: Desk, agent: Actor, store: Store) -> str:
    """Bob's SUP-1, assigned to the agent, resolved: a person's reply reopens it, a robot's does not."""
    number = send(smtp, mail(message_id="<bob-1@example.com>"))
    desk.transition(agent, number, Status.RESOLVED)
    assert sent(store) == [("ticket_opened", BOB), ("new_ticket", AGENT), ("ticket_resolved", BOB)]
    return number


def assert_robot_kept_quietly(smtp, desk, store, number: str, *, public: bool) -> None:
    before = sent(store)
    comment = last_comment(store, number)
    assert comment.auto_submitted and comment.public is public
    assert status(desk, number) == "resolved"
    assert sent(store) == before


OUTLOOK_SUBJECTS = [
    "Automatic reply: [SUP-1] Printer on fire",
    "Automatische Antwort: [SUP-1] Printer on fire",
    "Réponse automatique : [SUP-1] Printer on fire",
    "Respuesta automática: [SUP-1] Printer on fire",
    "Risposta automatica: [SUP-1] Printer on fire",
    "Resposta automática: [SUP-1] Printer on fire",
    "Automatisch antwoord: [SUP-1] Printer on fire",
    "Automatiskt svar: [SUP-1] Printer on fire",
    "Automatisk svar: [SUP-1] Printer on fire",
    "Automaattinen vastaus: [SUP-1] Printer on fire",
    "Odpowiedź automatyczna: [SUP-1] Printer on fire",
    "Automatická odpověď: [SUP-1] Printer on fire",
    "Автоматический ответ: [SUP-1] Printer on fire",
    "Otomatik yanıt: [SUP-1] Printer on fire",
    "自動応答: [SUP-1] Printer on fire",
    "自动答复: [SUP-1] Printer on fire",
    "自動回覆: [SUP-1] Printer on fire",
    "자동 회신: [SUP-1] Printer on fire",
]


@pytest.mark.parametrize("subject", OUTLOOK_SUBJECTS)
def test_outlook_out_of_office_in_each_language_is_kept_but_reopens_and_tells_no_one(
    smtp, desk, store, resolved, subject
):
    """Outlook's out-of-office carries no Auto-Submitted: its subject prefix gives it away."""
    ooo = mail(subject=subject, body="I am away until Monday.", headers="Thread-Topic: Printer on fire\r\n")
    assert send(smtp, ooo) == resolved  # by the subject tag: the requester is on the ticket
    assert_robot_kept_quietly(smtp, desk, store, resolved, public=True)


@pytest.mark.parametrize("subject", ["Re: [SUP-1] Printer on fire", "[SUP-1] Printer on fire"])
def test_exchange_reply_with_only_x_auto_response_suppress_all_is_a_robots(
    smtp, desk, store, resolved, subject
):
    ooo = mail(subject=subject, body="Away.", headers="X-Auto-Response-Suppress: All\r\n")
    send(smtp, ooo, to=signed(resolved, BOB))
    assert_robot_kept_quietly(smtp, desk, store, resolved, public=True)


@pytest.mark.parametrize(
    "headers",
    [
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: auto_reply",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "Auto-Submitted: auto-replied",
        "Delivered-To: Autoresponder",
    ],
)
def test_robots_marks_keep_a_reply_from_reopening_or_reaching_anyone(smtp, desk, store, resolved, headers):
    reply = mail(
        subject="Re: [SUP-1] Printer on fire", headers=f"In-Reply-To: <bob-1@example.com>\r\n{headers}\r\n"
    )
    send(smtp, reply)
    assert_robot_kept_quietly(smtp, desk, store, resolved, public=True)


@pytest.mark.parametrize(
    "headers",
    [
        "Precedence: list",
        "List-Id: <customers.lists.example.com>",
        "List-Unsubscribe: <mailto:leave@lists.example.com>",
        "Delivered-To: support@localhost",
        "Precedence: list\r\nList-Id: <customers.lists.example.com>\r\n"
        "List-Unsubscribe: <https://lists.example.com/leave>\r\nDelivered-To: support@localhost",
        # What Exchange writes on a person's mail: single kinds, never All.
        "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",
        "X-Auto-Response-Suppress: OOF",
        "Auto-Submitted: no",
    ],
)
def test_a_persons_reply_that_looks_like_list_mail_reopens_is_public_and_reaches_the_agent(
    smtp, desk, store, resolved, headers
):
    reply = mail(
        subject="Re: [SUP-1] Printer on fire",
        body="Still burning.",
        headers=f"In-Reply-To: <bob-1@example.com>\r\n{headers}\r\n",
    )
    send(smtp, reply)
    comment = last_comment(store, resolved)
    assert (comment.body, comment.public, comment.auto_submitted) == ("Still burning.", True, False)
    assert status(desk, resolved) == "open"
    assert sent(store)[-1] == ("customer_replied", AGENT)


def test_subjects_about_auto_replies_are_a_persons(smtp, desk, store, resolved):
    reply = mail(subject="Re: Automatic reply: [SUP-1] Printer on fire", body="Still burning.")
    send(smtp, reply, to=signed(resolved, BOB))
    assert status(desk, resolved) == "open"
    number = send(smtp, mail("new@example.com", "Automatic reply not working in Outlook"))
    assert ("ticket_opened", "new@example.com") in sent(store) and number == "SUP-2"


FOREIGN_SUBJECTS = [
    "[#4711] Re: Printer on fire",
    "Support Ticket Opened [#4711]",
    "[Ticket#2024120510000012] Printer on fire",
    "Ticket #123 received",
    "Request #4711: Printer on fire",
    "We have your message (Case 00123)",
    "[ABC-123] Printer on fire",
]


@pytest.mark.parametrize("subject", FOREIGN_SUBJECTS)
def test_another_help_desks_acknowledgement_of_our_mail_is_a_robots(smtp, desk, store, agent, subject):
    """Bob copied his own IT desk; it acknowledges our answer at the signed reply address."""
    number = send(smtp, mail(headers="Cc: help@desk.example\r\n"))
    desk.comment(agent, number, "We are on it.")
    before = sent(store)
    assert ("agent_replied", "help@desk.example") in before
    ack = mail("help@desk.example", f"{subject} [{number}]", "We received your request.")
    assert send(smtp, ack, sender="help@desk.example", to=signed(number, "help@desk.example")) == number
    comment = last_comment(store, number)
    assert comment.auto_submitted and not comment.public
    assert sent(store) == before  # nobody hears of it: no loop


@pytest.mark.parametrize("subject", FOREIGN_SUBJECTS)
def test_another_help_desks_new_mail_naming_our_ticket_is_a_robots(smtp, desk, store, subject):
    send(smtp, mail())
    number = send(smtp, mail("help@desk.example", f"{subject} Re: [SUP-1] Printer on fire", "Received."))
    assert number == "SUP-2" and last_comment(store, number).auto_submitted
    assert ("ticket_opened", "help@desk.example") not in sent(store)  # no acknowledgement to a robot


@pytest.mark.parametrize("subject", FOREIGN_SUBJECTS)
def test_a_new_customer_whose_subject_names_a_ticket_elsewhere_is_a_person(smtp, desk, store, subject):
    """Mail that answers nothing of ours is no acknowledgement of it: "Printer down (INC0012345)"."""
    number = send(smtp, mail("new@example.com", subject, "Our printer is down."))
    assert not last_comment(store, number).auto_submitted
    assert ("ticket_opened", "new@example.com") in sent(store)


def test_another_help_desks_tag_from_someone_who_wrote_to_us_as_a_person_is_a_persons(smtp, desk, store):
    send(smtp, mail("vendor@desk.example", "Order 7 failed", "Our order failed."))
    number = send(smtp, mail("vendor@desk.example", "[#4711] Re: [SUP-1] Order 7 still failing", "Any news?"))
    assert number == "SUP-1"
    assert not last_comment(store, number).auto_submitted


def test_an_address_that_only_ever_sent_robots_mail_stays_a_robot(smtp, desk, store):
    send(smtp, mail("help@desk.example", "Thanks", "Received.", headers="Auto-Submitted: auto-replied\r\n"))
    number = send(smtp, mail("help@desk.example", "[#4711] Re: [SUP-1] Received", "Received."))
    assert number == "SUP-1" and last_comment(store, number).auto_submitted
    assert [template for template, _ in sent(store)] == ["new_ticket"]


def test_our_own_tag_is_no_foreign_one(smtp, desk, store):
    number = send(smtp, mail("new@example.com", "[SUP-99] Printer on fire"))
    assert not last_comment(store, number).auto_submitted
    assert ("ticket_opened", "new@example.com") in sent(store)


def test_a_desk_robot_following_a_ticket_acknowledges_an_answer_into_an_internal_note(
    smtp, desk, agent, store
):
    """A help desk copied on the ticket acknowledges our agent's answer with its own tag."""
    first = mail(message_id="<bob-1@example.com>", headers="Cc: help@desk.example\r\n")
    number = send(smtp, first)
    desk.comment(agent, number, "Unplug it.")
    assert ("agent_replied", "help@desk.example") in sent(store)
    desk.transition(agent, number, Status.WAITING_CUSTOMER)
    before = sent(store)
    ack = mail("help@desk.example", f"[#4711] Re: [{number}] Printer on fire", "We received your message.")
    assert send(smtp, ack, sender="help@desk.example", to=signed(number, "help@desk.example")) == number
    comment = last_comment(store, number)
    assert comment.auto_submitted and not comment.public and not comment.flagged
    assert status(desk, number) == "waiting_customer" and sent(store) == before


def test_a_robot_on_the_requesters_own_ticket_stays_public_for_agents_but_notifies_no_one(smtp, desk, store):
    number = send(smtp, mail(message_id="<bob-1@example.com>"))
    auto = "In-Reply-To: <bob-1@example.com>\r\nAuto-Submitted: auto-replied\r\n"
    send(smtp, mail(subject="Re: Printer on fire", body="Away.", headers=auto))
    comment = last_comment(store, number)
    assert comment.public and comment.auto_submitted
    assert sent(store) == [("ticket_opened", BOB), ("new_ticket", AGENT)]


def test_a_followers_auto_reply_is_an_internal_note(smtp, desk, agent, store):
    number = send(smtp, mail(message_id="<bob-1@example.com>", headers="Cc: carol@example.com\r\n"))
    auto = "In-Reply-To: <bob-1@example.com>\r\nX-Auto-Response-Suppress: All\r\n"
    send(smtp, mail("carol@example.com", "Automatic reply: Printer on fire", "Carol is away.", headers=auto))
    comment = last_comment(store, number)
    assert comment.auto_submitted and not comment.public


OOF = "X-Auto-Response-Suppress: All\r\n"


@pytest.mark.parametrize("marks", [OOF, "Auto-Submitted: auto-replied\r\n"])
def test_our_agents_out_of_office_through_a_verified_reply_address_never_reaches_the_requester(
    smtp, desk, store, marks
):
    number = send(smtp, mail(message_id="<bob-1@example.com>"))
    before = sent(store)
    ooo = mail(
        AGENT, f"Automatic reply: [{number}] Printer on fire", "I am away. Call 555-0100.", headers=marks
    )
    assert send(smtp, ooo, sender=AGENT, to=signed(number, AGENT)) == number
    comment = last_comment(store, number)
    assert (comment.public, comment.flagged, comment.auto_submitted) == (False, False, True)
    assert sent(store) == before  # no agent_replied to Bob
    with store.read() as session:
        ticket = session.get(t.Ticket, int(number.split("-")[1]))
        assert ticket.agent_replied_at is None and ticket.first_response_at is None  # not an answer
        assert ticket.status == "open"


def test_our_agents_out_of_office_on_a_closed_ticket_opens_nothing_anyone_hears_of(smtp, desk, agent, store):
    number = send(smtp, mail(message_id="<bob-1@example.com>"))
    desk.transition(agent, number, Status.RESOLVED)
    desk.transition(agent, number, Status.CLOSED)
    before = sent(store)
    ooo = mail(AGENT, f"Automatic reply: [{number}] Printer on fire", "I am away.", headers=OOF)
    assert send(smtp, ooo, sender=AGENT, to=signed(number, AGENT)) == number  # no follow-up ticket
    comment = last_comment(store, number)
    assert comment.auto_submitted and not comment.public
    assert status(desk, number) == "closed"
    assert [n for n in sent(store) if n not in before and n[1] == BOB] == []


def test_a_requesters_robot_on_a_closed_ticket_stays_there_and_opens_no_follow_up(smtp, desk, agent, store):
    number = send(smtp, mail(message_id="<bob-1@example.com>"))
    desk.transition(agent, number, Status.RESOLVED)
    desk.transition(agent, number, Status.CLOSED)
    before = sent(store)
    ooo = mail(BOB, f"Automatic reply: [{number}] Printer on fire", "I am away.", headers=OOF)
    assert send(smtp, ooo, to=signed(number, BOB)) == number
    assert status(desk, number) == "closed" and sent(store) == before
    assert last_comment(store, number).auto_submitted


def test_the_history_query_runs_only_for_a_subject_with_a_foreign_tag(smtp, store):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "FROM comments" in statement and "auto_submitted IS" in statement:
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        send(smtp, mail("new@example.com", "Printer on fire"))
        send(smtp, mail("new@example.com", "[#4711] Printer on fire"))  # answers nothing of ours
        assert statements == []
        send(smtp, mail("new@example.com", "[#4711] Re: [SUP-1] Printer on fire"))
        assert len(statements) == 1
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
