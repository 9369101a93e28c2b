"""The Slack app: Bolt over HTTP at ``/slack/events``, or over Socket Mode.

Bolt verifies every HTTP request's signature and timestamp (five minutes)
before any listener runs, answering 401 otherwise. The Web API base URL comes
from the settings, so the same app talks to Slack, Slack's government cloud
or a test stand-in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.config.channels import SlackSettings
from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.errors import ConfigError
from channels.slack.listeners import STORE_RETRY_DELAYS, SlackListeners
from channels.slack.users import SlackUsers

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def api_base(slack: SlackSettings) -> str:
    return slack.api_url if slack.api_url.endswith("/") else slack.api_url + "/"


def web_client(slack: SlackSettings) -> WebClient:
    """For the outbox sender. No retry handlers: the outbox owns retries and honours Retry-After."""
    return WebClient(token=slack.bot_token, base_url=api_base(slack), timeout=15, retry_handlers=[])


@dataclass(slots=True)
class SlackApp:
    bolt: AsyncApp
    settings: SlackSettings
    socket: AsyncSocketModeHandler | None = None

    def routes(self) -> list[BaseRoute]:
        """What the HTTP server mounts; none in Socket Mode, where Slack is not calling us."""
        if self.settings.socket_mode:
            return []
        handler = AsyncSlackRequestHandler(self.bolt)

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        return [Route(EVENTS_PATH, events, methods=["POST"])]

    async def start(self) -> None:
        """In Socket Mode, connect; a refused app token is a configuration error, not a hang.

        slack_sdk retries a refused connection every ping interval for ever, so the
        first URL is asked for here, once, and a refusal stops start-up.
        """
        if not self.settings.socket_mode:
            return
        handler = AsyncSocketModeHandler(self.bolt, self.settings.app_token)
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
            await handler.connect_async()
        except SlackApiError as error:
            await handler.close_async()
            raise ConfigError(
                f"slack.app_token: Slack refused the Socket Mode connection ({error.response.get('error')})"
            ) from None
        except BaseException:
            await handler.close_async()  # its aiohttp session and background tasks
            raise
        self.socket = handler
        logger.info("Slack: connected in Socket Mode")

    async def stop(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()
            self.socket = None


def create_slack_app(
    desk: Desk, settings: Settings, *, retry_delays: tuple[float, ...] = STORE_RETRY_DELAYS
) -> SlackApp:
    slack = settings.slack
    client = AsyncWebClient(token=slack.bot_token, base_url=api_base(slack), timeout=15)
    bolt = AsyncApp(
        client=client,
        # In Socket Mode the connection itself is authenticated; there is nothing to sign.
        signing_secret=slack.signing_secret or None,
        request_verification_enabled=not slack.socket_mode,
        process_before_response=False,
        logger=logging.getLogger("channels.slack.bolt"),
    )
    users = SlackUsers(client, slack.user_cache_seconds)
    SlackListeners(desk, users, settings, retry_delays=retry_delays).register(bolt)
    return SlackApp(bolt, slack)
