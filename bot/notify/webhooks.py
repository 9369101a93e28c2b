"""Outgoing webhooks: subscriptions, and the deliveries a change queues in the outbox.

A change calls one ``emit`` here from :mod:`bot.notify.audience`, inside its
transaction; each active subscription whose events and filters match gets an
outbox row (channel ``webhook``, recipient the subscription's id, template the
event name) whose context is the JSON body as it will be sent. The body is
fixed when the change happens, so a delivery retried an hour later still says
what was true then, and its delivery id stays the same on every attempt.

Dedupe keys name the subscription, the event and the change (an audit event,
a comment, a ladder level), so doing the same change twice queues one delivery.
The subscriptions are read once per transaction: with none it costs one
indexed query.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import NotFound, UserError
from bot.model import Actor, Priority, format_number
from bot.network import is_private_host
from bot.notify import outbox
from bot.people import directory
from bot.people.permissions import require_admin
from bot.policies.book import begin_change, recompile
from bot.store import tables as t
from bot.unit import Unit, WebhookInterest

CHANNEL = "webhook"
CREATED, UPDATED, STATUS_CHANGED, ESCALATED, COMMENT_ADDED = (
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "ticket.escalated",
    "comment.added",
)
EVENTS = (CREATED, UPDATED, STATUS_CHANGED, ESCALATED, COMMENT_ADDED)
# A secret anyone could guess signs nothing.
MIN_SECRET = 16
MAX_SECRET = 200
MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription as shown to admins: never its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    priorities: tuple[str, ...]
    category: str | None
    include_internal: bool
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """What the sender needs to deliver: where, and the secret to sign with."""

    id: int
    url: str
    secret: str
    active: bool


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery (an outbox row of channel ``webhook``) for the delivery log."""

    id: int
    subscription: int
    event: str
    delivery: str
    ticket: str | None
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None


# -- administration -------------------------------------------------------------------


def subscribe(
    unit: Unit,
    actor: Actor,
    url: str,
    events: list[str],
    secret: str,
    *,
    priorities: list[str] | None = None,
    category: str | None = None,
    include_internal: bool = False,
) -> SubscriptionView:
    require_admin(actor, "add webhook subscriptions")
    url = _check_url(unit, url)
    wanted = _check_events(events)
    filters: dict[str, Any] = {}
    if priorities:
        filters["priority"] = _check_priorities(priorities)
    if category and category.strip():
        filters["category"] = directory.find_category(unit, category).path
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise UserError(
            f"a webhook secret has {MIN_SECRET} to {MAX_SECRET} characters (got {len(secret)})",
            field="secret",
        )
    version = begin_change(unit.session)  # subscriptions are compiled with the rules
    row = t.WebhookSubscription(
        url=url,
        events=wanted,
        filters=filters,
        secret=secret,
        include_internal=include_internal,
        active=True,
        created_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    recompile(unit, version)
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.WEBHOOK_ADDED,
        after={"subscription": row.id, "url": url, "events": wanted, "filters": filters},
    )
    return _view(row)


def unsubscribe(unit: Unit, actor: Actor, subscription_id: int) -> SubscriptionView:
    """Deleted, not deactivated: its queued deliveries then fail for good, and the log keeps them."""
    require_admin(actor, "remove webhook subscriptions")
    row = unit.session.get(t.WebhookSubscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}", field="id")
    view = _view(row)
    version = begin_change(unit.session)
    unit.session.delete(row)
    recompile(unit, version)
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.WEBHOOK_REMOVED,
        after={"subscription": subscription_id, "url": row.url},
    )
    return view


def subscriptions(unit: Unit, actor: Actor) -> list[SubscriptionView]:
    require_admin(actor, "list webhook subscriptions")
    rows = unit.session.scalars(select(t.WebhookSubscription).order_by(t.WebhookSubscription.id))
    return [_view(row) for row in rows]


def target(unit: Unit, subscription_id: int) -> Target | None:
    """For the sender, which runs for no person: None when the subscription is gone."""
    row = unit.session.get(t.WebhookSubscription, subscription_id)
    return None if row is None else Target(row.id, row.url, row.secret, row.active)


def deliveries(
    unit: Unit, actor: Actor, subscription_id: int | None = None, limit: int = 100
) -> list[DeliveryView]:
    require_admin(actor, "read the webhook delivery log")
    query = (
        select(t.Notification)
        .where(t.Notification.channel == CHANNEL)
        .order_by(t.Notification.id.desc())
        .limit(limit)
    )
    if subscription_id is not None:
        query = query.where(t.Notification.recipient == str(subscription_id))
    prefix = unit.settings.ticket_prefix
    return [
        DeliveryView(
            id=row.id,
            subscription=int(row.recipient),
            event=row.template,
            delivery=str(row.context.get("id", "")),
            ticket=format_number(prefix, row.ticket_id) if row.ticket_id else None,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
        )
        for row in unit.session.scalars(query)
    ]


# -- emission -------------------------------------------------------------------------


