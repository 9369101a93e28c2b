"""What goes wrong around Slack: crashes between posting and recording, long outages, retried
reactions, closed tickets, other channels' chatter, and people Slack would not describe."""

from __future__ import annotations

import dataclasses
import time

from sqlalchemy import delete, func, select, update

from bot.messages import Identity, Inbound
from bot.model import Actor, Role, Status
from bot.notify.outbox import Dispatcher, list_notifications
from bot.read.queries import TicketFilter
from bot.store import tables as t
from tests.integration.slack_harness import SUPPORT, add_agent
from tests.waiting import wait_until


def _open(slack, subject="Printer jammed", user="UREQ"):
    before = len(slack.answers())
    slack.command(f"new {subject}", user=user)
    wait_until(lambda: len(slack.answers()) > before)


def _cards(slack):
    return [
        c
        for c in slack.api.calls("chat.postMessage")
        if c.params["channel"] == SUPPORT and c.params.get("blocks")
    ]


def test_a_card_posted_before_a_crash_is_found_again_not_posted_twice(slack):
    _open(slack)
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    # The dispatcher died after Slack took the card, before the store heard of it.
    with slack.store.transaction() as session:
        session.execute(delete(t.ThreadRef).where(t.ThreadRef.external_id == f"{SUPPORT}:{root}"))
        session.execute(
            update(t.Notification).where(t.Notification.template == "ticket_card").values(status="pending")
        )
    slack.dispatch()
    assert len(_cards(slack)) == 1
    assert slack.card_ts("SUP-1") == root
    assert slack.api.calls("conversations.history")  # it looked before posting


def test_a_thread_reply_posted_before_a_crash_is_not_posted_twice(slack):
    add_agent(slack)
    _open(slack)
    slack.dispatch()
    slack.desk.comment(slack.desk.actor("agent@support.test"), "SUP-1", "On my way", channel="cli")
    slack.dispatch()
    posted = [c for c in slack.api.calls("chat.postMessage") if "On my way" in c.params["text"]]
    with slack.store.transaction() as session:
        session.execute(
            update(t.Notification).where(t.Notification.template == "thread_comment").values(status="pending")
        )
    slack.dispatch()
    assert [c for c in slack.api.calls("chat.postMessage") if "On my way" in c.params["text"]] == posted


def test_a_long_slack_outage_keeps_notifications_waiting_instead_of_parking_them(slack):
    _open(slack)
    patient = Dispatcher(
        slack.store,
        slack.clock,
        slack.dispatcher.senders,
        dataclasses.replace(slack.dispatcher.policy, max_attempts=2),
    )
    client = slack.dispatcher.senders["slack"].client
    reachable, client.base_url = client.base_url, "http://127.0.0.1:9/api/"  # nothing listens there
    for _ in range(10):  # ten hours down, far past max_attempts
        patient.run_once()
        slack.clock.advance(hours=1)
    slack_rows = [n for n in list_notifications(slack.store, prefix="SUP") if n.channel == "slack"]
    assert {n.status for n in slack_rows} == {"pending"}
    assert max(n.attempts for n in slack_rows) > 2
    client.base_url = reachable
    patient.run_until_idle()
    assert slack.card_ts("SUP-1")
    assert {n.status for n in list_notifications(slack.store, prefix="SUP")} == {"sent"}


def test_after_a_429_the_rest_of_the_batch_waits_instead_of_calling_slack(slack):
    for subject in ("One", "Two", "Three"):
        _open(slack, subject)
    slack.api.fail("chat.postMessage", status=429, retry_after=60)
    slack.dispatcher.run_once()
    assert len(slack.api.calls("chat.postMessage")) == 1  # the throttled call, and no more


def test_a_retried_reaction_is_not_answered_with_an_error(slack):
    add_agent(slack)
    _open(slack)
    slack.dispatch()
    item = {"type": "message", "channel": SUPPORT, "ts": slack.card_ts("SUP-1")}
    event = {"type": "reaction_added", "user": "UAGENT", "reaction": "white_check_mark", "item": item}
    slack.event(event, event_id="EvR")
    wait_until(lambda: slack.desk.visible_ticket(Actor.console(), "SUP-1").ticket.status == "resolved")
    slack.event(event, event_id="EvR", retry=1)
    time.sleep(0.5)
    assert slack.api.calls("chat.postEphemeral") == []


def test_requesters_reply_to_a_closed_ticket_opens_a_linked_follow_up(slack):
    add_agent(slack)
    _open(slack, "VPN down")
    slack.dispatch()
    dm_root = slack.desk.thread_root(1, "slack", "DREQ")
    agent = slack.desk.actor("agent@support.test")
    slack.desk.transition(agent, "SUP-1", Status.CLOSED)
    slack.message("UREQ", "It broke again!", channel="DREQ", thread_ts=dm_root)
    follow_up = wait_until(
        lambda: [v for v in slack.desk.list_tickets(TicketFilter()) if v.number == "SUP-2"]
    )[0]
    assert follow_up.subject == "VPN down"
    assert any(
        e.kind == "linked" and e.after == {"follows": "SUP-1"}
        for e in slack.desk.visible_ticket(Actor.console(), "SUP-2").events
    )


