"""What every desk facade shares: the store, the clock, the settings and the rules in
force, and how one method becomes one transaction (a :class:`bot.unit.Unit`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from bot.config import Settings
from bot.ports import Clock
from bot.sla_policy import Policies, build_ladder
from bot.store.db import Store
from bot.store.files import FileStore
from bot.unit import Rules, Unit
from bot.workflow import Workflow

T = TypeVar("T")


class DeskBase:
    """One set of rules per process: the workflow, SLA policies and ladder are compiled once."""

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
