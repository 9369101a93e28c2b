"""Sending a shared ticket's changes to the partner, and never sending back what came from it.

:func:`subscribe` hooks this module to the core's events (comments, status
changes, merges, tags; :mod:`bot.events`); the handlers run inside the
change's transaction and queue one request per partner the ticket is shared
with, unless the change is being applied *from* that partner:
:func:`from_partner` marks the transaction while a partner's request is
applied, so its comments and changes are stored and notified, not echoed.
A comment also keeps its uuid per share (origin ``remote`` or ``local``), so
it is sent at most once and a partner's comment never goes back to it.

A status is not fixed in the queued request: the client fills in the
ticket's status as it is when the request leaves, so a retried request can
never put back a status that has changed since.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from bot import events as ev
from bot.model import Actor, format_number
from bot.notify.contexts import comment_of, ticket_of
from bot.sharing import protocol as p
from bot.sharing import statuses, wire
from bot.store import tables as t
from bot.unit import Subscribers, Unit

_ORIGIN = "sharing_origin"
_ANY = "sharing_any_links"


@contextmanager
def from_partner(unit: Unit, agreement_id: int) -> Iterator[None]:
    """Changes made inside come from this agreement's partner: they are not sent back to it."""
    previous = unit.session.info.get(_ORIGIN)
    unit.session.info[_ORIGIN] = agreement_id
    try:
        yield
    finally:
        unit.session.info[_ORIGIN] = previous


def linked(unit: Unit) -> None:
    """A share was made in this transaction: the "nothing is shared" shortcut no longer holds."""
    unit.session.info[_ANY] = True


def comment_added(unit: Unit, ticket: t.Ticket, comment: t.Comment) -> None:
    if not shareable(unit, comment):
        return
    for link in _links(unit, ticket):
        known = unit.session.scalar(
            select(t.SharedComment.id).where(
                t.SharedComment.shared_ticket_id == link.id, t.SharedComment.comment_id == comment.id
            )
        )
        if known is not None:
            continue
        body = {
            "uuid": link.uuid,
            "current_actor": _author(unit, comment),
            "comments": [comment_json(unit, link, comment)],
        }
        _put(unit, link, ticket, body, f"comment:{link.id}:{comment.id}")


def status_changed(unit: Unit, ticket: t.Ticket, event_id: int | str, actor: Actor) -> None:
    for link in _links(unit, ticket):
        body = {"uuid": link.uuid, "current_actor": wire.actor_json(unit, actor)}
        _put(unit, link, ticket, body, f"status:{link.id}:{event_id}", extra={"status_of": ticket.id})


def tags_changed(unit: Unit, ticket: t.Ticket, actor: Actor) -> None:
    tags = sorted(tag.name for tag in ticket.tags)
    for link in _links(unit, ticket):
        if not link.agreement.sync_tags:
            continue
        body = {"uuid": link.uuid, "tags": tags, "current_actor": wire.actor_json(unit, actor)}
        _put(unit, link, ticket, body, f"tags:{link.id}:{unit.now.isoformat()}:{','.join(tags)}")


def wire_status(unit: Unit, ticket_id: int) -> str | None:
    """The ticket's status as the protocol says it, now; None when the ticket is gone."""
    ticket = unit.session.get(t.Ticket, ticket_id)
    return None if ticket is None else statuses.to_wire(ticket.status, unit.settings.sharing.status_out)


def shareable(unit: Unit, comment: t.Comment) -> bool:
    """Internal notes stay ours unless the team says otherwise; an untrusted message always does."""
    if comment.flagged:
        return False
    return comment.public or unit.settings.sharing.share_internal_comments


def comments_of(unit: Unit, ticket: t.Ticket) -> list[t.Comment]:
    query = select(t.Comment).where(t.Comment.ticket_id == ticket.id).order_by(t.Comment.id)
    return list(unit.session.scalars(query))


def ticket_json(unit: Unit, link: t.SharedTicket, ticket: t.Ticket) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": link.uuid,
        "subject": ticket.subject,
        "status": statuses.to_wire(ticket.status, unit.settings.sharing.status_out),
        "original_id": format_number(unit.settings.ticket_prefix, ticket.id),
    }
    if link.agreement.sync_tags:
        body["tags"] = link.tags_seen = sorted(tag.name for tag in ticket.tags)
    return body


