"""The core's reactions to its own events, in one place: who hears, the Slack card, webhooks.

Every handler runs inside the change's transaction (:meth:`bot.unit.Unit.publish`)
and only queues outbox rows. Ticket sharing subscribes beside these
(:func:`bot.sharing.sync.subscribe`); automation rules will too.
"""

from __future__ import annotations

from bot import events as ev
from bot.notify import audience as notify
from bot.unit import Subscribers


def subscribe(subscribers: Subscribers) -> None:
    subscribers.on(ev.TicketOpened, notify.ticket_opened)
    subscribers.on(ev.CommentAdded, notify.comment_added)
    subscribers.on(ev.StatusChanged, notify.status_changed)
    subscribers.on(ev.Assigned, notify.assigned)
    subscribers.on(ev.TicketChanged, notify.card_changed)
    subscribers.on(ev.Escalated, notify.escalated)
    subscribers.on(ev.SlaLevelReached, notify.sla_level)
    subscribers.on(ev.Merged, notify.merged)
    subscribers.on(ev.AutoClosed, notify.auto_closed)
    subscribers.on(ev.TicketExpired, notify.ticket_expired)
