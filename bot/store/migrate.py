"""Schema migrations with Alembic, driven from code so no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.store.db import Store, translate_outage

MIGRATIONS = Path(__file__).with_name("migrations")


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
