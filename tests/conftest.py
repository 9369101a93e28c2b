"""Stores for every test: SQLite (a fresh file) and PostgreSQL (a private schema).

PostgreSQL is expected on 127.0.0.1:5432 (trust auth, database ``test``);
``SUPPORTBOT_TEST_POSTGRES_URL`` points elsewhere. Without CI a missing server
skips its half of the tests; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.model import Actor
from bot.store import migrate
from bot.store.db import Store
from bot.store.tables import Base
from tests.factories import make_person
from tests.fakes import FakeClock

POSTGRES_URL = os.environ.get(
    "SUPPORTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A schema of our own, so parallel runs and other projects on the server don't collide."""
    schema = f"sbtest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach it is "unavailable"
        admin.dispose()
        _unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    store = Store(url)
    migrate.upgrade(store)
    store.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: a fresh database costs a file copy, not a migration."""
    path = tmp_path_factory.mktemp("template") / "supportbot.db"
    store = Store(f"sqlite:///{path}")
    migrate.upgrade(store)
    store.dispose()
    return path


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "supportbot.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def environ(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"SUPPORTBOT_DATA_DIR": str(tmp_path / "data"), "SUPPORTBOT_DATABASE_URL": database_url}


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return load(None, environ)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.database_url)
    yield store
    store.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def desk(store: Store, clock: FakeClock, settings: Settings) -> Desk:
    return Desk(store, clock, settings)


@pytest.fixture
def admin() -> Actor:
    return Actor.console()


@pytest.fixture
def agent(desk: Desk, admin: Actor) -> Actor:
    """An agent in team Ops, so tickets of that team are assigned to them."""
    desk.add_team(admin, "Ops")
    return make_person(desk, admin, "agent@support.test", name="Ann Agent", team="Ops")
