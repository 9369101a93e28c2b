"""Slack messages as :class:`Inbound`: which ones count, and what they say; pure.

Only people's own messages are taken in, by an allow-list of subtypes: edits,
deletions, joins and every bot's messages (ours included) are not, so the bot
never answers itself. A message is keyed by ``<channel>:<ts>``, which stays
the same when Slack retries an event or delivers it twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.config.channels import SlackSettings
from bot.messages import Identity, Inbound
from bot.notify.slack import SLACK
from bot.tickets.threads import chat_id
from channels.slack.text import first_line, split_note, to_plain

# None is a plain message. Edits (message_changed), deletions, joins, topic
# changes and bot_message are left out on purpose.
INGESTED_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})


def is_ingested(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    if event.get("subtype") not in INGESTED_SUBTYPES or event.get("hidden"):
        return False
    if event.get("bot_id") or event.get("bot_profile") or event.get("app_id"):
        return False
    user = event.get("user")
    return bool(user) and user != bot_user_id


def message_text(event: Mapping[str, Any]) -> str:
    """Plain text, with shared files named by title and link (their content stays in Slack)."""
    text = to_plain(event.get("text") or "")
    files = [
        f"[file: {item.get('title') or item.get('name') or 'file'}] {item.get('permalink') or ''}".rstrip()
        for item in event.get("files") or []
    ]
    return "\n".join(part for part in [text, *files] if part)


def message_inbound(event: Mapping[str, Any], identity: Identity, settings: SlackSettings) -> Inbound | None:
    """A thread reply becomes a comment if its thread is a ticket's; a DM opens a ticket."""
    channel, ts = event.get("channel"), event.get("ts")
    if not channel or not ts:
        return None
    text = message_text(event)
    if not text.strip():
        return None
    thread = event.get("thread_ts")
    if thread and thread != ts:
        body, internal = split_note(text, settings.note_prefix)
        return Inbound(
            channel=SLACK,
            sender=identity,
            authenticated=True,  # a user id from a request Slack signed
            subject="",
            text=body,
            key=chat_id(channel, ts),
            references=(chat_id(channel, thread),),
            internal=internal,
            may_open=False,
        )
    if event.get("channel_type") == "im" and settings.dm_opens_ticket:
        return Inbound(
            channel=SLACK,
            sender=identity,
            authenticated=True,  # a user id from a request Slack signed
            subject=first_line(text) or "Message in Slack",
            text=text,
            key=chat_id(channel, ts),
        )
    return None
