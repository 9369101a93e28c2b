"""Which people hear about each change, and how: the core's subscribers to :mod:`bot.events`
for people (wired in :mod:`bot.notify.subscriptions`), queueing outbox rows in the change's
transaction. The support channel's card is :mod:`bot.notify.cards`', other systems'
webhooks :mod:`bot.notify.webhook_events`'.

People hear by email, except a requester who came by Slack, who hears by DM
(:mod:`bot.notify.slack`), and as each chose per kind of event (:mod:`bot.people.prefs`).
Dedupe keys name the change and the recipient, so doing the same change twice (a retry)
never queues a second message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot import events as ev
from bot import thread_index
from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.model import Actor, Role, format_number
from bot.notify import outbox
from bot.notify import slack as slack_notify
from bot.notify.contexts import comment_of, person_context, ticket_context, ticket_of
from bot.people import prefs
from bot.people.robots import is_own_or_robot
from bot.store import tables as t
from bot.tickets import threads
from bot.unit import Unit

EMAIL = "email"
# Enough for mail clients to thread; keeps the References header bounded.
MAX_REFERENCES = 20


def ticket_opened(unit: Unit, event: ev.TicketOpened) -> None:
    ticket = ticket_of(unit, event.ticket_id)
    requester = ticket.requester
    if event.acknowledge and requester.role == Role.REQUESTER.value:
        # The acknowledgement limit is for email, where robots answer robots: it is
        # counted (and a suppression audited) only when the acknowledgement goes by email.
        _tell(
            unit,
            ticket,
            requester,
            "ticket_opened",
            f"ticket_opened:{ticket.id}",
            event="ticket_opened",
            may_email=lambda: _may_acknowledge(unit, ticket, requester),
        )
    if ticket.assignee is not None:
        key = f"new_ticket:{ticket.id}:{ticket.assignee.id}"
        _tell(unit, ticket, ticket.assignee, "new_ticket", key, event="assigned")


def _may_acknowledge(unit: Unit, ticket: t.Ticket, person: t.Person) -> bool:
    """At most ``ack_limit`` acknowledgements per sender per window: a robot that ignores
    Auto-Submitted and writes new mail to every answer is answered a few times, then not."""
    window = unit.now - timedelta(minutes=unit.settings.email.ack_window_minutes)
    sent = unit.session.scalar(
        select(func.count())
        .select_from(t.Notification)
        .where(
            t.Notification.template == "ticket_opened",
            t.Notification.recipient == person.email,
            t.Notification.created_at >= window,
        )
    )
    if (sent or 0) < unit.settings.email.ack_limit:
        return True
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=Actor.system(),
        kind=AuditKind.ACKNOWLEDGEMENT_SUPPRESSED,
        after={"recipient": person.email, "sent_in_window": sent},
    )
    return False


def comment_added(unit: Unit, event: ev.CommentAdded) -> None:
    ticket, comment = ticket_of(unit, event.ticket_id), comment_of(unit, event.comment_id)
    # A robot's words (an out-of-office, another desk's acknowledgement) are passed on to no one.
    if not comment.public or comment.flagged or comment.auto_submitted:
        return
    author = comment.author
    extra = {"comment": {"body": comment.body, "author": person_context(author) if author else None}}
    if author is None or Role(author.role).is_staff:
        for person in [ticket.requester, *ticket.followers]:
            if person.id != comment.author_id:
                key = f"comment:{comment.id}:{person.id}"
                _tell(unit, ticket, person, "agent_replied", key, extra, event="agent_replied")
    elif ticket.assignee is not None and ticket.assignee_id != comment.author_id:
        key = f"comment:{comment.id}:{ticket.assignee_id}"
        _tell(unit, ticket, ticket.assignee, "customer_replied", key, extra, event="customer_replied")


def status_changed(unit: Unit, event: ev.StatusChanged) -> None:
    if not event.announce:
        return
    ticket, before, event_id, actor = (
        ticket_of(unit, event.ticket_id),
        event.before,
        event.event_id,
        event.actor,
    )
    if actor.person_id == ticket.requester_id:
        return
    template = "ticket_resolved" if ticket.status == "resolved" else "status_changed"
    key = f"status:{event_id}:{ticket.requester_id}"
    _tell(unit, ticket, ticket.requester, template, key, {"previous_status": before}, event="status_changed")


def assigned(unit: Unit, event: ev.Assigned) -> None:
    if not event.announce:
        return
    ticket, event_id, actor = ticket_of(unit, event.ticket_id), event.event_id, event.actor
    assignee = ticket.assignee
    if assignee is None or actor.person_id == assignee.id:
        return
    _tell(unit, ticket, assignee, "ticket_assigned", f"assigned:{event_id}:{assignee.id}", event="assigned")


def merged(unit: Unit, event: ev.Merged) -> None:
    """Tell the merged ticket's requester where their request lives on."""
    source, target = ticket_of(unit, event.source_id), ticket_of(unit, event.target_id)
    _tell(
        unit,
        target,
        source.requester,
        "ticket_merged",
        f"merged:{source.id}:{source.requester_id}",
        {
            "merged_from": {
                "number": format_number(unit.settings.ticket_prefix, source.id),
                "subject": source.subject,
            }
        },
        event="status_changed",
    )


