"""The store itself: migrations match the models, outages are reported as such, time stays UTC."""

from __future__ import annotations

import threading
import warnings
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update

from bot.errors import StoreConflict, StoreUnavailable
from bot.model import Actor
from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store
from bot.store.tables import Base
from tests.factories import make_ticket


def test_migrations_create_exactly_the_modelled_schema(store):
    with store.engine.connect() as conn, warnings.catch_warnings():
        # include_name: what migrations make by raw SQL has no model (full-text search in 0010,
        # the sort expression indexes in 0012, which SQLite's reflection cannot read and says so).
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        opts = {"compare_type": False, "include_name": migrate.modelled}
        context = MigrationContext.configure(conn, opts=opts)
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert migrate.is_current(store)


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_times_come_back_timezone_aware_utc(desk):
    number = make_ticket(desk)
    created = desk.visible_ticket(Actor.console(), number).ticket.created_at
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0


def test_naive_times_are_refused_by_the_store(store):
    from bot.store import tables as t

    with pytest.raises(Exception, match="naive datetime"), store.transaction() as session:
        session.add(t.Tag(name="x"))
        session.add(t.Team(name="n", created_at=datetime(2026, 1, 1)))
        session.flush()


def test_unreachable_postgresql_is_an_outage_not_a_crash():
    store = Store("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable), store.transaction() as session:
        session.execute(text("SELECT 1"))
    store.dispose()


def test_unopenable_sqlite_file_is_an_outage(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = Store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    (tmp_path / "missing-dir" / "x.db").unlink()  # made empty, 0600, before SQLite would
    (tmp_path / "missing-dir").rmdir()
    (tmp_path / "missing-dir").write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        store.ping()
    store.dispose()


def test_postgres_url_without_a_driver_uses_psycopg3():
    assert Store("postgresql://u@h/db").url.drivername == "postgresql+psycopg"


def test_a_deadlock_is_a_conflict_to_retry_not_an_outage(postgres_url):
    """Two transactions locking two rows in opposite orders: PostgreSQL gives one up."""
    store = Store(postgres_url)
    try:
        with store.transaction() as session:
            session.add_all([t.JobMark(name="a", value=0), t.JobMark(name="b", value=0)])
        first_locked, errors = threading.Barrier(2), []

        def lock(first: str, second: str) -> None:
            try:
                with store.transaction() as session:
                    session.execute(update(t.JobMark).where(t.JobMark.name == first).values(value=1))
                    first_locked.wait(10)
                    session.execute(update(t.JobMark).where(t.JobMark.name == second).values(value=2))
            except Exception as error:  # noqa: BLE001 - the test looks at it
                errors.append(error)

        threads = [threading.Thread(target=lock, args=pair) for pair in (("a", "b"), ("b", "a"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(errors) == 1 and isinstance(errors[0], StoreConflict), errors
    finally:
        store.dispose()
