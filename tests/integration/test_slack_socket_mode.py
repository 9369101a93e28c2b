"""The Slack app over Socket Mode: envelopes in over a WebSocket, acks back over it.

The real app connects as it would to Slack: ``apps.connections.open`` with the
app-level token, then a WebSocket to the URL it is given. Both are answered by
:class:`tests.slack_api.SlackApiStandIn` on loopback. The stand-in's waits block
their thread, so the scenarios run them off the event loop the app lives on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.errors import ConfigError, NotFound
from bot.model import Actor
from bot.store.db import Store
from channels.slack.app import SlackApp, create_slack_app
from tests.fakes import FakeClock
from tests.slack_api import SlackApiStandIn

APP_TOKEN = "xapp-t"


@pytest.fixture
def desk(slack_api: SlackApiStandIn, environ: dict[str, str], clock: FakeClock) -> Iterator[Desk]:
    settings = load(
        None,
        {
            **environ,
            "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-t",
            "SUPPORTBOT_SLACK_APP_TOKEN": APP_TOKEN,
            "SUPPORTBOT_SLACK_SOCKET_MODE": "true",
            "SUPPORTBOT_SLACK_API_URL": slack_api.base_url,
            "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "CSUPPORT",
        },
    )
    store = Store(settings.database_url)
    slack_api.add_user("UREQ", "rita@customer.test", "Rita")
    yield Desk(store, clock, settings)
    store.dispose()


def run_connected(desk: Desk, scenario: Callable[[SlackApp], Awaitable[None]]) -> None:
    """Start the app in Socket Mode, play ``scenario`` against it, stop it: one event loop."""

    async def main() -> None:
        app = create_slack_app(desk, desk.settings, retry_delays=(0.05, 0.1))
        await app.start()
        try:
            await scenario(app)
        finally:
            await app.stop()

    asyncio.run(main())


def slash_command(envelope_id: str, text: str, response_url: str) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "channel_id": "CGENERAL",
            "user_id": "UREQ",
            "command": "/ticket",
            "text": text,
            "response_url": response_url,
            "trigger_id": f"trigger.{envelope_id}",
        },
    }


def event(envelope_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{envelope_id}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": SlackApiStandIn.bot_user_id, "is_bot": True}],
            "event": body,
        },
    }


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll off the loop: the app's listeners run on it while we wait."""
    deadline = time.monotonic() + timeout
    while not (value := await asyncio.to_thread(condition)):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


def test_socket_mode_connects_with_the_app_token_and_serves_no_http_route(
    slack_api: SlackApiStandIn, desk: Desk
) -> None:
    async def scenario(app: SlackApp) -> None:
        assert app.routes() == []
        await asyncio.to_thread(slack_api.wait_socket_connected)

    run_connected(desk, scenario)
    [opened] = slack_api.calls("apps.connections.open")
    assert opened.token == APP_TOKEN


def test_slash_command_envelope_is_acked_then_answered_with_the_new_ticket(
    slack_api: SlackApiStandIn, desk: Desk
) -> None:
    async def scenario(app: SlackApp) -> None:
        await asyncio.to_thread(slack_api.wait_socket_connected)
        envelope = slash_command("e1", "new Printer on fire", slack_api.response_url("sm"))
        await asyncio.to_thread(slack_api.socket_send, envelope)
        ack = await asyncio.to_thread(slack_api.wait_socket_ack, "e1")
        assert ack["envelope_id"] == "e1"
        [answer] = await asyncio.to_thread(slack_api.wait_for, "response:sm")
        assert "SUP-1" in answer.params["text"]

    run_connected(desk, scenario)
    ticket = desk.visible_ticket(Actor.console(), "SUP-1")
    assert ticket.ticket.subject == "Printer on fire"


def test_help_is_answered_in_the_ack_payload(slack_api: SlackApiStandIn, desk: Desk) -> None:
    async def scenario(app: SlackApp) -> None:
        await asyncio.to_thread(slack_api.wait_socket_connected)
        envelope = slash_command("e-help", "help", slack_api.response_url("help"))
        await asyncio.to_thread(slack_api.socket_send, envelope)
        ack = await asyncio.to_thread(slack_api.wait_socket_ack, "e-help")
        assert "/ticket new" in ack["payload"]["text"]

    run_connected(desk, scenario)
    assert slack_api.calls("response:help") == []


def test_direct_message_event_envelope_opens_a_ticket(slack_api: SlackApiStandIn, desk: Desk) -> None:
    async def scenario(app: SlackApp) -> None:
        await asyncio.to_thread(slack_api.wait_socket_connected)
        await asyncio.to_thread(
            slack_api.socket_send, slash_command("e1", "new Printer on fire", slack_api.response_url("sm"))
        )
        await asyncio.to_thread(slack_api.wait_for, "response:sm")
        message = {
            "type": "message",
            "channel": "DREQ",
            "channel_type": "im",
            "user": "UREQ",
            "text": "VPN down",
            "ts": "1700000001.000100",
        }
        await asyncio.to_thread(slack_api.socket_send, event("e2", message))
        await asyncio.to_thread(slack_api.wait_socket_ack, "e2")
        await until(lambda: _exists(desk, "SUP-2"))

    run_connected(desk, scenario)
    ticket = desk.visible_ticket(Actor.console(), "SUP-2")
    assert ticket.ticket.requester == "rita@customer.test"
    assert ticket.comments[0].body == "VPN down"


def test_disconnect_request_makes_the_client_reconnect_and_keep_serving(
    slack_api: SlackApiStandIn, desk: Desk
) -> None:
    async def scenario(app: SlackApp) -> None:
        await asyncio.to_thread(slack_api.wait_socket_connected)
        disconnect = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "stand-in"}}
        await asyncio.to_thread(slack_api.socket_send, disconnect)
        await asyncio.to_thread(slack_api.wait_socket_connected, 2)
        envelope = slash_command("e3", "new After the refresh", slack_api.response_url("again"))
        await asyncio.to_thread(slack_api.socket_send, envelope)
        await asyncio.to_thread(slack_api.wait_socket_ack, "e3")
        [answer] = await asyncio.to_thread(slack_api.wait_for, "response:again")
        assert "SUP-1" in answer.params["text"]

    run_connected(desk, scenario)
    assert [call.token for call in slack_api.calls("apps.connections.open")] == [APP_TOKEN, APP_TOKEN]


def _exists(desk: Desk, number: str) -> bool:
    try:
        desk.visible_ticket(Actor.console(), number)
    except NotFound:  # until the listener has committed
        return False
    return True


def test_refused_app_token_stops_start_up_with_a_configuration_error(slack_api, desk):
    slack_api.fail("apps.connections.open", error="invalid_auth")
    app = create_slack_app(desk, desk.settings)
    with pytest.raises(ConfigError, match="invalid_auth"):
        asyncio.run(app.start())
    assert len(slack_api.calls("apps.connections.open")) == 1