def escalated(unit: Unit, event: ev.Escalated) -> None:
    """The assignee hears as they chose (email by default); agents see it in the thread."""
    ticket, event_id, actor, reason = (
        ticket_of(unit, event.ticket_id),
        event.event_id,
        event.actor,
        event.reason,
    )
    by = {"label": actor.label}
    if ticket.assignee is not None and ticket.assignee_id != actor.person_id:
        key = f"escalated:{event_id}:{ticket.assignee_id}"
        _tell(
            unit,
            ticket,
            ticket.assignee,
            "ticket_escalated",
            key,
            {"reason": reason, "by": by},
            event="escalation",
        )


def sla_level(unit: Unit, reached: ev.SlaLevelReached) -> None:
    """A ladder level fired: its targets hear by their channels (the thread shows it too:
    :func:`bot.notify.cards.sla_level`). A warning or an escalation (``Level.kind``); each
    recipient once per ticket and level.
    """
    ticket, level, threshold = ticket_of(unit, reached.ticket_id), reached.level, reached.threshold
    event = level.kind
    extra = {"level": {"number": level.number, "threshold": threshold}}
    base = f"{event}:{ticket.id}:{level.number}"
    if not getattr(unit.settings.notifications, event):
        return
    for target in level.notify:
        if target == "support_channel":
            continue  # the thread post: bot/notify/cards.py
        elif target.startswith("email:") or (
            target.startswith("person:") and not recipients(unit, ticket, target)
        ):
            # A list, or a person we do not know: mailed as an address.
            email_address(unit, ticket, target.partition(":")[2].strip(), event, f"{base}:{target}", extra)
        elif target.startswith("slack:"):
            channel = target.partition(":")[2]
            slack_notify.channel_post(unit, ticket, channel, event, f"slack:{base}:{target}", extra)
        else:
            for person in recipients(unit, ticket, target):
                _tell(unit, ticket, person, event, f"{base}:{person.id}", extra, event=event)


def recipients(unit: Unit, ticket: t.Ticket, target: str) -> list[t.Person]:
    """The people a ladder target names; nobody when it names no one (no assignee, no lead,
    an address that is no person of ours). Sends nothing itself."""
    if target == "assignee":
        return [ticket.assignee] if ticket.assignee is not None else []
    if target == "team_lead":
        lead = (
            unit.session.get(t.Person, ticket.team.lead_id) if ticket.team and ticket.team.lead_id else None
        )
        return [lead] if lead is not None else []
    if target == "managers":
        emails = [e.strip().lower() for e in unit.settings.escalation.managers.split(",") if e.strip()]
        query = select(t.Person).where(
            t.Person.email.in_(emails) if emails else t.Person.role == Role.ADMIN.value
        )
        return unit.once("managers", lambda: list(unit.session.scalars(query.order_by(t.Person.id)).unique()))
    if target.startswith("person:"):
        email = target.partition(":")[2].strip().lower()
        person = unit.session.scalar(select(t.Person).where(t.Person.email == email))
        return [person] if person is not None else []
    return []


