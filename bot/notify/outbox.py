"""Durable notifications: enqueue in the change's transaction, deliver after commit.

A row moves pending -> sending (claimed with a token and a lease) -> sent,
or back to pending with a backoff, or to dead after ``max_attempts``. A
dispatcher killed mid-send leaves its rows in ``sending``; when the lease
runs out any dispatcher claims them again, so nothing is lost. Marking is
guarded by the claim token and the ``sending`` status, so a row once sent is
never made pending again, whatever a slow or stale dispatcher does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.config.settings import OutboxSettings
from bot.messages import Outbound
from bot.model import format_number
from bot.ports import Clock, Sender
from bot.store import tables as t
from bot.store.db import Store
from bot.views import NotificationView

logger = logging.getLogger(__name__)

PENDING, SENDING, SENT, DEAD, BOUNCED = "pending", "sending", "sent", "dead", "bounced"
STATUSES = (PENDING, SENDING, SENT, DEAD, BOUNCED)


class DeliveryError(Exception):
    """A sender could not deliver; say whether trying again can help."""


class TransientDeliveryError(DeliveryError):
    """Try again later (relay down, HTTP 429/5xx).

    ``outage`` says the channel itself is down or throttling us, not that this
    message is at fault: such a notification is not parked after
    ``max_attempts`` but kept trying (at the longest backoff) for
    ``retry_hours``, so a long outage loses nothing.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, outage: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.outage = outage


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (recipient rejected, template missing)."""


# A Retry-After of days would park a delivery as good as dead; the backoff takes over past this.
MAX_RETRY_AFTER = 6 * 3600.0


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP ``Retry-After`` (seconds or a date) as seconds from ``now``, capped;
    None for anything unreadable, which leaves the wait to the backoff."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def enqueue(
    session: Session,
    *,
    now: datetime,
    channel: str,
    recipient: str,
    template: str,
    context: dict[str, Any],
    dedupe_key: str,
    ticket_id: int | None = None,
    recipient_name: str | None = None,
    thread: dict[str, Any] | None = None,
) -> None:
    """Add a notification unless one with the same dedupe key exists: a retry never sends twice."""
    values = {
        "ticket_id": ticket_id,
        "channel": channel,
        "recipient": recipient,
        "recipient_name": recipient_name,
        "template": template,
        "context": context,
        "thread": thread or {},
        "dedupe_key": dedupe_key,
        "message_id": (thread or {}).get("message_id"),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    connection = session.connection()  # not session.execute: that would flush the session first
    connection.execute(_ENQUEUE[connection.dialect.name == "postgresql"], values)


# On the table, not the mapped class: a Core statement, so the session is not flushed for it.
_ENQUEUE = {
    postgres: (pg_insert if postgres else sqlite_insert)(t.table_of(t.Notification)).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    )
    for postgres in (False, True)
}


def backoff(attempts: int, policy: OutboxSettings) -> timedelta:
    """Doubling from ``backoff_seconds`` up to ``backoff_max_seconds``."""
    seconds = policy.backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, policy.backoff_max_seconds))


@dataclass(frozen=True, slots=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.dead


@dataclass(frozen=True, slots=True)
class _Claim:
    outbound: Outbound
    token: str
    attempts: int
    created_at: datetime


class Dispatcher:
    """Hands due notifications to their channel's sender; safe to run in many processes at once."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        senders: Mapping[str, Sender],
        policy: OutboxSettings,
    ) -> None:
        self.store = store
        self.clock = clock
        self.senders = dict(senders)
        self.policy = policy

    def run_once(self) -> DispatchReport:
        lease = timedelta(seconds=self.policy.lease_seconds)
        leased_until = self.clock.now() + lease  # read before the claim: never later than its lease
        claims = self.claim()
        sent = retried = dead = 0
        for claim in claims:
            # Surely ours while more than half the lease is left (nobody takes a row over before
            # its lease runs out): no write. Later in a slow batch, renewed first, or given up.
            if self.clock.now() + lease / 2 >= leased_until and not self._still_ours(claim):
                continue
            outcome = self._deliver(claim)
            sent += outcome == SENT
            retried += outcome == PENDING
            dead += outcome == DEAD
        return DispatchReport(sent, retried, dead)

    def run_until_idle(self, max_rounds: int = 100) -> DispatchReport:
        """Dispatch until nothing is due; for the CLI and tests, not the scheduler."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = self.run_once()
            if not report.handled:
                break
            total = DispatchReport(
                total.sent + report.sent, total.retried + report.retried, total.dead + report.dead
            )
        return total

    def _still_ours(self, claim: _Claim) -> bool:
        """Renew the lease just before sending; if another dispatcher took the row over, leave it.

        One claim covers a whole batch, and slow sends can outlast the lease:
        without this, rows late in the batch would be sent by both dispatchers.
        """
        lease_until = self.clock.now() + timedelta(seconds=self.policy.lease_seconds)
        return self._update_if_held(claim, {"lease_until": lease_until})

    def _update_if_held(self, claim: _Claim, values: dict[str, Any]) -> bool:
        """Change the row only while this claim still holds it (its token, still sending)."""
        with self.store.transaction() as session:
            result = session.execute(
                update(t.Notification)
                .where(
                    t.Notification.id == claim.outbound.notification_id,
                    t.Notification.claim_token == claim.token,
                    t.Notification.status == SENDING,
                )
                .values(**values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def claim(self) -> list[_Claim]:
        now = self.clock.now()
        token = uuid.uuid4().hex
        abandoned = and_(t.Notification.status == SENDING, t.Notification.lease_until < now)
        due = or_(
            and_(t.Notification.status == PENDING, t.Notification.next_attempt_at <= now),
            abandoned,
        )
        with self.store.transaction() as session:
            # A notification whose every attempt ended with its dispatcher gone (a
            # sender that crashes the process) is parked, not retried for ever.
            session.execute(
                update(t.Notification)
                .where(abandoned, t.Notification.attempts >= self.policy.max_attempts)
                .values(
                    status=DEAD,
                    lease_until=None,
                    claim_token=None,
                    last_error="the dispatcher stopped while sending, on every attempt",
                )
            )
            ids = list(
                session.scalars(
                    select(t.Notification.id)
                    .where(due)
                    .order_by(t.Notification.next_attempt_at, t.Notification.id)
                    .limit(self.policy.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            session.execute(
                update(t.Notification)
                .where(t.Notification.id.in_(ids))
                .values(
                    status=SENDING,
                    claim_token=token,
                    lease_until=now + timedelta(seconds=self.policy.lease_seconds),
                    attempts=t.Notification.attempts + 1,
                )
            )
            rows = session.scalars(
                select(t.Notification).where(t.Notification.id.in_(ids)).order_by(t.Notification.id)
            ).all()
            return [_Claim(self._outbound(row), token, row.attempts, row.created_at) for row in rows]

    def _outbound(self, row: t.Notification) -> Outbound:
        return Outbound(
            notification_id=row.id,
            channel=row.channel,
            recipient=row.recipient,
            recipient_name=row.recipient_name,
            template=row.template,
            context=dict(row.context),
            dedupe_key=row.dedupe_key,
            ticket_id=row.ticket_id,
            thread=tuple(row.thread.get("references", ())),
            message_id=row.thread.get("message_id"),
            conversation=row.thread.get("conversation"),
            thread_index=row.thread.get("thread_index"),
            attempt=row.attempts,
        )

    def _deliver(self, claim: _Claim) -> str:
        outbound = claim.outbound
        sender = self.senders.get(outbound.channel)
        try:
            if sender is None:
                raise PermanentDeliveryError(f"no sender is configured for channel {outbound.channel!r}")
            sender.send(outbound)
        except PermanentDeliveryError as error:
            logger.error(
                "notification %s (%s to channel %s) failed for good: %s",
                outbound.notification_id,
                outbound.template,
                outbound.channel,
                error,
            )
            return self._finish(claim, DEAD, str(error))
        except Exception as error:  # noqa: BLE001 - any sender failure is retried, then parked
            retry_after = error.retry_after if isinstance(error, TransientDeliveryError) else None
            final = claim.attempts >= self.policy.max_attempts and not self._riding_out(claim, error)
            logger.warning(
                "notification %s (%s to channel %s) attempt %d failed: %s",
                outbound.notification_id,
                outbound.template,
                outbound.channel,
                claim.attempts,
                error,
                exc_info=not isinstance(error, DeliveryError),
            )
            return self._finish(claim, DEAD if final else PENDING, repr(error), retry_after)
        logger.info(
            "notification %s sent: %s on %s for ticket %s",
            outbound.notification_id,
            outbound.template,
            outbound.channel,
            outbound.ticket_id,
        )
        return self._finish(claim, SENT, None)

    def _riding_out(self, claim: _Claim, error: Exception) -> bool:
        """An outage of the channel keeps its notifications waiting, up to ``retry_hours``."""
        if not isinstance(error, TransientDeliveryError) or not error.outage:
            return False
        return self.clock.now() - claim.created_at < timedelta(hours=self.policy.retry_hours)

    def _finish(self, claim: _Claim, status: str, error: str | None, retry_after: float | None = None) -> str:
        now = self.clock.now()
        values: dict[str, Any] = {"status": status, "lease_until": None, "claim_token": None}
        if status == SENT:
            values["sent_at"] = now
            values["last_error"] = None
        else:
            values["last_error"] = (error or "")[:2000]
        if status == PENDING:
            delay = backoff(claim.attempts, self.policy)
            if retry_after is not None:
                delay = max(delay, timedelta(seconds=retry_after))
            values["next_attempt_at"] = now + delay
        if not self._update_if_held(claim, values):
            logger.warning(
                "notification %s was reclaimed by another dispatcher before it finished",
                claim.outbound.notification_id,
            )
        return status


def mark_bounced(session: Session, message_ids: Iterable[str], recipients: Iterable[str], detail: str) -> int:
    """A delivery report says these messages did not arrive: show it on the notifications.

    Matched by the Message-ID we sent with; when the report names the failed
    recipients, only their copies are marked.
    """
    ids, failed = list(message_ids), [r.lower() for r in recipients]
    if not ids:
        return 0
    query = (
        update(t.Notification)
        .where(t.Notification.message_id.in_(ids), t.Notification.status == SENT)
        .values(status=BOUNCED, last_error=detail[:2000])
    )
    if failed:
        query = query.where(t.Notification.recipient.in_(failed))
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def list_notifications(
    store: Store, *, prefix: str, status: str | None = None, limit: int = 100
) -> list[NotificationView]:
    with store.read() as session:
        query = select(t.Notification).order_by(t.Notification.id.desc()).limit(limit)
        if status:
            query = query.where(t.Notification.status == status)
        return [
            NotificationView(
                id=row.id,
                ticket=format_number(prefix, row.ticket_id) if row.ticket_id else None,
                channel=row.channel,
                recipient=row.recipient,
                template=row.template,
                status=row.status,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                last_error=row.last_error,
                created_at=row.created_at,
                sent_at=row.sent_at,
            )
            for row in session.scalars(query)
        ]


def retry(store: Store, clock: Clock, ids: Iterable[int] = ()) -> int:
    """Give dead notifications (all, or the ones named) a fresh set of attempts."""
    wanted = list(ids)
    with store.transaction() as session:
        query = (
            update(t.Notification)
            .where(t.Notification.status == DEAD)
            .values(status=PENDING, attempts=0, next_attempt_at=clock.now(), last_error=None)
        )
        if wanted:
            query = query.where(t.Notification.id.in_(wanted))
        result = session.execute(query)
        return int(result.rowcount)  # type: ignore[attr-defined]
