"""What every service function gets: the open transaction, "now", and the rules in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.config_sla import SlaPolicyOverride
from bot.routing import Route
from bot.sla_policy import Level, Policies
from bot.store.files import FileStore
from bot.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Rules:
    """What the settings and the admins' stored rules compile to, for one version of them."""

    policies: Policies
    ladder: tuple[Level, ...]
    # The SLA policies in force, file and stored ones layered (what ``policies`` was built from).
    sla_entries: tuple[SlaPolicyOverride, ...] = ()
    routes: tuple[Route, ...] = ()
    version: int = 0


class RuleSource(Protocol):
    """Where a unit gets its rules (:class:`bot.rulebook.RuleBook`)."""

    def current(self, session: Session) -> Rules: ...

    def compile(self, session: Session, version: int) -> Rules: ...


@dataclass(frozen=True, slots=True)
class Unit:
    session: Session
    now: datetime
    settings: Settings
    workflow: Workflow
    files: FileStore
    source: RuleSource
    # The rules once this transaction has asked for them: looked up at most once per unit.
    memo: dict[str, Rules] = field(default_factory=dict)

    @property
    def rules(self) -> Rules:
        """Asked for lazily, so transactions that never need them (reads, lists) do not pay."""
        rules = self.memo.get("rules")
        if rules is None:
            rules = self.memo["rules"] = self.source.current(self.session)
        return rules