def emit(
    unit: Unit,
    event: str,
    ticket: t.Ticket,
    change: str,
    *,
    comment: t.Comment | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Queue ``event`` for every subscription that wants it; how many were queued.

    ``change`` names what happened (``event-12``, ``comment-7``, ...) so the
    same change queues one delivery per subscription however often it is told.
    """
    # Compiled with the rules: read again only when they change.
    matching = [s for s in unit.rules.webhooks if _wants(s, event, ticket, comment)]
    if not matching:
        return 0
    payload: dict[str, Any] = {
        "event": event,
        "created_at": unit.now.isoformat(),
        "ticket": _ticket(unit, ticket),
        **(extra or {}),
    }
    told = _comment(comment) if comment is not None else None
    for subscription in matching:
        # A new ticket's first message is in its body only where its subscriber may read it.
        shown = comment is not None and (_public(comment) or subscription.include_internal)
        outbox.enqueue(
            unit.session,
            now=unit.now,
            channel=CHANNEL,
            recipient=str(subscription.id),
            template=event,
            # Each subscription's delivery has its own id, kept across retries.
            context={"id": str(uuid.uuid4()), **payload, **({"comment": told} if shown else {})},
            dedupe_key=f"webhook:{subscription.id}:{event}:{change}",
            ticket_id=ticket.id,
        )
    return len(matching)


# What an automation rule's "call webhook" action sends, whatever the subscription's events.
RULE_CALLED = "automation.rule"


def emit_to(unit: Unit, subscription_id: int, ticket: t.Ticket, rule: dict[str, Any], change: str) -> None:
    """One delivery to one subscription, asked for by an automation rule; a subscription
    removed or paused since the rule was written is the rule's failure, not a silent skip."""
    if not any(s.id == subscription_id for s in unit.rules.webhooks):
        raise NotFound(f"no active webhook subscription {subscription_id}", field="subscription")
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=CHANNEL,
        recipient=str(subscription_id),
        template=RULE_CALLED,
        context={
            "id": str(uuid.uuid4()),
            "event": RULE_CALLED,
            "created_at": unit.now.isoformat(),
            "ticket": _ticket(unit, ticket),
            "rule": rule,
        },
        dedupe_key=f"webhook:{subscription_id}:{RULE_CALLED}:{change}",
        ticket_id=ticket.id,
    )


def snapshot_change(unit: Unit, ticket: t.Ticket) -> str:
    """A change id for an update that has no event of its own: the ticket's state at this moment.

    Telling the same state twice in one transaction queues it once; a later
    change, or the same state at another time, is a change of its own.
    """
    state = json.dumps([unit.now.isoformat(), _ticket(unit, ticket)], sort_keys=True, default=str)
    return f"ticket-{ticket.id}-{hashlib.sha256(state.encode()).hexdigest()[:16]}"


def _wants(subscription: WebhookInterest, event: str, ticket: t.Ticket, comment: t.Comment | None) -> bool:
    if event not in subscription.events:
        return False
    if subscription.priorities and ticket.priority not in subscription.priorities:
        return False
    if subscription.category is not None:
        path = (ticket.category.path if ticket.category else "").casefold()
        prefix = subscription.category.casefold()
        if path != prefix and not path.startswith(prefix + "/"):
            return False
    if event == COMMENT_ADDED and comment is not None:
        return _public(comment) or subscription.include_internal
    return True


def _public(comment: t.Comment) -> bool:
    """What a requester would see: an internal note, or a message we did not trust, is not."""
    return comment.public and not comment.flagged


def _ticket(unit: Unit, ticket: t.Ticket) -> dict[str, Any]:
    return {
        "number": format_number(unit.settings.ticket_prefix, ticket.id),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category.path if ticket.category else None,
        "assignee": _person(ticket.assignee),
        "requester": _person(ticket.requester),
        "sla_status": ticket.sla_status,
        "escalation_level": ticket.escalation_level,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }


def _comment(comment: t.Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "body": comment.body,
        "public": comment.public,
        "flagged": comment.flagged,
        "channel": comment.channel,
        "author": _person(comment.author),
        "created_at": comment.created_at.isoformat(),
    }


def _person(person: t.Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"name": person.name or person.email or "", "email": person.email}


# -- checks -----------------------------------------------------------------------------


def _check_url(unit: Unit, url: str) -> str:
    """A URL on the internet, unless ``webhooks.allow_private_addresses``: a subscription must not
    make us call inside the network. A literal address or this machine's name is refused here;
    a name is checked again, each time, as the connection opens (every address it resolves to)."""
    clean = url.strip()
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(clean) > MAX_URL:
        raise UserError(
            f"{url!r} is not a webhook URL: use http:// or https://, a host, up to {MAX_URL} characters",
            field="url",
        )
    if is_private_host(parts.hostname) and not unit.settings.webhooks.allow_private_addresses:
        raise UserError(
            f"{parts.hostname} is a private, loopback or link-local address "
            "(webhooks.allow_private_addresses is off)",
            field="url",
        )
    return clean


def _check_events(events: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    unknown = [e for e in wanted if e not in EVENTS]
    if not wanted or unknown:
        raise UserError(
            f"unknown or missing events {', '.join(unknown) or '(none given)'}; known: {', '.join(EVENTS)}",
            field="events",
        )
    return wanted


def _check_priorities(priorities: list[str]) -> list[str]:
    known = [p.value for p in Priority]
    wanted = list(dict.fromkeys(p.strip().lower() for p in priorities if p.strip()))
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise UserError(
            f"unknown priorities {', '.join(unknown)}; known: {', '.join(known)}", field="priority"
        )
    return wanted


def _view(row: t.WebhookSubscription) -> SubscriptionView:
    return SubscriptionView(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        priorities=tuple(row.filters.get("priority") or ()),
        category=row.filters.get("category") or None,
        include_internal=row.include_internal,
        active=row.active,
        created_at=row.created_at,
    )
