"""Timed jobs the scheduler runs (:mod:`bot.desk.scheduler`): the SLA sweep, auto-close,
expiry, the audit export. Each is idempotent and safe on several processes at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bot.desk.base import DeskBase
from bot.tickets import escalation, housekeeping


class TimedJobs(DeskBase):
    def sla_sweep(
        self,
        *,
        at: datetime | None = None,
        dry_run: bool = False,
        batch: int = 500,
        limit: int | None = None,
    ) -> escalation.SweepReport:
        """Sweep until nothing is due, batch by batch (one transaction each).

        ``at`` sweeps as if it were that time; ``dry_run`` does it all in one
        transaction and rolls it back, so an admin sees what a policy change
        would fire before it goes live. ``limit`` stops a dry run after that many
        tickets (the benchmark measures one scheduler-sized batch).
        """
        now = at or self.clock.now()
        if dry_run:
            try:
                with self.unit(now=now) as unit:
                    escalation.recheck_if_rules_changed(unit)
                    raise _RolledBack(escalation.sweep(unit, limit=limit))
            except _RolledBack as rolled_back:
                return rolled_back.report
        with self.unit(now=now) as unit:
            escalation.recheck_if_rules_changed(unit)
        reports = self._batches(
            lambda u: escalation.sweep(u, limit=batch), lambda r: r.checked >= batch, now=now
        )
        fired = tuple(level for report in reports for level in report.fired)
        return escalation.SweepReport(sum(r.checked for r in reports), fired)

    def auto_close(self) -> list[str]:
        """Close tickets resolved ``auto_close_days`` ago, telling each requester; the numbers closed.

        In batches of one transaction each, until the backlog is gone."""
        return self._drain(housekeeping.auto_close)

    def flag_expired(self) -> list[str]:
        """Flag tickets unresolved after ``ticket_expiration_days`` and report them; the numbers."""
        return self._drain(housekeeping.flag_expired)

    def _drain(self, work: Callable[..., list[str]], batch: int = 500) -> list[str]:
        batches = self._batches(lambda u: work(u, limit=batch), lambda numbers: len(numbers) >= batch)
        return [number for numbers in batches for number in numbers]

    def export_audit(self) -> Path | None:
        """Export the audit log to ``<data_dir>/audit`` when ``audit_log_interval`` has passed."""
        return self._write(lambda u: housekeeping.export_audit(u, self.settings.data_path))


class _RolledBack(Exception):
    """Carries a dry run's report out of the transaction it rolls back."""

    def __init__(self, report: escalation.SweepReport) -> None:
        super().__init__("dry run")
        self.report = report
