"""Reading tickets back: lists, one ticket as a person may see it, files, figures, reports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from bot.desk.base import DeskBase
from bot.model import Actor
from bot.people.permissions import require_staff
from bot.read import files, live, metrics, queries, reports
from bot.read.dashboard import DashboardView, read_dashboard
from bot.tickets import attachments, classify
from bot.views import CardView, TicketDetail, TicketView, WorkChoices


class Reading(DeskBase):
    """Read transactions only: nothing here writes."""

    def list_tickets(self, query: queries.TicketFilter) -> list[TicketView]:
        with self.unit(write=False) as unit:
            return queries.list_tickets(unit, query)

    def tickets_for(self, actor: Actor, scope: str, limit: int = 20) -> list[TicketView]:
        """What a person may list (``mine``, ``open``, ``all``, ...); requesters see their own."""
        with self.unit(write=False) as unit:
            return queries.tickets_for(unit, actor, scope, limit)

    def visible_ticket(self, actor: Actor, number: str) -> TicketDetail:
        """A ticket as this person may see it: staff (and the console) everything, a requester
        their own tickets without internal notes or the log; another's is "no ticket"."""
        with self.unit(write=False) as unit:
            return queries.visible_ticket(unit, actor, number)

    def change_stamp(self, ticket_id: int | None = None, *, public_only: bool = False) -> str | None:
        """What an open page polls (:mod:`bot.read.live`): a ticket's stamp (None: no such ticket;
        ``public_only``: a requester's, moved only by what they may see), or the queue's."""
        with self.unit(write=False) as unit:
            if ticket_id is None:
                return live.queue_stamp(unit)
            return live.ticket_stamp(unit, ticket_id, public_only=public_only)

    def work_choices(self, actor: Actor) -> WorkChoices:
        require_staff(actor, "work tickets")
        with self.unit(write=False) as unit:
            return queries.work_choices(unit)

    def count_tickets(
        self, actor: Actor, filters: Sequence[queries.TicketFilter], cap: int | None = None
    ) -> list[int]:
        """How many tickets each filter selects (at most ``cap`` + 1), one COUNT each, in one
        read transaction: the queues' sizes, the staff's to know."""
        require_staff(actor, "count the queues")
        with self.unit(write=False) as unit:
            return live.count_tickets(unit, filters, cap)

    def ticket_card(self, ticket_id: int) -> CardView:
        """The ticket as its chat card shows it, read at sending time."""
        with self.unit(write=False) as unit:
            return queries.ticket_card(unit, ticket_id)

    def check_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        """Custom field values as they would be stored, or a UserError naming the first bad one."""
        with self.unit(write=False) as unit:
            return classify.check_fields(unit, values)

    def export_tickets(self, query: queries.TicketFilter, batch: int = 500) -> Iterator[TicketView]:
        """Every ticket the filter selects, streamed from one read transaction; closing the
        iterator ends it."""
        with self.unit(write=False) as unit:
            yield from queries.iter_tickets(unit, query, batch)

    def ticket_files(self, actor: Actor, number: str) -> list[attachments.StoredFile]:
        """The files this person may see on a ticket, oldest first."""
        with self.unit(write=False) as unit:
            return files.visible_files(unit, actor, number)

    def open_file(
        self, actor: Actor, number: str, attachment_id: int
    ) -> tuple[attachments.StoredFile, Iterator[bytes]]:
        """One visible file of the ticket and its bytes, read in chunks as they are consumed."""
        with self.unit(write=False) as unit:
            stored, handle = files.open_file(unit, actor, number, attachment_id)
        return stored, files.chunks(handle)

    def metrics_snapshot(self) -> metrics.Snapshot:
        """Monitoring figures, read now (each scrape)."""
        with self.unit(write=False) as unit:
            return metrics.snapshot(unit)

    def report_for(
        self, actor: Actor, since: datetime | str, by: str | None = None, period: str = "week"
    ) -> reports.SlaReport:
        require_staff(actor, "read reports")
        return self.sla_report(since, by, period)

    def sla_report(
        self, since: datetime | str, by: str | None = None, period: str = "week"
    ) -> reports.SlaReport:
        """SLA figures of the tickets created since ``since`` (a time, or 30d / 12h / 4w / an ISO
        date), one row per ``by`` group (priority, category, agent, team; None: one row), per
        week, and per ``period`` (day or week)."""
        with self.unit(write=False) as unit:
            return reports.build(unit, since, by, period)

    def dashboard(self, actor: Actor) -> DashboardView:
        """The web desk's key figures (open queue, the last 30 days' flow and SLA), read now."""
        require_staff(actor, "read the dashboard")
        with self.unit(write=False) as unit:
            return read_dashboard(unit)