def test_agents_reply_in_a_closed_tickets_thread_stays_on_that_ticket(slack):
    add_agent(slack)
    _open(slack, "VPN down")
    slack.dispatch()
    agent = slack.desk.actor("agent@support.test")
    slack.desk.transition(agent, "SUP-1", Status.CLOSED)
    slack.message("UAGENT", "For the record: the router was replaced.", thread_ts=slack.card_ts("SUP-1"))
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    assert len(slack.desk.list_tickets(TicketFilter())) == 1


def test_threads_in_other_channels_cost_no_lookup_and_store_no_one(slack):
    slack.message("UREQ", "lunch?", channel="CRANDOM", thread_ts="1700000000.000001")
    time.sleep(0.5)
    assert slack.api.calls("users.info") == []
    with slack.store.read() as session:
        assert session.scalar(select(func.count()).select_from(t.Person)) == 0


def test_direct_message_in_a_thread_that_is_no_tickets_is_answered(slack):
    slack.message("UREQ", "hello?", channel="DREQ", thread_ts="1700000000.000001")
    [told] = slack.api.wait_for("chat.postMessage")
    assert told.params["channel"] == "UREQ" and "not a ticket" in told.params["text"]


def test_slack_profiles_are_looked_up_once_while_cached(slack):
    add_agent(slack)
    _open(slack)
    slack.dispatch()
    root = slack.card_ts("SUP-1")
    for text in ("one", "two", "three"):
        slack.message("UAGENT", text, thread_ts=root)
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 4)
    looked_up = [c.params["user"] for c in slack.api.calls("users.info")]
    assert sorted(looked_up) == ["UAGENT", "UREQ"]


def test_requesters_reply_in_the_cards_thread_is_a_customer_comment(slack):
    add_agent(slack)
    _open(slack)
    slack.dispatch()
    slack.message("UREQ", "Any news?", thread_ts=slack.card_ts("SUP-1"))
    wait_until(lambda: len(slack.desk.visible_ticket(Actor.console(), "SUP-1").comments) == 2)
    comment = slack.desk.visible_ticket(Actor.console(), "SUP-1").comments[-1]
    assert (comment.author, comment.public, comment.flagged) == ("rita@customer.test", True, False)


def test_requesters_note_prefix_is_refused_not_hidden(slack):
    _open(slack)
    slack.command("comment SUP-1 note: secret")
    [answer] = slack.api.wait_for(f"response:cmd{slack._triggers}")
    assert "only agents" in answer.params["text"]
    assert [c.body for c in slack.desk.visible_ticket(Actor.console(), "SUP-1").comments] == [
        "Printer jammed"
    ]


def test_shortcut_records_who_opened_the_ticket_for_the_author(slack):
    add_agent(slack)
    payload = {
        "type": "message_action",
        "callback_id": "create_ticket",
        "trigger_id": "t.1",
        "team": {"id": "T0001"},
        "user": {"id": "UAGENT"},
        "channel": {"id": "CGENERAL"},
        "message": {"type": "message", "user": "UREQ", "ts": "1700000000.000100", "text": "Wifi down"},
        "response_url": slack.api.response_url("shortcut"),
    }
    slack.interaction(payload)
    slack.api.wait_for("response:shortcut")
    events = slack.desk.visible_ticket(Actor.console(), "SUP-1").events
    assert any(e.kind == "opened_for" and e.actor == "agent@support.test" for e in events)


def test_merge_updates_both_cards(slack):
    add_agent(slack)
    _open(slack, "One")
    _open(slack, "Two")
    slack.dispatch()
    slack.desk.merge(slack.desk.actor("agent@support.test"), "SUP-2", "SUP-1")
    slack.dispatch()
    updated = {c.params["ts"] for c in slack.api.calls("chat.update")}
    assert updated == {slack.card_ts("SUP-1"), slack.card_ts("SUP-2")}


def test_a_slack_user_first_seen_without_email_is_linked_to_the_agent_later(slack):
    slack.desk.add_person(slack.desk.actor(None), "ann@support.test", name="Ann", role=Role.AGENT)
    # users.info failed the first time: known by user id alone.
    slack.desk.receive(
        Inbound(channel="slack", sender=Identity(slack_user_id="UANN"), subject="x", text="x", key="k1")
    )
    actor = slack.desk.identify(Identity(email="ann@support.test", slack_user_id="UANN"))
    assert actor.label == "ann@support.test" and actor.role.is_staff
    people = {p.email: p.slack_user_id for p in slack.desk.list_people()}
    assert people["ann@support.test"] == "UANN"


def test_the_card_shows_the_sla_and_follows_the_ladder(slack):
    add_agent(slack)
    _open(slack)
    slack.dispatch()
    [card] = _cards(slack)
    assert "on time" in str(card.params["blocks"])
    slack.clock.advance(hours=3, minutes=30)  # past 70 % and 85 % of the 4 h first response
    assert [f.level for f in slack.desk.sla_sweep().fired] == [1, 2]
    slack.dispatch()
    updated = slack.api.calls("chat.update")[-1]
    assert "at risk" in str(updated.params["blocks"]) and "escalated 2" in str(updated.params["blocks"])
