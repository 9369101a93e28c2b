"""Delivers Slack notifications from the outbox: the ticket's card, its thread, and DMs.

Runs in the outbox dispatcher's thread with the synchronous Web API client.
Errors are sorted for the dispatcher: a 429 is retried after Slack's
``Retry-After``, an outage or a 5xx with backoff, and what retrying cannot
fix (an archived channel, a deleted user) is parked at once.

Chat messages cannot be written idempotently. Every post carries its
notification's id in Slack message metadata, and a retry looks for that id
before posting again: a crash (or a store hiccup) between posting and
recording can then not make a second card or a second reply.

After a 429 or a connection failure the sender holds back every Slack call
for a while, so the rest of a batch does not hammer a Slack that is down or
throttling us, and email in the same batch is not held up by timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config.channels import SlackSettings
from bot.desk.facade import Desk
from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError
from bot.notify.render import Renderer
from bot.notify.slack import CARD, SLACK
from bot.ports import Clock
from bot.views import CardView
from channels.slack import blocks
from channels.slack.text import escape_all

logger = logging.getLogger(__name__)

# Errors that no retry can fix; anything else (invalid_auth, not_in_channel, ...)
# may be fixed by an admin meanwhile, so it is retried with backoff.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "user_not_found",
        "users_not_found",
        "cannot_dm_bot",
        "user_disabled",
        "account_inactive",
        "message_not_found",
        "cant_update_message",
        "invalid_arguments",
    }
)
METADATA_TYPE = "supportbot_notification"
# Slack truncates text after 40,000 characters and shows long messages badly.
MAX_TEXT = 3900
# How long Slack is left alone after a connection failure (a 429 says its own time).
PAUSE_SECONDS = 30.0
# How far back a retry looks for an earlier copy of its message.
LOOK_BACK_PAGES = 5


class SlackSender:
    """The outbox's sender for channel ``slack`` (a :class:`bot.ports.Sender`)."""

    def __init__(
        self, client: WebClient, desk: Desk, renderer: Renderer, settings: SlackSettings, clock: Clock
    ) -> None:
        self.client = client
        self.clock = clock
        self.desk = desk
        self.renderer = renderer
        self.settings = settings
        self._dms: dict[str, str] = {}
        self._paused_until = datetime.min.replace(tzinfo=UTC)

    def send(self, outbound: Outbound) -> None:
        """Deliver one notification; raise what the dispatcher needs to retry or park it."""
        if outbound.ticket_id is None or not outbound.conversation:
            raise PermanentDeliveryError("a Slack notification needs a ticket and a conversation")
        waiting = (self._paused_until - self.clock.now()).total_seconds()
        if waiting > 0:
            raise TransientDeliveryError("Slack is paused after an outage", retry_after=waiting, outage=True)
        try:
            if outbound.template == CARD:
                self._card(outbound, outbound.ticket_id, outbound.conversation)
            else:
                self._post(outbound, outbound.ticket_id, outbound.conversation)
        except SlackApiError as error:
            sorted_error = _sorted(error)
            if isinstance(sorted_error, TransientDeliveryError) and sorted_error.outage:
                self._pause(sorted_error.retry_after or PAUSE_SECONDS)
            raise sorted_error from None
        except OSError as error:  # refused, reset, timed out: Slack or the network is down
            self._pause(PAUSE_SECONDS)
            raise TransientDeliveryError(f"Slack unreachable: {error}", outage=True) from None

    def _pause(self, seconds: float) -> None:
        self._paused_until = self.clock.now() + timedelta(seconds=seconds)

    def _card(self, outbound: Outbound, ticket_id: int, channel: str) -> None:
        card = self.desk.ticket_card(ticket_id)
        message = blocks.ticket_card(
            card.ticket,
            sla_due=_sla_line(card),
            requester_slack_id=card.requester_slack_id,
            assignee_slack_id=card.assignee_slack_id,
            note_prefix=self.settings.note_prefix,
            resolve_reaction=self.settings.resolve_reaction,
            assign_reaction=self.settings.assign_reaction,
        )
        root = self.desk.thread_root(ticket_id, SLACK, channel)
        if root is None and outbound.attempt > 1 and outbound.context.get("post_root"):
            root = self._earlier_copy(channel, None, outbound)
            if root is not None:
                self.desk.remember_thread(ticket_id, SLACK, f"{channel}:{root}")
        if root is not None:
            self.client.chat_update(channel=channel, ts=root, text=message["text"], blocks=message["blocks"])
            if self.desk.ticket_card(ticket_id).ticket.updated_at != card.ticket.updated_at:
                # Changed while we rendered: another update may have landed before ours.
                raise TransientDeliveryError(f"{card.ticket.number} changed while its card was updated")
            return
        if not outbound.context.get("post_root"):
            raise TransientDeliveryError(f"{card.ticket.number} has no card in {channel} yet", outage=True)
        posted = self.client.chat_postMessage(
            channel=channel,
            text=message["text"],
            blocks=message["blocks"],
            unfurl_links=False,
            metadata=_metadata(outbound),
        )
        self.desk.remember_thread(ticket_id, SLACK, f"{channel}:{posted['ts']}")
        logger.info("card for %s posted in %s as %s", card.ticket.number, channel, posted["ts"])

    def _post(self, outbound: Outbound, ticket_id: int, conversation: str) -> None:
        text = self._text(outbound)
        if conversation[:1] in ("U", "W"):  # a person: their DM with the bot
            conversation = self._dm(conversation)
        root = self.desk.thread_root(ticket_id, SLACK, conversation)
        if root is None and conversation == self.settings.support_channel:
            # Waiting for the card, which waits for Slack: as long as an outage lasts.
            raise TransientDeliveryError(f"ticket {ticket_id} has no card in {conversation} yet", outage=True)
        if outbound.attempt > 1:
            earlier = self._earlier_copy(conversation, root, outbound)
            if earlier is not None:
                logger.info("notification %s was already posted as %s", outbound.notification_id, earlier)
                if root is None:
                    self.desk.remember_thread(ticket_id, SLACK, f"{conversation}:{earlier}")
                return
        posted = self.client.chat_postMessage(
            channel=conversation,
            text=text,
            thread_ts=root,
            unfurl_links=False,
            unfurl_media=False,
            metadata=_metadata(outbound),
        )
        if root is None:  # the first DM about a ticket: the requester's replies to it thread here
            self.desk.remember_thread(ticket_id, SLACK, f"{conversation}:{posted['ts']}")

    def _text(self, outbound: Outbound) -> str:
        text = self.renderer.render(f"slack/{outbound.template}.md.j2", escape_all(outbound.context)).strip()
        if len(text) > MAX_TEXT:
            number = outbound.context.get("ticket", {}).get("number", "the ticket")
            text = text[:MAX_TEXT].rstrip() + f"\n… (shortened; the whole text is on {number})"
        return text

    def _dm(self, user_id: str) -> str:
        if user_id not in self._dms:
            opened = self.client.conversations_open(users=user_id)
            self._dms[user_id] = opened["channel"]["id"]
        return self._dms[user_id]

    def _earlier_copy(self, conversation: str, root: str | None, outbound: Outbound) -> str | None:
        """The ts of a copy an earlier attempt posted (found by its metadata), if any."""
        try:
            for message in self._recent(conversation, root):
                if _carries(message, outbound.notification_id):
                    return str(message.get("ts"))
        except SlackApiError as error:
            logger.info(
                "cannot look for an earlier copy in %s: %s", conversation, error.response.get("error")
            )
        return None  # posting twice beats not at all

    def _recent(self, conversation: str, root: str | None) -> Iterator[dict[str, Any]]:
        cursor = None
        for _ in range(LOOK_BACK_PAGES):
            if root is None:
                page = self.client.conversations_history(
                    channel=conversation, include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                page = self.client.conversations_replies(
                    channel=conversation, ts=root, include_all_metadata=True, limit=200, cursor=cursor
                )
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return


def _sla_line(card: CardView) -> str | None:
    """``2026-03-02 13:00 UTC · at risk · escalated 2``: due time, status and ladder level."""
    ticket = card.ticket
    parts = [card.sla_due.strftime("%Y-%m-%d %H:%M UTC")] if card.sla_due else []
    if ticket.sla_status:
        parts.append(ticket.sla_status.replace("_", " "))
    if ticket.escalation_level:
        parts.append(f"escalated {ticket.escalation_level}")
    return " · ".join(parts) or None


def _metadata(outbound: Outbound) -> dict[str, Any]:
    return {"event_type": METADATA_TYPE, "event_payload": {"id": outbound.notification_id}}


def _carries(message: dict[str, Any], notification_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == METADATA_TYPE and payload.get("id") == notification_id


def _sorted(error: SlackApiError) -> Exception:
    response = error.response
    code = response.get("error") if isinstance(response.data, dict) else None
    if response.status_code == 429 or code == "ratelimited":
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        seconds = float(retry_after) if retry_after and str(retry_after).isdigit() else None
        return TransientDeliveryError("Slack rate limit (429)", retry_after=seconds, outage=True)
    if response.status_code >= 500:
        return TransientDeliveryError(f"Slack answered {response.status_code}", outage=True)
    if code in PERMANENT:
        return PermanentDeliveryError(f"Slack refused: {code}")
    return TransientDeliveryError(f"Slack refused: {code or response.status_code}")
