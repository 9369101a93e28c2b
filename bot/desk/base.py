"""What every desk facade shares: the store, the clock, the settings, the rules in force
(a :class:`bot.policies.book.RuleBook`), the event subscribers (the core's notifications
and automation rules; sharing adds its own when it is built beside the desk), and how one method becomes one
transaction (a :class:`bot.unit.Unit`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from bot.audit import log as audit
from bot.automation import engine as automation_engine
from bot.config.settings import Settings
from bot.notify import subscriptions as notify_subscriptions
from bot.policies.book import RuleBook
from bot.ports import Clock
from bot.store.db import Store
from bot.store.files import FileStore
from bot.unit import Rules, Subscribers, Unit

T = TypeVar("T")


class DeskBase:
    """The file's rules are checked once; the stored ones are compiled again when they change."""

    def __init__(
        self, store: Store, clock: Clock, settings: Settings, files: FileStore | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.book = RuleBook(settings)
        self.workflow = self.book.workflow
        self.files = files or FileStore(settings.attachments_path)
        # The core's own reactions to its events; the sharing facade adds its own.
        self.subscribers = Subscribers()
        notify_subscriptions.subscribe(self.subscribers)
        # Rules after the notifications: a new ticket's acknowledgement goes out first.
        automation_engine.subscribe(self.subscribers)

    @contextmanager
    def unit(self, *, write: bool = True, now: datetime | None = None) -> Iterator[Unit]:
        """One transaction over the desk's store, clock, settings, rules and subscribers;
        for facades beside the desk (sharing) as much as for the desk's own methods."""
        scope = self.store.transaction() if write else self.store.read()
        with scope as session:
            unit = Unit(
                session,
                now or self.clock.now(),
                self.settings,
                self.workflow,
                self.files,
                self.book,
                self.subscribers,
            )
            yield unit
            if write:
                audit.write_pending(unit)  # the change's audit rows, in one statement, before the commit
            else:
                assert not unit.audit_rows, "a read transaction recorded audit rows it cannot keep"

    def _write(self, work: Callable[[Unit], T]) -> T:
        with self.unit() as unit:
            return work(unit)

    def _batches(
        self, work: Callable[[Unit], T], full: Callable[[T], bool], *, now: datetime | None = None
    ) -> list[T]:
        """``work`` again, one transaction each, while it answers a full batch: a backlog is
        worked off in bounded transactions, which other processes' work slips between."""
        done = []
        for _ in range(10_000):
            with self.unit(now=now) as unit:
                result = work(unit)
            done.append(result)
            if not full(result):
                break
        return done

    def rules_in_force(self) -> Rules:
        """The rules as the next transaction sees them (what every process now applies)."""
        with self.unit(write=False) as unit:
            return unit.rules
