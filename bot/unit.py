"""What every service function gets: the open transaction, "now", the rules in force, and
where the change's events go (:mod:`bot.events`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy.orm import Session

from bot.config.settings import Settings
from bot.events import Event
from bot.rules.ruleset import RuleSet
from bot.sla.policy import Level, Policies
from bot.sla.settings import SlaPolicyOverride
from bot.store.files import FileStore
from bot.workflow import Workflow


@dataclass(frozen=True, slots=True)
class WebhookInterest:
    """An active webhook subscription as the emitter filters by it (no URL, no secret)."""

    id: int
    events: frozenset[str]
    priorities: frozenset[str]
    category: str | None
    include_internal: bool


@dataclass(frozen=True, slots=True)
class Rules:
    """What the settings and the admins' stored rules compile to, for one version of them."""

    policies: Policies
    ladder: tuple[Level, ...]
    # The SLA policies in force, file and stored ones layered (what ``policies`` was built from).
    sla_entries: tuple[SlaPolicyOverride, ...] = ()
    # The enabled automation rules (routing rules among them: bot.automation.routing_rules).
    automations: RuleSet = RuleSet()
    version: int = 0
    # Versioned with the rules, so a change notifies without reading subscriptions per change.
    webhooks: tuple[WebhookInterest, ...] = ()
    # Banned senders: addresses and domains (bot.tickets.suspension.banned_by).
    bans: frozenset[str] = frozenset()


class RuleSource(Protocol):
    """Where a unit gets its rules (:class:`bot.policies.book.RuleBook`)."""

    def current(self, session: Session) -> Rules: ...

    def compile(self, session: Session, version: int) -> Rules: ...


E = TypeVar("E", bound=Event)
T = TypeVar("T")
Handler = Callable[["Unit", Any], None]


class Subscribers:
    """Who reacts to which event, in the order they subscribed; filled once, when the desk
    (and the sharing facade beside it) is built, then only read."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Handler]] = {}

    def on(self, kind: type[E], handler: Callable[[Unit, E], None]) -> None:
        """Subscribing the same handler twice is harmless: it still runs once per event."""
        handlers = self._handlers.setdefault(kind, [])
        if handler not in handlers:
            handlers.append(handler)

    def of(self, kind: type[Any]) -> Sequence[Handler]:
        return self._handlers.get(kind, ())


@dataclass(frozen=True, slots=True)
class Unit:
    session: Session
    now: datetime
    settings: Settings
    workflow: Workflow
    files: FileStore
    source: RuleSource
    subscribers: Subscribers = field(default_factory=Subscribers)
    # Lookups this transaction already did (see ``once``), the rules among them.
    lookups: dict[Hashable, Any] = field(default_factory=dict)
    # Audit rows recorded and not yet written: one statement for all, before the commit
    # (:func:`bot.audit.log.write_pending`).
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    # Tickets opened in this transaction whose TicketOpened is not yet published: events of
    # their own setup (routing's assignee, Cc followers) are part of opening, not updates
    # (automation rules on "ticket updated" do not hear them).
    opening: set[int] = field(default_factory=set)
    # People this transaction made (a first message's sender): they have opened nothing yet.
    new_people: set[int] = field(default_factory=set)

    def once(self, key: Hashable, lookup: Callable[[], T]) -> T:
        """``lookup()``'s answer, asked once per transaction: a sweep firing many levels, or a
        batch of messages, reads a person's preferences or the managers' list once, not per
        notification. Only for what nothing in the transaction writes, or what the writer
        puts back itself (the rules an admin just changed: :func:`bot.policies.book.recompile`)."""
        if key not in self.lookups:
            self.lookups[key] = lookup()
        return cast(T, self.lookups[key])

    def publish(self, event: Event) -> None:
        """Subscribers run now, in this transaction: what they queue commits with the change."""
        for handler in self.subscribers.of(type(event)):
            handler(self, event)

    @property
    def rules(self) -> Rules:
        """Asked for lazily, so transactions that never need them (reads, lists) do not pay."""
        return self.once(RULES, lambda: self.source.current(self.session))


RULES = "rules"  # the key of the rules in force among a unit's lookups