def _tell(
    unit: Unit,
    ticket: t.Ticket,
    person: t.Person,
    template: str,
    dedupe_key: str,
    extra: dict[str, Any] | None = None,
    *,
    event: str,
    may_email: Callable[[], bool] | None = None,
) -> None:
    """On the channels the person chose for ``event`` (by default: where a requester asked, else email).

    ``may_email`` is asked only when email is one of those channels."""
    came_by_slack = slack_notify.prefers_slack(unit, ticket, person)
    for channel in prefs.channels_for(unit, person, event, came_by_slack=came_by_slack):
        if channel == "slack" and person.slack_user_id and unit.settings.slack.enabled:
            slack_notify.direct(unit, ticket, person, template, f"{dedupe_key}:slack", extra)
        elif channel == "email" and (may_email is None or may_email()):
            email_person(unit, ticket, person, template, dedupe_key, extra)


def email_address(
    unit: Unit, ticket: t.Ticket, address: str, template: str, dedupe_key: str, extra: dict[str, Any]
) -> None:
    """To an address that is no person of ours (an escalation list)."""
    if not unit.settings.enable_email_notifications or is_own_or_robot(unit, address):
        return
    if not getattr(unit.settings.notifications, template, True):
        return
    recipient = {"name": address, "email": address, "role": "list", "slack_user_id": None}
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=EMAIL,
        recipient=address,
        template=template,
        context={"ticket": ticket_context(unit, ticket), "recipient": recipient, **extra},
        dedupe_key=dedupe_key,
        ticket_id=ticket.id,
        thread={
            "message_id": _message_id(unit, ticket),
            "references": [],
            "thread_index": _conversation(unit, ticket),
        },
    )


def email_person(
    unit: Unit,
    ticket: t.Ticket,
    person: t.Person,
    template: str,
    dedupe_key: str,
    extra: dict[str, Any] | None = None,
) -> None:
    if not unit.settings.enable_email_notifications or not person.email:
        return
    if is_own_or_robot(unit, person.email):
        return
    context = {"ticket": ticket_context(unit, ticket), "recipient": person_context(person), **(extra or {})}
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=EMAIL,
        recipient=person.email,
        recipient_name=person.name or None,
        template=template,
        context=context,
        dedupe_key=dedupe_key,
        ticket_id=ticket.id,
        thread=_new_email_thread(unit, ticket, person),
    )


def _new_email_thread(unit: Unit, ticket: t.Ticket, person: t.Person) -> dict[str, Any]:
    """Pick this message's Message-ID now and remember it, so a reply to it finds the ticket.

    References name only what this recipient has in their mailbox (what they
    sent us, what we sent them), so their client threads the conversation and
    does not point at messages it never saw.
    """
    # Thread refs and notifications are written by Core statements, at once; nothing pending in
    # the session is read, so the ticket's changes are not flushed for this (they are once, later).
    with unit.session.no_autoflush:
        return _thread_for(unit, ticket, person)


