"""One conversation across email and Slack: the card, its thread, DMs, reactions and the outbox."""

from __future__ import annotations

import email
from email import policy

from bot.config.settings import Mailbox
from bot.model import Actor, Status
from bot.notify.outbox import list_notifications
from bot.read.queries import TicketFilter
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.integration.slack_harness import REPLY_SECRET, SUPPORT, add_agent
from tests.integration.smtp_harness import Smtp
from tests.waiting import wait_until


def _posts(slack, channel):
    return [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == channel]


def test_email_round_trip_through_the_support_channel_thread(slack):
    add_agent(slack)
    ingest = EmailIngest(slack.desk, (Mailbox("support@localhost"),), REPLY_SECRET)
    smtp = Smtp(SupportHandler(ingest))
    smtp.controller.start()
    try:
        mail = (
            b"From: Bob Example <bob@example.com>\r\nTo: support@localhost\r\nSubject: Printer on fire\r\n"
            b"Message-ID: <bob-1@example.com>\r\n\r\nIt is on fire, please help.\r\n"
        )
        assert smtp.send(mail) == (250, "2.0.0 SUP-1")
        slack.dispatch()
        # The card, then the email's text in its thread.
        card, first = _posts(slack, SUPPORT)
        assert "SUP-1" in card.params["text"] and card.params["blocks"]
        root = slack.card_ts("SUP-1")
        assert first.params["thread_ts"] == root and "It is on fire" in first.params["text"]

        # An agent answers in the thread: a public comment, mailed to Bob.
        slack.message("UAGENT", "We are sending a technician.", thread_ts=root)
        wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
        agent_reply = slack.desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
        assert (agent_reply.author, agent_reply.public, agent_reply.flagged) == (
            "agent@support.test",
            True,
            False,
        )
        slack.dispatch()
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in slack.outbox.glob("*.eml")
        ]
        [answer] = [m for m in mails if "technician" in m.get_body(("plain",)).get_content()]
        assert answer["To"].addresses[0].addr_spec == "bob@example.com"
        assert not [c for c in _posts(slack, SUPPORT) if "technician" in c.params["text"]]  # not echoed

        # Bob answers the email: the reply lands in the thread.
        reply_to = answer["Reply-To"].addresses[0].addr_spec
        reply = (
            f"From: Bob Example <bob@example.com>\r\nTo: {reply_to}\r\nSubject: Re: {answer['Subject']}\r\n"
            f"Message-ID: <bob-2@example.com>\r\nIn-Reply-To: {answer['Message-ID']}\r\n\r\n"
            "Thanks, he is here.\r\n"
        ).encode()
        assert smtp.send(reply, to=reply_to) == (250, "2.0.0 SUP-1")
        slack.dispatch()
        last = _posts(slack, SUPPORT)[-1]
        assert last.params["thread_ts"] == root and "Thanks, he is here." in last.params["text"]
        assert "Bob" in last.params["text"]
    finally:
        smtp.controller.stop()
        ingest.close()


def test_note_prefix_keeps_an_agents_thread_reply_internal(slack):
    add_agent(slack)
    slack.command("new Laptop broken")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    slack.message("UAGENT", "note: probably the battery", thread_ts=root)
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    note = slack.desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert (note.body, note.public) == ("probably the battery", False)
    slack.dispatch()
    dms = [c for c in slack.api.calls("chat.postMessage") if c.params["channel"].startswith("D")]
    assert all("battery" not in c.params["text"] for c in dms)


def test_slack_requester_hears_agent_replies_and_status_by_dm_and_answers_in_its_thread(slack):
    add_agent(slack)
    slack.command("new Cannot log in")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    [opened] = _posts(slack, "DREQ")  # the requester's DM with the bot: the ticket's thread there
    assert "SUP-1" in opened.params["text"] and "thread_ts" not in opened.params
    dm_root = slack.desk.thread_root(1, "slack", "DREQ")
    assert dm_root is not None

    slack.message("UAGENT", "Try resetting your password.", thread_ts=slack.card_ts("SUP-1"))
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    slack.dispatch()
    answer = _posts(slack, "DREQ")[-1]
    assert answer.params["thread_ts"] == dm_root and "resetting your password" in answer.params["text"]
    assert not list(slack.outbox.glob("*.eml")) or all(
        "rita@customer.test" not in p.read_text() for p in slack.outbox.glob("*.eml")
    )

    slack.message("UREQ", "That worked, thanks!", channel="DREQ", thread_ts=dm_root)
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 3)
    comment = slack.desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert (comment.author, comment.public, comment.flagged) == ("rita@customer.test", True, False)
    slack.dispatch()
    assert "That worked" in _posts(slack, SUPPORT)[-1].params["text"]

    slack.desk.transition(slack.desk.actor("agent@support.test"), "SUP-1", Status.RESOLVED)
    slack.dispatch()
    assert "resolved" in _posts(slack, "DREQ")[-1].params["text"]
    updates = slack.api.calls("chat.update")
    assert updates and "Resolved" in str(updates[-1].params["blocks"])


