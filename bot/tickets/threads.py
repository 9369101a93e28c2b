"""A ticket's threads on chat channels: where its conversation lives in each chat.

A chat message is known by ``<conversation>:<id>`` (a Slack channel and a
message ts). The first such message of a ticket in a conversation (the card
in the support channel, the first DM) is the root of the ticket's thread
there: replies are posted under it, and replies to it find the ticket.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.store import tables as t
from bot.store.rows import get_or_create

# Channels where a ticket lives as a card with a thread: a merge leaves their messages
# with the source's card, where a reply still reaches the survivor by following the merge.
CHAT_CHANNELS = ("slack",)


def chat_id(conversation: str, message: str) -> str:
    """One id per chat message across conversations (a Slack ts is unique only within one)."""
    return f"{conversation}:{message}"


def root(session: Session, ticket_id: int, channel: str, conversation: str) -> str | None:
    """The root message's id in ``conversation``, or None while the ticket has no thread there."""
    prefix = f"{conversation}:"
    external_id = session.scalar(
        select(t.ThreadRef.external_id)
        .where(
            t.ThreadRef.ticket_id == ticket_id,
            t.ThreadRef.channel == channel,
            t.ThreadRef.external_id.startswith(prefix, autoescape=True),
        )
        .order_by(t.ThreadRef.id)
        .limit(1)
    )
    return external_id[len(prefix) :] if external_id else None


_INSERT_REF = insert(t.table_of(t.ThreadRef))


def add_ref(
    session: Session,
    now: datetime,
    *,
    channel: str,
    external_id: str,
    ticket_id: int,
    direction: str,
    comment_id: int | None = None,
) -> None:
    """A new message id of the ticket's, appended with one Core ``INSERT`` (no flush): its
    unique index refuses a second delivery, rolling back the whole transaction."""
    session.connection().execute(
        _INSERT_REF,
        {
            "channel": channel,
            "external_id": external_id,
            "ticket_id": ticket_id,
            "comment_id": comment_id,
            "direction": direction,
            "created_at": now,
        },
    )


def remember(session: Session, now: datetime, ticket_id: int, channel: str, external_id: str) -> None:
    """Keep a message we posted as the ticket's: replies to it thread there. Idempotent."""
    get_or_create(
        session,
        t.ThreadRef,
        lambda: t.ThreadRef(
            channel=channel, external_id=external_id, ticket_id=ticket_id, direction="out", created_at=now
        ),
        channel=channel,
        external_id=external_id,
    )


def ticket_of(session: Session, channel: str, external_id: str) -> int | None:
    """The ticket a message we took in or posted belongs to; None for anyone else's message."""
    return session.scalar(
        select(t.ThreadRef.ticket_id).where(
            t.ThreadRef.channel == channel, t.ThreadRef.external_id == external_id
        )
    )
