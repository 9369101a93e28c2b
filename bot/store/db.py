"""Engines and units of work for SQLite (WAL) and PostgreSQL (psycopg 3).

Every desk call is one :meth:`Store.transaction`: it commits on success and
rolls back on any error, so nothing is ever half-written. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so two processes queue on the
write lock instead of failing mid-transaction on a stale snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import StoreConflict, StoreUnavailable
from bot.store.private import create_private_file, make_private_folder

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> URL:
    """``postgresql://`` means psycopg 3 here; the user need not know SQLAlchemy's driver names."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Store:
    """Owns one engine; made by the composition root, never at import time."""

    def __init__(self, url: str, *, pool_size: int = 5, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = _create_engine(self.url, pool_size=pool_size, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # On SQLite, transactions that write take the write lock up front (see module docstring).
        self.write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One atomic change; raises :class:`StoreUnavailable` when the database is out of reach."""
        with translate_outage(), Session(self.write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with translate_outage(), self._sessions() as session:
            yield session

    def ping(self) -> None:
        with translate_outage(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_outage() -> Iterator[None]:
    """Raise :class:`StoreUnavailable` for a database that cannot be reached, whatever the caller."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        if isinstance(error, exc.DBAPIError) and (_is_outage(error) or _is_conflict(error)):
            reason = " ".join(str(error.orig).split())  # drivers' hints come on extra lines
            if _is_conflict(error):
                logger.info("transaction given up in a conflict: %s", reason)
                raise StoreConflict(reason) from error
            logger.warning("store unavailable: %s", reason)
            raise StoreUnavailable(reason) from error
        raise


# PostgreSQL's serialization_failure and deadlock_detected, whatever the server's language.
CONFLICT_STATES = frozenset({"40001", "40P01"})


def _is_conflict(error: exc.DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) in CONFLICT_STATES:
        return True
    message = str(error.orig).lower()
    return "deadlock" in message or "could not serialize" in message


def _is_outage(error: exc.DBAPIError) -> bool:
    """Lost connections and lock time-outs are outages; a bad query is a bug and stays one."""
    if error.connection_invalidated:
        return True
    message = str(error.orig).lower()
    return any(
        marker in message
        for marker in (
            "database is locked",
            "unable to open database",
            "connection",
            "could not connect",
            "server closed",
            "terminating",
            "timeout",
            "deadlock",
            "could not serialize",
        )
    )


def _create_engine(url: URL, *, pool_size: int, echo: bool) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, echo=echo)
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True, echo=echo)


def _create_sqlite_engine(url: URL, *, echo: bool) -> Engine:
    if url.database and url.database != ":memory:":
        database = Path(url.database)
        make_private_folder(database.parent)
        # Made here, 0600, before sqlite3 would make it 0644; its -wal and -shm take its mode.
        create_private_file(database)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
