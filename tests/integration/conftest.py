"""Helpers for tests against the real store."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import tables as t
from bot.store.db import Store
from tests.conftest import _unavailable
from tests.integration.dovecot import Dovecot, Unavailable, running

TABLES = (
    t.Ticket,
    t.Comment,
    t.Event,
    t.Notification,
    t.ThreadRef,
    t.Attachment,
    t.Person,
    t.CustomFieldValue,
    t.Tag,
)


@pytest.fixture
def snapshot(store: Store) -> Callable[[], dict[str, int]]:
    """Row counts of every table, to show that a refused change left no trace."""

    def take() -> dict[str, int]:
        with store.read() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in TABLES
            }

    return take


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# The Slack stand-in and the app behind the HTTP server, for tests/integration/test_slack*.py.
from tests.integration.slack_harness import slack  # noqa: E402, F401
from tests.slack_api import slack_api  # noqa: E402, F401


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """One real Dovecot per test process, on a free loopback port (tests/integration/dovecot.py)."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running())
        except Unavailable as error:
            _unavailable(f"Dovecot: {error}")
        yield server


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The Dovecot, its mailboxes emptied for this test."""
    dovecot_server.empty()
    return dovecot_server
