"""The service layer: the only API channels call.

Each method is one transaction: it changes the ticket, appends audit events
and queues notifications, then commits; nothing is sent inside it. Methods
are synchronous; an asyncio channel runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import exc

from bot import (
    attachments,
    audit,
    classify,
    directory,
    escalation,
    housekeeping,
    intake,
    metrics,
    outbox,
    queries,
    reports,
    retries,
    threads,
    tickets,
)
from bot.audit_kinds import AuditKind
from bot.classify import TicketChanges
from bot.desk_admin import Administration
from bot.errors import UserError
from bot.messages import Identity, Inbound, IncomingFile, Receipt
from bot.model import Actor, Priority, Role, Status, format_number
from bot.permissions import require_staff
from bot.store import tables as t
from bot.unit import Unit
from bot.views import CardView, CommentView, TicketDetail, TicketView

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Desk(Administration):
    """Tickets and everything that happens to them; administration is :class:`Administration`'s."""

    # -- inbound ---------------------------------------------------------------

    def receive(self, inbound: Inbound) -> Receipt:
        """Idempotent on ``(channel, key)``: a message seen before returns its first receipt.

        Two processes receiving the same key at once race on a unique index;
        the loser's transaction rolls back whole and it reports the winner's
        ticket, so nothing is stored twice or half.
        """
        try:
            return self._write(lambda unit: intake.receive(unit, inbound))
        except exc.IntegrityError:
            with self.unit(write=False) as unit:
                duplicate = intake.find_duplicate(unit, inbound)
            if duplicate is None:
                raise
            return duplicate

    def record_bounce(self, message_ids: Sequence[str], recipients: Sequence[str], detail: str) -> int:
        """How many sent notifications a delivery report marked as bounced."""
        with self.store.transaction() as session:
            marked = outbox.mark_bounced(session, message_ids, recipients, detail)
        logger.info(
            "bounce for %s (%s): %d notification(s) marked", ", ".join(recipients) or "?", detail, marked
        )
        return marked

    # -- agents' actions -----------------------------------------------------------

    def actor(self, email: str | None) -> Actor:
        """The person acting, by email; ``None`` is an operator at the console."""
        if email is None:
            return Actor.console()
        with self.unit(write=False) as unit:
            person = directory.find_person(unit, email)
            return Actor(person.id, person.email or email, Role(person.role))

    def identify(self, identity: Identity) -> Actor:
        """The person behind a chat user, created as a requester the first time they act.

        Read first: a known person costs no write, which keeps a slash command's
        answer fast while the store is busy.
        """
        with self.unit(write=False) as unit:
            known = directory.known_person(unit, identity)
            if known is not None:
                return _actor_of(known)
        return self._write(lambda u: _actor_of(directory.ensure_person(u, identity)))

    def comment(
        self, actor: Actor, number: str, body: str, *, public: bool = True, channel: str = "cli"
    ) -> TicketView:
        return self._write(
            lambda u: queries.ticket_view(
                u, tickets.comment(u, actor, number, body, public=public, channel=channel)[0]
            )
        )

    def transition(self, actor: Actor, number: str, status: Status) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.transition(u, actor, number, status)))

    def assign(self, actor: Actor, number: str, email: str | None) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.assign(u, actor, number, email)))

    def assign_person(self, actor: Actor, number: str, person_id: int | None) -> TicketView:
        """Assign by person id, for people a chat knows without an email address."""
        return self._write(
            lambda u: queries.ticket_view(u, tickets.assign_person(u, actor, number, person_id))
        )

    def set_priority(self, actor: Actor, number: str, priority: Priority) -> TicketView:
        return self._write(
            lambda u: queries.ticket_view(u, classify.set_priority(u, actor, number, priority))
        )

    def set_category(self, actor: Actor, number: str, path: str | None) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, classify.set_category(u, actor, number, path)))

    def set_tags(
        self, actor: Actor, number: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> TicketView:
        return self._write(
            lambda u: queries.ticket_view(u, classify.set_tags(u, actor, number, add=add, remove=remove))
        )

    def set_field(self, actor: Actor, number: str, key: str, value: Any) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, classify.set_field(u, actor, number, key, value)))

    def update(self, actor: Actor, number: str, changes: TicketChanges) -> TicketView:
        """All of ``changes`` in one transaction: one refused change leaves the others unwritten."""
        return self._write(lambda u: queries.ticket_view(u, classify.update(u, actor, number, changes)))

    def merge(self, actor: Actor, source: str, target: str) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.merge(u, actor, source, target)))

    def escalate(self, actor: Actor, number: str, reason: str) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.escalate(u, actor, number, reason)))

    def export_tickets(self, query: queries.TicketFilter, batch: int = 500) -> Iterator[TicketView]:
        """Every ticket the filter selects, streamed from one read transaction; closing the
        iterator ends it."""
        with self.unit(write=False) as unit:
            yield from queries.iter_tickets(unit, query, batch)

    def attach_file(
        self,
        actor: Actor,
        number: str,
        file: IncomingFile,
        text: str = "",
        *,
        public: bool = True,
        channel: str = "api",
    ) -> attachments.StoredFile:
        """A comment carrying one file; ``TooLarge`` over the configured limits, nothing written."""
        return self._write(
            lambda u: attachments.attach(u, actor, number, file, text, public=public, channel=channel)
        )

    def ticket_files(self, actor: Actor, number: str) -> list[attachments.StoredFile]:
        """The files this person may see on a ticket, oldest first."""
        with self.unit(write=False) as unit:
            return attachments.visible_files(unit, actor, number)

    def open_file(
        self, actor: Actor, number: str, attachment_id: int
    ) -> tuple[attachments.StoredFile, Iterator[bytes]]:
        """One visible file of the ticket and its bytes, read in chunks as they are consumed."""
        with self.unit(write=False) as unit:
            stored, handle = attachments.open_file(unit, actor, number, attachment_id)
        return stored, attachments.chunks(handle)

    # -- SLA -----------------------------------------------------------------------

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
        checked, fired = 0, list[escalation.Fired]()
        for _ in range(10_000):
            with self.unit(now=now) as unit:
                report = escalation.sweep(unit, limit=batch)
            checked += report.checked
            fired += report.fired
            if report.checked < batch:
                break
        return escalation.SweepReport(checked, tuple(fired))

    # -- the HTTP API ----------------------------------------------------------------

    def change_ticket(
        self,
        actor: Actor,
        number: str,
        changes: TicketChanges,
        *,
        status: Status | None = None,
        assign: bool = False,
        assignee: str | None = None,
    ) -> TicketView:
        """Classification, assignee (``assign``: set it to ``assignee``, None unassigns) and
        status in one transaction: one refused change leaves the others unwritten."""

        def work(u: Unit) -> TicketView:
            ticket = classify.update(u, actor, number, changes)
            if assign:
                ticket = tickets.assign(u, actor, number, assignee)
            if status is not None:
                ticket = tickets.transition(u, actor, number, status)
            return queries.ticket_view(u, ticket)

        return self._write(work)

    def add_comment(
        self,
        actor: Actor,
        number: str,
        body: str,
        *,
        public: bool = True,
        channel: str = "api",
        external_id: str | None = None,
    ) -> CommentView:
        """Like :meth:`comment`, answering with the comment written.

        With ``external_id`` (the request's own key) a retry answers with the comment the
        first one wrote and writes nothing. Two at once race on the thread refs' unique
        index: the loser's transaction rolls back whole and it answers with the winner's.
        """

        def work(u: Unit) -> CommentView:
            if external_id is not None:
                earlier = retries.earlier_comment(
                    u, number, body, public=public, channel=channel, external_id=external_id
                )
                if earlier is not None:
                    return earlier
            written = tickets.comment(
                u, actor, number, body, public=public, channel=channel, external_id=external_id
            )[1]
            return queries.comment_view(written)

        try:
            return self._write(work)
        except exc.IntegrityError:
            if external_id is None:
                raise
            with self.unit(write=False) as unit:
                earlier = retries.earlier_comment(
                    unit, number, body, public=public, channel=channel, external_id=external_id
                )
            if earlier is None:
                raise
            return earlier

    def record_api_access(
        self,
        actor: Actor | None,
        number: str | None,
        method: str,
        path: str,
        status: int,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """One API request in the audit log, on its ticket if ``number`` names one; ``details``
        (the source address of an anonymous one, say) are kept with it."""

        def work(u: Unit) -> None:
            ticket_id: int | None = None
            if number is not None:
                try:
                    ticket_id = tickets.get(u, number, lock=False).id
                except UserError:  # a malformed or unknown number: the request is still on record
                    ticket_id = None
            audit.record(
                u,
                ticket_id=ticket_id,
                actor=actor or Actor(None, "anonymous", Role.REQUESTER),
                kind=AuditKind.API_REQUEST,
                after={"method": method, "path": path[:500], "status": status, **(details or {})},
            )

        self._write(work)

    def metrics_snapshot(self) -> metrics.Snapshot:
        """Monitoring figures, read now (each scrape)."""
        with self.unit(write=False) as unit:
            return metrics.snapshot(unit)

    # -- chat threads --------------------------------------------------------------

    def thread_root(self, ticket_id: int, channel: str, conversation: str) -> str | None:
        """Where a sender posts the ticket's messages in that conversation (None: start one)."""
        with self.unit(write=False) as unit:
            return threads.root(unit.session, ticket_id, channel, conversation)

    def remember_thread(self, ticket_id: int, channel: str, external_id: str) -> None:
        """A sender posted a message for the ticket: replies to it now thread there."""
        with self.unit() as unit:
            threads.remember(unit.session, unit.now, ticket_id, channel, external_id)

    def knows_message(self, channel: str, external_id: str) -> bool:
        """Whether a message is a ticket's (a thread root we posted or a message we took in)."""
        with self.unit(write=False) as unit:
            return threads.ticket_of(unit.session, channel, external_id) is not None

    def ticket_of_root(self, channel: str, conversation: str, message: str) -> str | None:
        """The ticket whose thread root (its card) this chat message is, as its number."""
        with self.unit(write=False) as unit:
            found = threads.ticket_of(unit.session, channel, threads.chat_id(conversation, message))
            if found is None or threads.root(unit.session, found, channel, conversation) != message:
                return None
            return format_number(self.settings.ticket_prefix, found)

    # -- reading ---------------------------------------------------------------------

    def list_tickets(self, query: queries.TicketFilter) -> list[TicketView]:
        with self.unit(write=False) as unit:
            return queries.list_tickets(unit, query)

    def show_ticket(self, number: str) -> TicketDetail:
        with self.unit(write=False) as unit:
            return queries.show_ticket(unit, number)

    def tickets_for(self, actor: Actor, scope: str, limit: int = 20) -> list[TicketView]:
        """What a person may list (``mine``, ``open``, ``all``, ...); requesters see their own."""
        with self.unit(write=False) as unit:
            return queries.tickets_for(unit, actor, scope, limit)

    def visible_ticket(self, actor: Actor, number: str) -> TicketDetail:
        """A ticket as this person may see it: requesters get their own, without internal notes."""
        with self.unit(write=False) as unit:
            return queries.visible_ticket(unit, actor, number)

    def ticket_card(self, ticket_id: int) -> CardView:
        """The ticket as its chat card shows it, read at sending time."""
        with self.unit(write=False) as unit:
            return queries.ticket_card(unit, ticket_id)

    def check_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        """Custom field values as they would be stored, or a UserError naming the first bad one."""
        with self.unit(write=False) as unit:
            return classify.check_fields(unit, values)

    # -- timed jobs (each idempotent, safe on several processes) ---------------------

    def auto_close(self) -> list[str]:
        """Close tickets resolved ``auto_close_days`` ago, telling each requester; the numbers closed.

        In batches of one transaction each, until the backlog is gone."""
        return self._drain(housekeeping.auto_close)

    def flag_expired(self) -> list[str]:
        """Flag tickets unresolved after ``ticket_expiration_days`` and report them; the numbers."""
        return self._drain(housekeeping.flag_expired)

    def _drain(self, work: Callable[..., list[str]], batch: int = 500) -> list[str]:
        done: list[str] = []
        for _ in range(1_000):
            numbers = self._write(lambda u: work(u, limit=batch))
            done += numbers
            if len(numbers) < batch:
                break
        return done

    def export_audit(self) -> Path | None:
        """Export the audit log to ``<data_dir>/audit`` when ``audit_log_interval`` has passed."""
        return self._write(lambda u: housekeeping.export_audit(u, self.settings.data_path))

    # -- reports ---------------------------------------------------------------------------

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


def _actor_of(person: t.Person) -> Actor:
    return Actor(person.id, person.email or person.slack_user_id or f"person {person.id}", Role(person.role))


class _RolledBack(Exception):
    """Carries a dry run's report out of the transaction it rolls back."""

    def __init__(self, report: escalation.SweepReport) -> None:
        super().__init__("dry run")
        self.report = report
