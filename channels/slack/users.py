"""Who a Slack user is, by the email and name ``users.info`` gives, cached for a while.

People map to Slack users by email, so an agent added with ``people add`` is
the same person when they write in Slack. Asking Slack on every event would
cost a Web API call each and run into its rate limits; profiles rarely change.
"""

from __future__ import annotations

import asyncio
import logging

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import Identity

logger = logging.getLogger(__name__)


class SlackUsers:
    """Slack user id -> :class:`Identity`, through a TTL cache in front of ``users.info``."""

    def __init__(self, client: AsyncWebClient, ttl_seconds: int, max_users: int = 10_000) -> None:
        self.client = client
        self.cache: TTLCache[str, Identity] = TTLCache(maxsize=max_users, ttl=max(ttl_seconds, 1))
        self.enabled = ttl_seconds > 0
        self._lookups: dict[str, asyncio.Future[Identity]] = {}

    async def identity(self, user_id: str) -> Identity:
        """Never raises: a user Slack will not describe is still known by their user id.

        Lookups of one user already under way are shared: a burst of messages from
        someone new costs one ``users.info`` call, not one per message.
        """
        cached = self.cache.get(user_id) if self.enabled else None
        if cached is not None:
            return cached
        lookup = self._lookups.get(user_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(user_id))
            self._lookups[user_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(user_id, None))
        return await asyncio.shield(lookup)

    async def _lookup(self, user_id: str) -> Identity:
        try:
            answer = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            logger.warning("users.info for Slack user %s failed: %s", user_id, error.response.get("error"))
            return Identity(slack_user_id=user_id)
        except OSError as error:
            logger.warning("users.info for Slack user %s failed: %s", user_id, error)
            return Identity(slack_user_id=user_id)
        user = answer.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("real_name")
            or user.get("real_name")
            or profile.get("display_name")
            or user.get("name")
        )
        # Bots and deleted accounts keep no usable address; a workspace without the
        # users:read.email scope gives none either. They are known by user id alone.
        email = None if user.get("is_bot") or user.get("deleted") else profile.get("email") or None
        identity = Identity(email=email, name=name or None, slack_user_id=user_id)
        if self.enabled:
            self.cache[user_id] = identity
        return identity
