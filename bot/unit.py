"""What every service function gets: the open transaction, "now", and the rules in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.store.files import FileStore
from bot.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Unit:
    session: Session
    now: datetime
    settings: Settings
    workflow: Workflow
    files: FileStore
