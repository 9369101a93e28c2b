"""The real ``supportbot serve`` process, driven from outside like an operator would.

The server runs on a free loopback port with its own data folder, on SQLite
(created and migrated by the server itself) and on a fresh PostgreSQL schema
(migrated beforehand with ``supportbot db upgrade``). Tickets are created with
the CLI in another process; the acknowledgement must come out of the running
scheduler as an ``.eml`` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import signal
import smtplib
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from bot.store.db import Store
from channels.http.api import create_app
from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.ports import free_port
from tests.waiting import wait_until

REQUESTER = "casey@example.com"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Server:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_for(check: Callable[[], T | None], *, seconds: float, what: str, server: Server) -> T:
    """Poll ``check`` until it returns something; fail with the server's log if the time runs out."""

    def while_serving() -> T | None:
        if server.process.poll() is not None:
            pytest.fail(f"supportbot serve exited with {server.process.returncode}:\n{server.output()}")
        return check()

    found = wait_until(
        while_serving,
        seconds=seconds,
        what=what,
        interval=0.1,
        explain=lambda: f"supportbot serve said:\n{server.output()}",
    )
    assert found is not None
    return found


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture(params=["sqlite", "postgresql"])
def serve_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
        "SUPPORTBOT_OUTBOX_INTERVAL_SECONDS": "1",
    }
    if request.param == "postgresql":
        env["SUPPORTBOT_DATABASE_URL"] = request.getfixturevalue("empty_schema")
        upgraded = supportbot(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout.startswith("database schema: empty -> ")
    return env


@contextlib.contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """``supportbot serve`` on ``env``, until /healthz answers; stopped with SIGTERM after."""
    log = tmp_path / "serve.log"
    handle = log.open("wb")
    process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    started = Server(
        process=process,
        url=f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}",
        env=env,
        data_dir=Path(env["SUPPORTBOT_DATA_DIR"]),
        log=log,
    )
    try:
        wait_for(lambda: healthy(started.url), seconds=20, what="200 from /healthz", server=started)
        yield started
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        handle.close()


@pytest.fixture
def server(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with serving(serve_env, tmp_path) as started:
        yield started


@pytest.mark.slow
def test_serve_answers_healthz_ok_while_the_database_answers(server: Server) -> None:
    response = httpx.get(f"{server.url}/healthz", timeout=5.0)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


@pytest.mark.slow
def test_ticket_created_with_the_cli_is_acknowledged_by_the_running_scheduler(server: Server) -> None:
    created = supportbot(
        server.env,
        "tickets",
        "create",
        "--subject",
        "Drucker brennt in Büro 3",
        "--requester",
        REQUESTER,
        "--format",
        "json",
    )
    assert created.returncode == 0, created.stderr
    ticket = json.loads(created.stdout)
    outbox = server.data_dir / "outbox"

    path = wait_for(
        lambda: next(iter(sorted(outbox.glob("*-ticket_opened.eml"))), None),
        seconds=15,
        what="acknowledgement in the outbox folder",
        server=server,
    )

    message = read_eml(path)
    assert message["To"].addresses[0].addr_spec == REQUESTER
    assert message["Subject"] == f"[{ticket['number']}] Drucker brennt in Büro 3"
    assert message["Auto-Submitted"] == "auto-replied"


@pytest.mark.slow
def test_mail_to_the_running_bot_is_a_ticket_and_a_reply_threads_back(server: Server) -> None:
    port = int(server.env["SUPPORTBOT_SMTP_PORT"])
    first = (
        "From: Casey <casey@example.com>\r\nTo: support@localhost\r\nSubject: Scanner jammed\r\n"
        "Message-ID: <e2e-1@example.com>\r\n\r\nThe scanner on floor 2 is jammed.\r\n"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail(REQUESTER, ["support@localhost"], first.encode()) == {}
    ack_path = wait_for(
        lambda: next(iter(sorted((server.data_dir / "outbox").glob("*-ticket_opened.eml"))), None),
        seconds=15,
        what="acknowledgement of the mailed ticket",
        server=server,
    )
    ack = read_eml(ack_path)
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    assert ack["Subject"] == "[SUP-1] Scanner jammed" and reply_to.startswith("support+sup-1.")
    second = (
        f"From: Casey <casey@example.com>\r\nTo: {reply_to}\r\nSubject: Re: {ack['Subject']}\r\n"
        f"Message-ID: <e2e-2@example.com>\r\nIn-Reply-To: {ack['Message-ID']}\r\n\r\nFixed itself.\r\n"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail(REQUESTER)
        client.rcpt(reply_to)
        assert client.data(second.encode()) == (250, b"2.0.0 SUP-1")
    shown = supportbot(server.env, "tickets", "show", "SUP-1", "--format", "json")
    assert [c["body"] for c in json.loads(shown.stdout)["comments"]] == [
        "The scanner on floor 2 is jammed.",
        "Fixed itself.",
    ]


@pytest.mark.slow
def test_serve_stops_cleanly_with_exit_code_0_on_sigterm(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)

    returncode = server.process.wait(timeout=10)

    assert returncode == 0, f"exit code {returncode}:\n{server.output()}"
    assert "supportbot stopped" in server.output()


@pytest.mark.slow
def test_serve_refuses_an_unmigrated_postgresql_schema_and_names_db_upgrade(
    empty_schema: str, tmp_path: Path
) -> None:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_DATABASE_URL": empty_schema,
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
    }

    result = supportbot(env, "serve")

    assert result.returncode == 2, result.stderr
    assert "supportbot db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_taken_port_stops_with_a_configuration_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        env = clean_environment() | {
            "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORTBOT_HTTP_PORT": str(taken.getsockname()[1]),
            "SUPPORTBOT_SMTP_PORT": str(free_port()),
        }
        result = supportbot(env, "serve")

    assert result.returncode == 2, result.stderr
    assert "configuration error: http.port: cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_data_folder_stops_start_up_naming_the_option(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = clean_environment() | {"SUPPORTBOT_DATA_DIR": str(blocker / "data")}

    result = supportbot(env, "serve")

    assert result.returncode == 2, result.stderr
    assert "configuration error: data_dir = " in result.stderr and "cannot be created" in result.stderr


async def get_healthz(store: Store) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://supportbot.test") as client:
        return await client.get("/healthz")


def test_healthz_answers_503_not_500_when_the_database_is_unreachable() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        response = asyncio.run(get_healthz(store))
    finally:
        store.dispose()

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
