"""What goes to Slack: each ticket's card and thread in the support channel, and DMs to requesters.

Every ticket, whatever channel it came from, gets one card (root message) in
the support channel; its thread carries the conversation. The card is
re-rendered from the ticket's state when it is sent, so one pending update per
ticket is enough however many changes pile up while Slack is slow or down.
Only the first card notification may post the root message; later ones update
it, so two dispatchers can never post two roots for one ticket.

A requester who came by Slack hears by direct message instead of email.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from bot.model import Role
from bot.notify import outbox
from bot.notify.contexts import person_context, ticket_context
from bot.store import tables as t
from bot.unit import Unit

SLACK = "slack"
CARD = "ticket_card"
THREAD_COMMENT = "thread_comment"


def support_channel(unit: Unit) -> str | None:
    """Where cards go; None while Slack or its support channel is not configured."""
    slack = unit.settings.slack
    return slack.support_channel if slack.enabled and slack.support_channel else None


def prefers_slack(unit: Unit, ticket: t.Ticket, person: t.Person) -> bool:
    """A requester who opened by Slack (or has no email) is answered where they asked."""
    if not unit.settings.slack.enabled or not person.slack_user_id:
        return False
    return ticket.channel == SLACK or not person.email


def _root_key(ticket: t.Ticket) -> str:
    return f"slack:card:{ticket.id}"


def _has_card(unit: Unit, ticket: t.Ticket) -> bool:
    """Tickets from before Slack was set up have no card; they get no updates or thread posts."""
    found = unit.session.scalar(
        select(t.Notification.id).where(t.Notification.dedupe_key == _root_key(ticket)).limit(1)
    )
    return found is not None


def card_posted(unit: Unit, ticket: t.Ticket) -> None:
    """A new ticket: queue its card, the one notification allowed to post the root message."""
    channel = support_channel(unit)
    if channel is not None:
        _enqueue(unit, ticket, channel, CARD, _root_key(ticket), {"post_root": True})


def card_changed(unit: Unit, ticket: t.Ticket) -> None:
    """Status, priority, assignee or category changed: update the card in place."""
    channel = support_channel(unit)
    if channel is None or not _has_card(unit, ticket):
        return
    # FOR UPDATE: a dispatcher claiming that row now, and rendering the card before this
    # change commits, would otherwise leave the card stale. Locked, the claim skips the
    # row until we commit; already claimed, the row is no longer pending and we queue anew.
    waiting = unit.session.scalar(
        select(t.Notification.id)
        .where(
            t.Notification.ticket_id == ticket.id,
            t.Notification.template == CARD,
            t.Notification.status == outbox.PENDING,
        )
        .limit(1)
        .with_for_update()
    )
    if waiting is not None:  # it will show the ticket as it is when it is sent
        return
    _enqueue(unit, ticket, channel, CARD, f"{_root_key(ticket)}:{uuid.uuid4().hex}", {"post_root": False})


def comment_in_thread(unit: Unit, ticket: t.Ticket, comment: t.Comment) -> None:
    """Post a comment into the ticket's thread unless it was written there."""
    channel = support_channel(unit)
    if channel is None or not _has_card(unit, ticket):
        return
    if comment.channel == SLACK and (comment.external_id or "").startswith(f"{channel}:"):
        return
    author = comment.author
    extra = {
        "comment": {
            "body": comment.body,
            "author": person_context(author),
            "public": comment.public,
            "flagged": comment.flagged,
            "channel": comment.channel,
            "staff": author is None or Role(author.role).is_staff,
        }
    }
    _enqueue(unit, ticket, channel, THREAD_COMMENT, f"slack:thread:{comment.id}", extra)


def thread_notice(
    unit: Unit, ticket: t.Ticket, template: str, dedupe_key: str, extra: dict[str, Any]
) -> None:
    """Something agents should see in the ticket's thread (an escalation)."""
    channel = support_channel(unit)
    if channel is not None and _has_card(unit, ticket):
        _enqueue(unit, ticket, channel, template, dedupe_key, extra)


def channel_post(
    unit: Unit, ticket: t.Ticket, channel: str, template: str, dedupe_key: str, extra: dict[str, Any]
) -> None:
    """A post about the ticket in another channel (an escalation ladder's ``slack:C…`` target)."""
    if unit.settings.slack.enabled:
        _enqueue(unit, ticket, channel, template, dedupe_key, extra)


def direct(
    unit: Unit,
    ticket: t.Ticket,
    person: t.Person,
    template: str,
    dedupe_key: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """A DM to a person, in the ticket's thread of their conversation with the bot."""
    assert person.slack_user_id is not None
    _enqueue(
        unit,
        ticket,
        person.slack_user_id,
        template,
        dedupe_key,
        {"recipient": person_context(person), **(extra or {})},
        recipient_name=person.name or None,
    )


def _enqueue(
    unit: Unit,
    ticket: t.Ticket,
    conversation: str,
    template: str,
    dedupe_key: str,
    extra: dict[str, Any],
    *,
    recipient_name: str | None = None,
) -> None:
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=SLACK,
        recipient=conversation,
        recipient_name=recipient_name,
        template=template,
        context={"ticket": ticket_context(unit, ticket), **extra},
        dedupe_key=dedupe_key,
        ticket_id=ticket.id,
        thread={"conversation": conversation},
    )
