"""Automation rules for channels: keeping them, trying them, reading their log, and the
time-based rules' sweep the scheduler runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.automation import dry_run, keeping, runs
from bot.automation import sweep as timed
from bot.desk.base import DeskBase
from bot.model import Actor
from bot.people.permissions import require_staff
from bot.read.queries import TicketFilter


class Automations(DeskBase):
    def list_automations(self, actor: Actor) -> list[dict[str, Any]]:
        with self.unit(write=False) as unit:
            return keeping.list_rules(unit, actor)

    def get_automation(self, actor: Actor, rule_id: int) -> dict[str, Any]:
        with self.unit(write=False) as unit:
            return keeping.get(unit, actor, rule_id)

    def add_automation(self, actor: Actor, rule: Mapping[str, Any]) -> dict[str, Any]:
        return self._write(lambda u: keeping.add(u, actor, rule))

    def change_automation(self, actor: Actor, rule_id: int, rule: Mapping[str, Any]) -> dict[str, Any]:
        return self._write(lambda u: keeping.change(u, actor, rule_id, rule))

    def patch_automation(
        self,
        actor: Actor,
        rule_id: int,
        *,
        enabled: bool | None = None,
        mode: str | None = None,
        position: int | None = None,
    ) -> dict[str, Any]:
        return self._write(
            lambda u: keeping.patch(u, actor, rule_id, enabled=enabled, mode=mode, position=position)
        )

    def remove_automation(self, actor: Actor, rule_id: int) -> dict[str, Any]:
        return self._write(lambda u: keeping.remove(u, actor, rule_id))

    def test_automation(
        self,
        actor: Actor,
        rule: Mapping[str, Any] | int,
        *,
        since: datetime | None = None,
        filters: TicketFilter | None = None,
        limit: int = dry_run.MAX_TICKETS,
    ) -> dry_run.TestReport:
        """What a new or stored rule would do to stored tickets, in a read-only transaction:
        nothing is written, whatever the rule says."""
        with self.unit(write=False) as unit:
            return dry_run.test(unit, actor, rule, since=since, filters=filters, limit=limit)

    def automation_log(
        self,
        actor: Actor,
        *,
        rule_id: int | None = None,
        ticket: str | None = None,
        outcome: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[runs.RunView]:
        require_staff(actor, "read the automation log")
        with self.unit(write=False) as unit:
            ticket_id = dry_run.ticket_id_of(unit, ticket) if ticket else None
            return runs.log(
                unit,
                rule_id=rule_id,
                ticket_id=ticket_id,
                outcome=outcome,
                before_id=before_id,
                limit=min(max(limit, 1), 500),
                prefix=self.settings.ticket_prefix,
            )

    def prune_automation_log(self, batch: int = 5_000) -> int:
        """Forget runs older than ``[automation] log_retention_days``; how many, in batches."""
        before = self.clock.now() - timedelta(days=self.settings.automation.log_retention_days)
        return sum(self._batches(lambda u: runs.prune(u, before, batch), lambda removed: removed >= batch))

    def automation_sweep(self, *, at: datetime | None = None, batch: int = 500) -> timed.SweepReport:
        """Sweep until nothing is due, batch by batch (one transaction each)."""
        reports = self._batches(
            lambda u: timed.sweep(u, limit=batch), lambda r: r.checked >= batch, now=at or self.clock.now()
        )
        return timed.SweepReport(sum(r.checked for r in reports), sum(r.fired for r in reports))
