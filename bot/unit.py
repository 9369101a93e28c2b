"""What every service function gets: the open transaction, "now", and the rules in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.sla_policy import Level, Policies
from bot.store.files import FileStore
from bot.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Rules:
    """What the settings compile to, built once per desk: the workflow, SLA policies, the ladder."""

    workflow: Workflow
    policies: Policies
    ladder: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Unit:
    session: Session
    now: datetime
    settings: Settings
    rules: Rules
    files: FileStore

    @property
    def workflow(self) -> Workflow:
        return self.rules.workflow
