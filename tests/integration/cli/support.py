"""Running ``supportbot`` in-process for tests, and reading its JSON back."""

from __future__ import annotations

import email
import json
from collections.abc import Mapping
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from bot.config.settings import environment_names
from channels.cli import cli as supportbot

TICKET_KEYS = {"number", "subject", "status", "priority", "requester", "assignee", "created_at", "updated_at"}
COMMENT_KEYS = {"author", "body", "public", "channel", "created_at"}
AGENT = "agent@support.test"
REQUESTER = "customer@example.com"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


class Cli:
    """Runs ``supportbot`` in-process with only this test's ``SUPPORTBOT_*`` variables set."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.runner = CliRunner()
        self.data_dir = Path(environ["SUPPORTBOT_DATA_DIR"])
        # None unsets a variable, so nothing from the developer's shell leaks into a test.
        self.env: dict[str, str | None] = {**dict.fromkeys(environment_names()), **environ}

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        result = self.runner.invoke(supportbot, list(args), env={**self.env, **(env or {})})
        # CliRunner turns an uncaught exception into exit code 1 too; that is a crash, not a refusal.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"supportbot {' '.join(args)} crashed") from result.exception
        return result

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = self.run(*args, env=env)
        assert result.exit_code == 0, f"supportbot {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str, env: Mapping[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--format", "json", env=env))

    def fails(self, *args: str, code: int = 1, env: Mapping[str, str] | None = None) -> str:
        """Return the one line the refusal printed on stderr."""
        result = self.run(*args, env=env)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert result.stdout == ""
        message = result.stderr.rstrip("\n")
        assert message and "\n" not in message, f"expected one line on stderr, got {result.stderr!r}"
        return message


def create(cli: Cli, subject: str, *options: str, requester: str = REQUESTER, description: str = "") -> Any:
    return cli.json(
        "tickets",
        "create",
        "--subject",
        subject,
        "--requester",
        requester,
        "--description",
        description,
        *options,
    )


def snapshot(cli: Cli, number: str = "SUP-1") -> dict[str, Any]:
    """Everything a refused command could have half-written."""
    return {
        "ticket": cli.json("tickets", "show", number),
        "tickets": cli.json("tickets", "list"),
        "outbox": cli.json("outbox", "list"),
    }


def event_kinds(cli: Cli, number: str) -> list[str]:
    return [event["kind"] for event in cli.json("tickets", "show", number)["events"]]


def outbox_rows(cli: Cli, **match: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli.json("outbox", "list")
    return [row for row in rows if all(row[key] == value for key, value in match.items())]


def is_aware_timestamp(value: str) -> bool:
    return datetime.fromisoformat(value).tzinfo is not None


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
