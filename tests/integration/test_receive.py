"""``Desk.receive``: idempotent intake and finding the ticket a message belongs to."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from bot.messages import IncomingFile
from bot.model import Actor, Status
from bot.notify.outbox import list_notifications
from bot.store import tables as t
from tests.factories import make_inbound, make_ticket


def _notifications(store, template=None):
    rows = list_notifications(store, prefix="SUP")
    return [n for n in rows if template is None or n.template == template]


def test_new_message_opens_a_ticket_acknowledged_to_the_requester(desk, store):
    receipt = desk.receive(make_inbound(subject="VPN down", email="Bob@Example.com", name="Bob"))
    assert receipt.created and not receipt.duplicate and receipt.rule == "new ticket"
    detail = desk.visible_ticket(Actor.console(), receipt.ticket_number)
    assert detail.ticket.subject == "VPN down"
    assert detail.ticket.requester == "bob@example.com"
    assert detail.ticket.status == "open" and detail.ticket.priority == "medium"
    assert [c.body for c in detail.comments] == ["The printer on floor 3 is on fire again."]
    [ack] = _notifications(store, "ticket_opened")
    assert ack.recipient == "bob@example.com" and ack.ticket == receipt.ticket_number


def test_same_message_twice_gives_one_ticket_and_one_comment(desk, store, snapshot):
    message = make_inbound(key="<same@example.com>")
    first = desk.receive(message)
    before = snapshot()
    second = desk.receive(message)
    assert second.duplicate and second.ticket_number == first.ticket_number
    assert second.comment_id == first.comment_id
    assert snapshot() == before


def test_a_message_id_longer_than_the_column_is_still_recognised_the_second_time(desk, snapshot):
    """Kept as its hash; looked up as its hash, so the resend is a duplicate, not a failure."""
    message = make_inbound(key="<" + "x" * 1200 + "@example.com>")
    first = desk.receive(message)
    before = snapshot()
    second = desk.receive(message)
    assert second.duplicate and second.ticket_number == first.ticket_number
    assert snapshot() == before


def test_a_reply_with_a_huge_references_header_still_threads_on_its_newest_known_message(desk):
    """300,000 ids (about 9 MB, within the size limit), more than one query may carry on
    either database: the first and the newest are looked up."""
    opened = desk.receive(make_inbound(key="<root@x>"))
    filler = tuple(f"<noise-{n}@spam.example>" for n in range(300_000))
    reply = desk.receive(make_inbound(key="<huge@x>", references=(*filler, "<root@x>")))
    assert reply.ticket_number == opened.ticket_number and not reply.created
    buried = desk.receive(make_inbound(key="<buried@x>", references=("<root@x>", *filler)))
    assert buried.ticket_number == opened.ticket_number and not buried.created


def test_same_reply_twice_gives_one_comment(desk, snapshot):
    opened = desk.receive(make_inbound(key="<a@x>"))
    reply = make_inbound(key="<b@x>", references=("<a@x>",), text="more detail")
    desk.receive(reply)
    before = snapshot()
    again = desk.receive(reply)
    assert again.duplicate and again.ticket_number == opened.ticket_number
    assert snapshot() == before
    assert len(desk.visible_ticket(Actor.console(), opened.ticket_number).comments) == 2


def test_same_message_delivered_concurrently_is_stored_once(desk, snapshot):
    message = make_inbound(key="<race@example.com>")
    desk.receive(make_inbound(key="<warm-up@example.com>"))  # the requester exists already
    receipts = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        receipts.append(desk.receive(message))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.ticket_number for r in receipts}) == 1
    assert sum(not r.duplicate for r in receipts) == 1
    after = snapshot()
    desk.receive(make_inbound(key="<serial@example.com>"))  # what one more new message adds
    one_message = {name: count - after[name] for name, count in snapshot().items()}
    assert after == {name: count * 2 for name, count in one_message.items()} | {"people": 1}


def test_reply_threads_by_references_and_reopens_a_resolved_ticket(desk, admin):
    opened = desk.receive(make_inbound(key="<first@x>"))
    desk.transition(admin, opened.ticket_number, Status.RESOLVED)
    reply = desk.receive(
        make_inbound(key="<second@x>", references=("<unknown@x>", "<first@x>"), text="still broken")
    )
    assert reply.ticket_number == opened.ticket_number and reply.rule == "references"
    detail = desk.visible_ticket(Actor.console(), opened.ticket_number)
    assert detail.ticket.status == "open"
    assert detail.comments[-1].body == "still broken" and detail.comments[-1].public


def test_reply_to_an_outgoing_notification_threads_to_its_ticket(desk, store):
    opened = desk.receive(make_inbound())
    [ack] = _notifications(store, "ticket_opened")
    with store.read() as session:
        message_id = session.scalar(select(t.Notification.thread).where(t.Notification.id == ack.id))[
            "message_id"
        ]
    reply = desk.receive(make_inbound(references=(message_id,), text="thanks"))
    assert reply.ticket_number == opened.ticket_number and not reply.created


def test_customer_reply_while_waiting_moves_the_ticket_back_to_the_team(desk, admin, agent):
    opened = desk.receive(make_inbound(key="<w1@x>", team="Ops"))
    desk.transition(admin, opened.ticket_number, Status.WAITING_CUSTOMER)
    desk.receive(make_inbound(key="<w2@x>", references=("<w1@x>",)))
    assert desk.visible_ticket(Actor.console(), opened.ticket_number).ticket.status == "in_progress"


def test_reply_to_a_closed_ticket_opens_a_new_one_linked_to_it(desk, admin):
    old = desk.receive(make_inbound(key="<c1@x>"))
    desk.transition(admin, old.ticket_number, Status.CLOSED)
    reply = desk.receive(make_inbound(key="<c2@x>", references=("<c1@x>",)))
    assert reply.created and reply.ticket_number != old.ticket_number
    assert desk.visible_ticket(Actor.console(), old.ticket_number).ticket.status == "closed"
    events = desk.visible_ticket(Actor.console(), reply.ticket_number).events
    assert any(e.kind == "linked" and e.after == {"follows": old.ticket_number} for e in events)


def test_reply_to_a_merged_ticket_lands_on_the_survivor(desk, admin):
    a = desk.receive(make_inbound(key="<m1@x>"))
    b = desk.receive(make_inbound(key="<m2@x>"))
    desk.merge(admin, a.ticket_number, b.ticket_number)
    reply = desk.receive(make_inbound(key="<m3@x>", references=("<m1@x>",)))
    assert reply.ticket_number == b.ticket_number


def test_ticket_number_from_a_stranger_becomes_a_flagged_internal_note(desk):
    opened = desk.receive(make_inbound(email="owner@example.com"))
    sneaky = desk.receive(
        make_inbound(
            email="mallory@evil.test", ticket_number=opened.ticket_number, text="please change my email"
        )
    )
    assert sneaky.ticket_number == opened.ticket_number and "unverified" in sneaky.rule
    note = desk.visible_ticket(Actor.console(), opened.ticket_number).comments[-1]
    assert note.flagged and not note.public and note.author == "mallory@evil.test"


def test_stranger_replying_by_references_cannot_reopen_the_ticket(desk, admin, store):
    opened = desk.receive(make_inbound(key="<r1@x>", email="owner@example.com"))
    desk.transition(admin, opened.ticket_number, Status.RESOLVED)
    desk.receive(make_inbound(key="<r2@x>", references=("<r1@x>",), email="mallory@evil.test"))
    detail = desk.visible_ticket(Actor.console(), opened.ticket_number)
    assert detail.ticket.status == "resolved"
    assert detail.comments[-1].flagged
    assert not _notifications(store, "customer_replied")


def test_verified_ticket_number_appends_a_public_comment(desk):
    opened = desk.receive(make_inbound(email="owner@example.com"))
    reply = desk.receive(
        make_inbound(email="owner@example.com", ticket_number=opened.ticket_number, verified=True)
    )
    assert reply.rule == "ticket number"
    assert desk.visible_ticket(Actor.console(), opened.ticket_number).comments[-1].public


def test_auto_reply_is_recorded_but_not_acknowledged_and_does_not_reopen(desk, admin, store):
    opened = desk.receive(make_inbound(key="<o1@x>"))
    desk.transition(admin, opened.ticket_number, Status.RESOLVED)
    desk.receive(make_inbound(key="<o2@x>", references=("<o1@x>",), auto_submitted=True))
    assert desk.visible_ticket(Actor.console(), opened.ticket_number).ticket.status == "resolved"
    robot = desk.receive(make_inbound(key="<o3@x>", email="robot@example.com", auto_submitted=True))
    assert robot.created
    assert [n.recipient for n in _notifications(store, "ticket_opened")] == ["customer@example.com"]


def test_every_receipt_records_the_rule_that_placed_it(desk):
    opened = desk.receive(make_inbound(key="<e1@x>"))
    desk.receive(make_inbound(key="<e2@x>", references=("<e1@x>",)))
    rules = [
        e.after["rule"]
        for e in desk.visible_ticket(Actor.console(), opened.ticket_number).events
        if e.kind == "received"
    ]
    assert rules == ["new ticket", "references"]


def test_mailbox_defaults_set_priority_category_and_team(desk, admin, agent):
    desk.add_category(admin, "Network", team="Ops")
    opened = desk.receive(make_inbound(priority="critical", category="network"))
    ticket = desk.visible_ticket(Actor.console(), opened.ticket_number).ticket
    assert (ticket.priority, ticket.category, ticket.team, ticket.assignee) == (
        "urgent",
        "Network",
        "Ops",
        "agent@support.test",
    )


def test_attachments_are_stored_once_by_content(desk, store, settings):
    logo = IncomingFile("logo.png", "image/png", b"\x89PNG logo")
    first = desk.receive(
        make_inbound(key="<f1@x>", attachments=(logo, IncomingFile("a.txt", "text/plain", b"hi")))
    )
    desk.receive(make_inbound(key="<f2@x>", references=("<f1@x>",), attachments=(logo,)))
    detail = desk.visible_ticket(Actor.console(), first.ticket_number)
    assert [a.filename for a in detail.comments[0].attachments] == ["logo.png", "a.txt"]
    digest = detail.comments[0].attachments[0].sha256
    assert detail.comments[1].attachments[0].sha256 == digest  # sent again on purpose: kept again
    files = [p for p in settings.attachments_path.rglob("*") if p.is_file()]
    assert len(files) == 2
    assert (settings.attachments_path / digest[:2] / digest[2:4] / digest).read_bytes() == b"\x89PNG logo"


def test_oversize_attachment_is_refused_on_record_and_the_message_kept(desk, tmp_path, environ, store, clock):
    from bot.config.settings import load
    from bot.desk.facade import Desk

    small = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ATTACHMENTS_MAX_BYTES": "10"}))
    receipt = small.receive(
        make_inbound(attachments=(IncomingFile("big.bin", "application/octet-stream", b"x" * 11),))
    )
    detail = small.visible_ticket(Actor.console(), receipt.ticket_number)
    assert detail.comments[0].attachments == ()
    [refused] = [e for e in detail.events if e.kind == "attachment_refused"]
    assert refused.after == {"filename": "big.bin", "size": 11, "limit": 10}


def test_message_without_a_sender_is_refused(desk, snapshot):
    from bot.errors import UserError
    from bot.messages import Identity

    before = snapshot()
    try:
        desk.receive(make_inbound(sender=Identity()))
    except UserError as error:
        assert "needs a sender" in error.message
    else:
        raise AssertionError("a message without a sender was accepted")
    assert snapshot() == before


@pytest.mark.parametrize("number", ["SUP-0", "SUP-99999999999", "HELP-3"])
def test_a_ticket_number_we_never_issued_opens_a_new_ticket(desk, number):
    receipt = desk.receive(make_inbound(ticket_number=number))
    assert receipt.created and receipt.rule == "new ticket"


def test_reply_references_name_only_what_the_recipient_saw(desk, admin, agent, store):
    """Bob's mail client never saw the agent's new-ticket notice, so his thread must not point at it."""
    first = desk.receive(make_inbound(key="<bob-1@example.com>", email="bob@example.com", team="Ops"))
    desk.comment(agent, first.ticket_number, "On it.")
    with store.read() as session:
        rows = session.scalars(select(t.Notification).order_by(t.Notification.id)).all()
        threads = {(row.recipient, row.template): row.thread for row in rows}
    ack = threads[("bob@example.com", "ticket_opened")]
    reply = threads[("bob@example.com", "agent_replied")]
    notice = threads[("agent@support.test", "new_ticket")]
    assert ack["references"] == ["<bob-1@example.com>"]
    assert reply["references"] == ["<bob-1@example.com>", ack["message_id"]]
    assert notice["message_id"] not in reply["references"]


def test_merged_tickets_requester_is_told_where_the_request_went(desk, admin, store):
    a = make_ticket(desk, email="first@example.com")
    b = make_ticket(desk, email="second@example.com")
    desk.merge(admin, a, b)
    [notice] = [n for n in _notifications(store) if n.template == "ticket_merged"]
    assert (notice.recipient, notice.ticket) == ("first@example.com", b)


def test_a_signature_logo_in_every_reply_is_attached_once(desk):
    logo = IncomingFile("logo.png", "image/png", b"\x89PNG the same logo", inline=True)
    first = desk.receive(make_inbound(key="<l1@x>", attachments=(logo,)))
    desk.receive(make_inbound(key="<l2@x>", references=("<l1@x>",), attachments=(logo,)))
    comments = desk.visible_ticket(Actor.console(), first.ticket_number).comments
    assert [len(c.attachments) for c in comments] == [1, 0]


def test_attachments_past_the_per_message_total_are_refused_on_record(store, clock, environ):
    from bot.config.settings import load
    from bot.desk.facade import Desk

    small = Desk(store, clock, load(None, environ | {"SUPPORTBOT_ATTACHMENTS_MAX_TOTAL_BYTES": "10"}))
    files = (IncomingFile("a.txt", "text/plain", b"123456"), IncomingFile("b.txt", "text/plain", b"123456"))
    detail = small.visible_ticket(Actor.console(), make_ticket(small, attachments=files))
    assert [a.filename for a in detail.comments[0].attachments] == ["a.txt"]
    assert [e.after["filename"] for e in detail.events if e.kind == "attachment_refused"] == ["b.txt"]