def _thread_for(unit: Unit, ticket: t.Ticket, person: t.Person) -> dict[str, Any]:
    theirs = unit.session.execute(
        select(t.ThreadRef.created_at, t.ThreadRef.id, t.ThreadRef.external_id)
        .join(t.Comment, t.Comment.id == t.ThreadRef.comment_id)
        .where(
            t.ThreadRef.ticket_id == ticket.id,
            t.ThreadRef.channel == EMAIL,
            t.ThreadRef.direction == "in",
            t.Comment.author_id == person.id,
        )
    ).all()
    ours = unit.session.execute(
        select(t.Notification.created_at, t.Notification.id, t.Notification.thread).where(
            t.Notification.ticket_id == ticket.id,
            t.Notification.channel == EMAIL,
            t.Notification.recipient == person.email,
        )
    ).all()
    dated = [(at, 0, n, ref) for at, n, ref in theirs]
    dated += [(at, 1, n, thread["message_id"]) for at, n, thread in ours if thread.get("message_id")]
    earlier = [ref for *_, ref in sorted(dated)]
    if len(earlier) > MAX_REFERENCES:
        earlier = earlier[:1] + earlier[-(MAX_REFERENCES - 1) :]
    return {
        "message_id": _message_id(unit, ticket),
        "references": earlier,
        "thread_index": _conversation(unit, ticket),
    }


def _conversation(unit: Unit, ticket: t.Ticket) -> str:
    """The ticket's Outlook conversation, which every mail on it extends (``Thread-Index``).

    A ticket mail opened has one from its start (:func:`bot.tickets.placement.conversation_of`);
    one opened elsewhere, or before tickets kept one, is given one the first time we mail
    about it, written with the ticket's other changes.
    """
    if ticket.thread_index is None:
        ticket.thread_index = thread_index.fresh_root(unit.now)
    return ticket.thread_index


def _message_id(unit: Unit, ticket: t.Ticket) -> str:
    """A new Message-ID for the ticket, remembered so a reply to it threads there."""
    domain = unit.settings.email.from_address.rpartition("@")[2] or "localhost"
    number = format_number(unit.settings.ticket_prefix, ticket.id).lower()
    message_id = f"<{number}.{uuid.uuid4().hex}@{domain}>"
    threads.add_ref(
        unit.session, unit.now, channel=EMAIL, external_id=message_id, ticket_id=ticket.id, direction="out"
    )
    return message_id


def auto_closed(unit: Unit, event: ev.AutoClosed) -> None:
    """A resolved ticket was closed by the clock: the requester gets this note, not the generic
    status notice (the caller changes the status with ``announce=False``).

    Keyed by the close's audit event: a ticket reopened, resolved and closed
    again hears again; the same close never twice.
    """
    ticket, event_id = ticket_of(unit, event.ticket_id), event.event_id
    key = f"auto_closed:{ticket.id}:{event_id}"
    extra = {"auto_close_days": unit.settings.auto_close_days}
    _tell(unit, ticket, ticket.requester, "auto_closed", key, extra, event="auto_close")


def ticket_expired(unit: Unit, event: ev.TicketExpired) -> None:
    """An unresolved ticket grew older than ``ticket_expiration_days``: its team's agents hear by
    email (every admin when it has no team, or a team without agents).

    One message per ticket and person, so it threads with the ticket and a
    second sweep adds nothing; a ticket is flagged expired only once.
    """
    ticket = ticket_of(unit, event.ticket_id)
    staff = (Role.AGENT.value, Role.ADMIN.value)
    people: list[t.Person] = []
    if ticket.team_id is not None:
        people = list(
            unit.session.scalars(
                select(t.Person)
                .where(t.Person.team_id == ticket.team_id, t.Person.role.in_(staff))
                .order_by(t.Person.id)
            ).unique()
        )
    if not people:
        people = list(
            unit.session.scalars(
                select(t.Person).where(t.Person.role == Role.ADMIN.value).order_by(t.Person.id)
            ).unique()
        )
    extra = {
        "expiration_days": unit.settings.ticket_expiration_days,
        "opened_on": ticket.created_at.strftime("%Y-%m-%d"),
    }
    for person in people:
        email_person(unit, ticket, person, "tickets_expired", f"expired:{ticket.id}:{person.id}", extra)
