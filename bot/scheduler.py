"""APScheduler jobs inside ``supportbot serve``: each one only calls an idempotent service.

Jobs run with ``coalesce=True`` and ``max_instances=1``: a run missed while the
process was busy is caught up once, never stacked. The blocking store work
runs in a thread so the event loop keeps answering SMTP, Slack and HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.errors import StoreUnavailable
from bot.outbox import Dispatcher

logger = logging.getLogger(__name__)


async def dispatch_outbox(dispatcher: Dispatcher) -> None:
    try:
        report = await asyncio.to_thread(dispatcher.run_until_idle)
    except StoreUnavailable as error:
        logger.warning("outbox dispatch skipped, store unavailable: %s", error)
        return
    except Exception:
        logger.exception("outbox dispatch failed")
        return
    if report.handled:
        logger.info("outbox: %d sent, %d to retry, %d dead", report.sent, report.retried, report.dead)


def create_scheduler(
    dispatcher: Dispatcher, *, outbox_interval_seconds: int, start_at: datetime
) -> AsyncIOScheduler:
    """``start_at`` (usually now) runs the first dispatch at once, to send what waited while we were down."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        dispatch_outbox,
        "interval",
        seconds=outbox_interval_seconds,
        args=[dispatcher],
        id="outbox_dispatch",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=start_at,
    )
    return scheduler