def test_direct_message_opens_a_ticket(slack):
    response, ts = slack.message("UREQ", "My VPN keeps dropping\nsince this morning", channel="DREQ")
    assert response.status_code == 200
    wait_until(lambda: slack.desk.list_tickets(TicketFilter()))
    ticket = slack.desk.visible_ticket(Actor.console(), "SUP-1")
    assert ticket.ticket.subject == "My VPN keeps dropping"
    slack.dispatch()
    [ack] = _posts(slack, "DREQ")
    assert ack.params["thread_ts"] == ts  # answered in the thread of the message that opened it


def test_resolve_reaction_on_the_card_resolves_and_eyes_assigns_the_reactor(slack):
    add_agent(slack)
    slack.command("new Printer jammed")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    item = {"type": "message", "channel": SUPPORT, "ts": root}
    slack.event({"type": "reaction_added", "user": "UAGENT", "reaction": "eyes", "item": item})
    wait_until(
        lambda: slack.desk.visible_ticket(Actor.console(), "SUP-1").ticket.assignee == "agent@support.test"
    )
    slack.event({"type": "reaction_added", "user": "UAGENT", "reaction": "white_check_mark", "item": item})
    wait_until(lambda: slack.desk.visible_ticket(Actor.console(), "SUP-1").ticket.status == "resolved")


def test_requesters_reaction_on_someone_elses_card_is_refused_with_an_ephemeral_answer(slack):
    add_agent(slack)
    slack.api.add_user("UOTHER", "otto@customer.test", "Otto")
    slack.command("new Printer jammed")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    item = {"type": "message", "channel": SUPPORT, "ts": slack.card_ts("SUP-1")}
    slack.event({"type": "reaction_added", "user": "UOTHER", "reaction": "white_check_mark", "item": item})
    [refusal] = slack.api.wait_for("chat.postEphemeral")
    assert refusal.params["user"] == "UOTHER" and "SUP-1" in refusal.params["text"]
    assert slack.desk.visible_ticket(Actor.console(), "SUP-1").ticket.status == "open"


def test_rate_limited_post_waits_for_retry_after_and_nothing_is_lost(slack):
    slack.api.fail("chat.postMessage", status=429, retry_after=120)
    slack.command("new Printer jammed")
    wait_until(lambda: slack.answers())
    report = slack.dispatcher.run_once()
    assert report.retried >= 1
    [card] = [n for n in list_notifications(slack.store, prefix="SUP") if n.template == "ticket_card"]
    assert card.status == "pending" and card.next_attempt_at >= slack.clock.now().replace(microsecond=0)
    assert (card.next_attempt_at - slack.clock.now()).total_seconds() >= 120
    slack.clock.advance(seconds=121)
    slack.dispatch()
    assert slack.card_ts("SUP-1")
    assert {n.status for n in list_notifications(slack.store, prefix="SUP")} == {"sent"}


def test_slack_errors_are_retried_or_parked_as_they_deserve(slack):
    slack.api.fail("chat.postMessage", status=500)
    slack.command("new One")
    wait_until(lambda: slack.answers())
    assert slack.dispatcher.run_once().retried >= 1
    slack.clock.advance(seconds=3600)
    slack.dispatch()
    assert slack.card_ts("SUP-1")
    slack.api.fail("chat.postMessage", error="channel_not_found")
    slack.command("new Two")
    wait_until(lambda: len(slack.answers()) == 2)
    slack.dispatch()
    [dead] = [n for n in list_notifications(slack.store, prefix="SUP") if n.status == "dead"]
    assert dead.template == "ticket_card" and "channel_not_found" in (dead.last_error or "")


def test_nothing_is_lost_while_slack_is_down(slack):
    slack.command("new While Slack is down")
    wait_until(lambda: slack.answers())
    client = slack.dispatcher.senders["slack"].client
    reachable, client.base_url = client.base_url, "http://127.0.0.1:9/api/"  # nothing listens there
    slack.dispatcher.run_once()
    pending = [n for n in list_notifications(slack.store, prefix="SUP") if n.channel == "slack"]
    assert pending and {n.status for n in pending} == {"pending"}
    client.base_url = reachable
    slack.clock.advance(seconds=3600)
    slack.dispatch()
    assert slack.card_ts("SUP-1")
    assert {n.status for n in list_notifications(slack.store, prefix="SUP")} == {"sent"}
