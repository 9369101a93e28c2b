"""Migration 0018 (mail defences) both ways, on a database of its own: up from 0017 with a
ticket and its comment in it, down again, and up once more to exactly the modelled schema."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from bot.store import migrate
from bot.store.db import Store
from bot.store.tables import Base
from tests.conftest import POSTGRES_URL

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without a server
    schema = f"sbm18_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _down(store: Store, revision: str) -> None:
    with store.write_engine.begin() as connection, warnings.catch_warnings():
        # SQLite's batch mode reflects the table it rebuilds, expression indexes included.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        command.downgrade(migrate._config(connection), revision)


def _schema_differences(store: Store) -> list[object]:
    with store.engine.connect() as connection, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        opts = {"compare_type": False, "include_name": migrate.modelled}
        return list(compare_metadata(MigrationContext.configure(connection, opts=opts), Base.metadata))


def test_0018_goes_up_and_down_and_keeps_what_was_stored(own_database):
    store = Store(own_database)
    try:
        migrate.upgrade(store, "0017")
        with store.write_engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO people (id, email, name, role, created_at)"
                    " VALUES (1, 'a@x.test', 'A', 'requester', :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                text(
                    "INSERT INTO tickets (id, subject, description, status, priority, channel, requester_id,"
                    " escalation_level, sla_paused_seconds, created_at, updated_at)"
                    " VALUES (1, 'Old', '', 'open', 'medium', 'email', 1, 0, 0, :at, :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                text(
                    "INSERT INTO comments (id, ticket_id, author_id, body, public, flagged, channel,"
                    " created_at)"
                    " VALUES (1, 1, 1, 'Hello', true, false, 'email', :at)"
                ),
                {"at": AT},
            )
        migrate.upgrade(store)
        assert _schema_differences(store) == []
        with store.engine.connect() as connection:
            row = connection.execute(text("SELECT auto_submitted FROM comments WHERE id = 1")).one()
            assert not row[0]  # an old comment counts as a person's
            assert connection.execute(text("SELECT thread_index FROM tickets")).scalar() is None
        _down(store, "0017")
        assert migrate.current_revision(store) == "0017"
        migrate.upgrade(store)
        assert _schema_differences(store) == [] and migrate.is_current(store)
    finally:
        store.dispose()
