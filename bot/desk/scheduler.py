"""APScheduler jobs inside ``supportbot serve``: each one only calls an idempotent service.

Jobs run with ``coalesce=True`` and ``max_instances=1``: a run missed while the
process was busy is caught up once, never stacked. The blocking store work
runs in a thread so the event loop keeps answering SMTP, Slack and HTTP. Every
process may run every job: the services coordinate through the database (row
locks with SKIP LOCKED, unique keys), so several processes never double up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.desk.facade import Desk
from bot.errors import StoreUnavailable
from bot.notify.outbox import Dispatcher

logger = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 3600


async def run_job(name: str, work: Callable[[], Any]) -> Any:
    """Run one job's service off the event loop; a failure is logged and the next run tries again."""
    try:
        return await asyncio.to_thread(work)
    except StoreUnavailable as error:
        logger.warning("%s skipped, store unavailable: %s", name, error)
    except Exception:
        logger.exception("%s failed", name)
    return None


async def dispatch_outbox(dispatcher: Dispatcher) -> None:
    report = await run_job("outbox dispatch", dispatcher.run_until_idle)
    if report is not None and report.handled:
        logger.info("outbox: %d sent, %d to retry, %d dead", report.sent, report.retried, report.dead)


async def sweep_sla(desk: Desk) -> None:
    report = await run_job("SLA sweep", desk.sla_sweep)
    if report is not None and report.fired:
        logger.info("SLA sweep: %d ticket(s) checked, %d level(s) fired", report.checked, len(report.fired))


async def sweep_automations(desk: Desk) -> None:
    report = await run_job("automation sweep", desk.automation_sweep)
    if report is not None and report.fired:
        logger.info("automation sweep: %d ticket(s) checked, %d rule(s) fired", report.checked, report.fired)


async def housekeeping(desk: Desk) -> None:
    """Hourly: close long-resolved tickets, flag expired ones, export the audit log when due,
    forget ended web sessions and spent sign-in links, automation runs past retention, and
    suspended mail nobody released."""
    closed = await run_job("auto-close", desk.auto_close)
    expired = await run_job("expiry", desk.flag_expired)
    exported = await run_job("audit export", desk.export_audit)
    await run_job("sign-in sweep", desk.sweep_sign_ins)
    await run_job("automation log retention", desk.prune_automation_log)
    pruned = await run_job("suspended mail retention", desk.prune_suspended)
    if pruned:
        logger.info("housekeeping: %d suspended message(s) past retention deleted", pruned)
    if closed or expired or exported:
        logger.info(
            "housekeeping: %d closed, %d flagged expired, audit export %s",
            len(closed or ()),
            len(expired or ()),
            exported or "not due",
        )


def create_scheduler(
    dispatcher: Dispatcher,
    *,
    outbox_interval_seconds: int,
    start_at: datetime,
    desk: Desk | None = None,
    sla_interval_seconds: int = 30,
) -> AsyncIOScheduler:
    """``start_at`` (usually now) runs every job at once, to catch up on what waited while we were down."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    common: dict[str, Any] = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": None,
        "next_run_time": start_at,
    }
    scheduler.add_job(
        dispatch_outbox,
        "interval",
        seconds=outbox_interval_seconds,
        args=[dispatcher],
        id="outbox_dispatch",
        **common,
    )
    if desk is not None:
        scheduler.add_job(
            sweep_sla, "interval", seconds=sla_interval_seconds, args=[desk], id="sla_sweep", **common
        )
        scheduler.add_job(
            sweep_automations,
            "interval",
            seconds=desk.settings.automation.sweep_interval_seconds,
            args=[desk],
            id="automation_sweep",
            **common,
        )
        scheduler.add_job(
            housekeeping, "interval", seconds=HOUSEKEEPING_SECONDS, args=[desk], id="housekeeping", **common
        )
    return scheduler
