"""Retried requests: what a request's own key (an API ``Idempotency-Key``) already wrote.

A comment written with a key keeps it as a thread ref of its ticket, unique per
channel: a retry finds the first comment there instead of writing another, and two
requests racing with the same key cannot both commit one. A key names one request,
so reusing it for a different comment is refused rather than answered with the first.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.errors import Conflict
from bot.read import queries
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.unit import Unit
from bot.views import CommentView

KEY_FIELD = "idempotency-key"  # as the API names the header in its errors


def earlier_comment(
    unit: Unit, number: str, body: str, *, public: bool, channel: str, external_id: str
) -> CommentView | None:
    """The comment written with ``external_id`` on ``channel``; None if there is none yet."""
    found = unit.session.execute(
        select(t.ThreadRef.ticket_id, t.ThreadRef.comment_id).where(
            t.ThreadRef.channel == channel, t.ThreadRef.external_id == external_id
        )
    ).first()
    if found is None:
        return None
    comment = unit.session.get(t.Comment, found.comment_id) if found.comment_id is not None else None
    same = (
        comment is not None
        and comment.ticket_id == _survivor_id(unit, number)
        and (comment.body, comment.public) == (body, public)
    )
    if comment is None or not same:
        raise Conflict(
            "this key was already used for another request; send a new key with a new comment",
            field=KEY_FIELD,
        )
    return queries.comment_view(comment, unit.settings.ticket_prefix)


def _survivor_id(unit: Unit, number: str) -> int:
    """The ticket a comment on ``number`` lands on: itself, or the one it was merged into.
    Read without locks: a retry may be answered from a read-only transaction."""
    ticket = tickets.get(unit, number, lock=False)
    seen = {ticket.id}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen:
        seen.add(ticket.merged_into_id)
        ticket = tickets.get(unit, ticket.merged_into_id, lock=False)
    return ticket.id
