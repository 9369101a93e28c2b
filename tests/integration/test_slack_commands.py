"""``/ticket`` subcommands, the new-ticket form, the message shortcut and App Home, over HTTP."""

from __future__ import annotations

from bot.desk.facade import Desk
from bot.model import Actor
from bot.read.queries import TicketFilter
from bot.store.db import Store
from channels.http.api import create_app
from channels.slack.app import create_slack_app
from tests.integration.slack_harness import add_agent
from tests.live_http import LiveServer
from tests.waiting import wait_until


def _run(slack, text, user="UREQ"):
    """The one answer a command gets: in the ack itself, or by response URL after it."""
    before = len(slack.answers())
    response = slack.command(text, user=user)
    assert response.status_code == 200
    if response.text:
        return response.json()["text"]
    return wait_until(lambda: slack.answers()[before:])[0]


def test_help_and_mistakes_are_answered_in_the_ack_with_the_usage(slack):
    assert "/ticket new" in _run(slack, "help")
    assert "/ticket new" in _run(slack, "")
    unknown = _run(slack, "frobnicate SUP-1")
    assert "frobnicate" in unknown and "new" in unknown
    missing = _run(slack, "assign SUP-1")
    assert "Usage:" in missing and "/ticket assign" in missing
    assert "status" in _run(slack, "status SUP-1 sideways")
    assert slack.desk.list_tickets(TicketFilter()) == []


def test_agent_works_a_ticket_with_subcommands(slack):
    add_agent(slack)
    assert "SUP-1" in _run(slack, "new Printer on fire")
    assert "assigned to agent@support.test" in _run(slack, "assign SUP-1 me", user="UAGENT")
    assert "in progress" in _run(slack, "status SUP-1 in_progress", user="UAGENT")
    assert "high" in _run(slack, "priority SUP-1 high", user="UAGENT")
    assert "Comment added" in _run(slack, "comment SUP-1 A technician is on the way", user="UAGENT")
    assert "Internal note" in _run(slack, "comment SUP-1 note: toner supplier late", user="UAGENT")
    assert "escalated" in _run(slack, "escalate SUP-1 the CEO is waiting", user="UAGENT")
    ticket = slack.desk.visible_ticket(Actor.console(), "SUP-1")
    assert (ticket.ticket.assignee, ticket.ticket.status, ticket.ticket.priority) == (
        "agent@support.test",
        "in_progress",
        "high",
    )
    assert [(c.body, c.public) for c in ticket.comments[1:]] == [
        ("A technician is on the way", True),
        ("toner supplier late", False),
    ]
    assert any(e.kind == "escalated" and e.after["reason"] == "the CEO is waiting" for e in ticket.events)
    shown = _run(slack, "show SUP-1", user="UAGENT")
    assert "SUP-1" in shown
    listed = _run(slack, "list open", user="UAGENT")
    assert "1" in listed


def test_assign_by_mention_maps_the_slack_user_to_theadd_agent(slack):
    add_agent(slack)
    _run(slack, "new VPN down")
    assert "agent@support.test" in _run(slack, "assign SUP-1 <@UAGENT|ann>", user="UAGENT")


def test_requester_sees_only_their_own_tickets_and_cannot_work_them(slack):
    add_agent(slack)
    slack.api.add_user("UOTHER", "otto@customer.test", "Otto")
    _run(slack, "new Mine")
    _run(slack, "new Otto's", user="UOTHER")
    # Someone else's ticket is answered as a missing one, word for word: no number can be probed.
    for command in ("show {}", "status {} closed", "comment {} Any news?", "escalate {} Now please"):
        theirs, missing = _run(slack, command.format("SUP-2")), _run(slack, command.format("SUP-9"))
        assert "no ticket SUP-2" in theirs
        assert theirs.replace("SUP-2", "SUP-9") == missing
    assert "only agents" in _run(slack, "assign SUP-1 me")
    assert "only agents" in _run(slack, "priority SUP-1 urgent")
    assert "Otto" not in _run(slack, "list all")
    assert "resolved" in _run(slack, "status SUP-1 resolved")  # their own: they may close it
    assert slack.desk.visible_ticket(Actor.console(), "SUP-2").ticket.status == "open"


def test_internal_notes_are_not_shown_to_the_requester(slack):
    add_agent(slack)
    _run(slack, "new Broken screen")
    _run(slack, "comment SUP-1 note: warranty expired", user="UAGENT")
    slack.api.clear()
    slack.command("show SUP-1")
    [answer] = slack.api.wait_for(f"response:cmd{slack._triggers}")
    assert "Broken screen" in str(answer.params) and "warranty" not in str(answer.params)
    slack.command("show SUP-1", user="UAGENT")
    [answer] = slack.api.wait_for(f"response:cmd{slack._triggers}")
    assert "warranty" in str(answer.params)


