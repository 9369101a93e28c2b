"""Slack's requests into the real app over HTTP: signatures, acks, retries and what is ignored."""

from __future__ import annotations

import json
import time

from bot.model import Actor
from bot.read.queries import TicketFilter
from tests.integration.slack_harness import SUPPORT
from tests.waiting import wait_until


def test_forged_signature_gets_401_and_changes_nothing(slack):
    body = b"command=%2Fticket&text=new+x&user_id=UREQ&trigger_id=t1"
    response = slack.post(body, "application/x-www-form-urlencoded", secret="forged")
    assert response.status_code == 401
    assert slack.desk.list_tickets(TicketFilter()) == []
    assert slack.api.calls() == []


def test_tampered_body_gets_401(slack):
    from tests.slack_api import sign

    body = b"command=%2Fticket&text=new+printer&user_id=UREQ"
    headers = {**sign(body, "slack-test-signing-secret"), "Content-Type": "application/x-www-form-urlencoded"}
    response = slack.http.post(slack.url, content=body.replace(b"printer", b"scanner"), headers=headers)
    assert response.status_code == 401


def test_stale_timestamp_gets_401(slack):
    old = int(time.time()) - 6 * 60
    response = slack.post(b"command=%2Fticket&text=help", "application/x-www-form-urlencoded", timestamp=old)
    assert response.status_code == 401


def test_unsigned_request_gets_401(slack):
    response = slack.http.post(slack.url, content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_url_verification_challenge_is_answered(slack):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = slack.post(body, "application/json")
    assert response.status_code == 200 and response.json() == {"challenge": "abc123"}


def test_slash_command_is_acked_at_once_and_answered_by_response_url(slack):
    slack.api.slow("users.info", 4)  # the work after the ack is slow; the ack is not
    started = time.monotonic()
    response = slack.command("new Printer on fire")
    assert response.status_code == 200 and response.text == ""
    assert time.monotonic() - started < 3
    [answer] = wait_until(lambda: slack.answers(), seconds=15)
    assert "SUP-1" in answer and "Printer on fire" in answer
    ticket = slack.desk.visible_ticket(Actor.console(), "SUP-1").ticket
    assert (ticket.subject, ticket.channel, ticket.requester) == (
        "Printer on fire",
        "slack",
        "rita@customer.test",
    )


def test_retried_event_is_stored_once(slack):
    slack.command("new VPN drops")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    event = {
        "type": "message",
        "user": "UAGENT",
        "text": "Looking into it",
        "channel": SUPPORT,
        "channel_type": "channel",
        "ts": "1800000000.000100",
        "thread_ts": root,
    }
    assert slack.event(event, event_id="Ev1").status_code == 200
    assert slack.event(event, event_id="Ev1", retry=1).status_code == 200
    assert slack.event(event, event_id="Ev2").status_code == 200  # the same message delivered twice
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    time.sleep(0.3)  # give a wrongly stored second copy the time to show up
    comments = slack.desk.visible_ticket(Actor.console(), "SUP-1").comments
    assert [c.body for c in comments] == ["VPN drops", "Looking into it"]


def test_bots_own_message_and_edits_deletes_and_joins_are_ignored(slack):
    slack.command("new Disk full")
    wait_until(lambda: slack.answers())
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    base = {"type": "message", "channel": SUPPORT, "channel_type": "channel", "thread_ts": root}
    ignored = [
        {**base, "user": slack.api.bot_user_id, "bot_id": "BBOT", "text": "our own post", "ts": "1.1"},
        {**base, "subtype": "bot_message", "bot_id": "BOTHER", "text": "another bot", "ts": "1.2"},
        {**base, "subtype": "message_changed", "ts": "1.3", "message": {"user": "UAGENT", "text": "edited"}},
        {**base, "subtype": "message_deleted", "ts": "1.4", "deleted_ts": "1.0"},
        {**base, "subtype": "channel_join", "user": "UAGENT", "text": "has joined", "ts": "1.5"},
    ]
    for event in ignored:
        assert slack.event(event).status_code == 200
    slack.message("UAGENT", "a real reply", thread_ts=root)
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    time.sleep(0.3)
    assert [c.body for c in slack.desk.visible_ticket(Actor.console(), "SUP-1").comments] == [
        "Disk full",
        "a real reply",
    ]
    assert slack.api.calls("users.info")  # only people were looked up, never the bot
    assert all(call.params.get("user") != slack.api.bot_user_id for call in slack.api.calls("users.info"))


def test_reply_in_a_thread_that_is_no_tickets_is_ignored(slack):
    slack.message("UAGENT", "unrelated chatter", thread_ts="1700000000.999999")
    slack.message("UAGENT", "top-level chatter in the support channel")
    time.sleep(0.5)
    assert slack.desk.list_tickets(TicketFilter()) == []
