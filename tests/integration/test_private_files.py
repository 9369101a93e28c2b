"""The data folder and what it holds are the owner's only: 0700 folders, 0600 files.

Made by the real start-up (``build``) under the usual umask of 022, with a mail that
carries an attachment and an acknowledgement written to the ``.eml`` outbox; and a
folder made wider beforehand is named in a warning when ``serve`` starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.settings import load
from bot.messages import IncomingFile
from channels.bootstrap import build, serve
from tests.conftest import _truncate_all
from tests.factories import make_inbound
from tests.fakes import FakeClock


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path, usual_umask: None) -> dict[str, str]:
    """A data folder that does not exist yet; SQLite made in it, or a PostgreSQL emptied."""
    environ = {"SUPPORTBOT_DATA_DIR": str(tmp_path / "var" / "data")}
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        _truncate_all(url)
        environ["SUPPORTBOT_DATABASE_URL"] = url
    return environ


def test_what_start_up_and_a_first_mail_create_is_owner_only(fresh: dict[str, str], clock: FakeClock) -> None:
    runtime = build(load(None, fresh), environ={}, clock=clock)
    data = runtime.settings.data_path
    try:
        attachment = IncomingFile("invoice.pdf", "application/pdf", b"%PDF-1.4 secret figures")
        runtime.desk.receive(make_inbound(attachments=(attachment,)))
        assert runtime.dispatcher.run_once().sent >= 1
        sqlite = runtime.store.dialect == "sqlite"
        if sqlite:  # while connections are open, WAL mode keeps its companions beside the database
            database = data / "supportbot.db"
            companions = [database.with_name("supportbot.db-wal"), database.with_name("supportbot.db-shm")]
            assert all(path.exists() for path in companions)
            assert {path.name: mode(path) for path in [database, *companions]} == {
                "supportbot.db": 0o600,
                "supportbot.db-wal": 0o600,
                "supportbot.db-shm": 0o600,
            }
    finally:
        runtime.store.dispose()

    assert mode(data) == 0o700
    assert mode(data.parent) == 0o700  # made for it too
    assert mode(data / "reply-secret") == 0o600
    [stored] = [path for path in runtime.settings.attachments_path.rglob("*") if path.is_file()]
    assert stored.read_bytes() == attachment.data and mode(stored) == 0o600
    folders = [runtime.settings.attachments_path, *stored.relative_to(data).parents]
    assert {mode(data / folder) for folder in folders} == {0o700}
    emails = list(runtime.settings.outbox_path.glob("*.eml"))
    assert emails and {mode(path) for path in emails} == {0o600}
    assert mode(runtime.settings.outbox_path) == 0o700
    assert not [path for path in data.rglob("*") if mode(path) & 0o077]


def test_serve_names_a_data_folder_and_secret_others_can_read(
    tmp_path: Path, usual_umask: None, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "reply-secret").write_text("0123456789abcdef")  # 0644 under the umask
    environ = {
        "SUPPORTBOT_DATA_DIR": str(data),
        "SUPPORTBOT_HTTP_ENABLED": "false",
        "SUPPORTBOT_SMTP_ENABLED": "false",
    }
    runtime = build(load(None, environ), environ={}, clock=clock)
    assert mode(data) == 0o755  # left as it was: the operator decides

    async def serve_until_up() -> None:
        task = asyncio.create_task(serve(runtime))
        while "supportbot serving" not in caplog.text:
            assert not task.done(), caplog.text
            await asyncio.sleep(0.01)
        signal.raise_signal(signal.SIGTERM)  # serve's own handler stops it cleanly
        await task

    with caplog.at_level(logging.INFO):
        asyncio.run(serve_until_up())

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{data} has mode 0755" in message for message in warnings), warnings
    assert any(f"{data / 'reply-secret'} has mode 0644" in message for message in warnings), warnings
    # The database the start-up made itself is private, so it is not named.
    assert not any("supportbot.db" in message for message in warnings), warnings
