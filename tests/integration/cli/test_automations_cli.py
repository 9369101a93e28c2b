"""``supportbot automations``: the same rules as the API, written as JSON or TOML files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channels.cli import cli as supportbot
from tests.integration.cli.support import AGENT, Cli, create, snapshot

PRINTERS: dict[str, Any] = {
    "name": "Printers are urgent",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "subject", "op": "contains", "value": "printer"}]},
    "actions": [{"do": "add_tags", "tags": ["printer"]}, {"do": "set_priority", "value": "high"}],
}
STALE_TOML = """\
name = "Stale waiting tickets"
position = 5

[trigger]
on = "time"
since = "status_changed"
after = "3d"

[[conditions.all]]
field = "status"
op = "is"
value = "waiting_customer"

[[actions]]
do = "send_email"
to = "requester"
template = "automation_reminder"
"""


def write(tmp_path: Path, rule: dict[str, Any], name: str = "rule.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rule), encoding="utf-8")
    return str(path)


def test_rules_are_added_from_json_and_toml_files_and_listed_in_order(
    cli: Cli, ticket: str, tmp_path: Path
) -> None:
    added = cli.json("automations", "add", write(tmp_path, PRINTERS))
    assert (added["name"], added["position"], added["mode"], added["enabled"]) == (
        "Printers are urgent",
        10,
        "live",
        True,
    )
    assert added["conditions"] == {"all": PRINTERS["conditions"]["all"], "any": []}
    toml = tmp_path / "stale.toml"
    toml.write_text(STALE_TOML, encoding="utf-8")
    assert "added at position 5" in cli.ok("automations", "add", str(toml))

    rules = cli.json("automations", "list")
    assert [rule["name"] for rule in rules] == ["Stale waiting tickets", "Printers are urgent"]
    assert rules[0]["trigger"] == {
        "on": "time",
        "since": "status_changed",
        "after": "3d",
        "business_hours": False,
    }
    table = cli.ok("automations", "list")
    header, _, first, second = table.splitlines()[:4]
    assert header.split() == [
        "id",
        "position",
        "name",
        "trigger",
        "mode",
        "enabled",
        "applied",
        "dry_run",
        "failed",
    ]
    assert "Stale waiting tickets" in first and "time: 3d after status_changed" in first
    assert "Printers are urgent" in second and "ticket_created" in second and "live" in second
    assert json.loads(cli.ok("automations", "show", str(added["id"]))) == added


def test_a_rule_is_read_from_standard_input(cli: Cli, ticket: str) -> None:
    for text in (json.dumps(PRINTERS), STALE_TOML):
        result = cli.runner.invoke(
            supportbot,
            ["automations", "add", "-"],
            input=text,
            env=cli.env,
        )
        assert result.exit_code == 0, result.stderr
    assert len(cli.json("automations", "list")) == 2


def test_a_rule_is_edited_enabled_disabled_switched_moved_and_removed(
    cli: Cli, ticket: str, tmp_path: Path
) -> None:
    rule_id = str(cli.json("automations", "add", write(tmp_path, PRINTERS))["id"])
    renamed = write(tmp_path, PRINTERS | {"name": "Printers, renamed"}, "renamed.json")
    assert cli.json("automations", "edit", rule_id, renamed)["name"] == "Printers, renamed"
    assert "disabled" in cli.ok("automations", "disable", rule_id)
    shown = json.loads(cli.ok("automations", "show", rule_id))
    assert (shown["enabled"], shown["position"]) == (False, 10)
    assert cli.json("automations", "enable", rule_id)["enabled"] is True
    assert cli.json("automations", "dry-run", rule_id)["mode"] == "dry_run"
    assert "now live" in cli.ok("automations", "live", rule_id)
    assert "moved to position 3" in cli.ok("automations", "move", rule_id, "3")
    shown = json.loads(cli.ok("automations", "show", rule_id))
    assert (shown["name"], shown["enabled"], shown["mode"], shown["position"]) == (
        "Printers, renamed",
        True,
        "live",
        3,
    )
    assert "removed" in cli.ok("automations", "remove", rule_id)
    assert cli.ok("automations", "list").strip() == "no automation rules"
    assert "no automation rule" in cli.fails("automations", "show", rule_id)


def test_test_prints_the_matches_and_what_would_change_and_writes_nothing(
    cli: Cli, ticket: str, tmp_path: Path
) -> None:
    create(cli, "VPN down")
    before = snapshot(cli)
    output = cli.ok("automations", "test", write(tmp_path, PRINTERS))
    assert "tried on 2 tickets since" in output
    assert "1 would match" in output
    assert f"{ticket}: ticket_created at " in output
    assert "  add_tags: tags (none) -> [printer]" in output
    assert "  set_priority: priority medium -> high" in output
    assert "SUP-2" not in output
    assert output.rstrip().endswith("nothing was written: this was a dry run")
    assert snapshot(cli) == before
    assert cli.ok("automations", "log").strip() == "no automation runs"

    report = json.loads(cli.ok("automations", "test", write(tmp_path, PRINTERS), "--json"))
    assert (report["examined"], report["matched"]) == (2, 1)
    assert report["matches"][0]["changes"][1] == {
        "action": "set_priority",
        "field": "priority",
        "before": "medium",
        "after": "high",
    }


def test_test_takes_a_stored_rule_a_window_and_filters(cli: Cli, ticket: str, tmp_path: Path) -> None:
    rule_id = str(cli.json("automations", "add", write(tmp_path, PRINTERS | {"enabled": False}))["id"])
    assert "1 would match" in cli.ok("automations", "test", rule_id, "--since", "30d")
    narrowed = cli.json(
        "automations",
        "test",
        rule_id,
        "--filter",
        "requester=customer@example.com",
        "--filter",
        "status=open",
    )
    assert [match["ticket"] for match in narrowed["matches"]] == [ticket]
    assert cli.json("automations", "test", rule_id, "--filter", "status=closed")["examined"] == 0
    future = cli.json("automations", "test", rule_id, "--since", "2999-01-01")
    assert (future["matched"], future["since"]) == (0, "2999-01-01T00:00:00+00:00")
    assert "--filter 'colour=red'" in cli.fails("automations", "test", rule_id, "--filter", "colour=red")
    assert "since" in cli.fails("automations", "test", rule_id, "--since", "yesterday")
    assert "no automation rule 999" in cli.fails("automations", "test", "999")


def test_log_shows_what_a_rule_did(cli: Cli, ticket: str, tmp_path: Path) -> None:
    rule_id = cli.json("automations", "add", write(tmp_path, PRINTERS))["id"]
    placed = create(cli, "Printer jam")
    assert (placed["priority"], placed["number"]) == ("high", "SUP-2")

    head, *changes = cli.ok("automations", "log").splitlines()
    assert head.endswith(f" SUP-2 ticket_created applied rule {rule_id} (Printers are urgent)")
    assert changes == ["    add_tags: tags (none) -> [printer]", "    set_priority: priority medium -> high"]
    [run] = json.loads(cli.ok("automations", "log", "--json"))
    assert (run["rule_id"], run["ticket"], run["trigger"], run["outcome"]) == (
        rule_id,
        "SUP-2",
        "ticket_created",
        "applied",
    )
    assert cli.json("automations", "log", "--rule", str(rule_id), "--ticket", "SUP-2") == [run]
    assert cli.json("automations", "log", "--ticket", ticket) == []
    assert cli.ok("automations", "log", "--outcome", "failed").strip() == "no automation runs"
    create(cli, "Printer again")
    assert "older runs: --before" in cli.ok("automations", "log", "--limit", "1")
    listed = cli.ok("automations", "list")
    assert listed.splitlines()[2].split()[-3:] == ["2", "0", "0"]  # applied, dry_run, failed


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (PRINTERS | {"colour": "red"}, "colour: unknown key"),
        (
            PRINTERS | {"conditions": {"all": [{"field": "status", "op": "gt", "value": "open"}]}},
            "conditions.all[0]: operator 'gt' does not fit field 'status'",
        ),
        (
            PRINTERS | {"conditions": {"any": [{"field": "subject", "op": "matches", "value": "(a"}]}},
            "conditions.any[0]",
        ),
        (PRINTERS | {"actions": [{"do": "set_team", "value": "Nowhere"}]}, "actions[0] (set_team)"),
        (
            PRINTERS | {"actions": [{"do": "send_email", "to": "requester", "template": "gone"}]},
            "actions[0] (send_email): no template email/gone.txt.j2",
        ),
        (PRINTERS | {"trigger": {"on": "ticket_updated"}, "conditions": {}}, "match_all:"),
        (PRINTERS | {"name": "a\x00b"}, "name: must not contain NUL"),
        ([PRINTERS], "a rule is a JSON object"),
    ],
    ids=lambda value: value[:30] if isinstance(value, str) else None,
)
def test_a_bad_rule_file_is_refused_naming_the_part_and_nothing_is_stored(
    cli: Cli, ticket: str, tmp_path: Path, rule: Any, words: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rule), encoding="utf-8")
    assert words in cli.fails("automations", "add", str(path))
    assert words in cli.fails("automations", "test", str(path))
    assert cli.ok("automations", "list").strip() == "no automation rules"


def test_files_that_are_not_rules_are_refused(cli: Cli, ticket: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": ', encoding="utf-8")
    assert "broken.json is not valid JSON" in cli.fails("automations", "add", str(broken))
    toml = tmp_path / "broken.toml"
    toml.write_text("name = ", encoding="utf-8")
    assert "broken.toml is not valid TOML" in cli.fails("automations", "add", str(toml))
    assert "cannot read" in cli.fails("automations", "add", str(tmp_path / "missing.json"))
    assert cli.ok("automations", "list").strip() == "no automation rules"


def test_agents_may_list_and_test_but_not_change_rules(cli: Cli, ticket: str, tmp_path: Path) -> None:
    rule = write(tmp_path, PRINTERS)
    assert "admins" in cli.fails("automations", "add", rule, "--as", AGENT)
    rule_id = str(cli.json("automations", "add", rule)["id"])
    for command in (
        ("disable", rule_id),
        ("move", rule_id, "1"),
        ("remove", rule_id),
        ("edit", rule_id, rule),
    ):
        assert "admins" in cli.fails("automations", *command, "--as", AGENT)
    assert "Printers are urgent" in cli.ok("automations", "list", "--as", AGENT)
    assert "1 would match" in cli.ok("automations", "test", rule_id, "--as", AGENT)
    assert "no automation runs" in cli.ok("automations", "log", "--as", AGENT)
    cli.ok("people", "add", "--email", "rita@customer.test", "--name", "Rita")
    assert "only agents and admins" in cli.fails("automations", "list", "--as", "rita@customer.test")


def test_a_rules_name_is_shown_not_obeyed_by_the_terminal(cli: Cli, ticket: str, tmp_path: Path) -> None:
    evil = PRINTERS | {"name": "Printers \x1b]0;owned\x07 now"}
    cli.ok("automations", "add", write(tmp_path, evil))
    create(cli, "Printer jam")
    for output in (
        cli.ok("automations", "list"),
        cli.ok("automations", "log"),
        cli.ok("automations", "test", "1"),
        cli.ok("automations", "show", "1"),
    ):
        assert "\x1b" not in output and "\x07" not in output
        assert "\\u001b]0;owned\\u0007" in output