def comment_json(
    unit: Unit, link: t.SharedTicket, comment: t.Comment, *, record: bool = True
) -> dict[str, Any]:
    """The comment as the partner gets it; ``record`` keeps its uuid so it is not sent again."""
    uuid = unit.session.scalar(
        select(t.SharedComment.uuid).where(
            t.SharedComment.shared_ticket_id == link.id, t.SharedComment.comment_id == comment.id
        )
    )
    if uuid is None:
        uuid = p.resource_uuid(wire.our_url(unit), "comments", comment.id)
        if record:
            unit.session.add(
                t.SharedComment(shared_ticket_id=link.id, uuid=uuid, comment_id=comment.id, origin="local")
            )
            unit.session.flush()
    return {
        "uuid": uuid,
        "author": _author(unit, comment),
        "body": comment.body,
        "html_body": None,
        "authored_at": p.format_time(comment.created_at),
        "public": comment.public,
        "attachments": None,
    }


def _put(
    unit: Unit,
    link: t.SharedTicket,
    ticket: t.Ticket,
    body: dict[str, Any],
    key: str,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    path = f"tickets/{link.uuid}"
    wire.send(unit, link.agreement, "PUT", path, body, key, ticket_id=ticket.id, extra=extra)


def _author(unit: Unit, comment: t.Comment) -> dict[str, Any]:
    if comment.author is not None:
        return wire.person_json(unit, comment.author)
    return {
        "uuid": p.resource_uuid(wire.our_url(unit), "users", "system"),
        "name": unit.settings.sharing.name,
        "role": "agent",
    }


def _links(unit: Unit, ticket: t.Ticket) -> list[t.SharedTicket]:
    """The ticket's live shares in force, but not the one whose partner this change came from.

    Whether any ticket is shared at all is read once per transaction: a help
    desk that shares nothing pays one indexed query per transaction, not per change.
    """
    if not unit.settings.sharing.enabled:
        return []
    if unit.session.info.get(_ANY) is None:
        unit.session.info[_ANY] = (
            unit.session.scalar(
                select(t.SharedTicket.id).where(t.SharedTicket.detached_at.is_(None)).limit(1)
            )
            is not None
        )
    if not unit.session.info[_ANY]:
        return []
    origin = unit.session.info.get(_ORIGIN)
    rows = unit.session.scalars(
        select(t.SharedTicket).where(
            t.SharedTicket.ticket_id == ticket.id, t.SharedTicket.detached_at.is_(None)
        )
    )
    return [row for row in rows if row.agreement.status == p.ACCEPTED and row.agreement_id != origin]


# -- the events this sends on -----------------------------------------------------------


def subscribe(subscribers: Subscribers) -> None:
    """Every change of a shared ticket, made anywhere in the core, reaches its partners."""
    subscribers.on(ev.CommentAdded, _on_comment)
    subscribers.on(ev.StatusChanged, _on_status)
    subscribers.on(ev.Merged, _on_merge)
    subscribers.on(ev.TagsChanged, _on_tags)


def _on_comment(unit: Unit, event: ev.CommentAdded) -> None:
    comment_added(unit, ticket_of(unit, event.ticket_id), comment_of(unit, event.comment_id))


def _on_status(unit: Unit, event: ev.StatusChanged) -> None:
    """Unannounced changes too: a partner hears of the quiet ones (auto-close)."""
    status_changed(unit, ticket_of(unit, event.ticket_id), event.event_id, event.actor)


def _on_merge(unit: Unit, event: ev.Merged) -> None:
    """A partner sharing the merged ticket hears it is closed; the survivor is not shared by this."""
    status_changed(unit, ticket_of(unit, event.source_id), f"merged-{event.source_id}", event.actor)


def _on_tags(unit: Unit, event: ev.TagsChanged) -> None:
    tags_changed(unit, ticket_of(unit, event.ticket_id), event.actor)
