"""Schema migrations with Alembic, driven from code so no alembic.ini is needed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.store.db import Store, translate_outage

MIGRATIONS = Path(__file__).with_name("migrations")

# Made by raw SQL and described by no model: the FTS5 table with its shadow tables and
# the GIN expression indexes (migration 0010), the sort expression indexes (0012).
UNMODELLED = re.compile(
    r"search_fts(?:_\w+)?|ix_tickets_search|ix_comments_search"
    r"|ix_tickets_priority_rank|ix_tickets_due_(?:ascending|descending)"
)


def modelled(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """For Alembic's ``include_name``: compare only what the models describe."""
    return name is None or UNMODELLED.fullmatch(name) is None


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(store: Store) -> str | None:
    with translate_outage(), store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(store: Store, revision: str = "head") -> None:
    """Safe to run from several processes at once: on SQLite the write lock is taken first,
    so the second process waits and then finds the schema already current."""
    with translate_outage(), store.write_engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def is_current(store: Store) -> bool:
    return current_revision(store) == head_revision()
