"""Figures for monitoring, read from the store at each scrape: plain numbers, no exposition format.

Everything is a count over current rows (a gauge), except the inbound messages,
which only grow. The channel formats them (Prometheus text in ``channels/http``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from bot.notify import outbox
from bot.sla.calendar import SlaStatus
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.tickets import held_mail
from bot.unit import Unit


@dataclass(frozen=True, slots=True)
class Snapshot:
    # (status, priority) -> tickets
    tickets: dict[tuple[str, str], int]
    # Of the tickets still open.
    sla_breached: int
    sla_at_risk: int
    # channel -> notifications waiting to be sent (pending or being sent).
    outbox_pending: dict[str, int]
    # Seconds since the oldest waiting notification was queued; 0 with none waiting.
    oldest_pending_age: float
    # channel -> notifications given up on (dead).
    delivery_failures: dict[str, int]
    # channel -> comments taken in on it (the first message of a ticket included).
    inbound_messages: dict[str, int]
    # reason -> messages held as suspended mail, not yet released (spam, banned, burst, failed).
    suspended_mail: dict[str, int]
    # smtp / imap -> messages set aside after failing every attempt (only grows).
    mail_set_aside: dict[str, int]


def snapshot(unit: Unit) -> Snapshot:
    session = unit.session
    by_status = session.execute(
        select(t.Ticket.status, t.Ticket.priority, func.count()).group_by(t.Ticket.status, t.Ticket.priority)
    ).all()
    sla = _counts(
        unit,
        select(t.Ticket.sla_status, func.count())
        .where(t.Ticket.status.in_(tickets.OPEN_STATUSES), t.Ticket.sla_status.is_not(None))
        .group_by(t.Ticket.sla_status),
    )
    waiting = t.Notification.status.in_([outbox.PENDING, outbox.SENDING])
    by_channel = select(t.Notification.channel, func.count()).group_by(t.Notification.channel)
    oldest: datetime | None = session.scalar(select(func.min(t.Notification.created_at)).where(waiting))
    return Snapshot(
        tickets={(status, priority): count for status, priority, count in by_status},
        sla_breached=sla.get(SlaStatus.BREACHED.value, 0),
        sla_at_risk=sla.get(SlaStatus.AT_RISK.value, 0),
        outbox_pending=_counts(unit, by_channel.where(waiting)),
        oldest_pending_age=max((unit.now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        delivery_failures=_counts(unit, by_channel.where(t.Notification.status == outbox.DEAD)),
        inbound_messages=_counts(unit, select(t.Comment.channel, func.count()).group_by(t.Comment.channel)),
        suspended_mail=held_mail.counts(unit),
        mail_set_aside=held_mail.set_aside_counts(unit),
    )


def _counts(unit: Unit, statement: Select[Any, int]) -> dict[str, int]:
    return {key: count for key, count in unit.session.execute(statement).all() if key is not None}
