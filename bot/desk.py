"""The service layer: the only API channels call.

Each method is one transaction: it changes the ticket, appends audit events
and queues notifications, then commits; nothing is sent inside it. Methods
are synchronous; an asyncio channel runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    prefs,
    queries,
    reports,
    threads,
    tickets,
    tokens,
    webhooks,
)
from bot.classify import TicketChanges
from bot.config import Settings
from bot.errors import UserError
from bot.messages import Identity, Inbound, IncomingFile, Receipt
from bot.model import Actor, Priority, Role, Status, format_number
from bot.permissions import require_admin, require_staff
from bot.ports import Clock
from bot.sla_policy import Policies, build_ladder
from bot.store import tables as t
from bot.store.db import Store
from bot.store.files import FileStore
from bot.unit import Rules, Unit
from bot.views import CardView, CommentView, PersonView, TicketDetail, TicketView
from bot.workflow import Workflow

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Desk:
    def __init__(
        self, store: Store, clock: Clock, settings: Settings, files: FileStore | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.workflow = Workflow.from_config(settings.status_transitions)
        self.rules = Rules(
            self.workflow,
            Policies(settings.sla, settings.sla_policies),
            build_ladder(settings.escalation_levels),
        )
        self.files = files or FileStore(settings.attachments_path)

    @contextmanager
    def _unit(self, *, write: bool = True, now: datetime | None = None) -> Iterator[Unit]:
        scope = self.store.transaction() if write else self.store.read()
        with scope as session:
            yield Unit(session, now or self.clock.now(), self.settings, self.rules, self.files)

    def _write(self, work: Callable[[Unit], T]) -> T:
        with self._unit() as unit:
            return work(unit)

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
            with self._unit(write=False) as unit:
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
        with self._unit(write=False) as unit:
            person = directory.find_person(unit, email)
            return Actor(person.id, person.email or email, Role(person.role))

    def identify(self, identity: Identity) -> Actor:
        """The person behind a chat user, created as a requester the first time they act.

        Read first: a known person costs no write, which keeps a slash command's
        answer fast while the store is busy.
        """
        with self._unit(write=False) as unit:
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
        with self._unit(write=False) as unit:
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
        with self._unit(write=False) as unit:
            return attachments.visible_files(unit, actor, number)

    def open_file(
        self, actor: Actor, number: str, attachment_id: int
    ) -> tuple[attachments.StoredFile, Iterator[bytes]]:
        """One visible file of the ticket and its bytes, read in chunks as they are consumed."""
        with self._unit(write=False) as unit:
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
                with self._unit(now=now) as unit:
                    escalation.recheck_if_rules_changed(unit)
                    raise _RolledBack(escalation.sweep(unit, limit=limit))
            except _RolledBack as rolled_back:
                return rolled_back.report
        with self._unit(now=now) as unit:
            escalation.recheck_if_rules_changed(unit)
        checked, fired = 0, list[escalation.Fired]()
        for _ in range(10_000):
            with self._unit(now=now) as unit:
                report = escalation.sweep(unit, limit=batch)
            checked += report.checked
            fired += report.fired
            if report.checked < batch:
                break
        return escalation.SweepReport(checked, tuple(fired))

    def set_team_lead(self, actor: Actor, team: str, email: str | None) -> str:
        return self._write(lambda u: directory.set_team_lead(u, actor, team, email))

    def preferences(self, email: str) -> dict[str, str]:
        with self._unit(write=False) as unit:
            return prefs.preferences(unit, email)

    def set_preference(self, actor: Actor, email: str, event: str, channels: str) -> dict[str, str]:
        return self._write(lambda u: prefs.set_preference(u, actor, email, event, channels))

    # -- configuration over the HTTP API (agents read, admins write) ------------------

    def categories_for(self, actor: Actor) -> list[dict[str, object]]:
        require_staff(actor, "read the categories")
        return self.list_categories()

    def fields_for(self, actor: Actor) -> list[dict[str, object]]:
        require_staff(actor, "read the custom fields")
        return self.list_fields()

    def people_for(self, actor: Actor, role: str | None = None) -> list[PersonView]:
        require_admin(actor, "list people")
        return self.list_people(role)

    def sla_configuration(self, actor: Actor) -> dict[str, Any]:
        """The SLA policies in force and the escalation ladder, as the settings file set them
        (parsed: targets in seconds). Configuration, so read-only here."""
        require_staff(actor, "read the SLA policies")
        sla = self.settings.sla
        policies = self.rules.policies
        default = {
            priority.value: {
                "first_response_seconds": policy.targets.first_response_seconds,
                "resolution_seconds": policy.targets.resolution_seconds,
            }
            for priority, policy in policies.default.items()
        }
        overrides = []
        for entry in self.settings.sla_policies:
            # Built alone, in the settings' order: the desk's own rules are sorted by specificity.
            rule = Policies(sla, [entry]).rules[0]
            overrides.append(
                {
                    "category": entry.category.strip(),
                    "priority": rule.priority,
                    "first_response_seconds": rule.policy.targets.first_response_seconds,
                    "resolution_seconds": rule.policy.targets.resolution_seconds,
                    "timezone": entry.timezone or sla.timezone,
                    "business_hours": entry.business_hours or sla.business_hours or None,
                }
            )
        ladder = [
            {
                "level": level.number,
                "at": entry.at,
                "notify": list(level.notify),
                "raise_priority": level.raise_priority,
                "reassign_team": level.reassign_team or None,
            }
            for level, entry in zip(self.rules.ladder, self.settings.escalation_levels, strict=True)
        ]
        return {
            "default": {
                "timezone": sla.timezone,
                "business_hours": sla.business_hours or None,
                "at_risk_percent": sla.at_risk_percent,
                "targets": default,
            },
            "overrides": overrides,
            "escalation_levels": ladder,
        }

    def routing_configuration(self, actor: Actor) -> dict[str, Any]:
        """How new tickets are assigned and what each mailbox's tickets start with."""
        require_staff(actor, "read the routing")
        return {
            "assignment": self.settings.routing.assignment,
            "default_priority": self.settings.default_priority,
            "mailboxes": [
                {
                    "address": mailbox.address,
                    "team": mailbox.team or None,
                    "category": mailbox.category or None,
                    "priority": mailbox.priority or None,
                }
                for mailbox in self.settings.mailboxes
            ],
        }

    def report_for(self, actor: Actor, since: datetime | str, by: str | None = None) -> reports.SlaReport:
        require_staff(actor, "read reports")
        return self.sla_report(since, by)

    # -- API tokens ------------------------------------------------------------------

    def create_token(self, actor: Actor, email: str, name: str = "") -> tuple[tokens.TokenView, str]:
        return self._write(lambda u: tokens.create(u, actor, email, name))

    def authenticate(self, token: str) -> Actor:
        with self._unit(write=False) as unit:
            return tokens.authenticate(unit, token)

    def revoke_token(self, actor: Actor, token_id: int) -> tokens.TokenView:
        return self._write(lambda u: tokens.revoke(u, actor, token_id))

    def list_tokens(self, email: str | None = None) -> list[tokens.TokenView]:
        with self._unit(write=False) as unit:
            return tokens.list_tokens(unit, email)

    # -- webhooks (admins) ----------------------------------------------------------------

    def add_webhook(
        self,
        actor: Actor,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        priorities: Sequence[str] = (),
        category: str | None = None,
        include_internal: bool = False,
    ) -> webhooks.SubscriptionView:
        return self._write(
            lambda u: webhooks.subscribe(
                u,
                actor,
                url,
                list(events),
                secret,
                priorities=list(priorities),
                category=category,
                include_internal=include_internal,
            )
        )

    def remove_webhook(self, actor: Actor, subscription_id: int) -> webhooks.SubscriptionView:
        return self._write(lambda u: webhooks.unsubscribe(u, actor, subscription_id))

    def list_webhooks(self, actor: Actor) -> list[webhooks.SubscriptionView]:
        with self._unit(write=False) as unit:
            return webhooks.subscriptions(unit, actor)

    def webhook_target(self, subscription_id: int) -> webhooks.Target | None:
        """Where the webhook sender delivers, with the secret it signs with (None: removed)."""
        with self._unit(write=False) as unit:
            return webhooks.target(unit, subscription_id)

    def webhook_deliveries(
        self, actor: Actor, subscription_id: int | None = None, limit: int = 100
    ) -> list[webhooks.DeliveryView]:
        with self._unit(write=False) as unit:
            return webhooks.deliveries(unit, actor, subscription_id, limit)

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
        self, actor: Actor, number: str, body: str, *, public: bool = True, channel: str = "api"
    ) -> CommentView:
        """Like :meth:`comment`, answering with the comment written."""
        return self._write(
            lambda u: queries.comment_view(
                tickets.comment(u, actor, number, body, public=public, channel=channel)[1]
            )
        )

    def record_api_access(
        self, actor: Actor | None, number: str | None, method: str, path: str, status: int
    ) -> None:
        """One API request on tickets in the audit log, whoever made it and however it ended."""

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
                kind="api_request",
                after={"method": method, "path": path[:500], "status": status},
            )

        self._write(work)

    def metrics_snapshot(self) -> metrics.Snapshot:
        """Monitoring figures, read now (each scrape)."""
        with self._unit(write=False) as unit:
            return metrics.snapshot(unit)

    # -- chat threads --------------------------------------------------------------

    def thread_root(self, ticket_id: int, channel: str, conversation: str) -> str | None:
        """Where a sender posts the ticket's messages in that conversation (None: start one)."""
        with self._unit(write=False) as unit:
            return threads.root(unit.session, ticket_id, channel, conversation)

    def remember_thread(self, ticket_id: int, channel: str, external_id: str) -> None:
        """A sender posted a message for the ticket: replies to it now thread there."""
        with self._unit() as unit:
            threads.remember(unit.session, unit.now, ticket_id, channel, external_id)

    def knows_message(self, channel: str, external_id: str) -> bool:
        """Whether a message is a ticket's (a thread root we posted or a message we took in)."""
        with self._unit(write=False) as unit:
            return threads.ticket_of(unit.session, channel, external_id) is not None

    def ticket_of_root(self, channel: str, conversation: str, message: str) -> str | None:
        """The ticket whose thread root (its card) this chat message is, as its number."""
        with self._unit(write=False) as unit:
            found = threads.ticket_of(unit.session, channel, threads.chat_id(conversation, message))
            if found is None or threads.root(unit.session, found, channel, conversation) != message:
                return None
            return format_number(self.settings.ticket_prefix, found)

    # -- reference data ----------------------------------------------------------------

    def add_person(
        self,
        actor: Actor,
        email: str,
        *,
        name: str = "",
        role: Role = Role.REQUESTER,
        team: str | None = None,
        slack_user_id: str | None = None,
    ) -> PersonView:
        return self._write(
            lambda u: PersonView.of(
                directory.add_person(
                    u, actor, email=email, name=name, role=role, team=team, slack_user_id=slack_user_id
                )
            )
        )

    def update_person(
        self,
        actor: Actor,
        email: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        team: str | None = None,
    ) -> PersonView:
        return self._write(
            lambda u: PersonView.of(directory.update_person(u, actor, email, name=name, role=role, team=team))
        )

    def add_team(self, actor: Actor, name: str) -> str:
        return self._write(lambda u: directory.add_team(u, actor, name).name)

    def add_category(self, actor: Actor, path: str, *, team: str | None = None) -> str:
        return self._write(lambda u: directory.add_category(u, actor, path, team=team).path)

    def define_field(
        self,
        actor: Actor,
        key: str,
        label: str,
        kind: str,
        *,
        options: dict[str, Any] | None = None,
        required: bool = False,
    ) -> str:
        return self._write(
            lambda u: (
                directory.define_field(
                    u, actor, key=key, label=label, kind=kind, options=options, required=required
                ).key
            )
        )

    # -- reading ---------------------------------------------------------------------

    def list_tickets(self, query: queries.TicketFilter) -> list[TicketView]:
        with self._unit(write=False) as unit:
            return queries.list_tickets(unit, query)

    def show_ticket(self, number: str) -> TicketDetail:
        with self._unit(write=False) as unit:
            return queries.show_ticket(unit, number)

    def tickets_for(self, actor: Actor, scope: str, limit: int = 20) -> list[TicketView]:
        """What a person may list (``mine``, ``open``, ``all``, ...); requesters see their own."""
        with self._unit(write=False) as unit:
            return queries.tickets_for(unit, actor, scope, limit)

    def visible_ticket(self, actor: Actor, number: str) -> TicketDetail:
        """A ticket as this person may see it: requesters get their own, without internal notes."""
        with self._unit(write=False) as unit:
            return queries.visible_ticket(unit, actor, number)

    def ticket_card(self, ticket_id: int) -> CardView:
        """The ticket as its chat card shows it, read at sending time."""
        with self._unit(write=False) as unit:
            return queries.ticket_card(unit, ticket_id)

    def check_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        """Custom field values as they would be stored, or a UserError naming the first bad one."""
        with self._unit(write=False) as unit:
            return classify.check_fields(unit, values)

    def list_people(self, role: str | None = None) -> list[PersonView]:
        with self._unit(write=False) as unit:
            return queries.list_people(unit, role)

    def list_teams(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_teams(unit)

    def list_categories(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_categories(unit)

    def list_fields(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_fields(unit)

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

    def sla_report(self, since: datetime | str, by: str | None = None) -> reports.SlaReport:
        """SLA figures of the tickets created since ``since`` (a time, or 30d / 12h / 4w / an ISO
        date), one row per ``by`` group (priority, category, agent, team; None: one row), and per week."""
        with self._unit(write=False) as unit:
            return reports.build(unit, since, by)


def _actor_of(person: t.Person) -> Actor:
    return Actor(person.id, person.email or person.slack_user_id or f"person {person.id}", Role(person.role))


class _RolledBack(Exception):
    """Carries a dry run's report out of the transaction it rolls back."""

    def __init__(self, report: escalation.SweepReport) -> None:
        super().__init__("dry run")
        self.report = report
