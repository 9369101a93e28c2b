"""The real Slack app behind the real HTTP server, with Slack's Web API answered by a stand-in.

Tests talk to it as Slack does: signed HTTP requests to ``/slack/events``.
Outgoing calls (the Bolt app's and the outbox sender's) reach
:class:`tests.slack_api.SlackApiStandIn` through ``slack.api_url``.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.model import Role
from bot.notify.outbox import Dispatcher, DispatchReport
from bot.notify.render import Renderer
from bot.store.db import Store
from channels.bootstrap import slack_sender
from channels.email.compose import Sender as EmailFrom
from channels.email.sender import EmlFolderSender
from channels.http.api import create_app
from channels.slack.app import create_slack_app
from tests.fakes import FakeClock
from tests.live_http import LiveServer
from tests.slack_api import SlackApiStandIn, sign

SIGNING_SECRET = "slack-test-signing-secret"
SUPPORT = "CSUPPORT"
REPLY_SECRET = b"slack-test-reply-secret"


def slack_environ(base: dict[str, str], api: SlackApiStandIn, **extra: str) -> dict[str, str]:
    return {
        **base,
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SUPPORTBOT_SLACK_API_URL": api.base_url,
        "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": SUPPORT,
        "SUPPORTBOT_EMAIL_REPLY_SECRET": REPLY_SECRET.decode(),
        **extra,
    }


@dataclass
class Slack:
    api: SlackApiStandIn
    desk: Desk
    store: Store
    clock: FakeClock
    settings: Settings
    url: str
    outbox: Path
    dispatcher: Dispatcher
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10, trust_env=False))
    _triggers: int = 0

    # -- requests as Slack sends them ------------------------------------------------

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        signed = sign(body, secret, timestamp)
        return self.http.post(
            self.url, content=body, headers={**signed, "Content-Type": content_type, **(headers or {})}
        )

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> httpx.Response:
        envelope = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id or f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": self.api.bot_user_id, "is_bot": True}],
            "event": event,
        }
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return self.post(json.dumps(envelope).encode(), "application/json", headers=headers)

    def message(
        self, user: str, text: str, *, channel: str = SUPPORT, thread_ts: str | None = None, **extra: Any
    ) -> tuple[httpx.Response, str]:
        ts = f"{time.time():.6f}"
        event = {"type": "message", "user": user, "text": text, "channel": channel, "ts": ts, **extra}
        if thread_ts:
            event["thread_ts"] = thread_ts
        event.setdefault("channel_type", "im" if channel.startswith("D") else "channel")
        return self.event(event), ts

    def command(self, text: str, *, user: str = "UREQ", channel: str = "CGENERAL") -> httpx.Response:
        self._triggers += 1
        form = {
            "token": "legacy",
            "team_id": "T0001",
            "channel_id": channel,
            "user_id": user,
            "command": "/ticket",
            "text": text,
            "api_app_id": "A0001",
            "response_url": self.api.response_url(f"cmd{self._triggers}"),
            "trigger_id": f"trigger.{self._triggers}",
        }
        return self.post(urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded")

    def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded")

    # -- what happened ---------------------------------------------------------------------

    def answers(self) -> list[str]:
        """Ephemeral answers sent to response URLs, in order."""
        return [
            call.params.get("text", "") for call in self.api.calls() if call.method.startswith("response:")
        ]

    def dispatch(self) -> DispatchReport:
        return self.dispatcher.run_until_idle()

    def card_ts(self, number: str) -> str:
        ticket_id = int(number.rsplit("-", 1)[1])
        root = self.desk.thread_root(ticket_id, "slack", SUPPORT)
        assert root is not None, f"{number} has no card"
        return root

    def close(self) -> None:
        self.http.close()


def add_agent(slack: Slack) -> None:
    """Ann, an agent, whose Slack user is UAGENT (the stand-in knows her by the same email)."""
    slack.desk.add_person(
        slack.desk.actor(None),
        "agent@support.test",
        name="Ann Agent",
        role=Role.AGENT,
        slack_user_id="UAGENT",
    )


@pytest.fixture
def slack(
    slack_api: SlackApiStandIn, environ: dict[str, str], clock: FakeClock, tmp_path: Path
) -> Iterator[Slack]:
    settings = load(None, slack_environ(environ, slack_api))
    store = Store(settings.database_url)
    desk = Desk(store, clock, settings)
    slack_api.add_user("UREQ", "rita@customer.test", "Rita Requester")
    slack_api.add_user("UAGENT", "agent@support.test", "Ann Agent")
    app = create_slack_app(desk, settings, retry_delays=(0.05, 0.1))
    renderer = Renderer()
    outbox = tmp_path / "outbox"
    senders = {
        "email": EmlFolderSender(
            outbox, renderer, EmailFrom("support@localhost", "Support", REPLY_SECRET), clock
        ),
        "slack": slack_sender(settings, desk, renderer, clock),
    }
    dispatcher = Dispatcher(store, clock, senders, settings.outbox)
    with LiveServer(create_app(store, app.routes())) as server:
        harness = Slack(
            slack_api,
            desk,
            store,
            clock,
            settings,
            f"http://127.0.0.1:{server.port}/slack/events",
            outbox,
            dispatcher,
        )
        yield harness
        harness.close()
    store.dispose()
