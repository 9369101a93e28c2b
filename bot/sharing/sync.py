"""Sending a shared ticket's changes to the partner, and never sending back what came from it.

:mod:`bot.notify` calls :func:`comment_added` and :func:`status_changed` for
every change, inside its transaction. Each queues one request per partner the
ticket is shared with, unless the change is being applied *from* that partner:
:func:`from_partner` marks the transaction while a partner's request is
applied, so its comments and status changes are stored, notified, and not
echoed. A comment also keeps its uuid per share (origin ``remote`` or
``local``), so it is sent at most once and a partner's own comment never goes
back to it, whichever path comes to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from bot.model import Actor, format_number
from bot.sharing import agreements, statuses
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

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
        agreements.send(
            unit,
            link.agreement,
            "PUT",
            f"tickets/{link.uuid}",
            body,
            f"comment:{link.id}:{comment.id}",
            ticket_id=ticket.id,
        )


def status_changed(unit: Unit, ticket: t.Ticket, event_id: int | str, actor: Actor) -> None:
    for link in _links(unit, ticket):
        body = {
            "uuid": link.uuid,
            "status": statuses.to_wire(ticket.status, unit.settings.sharing.status_out),
            "current_actor": agreements.actor_json(unit, actor),
        }
        agreements.send(
            unit,
            link.agreement,
            "PUT",
            f"tickets/{link.uuid}",
            body,
            f"status:{link.id}:{event_id}",
            ticket_id=ticket.id,
        )


def shareable(unit: Unit, comment: t.Comment) -> bool:
    """Internal notes stay ours unless the team says otherwise; an untrusted message always does."""
    if comment.flagged:
        return False
    return comment.public or unit.settings.sharing.share_internal_comments


def ticket_json(unit: Unit, link: t.SharedTicket, ticket: t.Ticket) -> dict[str, Any]:
    row = link.agreement
    body: dict[str, Any] = {
        "uuid": link.uuid,
        "subject": ticket.subject,
        "status": statuses.to_wire(ticket.status, unit.settings.sharing.status_out),
        "original_id": format_number(unit.settings.ticket_prefix, ticket.id),
    }
    if row.sync_tags:
        body["tags"] = sorted(tag.name for tag in ticket.tags)
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
        uuid = p.resource_uuid(agreements.our_url(unit), "comments", comment.id)
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


def _author(unit: Unit, comment: t.Comment) -> dict[str, Any]:
    if comment.author is not None:
        return agreements.person_json(unit, comment.author)
    return {
        "uuid": p.resource_uuid(agreements.our_url(unit), "users", "system"),
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
