"""The core's reactions to its own events, in one place: for each event, the support
channel's card (:mod:`bot.notify.cards`), other systems' webhooks
(:mod:`bot.notify.webhook_events`) and the people who hear of it
(:mod:`bot.notify.audience`), in that order.

Every handler runs inside the change's transaction (:meth:`bot.unit.Unit.publish`) and
only queues outbox rows. Ticket sharing subscribes beside these
(:func:`bot.sharing.sync.subscribe`), and automation rules after these
(:func:`bot.automation.engine.subscribe`).
"""

from __future__ import annotations

from bot import events as ev
from bot.notify import audience, cards, webhook_events
from bot.unit import Subscribers


def subscribe(subscribers: Subscribers) -> None:
    for reactions in (cards, webhook_events):
        subscribers.on(ev.TicketOpened, reactions.ticket_opened)
        subscribers.on(ev.CommentAdded, reactions.comment_added)
        subscribers.on(ev.StatusChanged, reactions.status_changed)
        subscribers.on(ev.Assigned, reactions.assigned)
        subscribers.on(ev.TicketChanged, reactions.ticket_changed)
        subscribers.on(ev.Escalated, reactions.escalated)
        subscribers.on(ev.SlaLevelReached, reactions.sla_level)
        subscribers.on(ev.Merged, reactions.merged)
        subscribers.on(ev.AutoClosed, reactions.auto_closed)
    subscribers.on(ev.TicketOpened, audience.ticket_opened)
    subscribers.on(ev.CommentAdded, audience.comment_added)
    subscribers.on(ev.StatusChanged, audience.status_changed)
    subscribers.on(ev.Assigned, audience.assigned)
    subscribers.on(ev.Escalated, audience.escalated)
    subscribers.on(ev.SlaLevelReached, audience.sla_level)
    subscribers.on(ev.Merged, audience.merged)
    subscribers.on(ev.AutoClosed, audience.auto_closed)
    subscribers.on(ev.TicketExpired, audience.ticket_expired)
