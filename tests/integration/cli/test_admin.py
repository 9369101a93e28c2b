"""People, teams, categories, fields, the outbox and the database from the command line.

Run as a user would type them (``CliRunner``), on SQLite and PostgreSQL,
and read back through the CLI's own ``--format json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from bot.store import migrate
from bot.store import tables as t
from channels.cli import cli as supportbot
from tests.integration.cli.support import (
    AGENT,
    REQUESTER,
    Cli,
    is_aware_timestamp,
    read_eml,
)

# -- people, teams, categories, fields ---------------------------------------------


def test_people_add_list_and_update(cli: Cli) -> None:
    cli.ok("teams", "add", "Ops")
    cli.ok("teams", "add", "Network")

    added = cli.json(
        "people", "add", "--email", "Ann@Support.test", "--name", "Ann", "--role", "agent", "--team", "Ops"
    )
    cli.json("people", "add", "--email", "casey@example.com")

    assert {k: added[k] for k in ("email", "name", "role", "team")} == {
        "email": "ann@support.test",
        "name": "Ann",
        "role": "agent",
        "team": "Ops",
    }
    assert [p["email"] for p in cli.json("people", "list")] == ["ann@support.test", "casey@example.com"]
    assert [p["email"] for p in cli.json("people", "list", "--role", "requester")] == ["casey@example.com"]

    updated = cli.json("people", "update", "ann@support.test", "--role", "admin", "--team", "Network")

    assert (updated["role"], updated["team"], updated["name"]) == ("admin", "Network", "Ann")
    assert cli.json("people", "list", "--role", "admin") == [updated]


def test_teams_add_and_list_with_members(cli: Cli) -> None:
    assert cli.ok("teams", "add", "Ops") == "added team Ops\n"
    cli.ok("teams", "add", "Network")
    cli.ok("people", "add", "--email", AGENT, "--role", "agent", "--team", "Ops")

    assert cli.json("teams", "list") == [
        {"name": "Network", "members": []},
        {"name": "Ops", "members": [AGENT]},
    ]


def test_categories_add_and_list_with_subcategories_and_teams(cli: Cli) -> None:
    cli.ok("teams", "add", "Network")

    assert cli.ok("categories", "add", "Network", "--team", "Network") == "added category Network\n"
    cli.ok("categories", "add", "Network/VPN")

    assert cli.json("categories", "list") == [
        {"path": "Network", "team": "Network"},
        {"path": "Network/VPN", "team": None},
    ]


def test_fields_add_and_list_with_their_options(cli: Cli) -> None:
    cli.ok(
        "fields",
        "add",
        "site",
        "--label",
        "Site",
        "--type",
        "dropdown",
        "--choice",
        "Berlin",
        "--choice",
        "Lyon",
    )
    cli.ok("fields", "add", "floor", "--type", "number", "--min", "0", "--max", "40", "--required")
    cli.ok("fields", "add", "due", "--type", "date")

    listed = {row["key"]: row for row in cli.json("fields", "list")}

    assert list(listed) == ["due", "floor", "site"]
    assert listed["site"] == {
        "key": "site",
        "label": "Site",
        "type": "dropdown",
        "required": False,
        "options": {"choices": ["Berlin", "Lyon"]},
    }
    assert (listed["floor"]["required"], listed["floor"]["options"]) == (True, {"min": 0, "max": 40})
    assert (listed["due"]["type"], listed["due"]["label"]) == ("date", "due")


# -- outbox and database -------------------------------------------------------------


def test_outbox_dispatch_writes_eml_files_that_parse_with_a_ticket_subject(cli: Cli, ticket: str) -> None:
    assert [(r["template"], r["status"], r["recipient"]) for r in cli.json("outbox", "list")] == [
        ("ticket_opened", "pending", REQUESTER)
    ]

    assert cli.ok("outbox", "dispatch") == "1 sent, 0 to retry, 0 dead\n"

    [row] = cli.json("outbox", "list", "--status", "sent")
    assert (row["ticket"], row["attempts"], row["last_error"]) == (ticket, 1, None)
    assert is_aware_timestamp(row["sent_at"])
    [path] = sorted((cli.data_dir / "outbox").glob("*.eml"))
    message = read_eml(path)
    assert message["Subject"] == "[SUP-1] Printer on fire"
    assert message["To"].addresses[0].addr_spec == REQUESTER
    assert message["X-Supportbot-Ticket"] == "SUP-1"
    assert "SUP-1" in message.get_body(preferencelist=("plain",)).get_content()
    assert cli.ok("outbox", "dispatch") == "0 sent, 0 to retry, 0 dead\n"


def test_outbox_retry_gives_dead_notifications_another_chance(cli: Cli, ticket: str, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    broken = {"SUPPORTBOT_EMAIL_OUTBOX_DIR": str(blocked / "outbox"), "SUPPORTBOT_OUTBOX_MAX_ATTEMPTS": "1"}

    assert cli.ok("outbox", "dispatch", env=broken) == "0 sent, 0 to retry, 1 dead\n"
    [dead] = cli.json("outbox", "list", "--status", "dead")
    assert dead["last_error"]

    assert cli.ok("outbox", "retry", str(dead["id"])) == "1 notification(s) queued again\n"
    [again] = cli.json("outbox", "list", "--status", "pending")
    assert (again["id"], again["attempts"], again["last_error"]) == (dead["id"], 0, None)
    assert cli.ok("outbox", "dispatch") == "1 sent, 0 to retry, 0 dead\n"
    assert len(list((cli.data_dir / "outbox").glob("*.eml"))) == 1


def test_db_current_says_the_schema_is_up_to_date(cli: Cli) -> None:
    assert cli.ok("db", "current") == f"{migrate.head_revision()} (up to date)\n"


def test_config_show_masks_secrets(cli: Cli) -> None:
    secrets = {
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-very-secret",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": "signing-very-secret",
        "SUPPORTBOT_EMAIL_REPLY_SECRET": "reply-very-secret",
    }
    shown = cli.ok("config", "show", env=secrets)
    assert "very-secret" not in shown
    settings = json.loads(shown)
    assert settings["slack"]["bot_token"] == "********" and settings["slack"]["app_token"] == ""


def test_a_bad_sharing_status_table_stops_a_command_before_anything_is_opened(
    cli: Cli, tmp_path: Path
) -> None:
    """Sharing's tables are checked as the settings load (not when sharing is built, after the
    data folder and the store are set up), so every command refuses them the same way."""
    path = tmp_path / "bad.toml"
    path.write_text('[sharing]\nstatus_in = { bogus = "open" }\n')
    for command in (("config", "show"), ("db", "upgrade")):
        assert "sharing.status_in" in cli.fails("--config", str(path), *command, code=2)
    assert not cli.data_dir.exists()


def test_tokens_create_shows_the_token_once_and_stores_only_its_hash(cli: Cli) -> None:
    cli.ok("people", "add", "--email", AGENT, "--role", "agent")
    created = cli.json("tokens", "create", "--person", AGENT, "--name", "laptop")
    token = created["token"]
    assert token.startswith("sbt_") and created["prefix"] == token[:12]
    listed = cli.json("tokens", "list")
    assert [(t["person"], t["name"], t["revoked_at"]) for t in listed] == [(AGENT, "laptop", None)]
    assert token not in json.dumps(listed)
    assert "revoked" in cli.ok("tokens", "revoke", str(created["id"]))
    assert cli.json("tokens", "list")[0]["revoked_at"] is not None
    assert "no person" in cli.fails("tokens", "create", "--person", "nobody@example.com")


def test_people_set_password_stores_an_argon2id_hash_and_refuses_a_short_one(cli: Cli, store) -> None:
    cli.ok("people", "add", "--email", AGENT, "--role", "agent")
    args = ["people", "set-password", AGENT, "--password-stdin"]
    short = cli.runner.invoke(supportbot, args, input="too short\n", env=cli.env)
    assert short.exit_code == 1 and "at least 10 characters" in short.stderr
    typed = cli.runner.invoke(
        supportbot, ["people", "set-password", AGENT], input="a good long one\n" * 2, env=cli.env
    )
    assert typed.exit_code == 0, typed.stderr
    assert "a good long one" not in typed.stdout
    with store.read() as session:
        stored = session.scalar(select(t.Person.password_hash).where(t.Person.email == AGENT))
    assert stored is not None and stored.startswith("$argon2id$")
    assert cli.ok("people", "set-password", AGENT, "--remove").startswith("password removed")