def test_bare_new_opens_the_form_and_its_submission_opens_a_ticket(slack):
    admin = slack.desk.actor(None)
    slack.desk.add_category(admin, "Hardware")
    slack.desk.define_field(admin, "asset", "Asset tag", "text", options={"pattern": "^A-[0-9]+$"})
    response = slack.command("new")
    assert response.status_code == 200
    [opened] = slack.api.wait_for("views.open")
    view = opened.params["view"]
    assert opened.params["trigger_id"] == "trigger.1"
    assert {block["block_id"] for block in view["blocks"]} >= {
        "subject",
        "priority",
        "category",
        "field:asset",
    }

    def submit(asset):
        values = {
            "subject": {"value": {"type": "plain_text_input", "value": "Monitor flickers"}},
            "description": {"value": {"type": "plain_text_input", "value": "Since Monday."}},
            "priority": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
            "category": {"value": {"type": "static_select", "selected_option": {"value": "Hardware"}}},
            "field:asset": {"value": {"type": "plain_text_input", "value": asset}},
        }
        return slack.interaction(
            {
                "type": "view_submission",
                "team": {"id": "T0001"},
                "user": {"id": "UREQ"},
                "api_app_id": "A0001",
                "view": {**view, "id": "V123", "state": {"values": values}},
            }
        )

    refused = submit("not-a-tag")
    assert refused.status_code == 200 and refused.json()["response_action"] == "errors"
    assert "field:asset" in refused.json()["errors"]
    assert slack.desk.list_tickets(TicketFilter()) == []

    assert submit("A-1234").status_code == 200
    ticket = wait_until(lambda: slack.desk.list_tickets(TicketFilter()))[0]
    assert (ticket.subject, ticket.priority, ticket.category) == ("Monitor flickers", "high", "Hardware")
    assert ticket.custom_fields == {"asset": "A-1234"}
    assert slack.desk.visible_ticket(Actor.console(), "SUP-1").comments[0].body == "Since Monday."


def test_message_shortcut_turns_a_message_into_a_ticket_with_its_permalink(slack):
    payload = {
        "type": "message_action",
        "callback_id": "create_ticket",
        "trigger_id": "t.1",
        "team": {"id": "T0001"},
        "user": {"id": "UAGENT"},
        "channel": {"id": "CGENERAL"},
        "message": {
            "type": "message",
            "user": "UREQ",
            "ts": "1700000000.000100",
            "text": "Wifi is down on floor 3",
        },
        "response_url": slack.api.response_url("shortcut"),
    }
    assert slack.interaction(payload).status_code == 200
    [answer] = slack.api.wait_for("response:shortcut")
    assert "SUP-1" in answer.params["text"]
    detail = slack.desk.visible_ticket(Actor.console(), "SUP-1")
    assert detail.ticket.subject == "Wifi is down on floor 3"
    assert detail.ticket.requester == "rita@customer.test"  # the message's author, not who clicked
    assert "https://acme.slack.com/archives/CGENERAL/p1700000000000100" in detail.comments[0].body
    slack.interaction({**payload, "response_url": slack.api.response_url("again")})
    [again] = slack.api.wait_for("response:again")
    assert "already" in again.params["text"] and len(slack.desk.list_tickets(TicketFilter())) == 1


def test_app_home_lists_open_tickets_as_requester_and_as_assignee(slack):
    add_agent(slack)
    _run(slack, "new Keyboard sticky")
    _run(slack, "assign SUP-1 me", user="UAGENT")
    slack.event({"type": "app_home_opened", "user": "UAGENT", "tab": "home", "channel": "DAGENT"})
    [home] = slack.api.wait_for("views.publish")
    assert home.params["user_id"] == "UAGENT" and "Keyboard sticky" in str(home.params["view"])
    slack.event({"type": "app_home_opened", "user": "UREQ", "tab": "home", "channel": "DREQ"})
    published = slack.api.wait_for("views.publish", count=2)
    assert "Keyboard sticky" in str(published[-1].params["view"])


def test_store_outage_gets_a_clear_answer_and_the_sender_is_asked_to_resend(slack, clock):
    """Slack already has the ack, so the listener retries a while, then says so instead of dropping it."""
    down = Desk(Store("postgresql+psycopg://postgres@127.0.0.1:1/none"), clock, slack.settings)
    app = create_slack_app(down, slack.settings, retry_delays=(0.01, 0.01))
    try:
        with LiveServer(create_app(down.store, app.routes())) as server:
            slack.url = f"http://127.0.0.1:{server.port}/slack/events"
            assert slack.command("new Printer").status_code == 200
            [answer] = slack.api.wait_for(f"response:cmd{slack._triggers}")
            assert "cannot reach its database" in answer.params["text"]
            response, _ = slack.message("UREQ", "Are you there?", channel="DREQ")
            assert response.status_code == 200
            [told] = wait_until(
                lambda: [c for c in slack.api.calls("chat.postMessage") if c.params["channel"] == "UREQ"]
            )
            assert "could not be saved" in told.params["text"]
    finally:
        down.store.dispose()
