"""The ``supportbot`` command driven through click against the real store, SQLite and PostgreSQL.

Every command runs as a user would type it (``CliRunner`` with the test's
environment); results are read back through the CLI's own ``--format json``.
A refused command must exit non-zero with one clear line on stderr and leave
the ticket, the ticket list and the outbox exactly as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli.support import (
    AGENT,
    COMMENT_KEYS,
    REQUESTER,
    TICKET_KEYS,
    UNREACHABLE,
    Cli,
    create,
    event_kinds,
    is_aware_timestamp,
    outbox_rows,
    snapshot,
)

# -- tickets -------------------------------------------------------------------


def test_tickets_create_prints_the_new_ticket_as_json(cli: Cli) -> None:
    created = create(cli, "VPN drops every hour", "--priority", "high", requester="Casey@Example.com")

    assert TICKET_KEYS <= set(created)
    assert created["number"] == "SUP-1"
    assert created["subject"] == "VPN drops every hour"
    assert (created["status"], created["priority"]) == ("open", "high")
    assert created["requester"] == "casey@example.com"
    assert created["assignee"] is None
    assert is_aware_timestamp(created["created_at"]) and is_aware_timestamp(created["updated_at"])


def test_tickets_create_in_a_team_assigns_one_of_its_agents(cli: Cli, ticket: str) -> None:
    created = create(cli, "Toner empty", "--team", "Ops", "--priority", "critical")

    assert created["assignee"] == AGENT
    assert created["priority"] == "urgent"
    assert [row["template"] for row in outbox_rows(cli, ticket=created["number"])] == [
        "new_ticket",
        "ticket_opened",
    ]


def test_tickets_show_json_adds_comments_and_events(cli: Cli, ticket: str) -> None:
    shown = cli.json("tickets", "show", ticket)

    assert TICKET_KEYS <= set(shown)
    [first] = shown["comments"]
    assert COMMENT_KEYS <= set(first)
    assert (first["author"], first["body"], first["public"], first["channel"]) == (
        REQUESTER,
        "Floor 3, again.",
        True,
        "cli",
    )
    assert is_aware_timestamp(first["created_at"])
    assert [event["kind"] for event in shown["events"]] == ["created", "received"]
    assert shown["events"][0]["after"]["subject"] == "Printer on fire"


def test_public_comment_by_an_agent_is_emailed_to_the_requester(cli: Cli, ticket: str) -> None:
    view = cli.json("tickets", "comment", ticket, "Have you tried turning it off?", "--as", AGENT)

    assert view["number"] == ticket
    last = cli.json("tickets", "show", ticket)["comments"][-1]
    assert (last["author"], last["body"], last["public"]) == (AGENT, "Have you tried turning it off?", True)
    assert [row["recipient"] for row in outbox_rows(cli, template="agent_replied")] == [REQUESTER]


def test_internal_comment_is_kept_but_notifies_nobody(cli: Cli, ticket: str) -> None:
    outbox_before = cli.json("outbox", "list")

    cli.json("tickets", "comment", ticket, "Customer is on the VIP list.", "--internal", "--as", AGENT)

    last = cli.json("tickets", "show", ticket)["comments"][-1]
    assert (last["body"], last["public"]) == ("Customer is on the VIP list.", False)
    assert cli.json("outbox", "list") == outbox_before


def test_tickets_assign_sets_and_clears_the_assignee(cli: Cli, ticket: str) -> None:
    assigned = cli.json("tickets", "assign", ticket, AGENT)
    assert assigned["assignee"] == AGENT
    assert [row["recipient"] for row in outbox_rows(cli, template="ticket_assigned")] == [AGENT]

    cleared = cli.json("tickets", "assign", ticket, "none")

    assert cleared["assignee"] is None
    assigned_events = [e for e in cli.json("tickets", "show", ticket)["events"] if e["kind"] == "assigned"]
    assert [e["after"]["assignee"] for e in assigned_events] == [AGENT, None]


def test_tickets_status_moves_the_ticket_and_tells_the_requester(cli: Cli, ticket: str) -> None:
    moved = cli.json("tickets", "status", ticket, "in_progress", "--as", AGENT)

    assert moved["status"] == "in_progress"
    event = cli.json("tickets", "show", ticket)["events"][-1]
    assert (event["kind"], event["actor"]) == ("status_changed", AGENT)
    assert (event["before"], event["after"]) == ({"status": "open"}, {"status": "in_progress"})
    assert [row["recipient"] for row in outbox_rows(cli, template="status_changed")] == [REQUESTER]


def test_tickets_escalate_records_the_reason_and_tells_the_assignee(cli: Cli, ticket: str) -> None:
    cli.ok("tickets", "assign", ticket, AGENT)
    escalated = cli.json("tickets", "escalate", ticket, "--reason", "the CEO is waiting", "--as", REQUESTER)

    assert escalated["number"] == ticket
    event = cli.json("tickets", "show", ticket)["events"][-1]
    assert (event["kind"], event["actor"], event["after"]["reason"]) == (
        "escalated",
        REQUESTER,
        "the CEO is waiting",
    )
    assert [row["recipient"] for row in outbox_rows(cli, template="ticket_escalated")] == [AGENT]
    assert "needs a reason" in cli.fails("tickets", "escalate", ticket, "--reason", " ")


def test_tickets_merge_moves_comments_to_the_target_and_closes_the_source(cli: Cli, ticket: str) -> None:
    duplicate = create(cli, "Printer still on fire", description="Now floor 4 too.")["number"]

    target = cli.json("tickets", "merge", duplicate, ticket)

    assert target["number"] == ticket
    source = cli.json("tickets", "show", duplicate)
    assert (source["status"], source["merged_into"], source["comments"]) == ("closed", ticket, [])
    bodies = [comment["body"] for comment in cli.json("tickets", "show", ticket)["comments"]]
    assert bodies == ["Floor 3, again.", "Now floor 4 too."]
    assert event_kinds(cli, ticket)[-1] == "merged_from"


def test_tickets_update_changes_priority_category_tags_and_fields(cli: Cli, ticket: str) -> None:
    cli.ok("categories", "add", "Hardware")
    cli.ok("fields", "add", "floor", "--type", "number", "--min", "0", "--max", "40")
    cli.ok("fields", "add", "site", "--type", "dropdown", "--choice", "Berlin", "--choice", "Lyon")

    updated = cli.json(
        "tickets",
        "update",
        ticket,
        "--priority",
        "high",
        "--category",
        "hardware",
        "--tag",
        "Fire",
        "--tag",
        "printer",
        "--field",
        "floor=3",
        "--field",
        "site=Lyon",
        "--as",
        AGENT,
    )

    assert (updated["priority"], updated["category"], updated["tags"]) == (
        "high",
        "Hardware",
        ["fire", "printer"],
    )
    assert updated["custom_fields"] == {"floor": 3, "site": "Lyon"}
    assert event_kinds(cli, ticket)[-5:] == [
        "priority_changed",
        "category_changed",
        "tags_changed",
        "field_changed",
        "field_changed",
    ]

    trimmed = cli.json(
        "tickets", "update", ticket, "--untag", "fire", "--field", "site=", "--category", "none"
    )

    assert (trimmed["tags"], trimmed["custom_fields"], trimmed["category"]) == (
        ["printer"],
        {"floor": 3},
        None,
    )


def test_tickets_list_filters_by_status_priority_assignee_requester_and_tag(cli: Cli, ticket: str) -> None:
    cli.ok("tickets", "assign", ticket, AGENT)
    cli.ok("tickets", "status", ticket, "in_progress")
    cli.ok("tickets", "update", ticket, "--tag", "vpn")
    create(cli, "Mouse squeaks", "--priority", "low", requester="bob@example.com")
    third = create(cli, "VPN down", "--priority", "critical")["number"]
    cli.ok("tickets", "update", third, "--tag", "VPN")
    cases: dict[tuple[str, ...], list[str]] = {
        (): ["SUP-3", "SUP-2", "SUP-1"],
        ("--status", "open"): ["SUP-3", "SUP-2"],
        ("--status", "in_progress"): ["SUP-1"],
        ("--status", "closed"): [],
        ("--priority", "low"): ["SUP-2"],
        ("--priority", "critical"): ["SUP-3"],
        ("--assignee", AGENT.upper()): ["SUP-1"],
        ("--assignee", "none"): ["SUP-3", "SUP-2"],
        ("--requester", REQUESTER): ["SUP-3", "SUP-1"],
        ("--requester", "bob@example.com"): ["SUP-2"],
        ("--tag", "vpn"): ["SUP-3", "SUP-1"],
        ("--tag", "vpn", "--status", "open", "--assignee", "none"): ["SUP-3"],
        ("--limit", "1"): ["SUP-3"],
    }

    listed = {options: [row["number"] for row in cli.json("tickets", "list", *options)] for options in cases}

    assert listed == cases
    assert all(TICKET_KEYS <= set(row) for row in cli.json("tickets", "list"))


# -- refusals: one clear line, non-zero exit, nothing half-written -----------------------


def test_unknown_ticket_number_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    assert cli.fails("tickets", "show", "SUP-99") == "error: no ticket SUP-99"
    message = cli.fails("tickets", "comment", "SUP-99", "Hello?", "--as", AGENT)

    assert "SUP-99" in message
    assert snapshot(cli) == before


def test_someone_elses_ticket_is_refused_to_a_requester_as_a_missing_one(cli: Cli, ticket: str) -> None:
    cli.ok("people", "add", "--email", "otto@other.test", "--name", "Otto Other", "--role", "requester")
    before = snapshot(cli)
    for command in (
        ("comment", "{}", "Let me in", "--as", "otto@other.test"),
        ("status", "{}", "resolved", "--as", "otto@other.test"),
        ("escalate", "{}", "--reason", "now", "--as", "otto@other.test"),
    ):
        theirs = cli.fails("tickets", *(part.format(ticket) for part in command))
        missing = cli.fails("tickets", *(part.format("SUP-9") for part in command))
        assert theirs == f"error: no ticket {ticket}"
        assert theirs.replace(ticket, "SUP-9") == missing
    assert snapshot(cli) == before


def test_malformed_ticket_number_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "status", "printer-1", "resolved")

    assert message.startswith("error: 'printer-1' is not a ticket number")
    assert snapshot(cli) == before


def test_closed_ticket_cannot_go_to_in_progress_with_the_default_workflow(cli: Cli, ticket: str) -> None:
    cli.ok("tickets", "status", ticket, "closed")
    before = snapshot(cli)

    message = cli.fails("tickets", "status", ticket, "in_progress")

    assert "from closed to in_progress" in message and "can go to open" in message
    assert snapshot(cli) == before


def test_custom_workflow_from_the_environment_refuses_a_transition_it_does_not_list(
    cli: Cli, ticket: str
) -> None:
    strict = {
        "SUPPORTBOT_STATUS_TRANSITIONS": json.dumps({"open": ["in_progress"], "in_progress": ["resolved"]})
    }
    before = snapshot(cli)

    message = cli.fails("tickets", "status", ticket, "resolved", env=strict)

    assert "from open to resolved" in message and "can go to in_progress" in message
    assert snapshot(cli) == before
    assert cli.json("tickets", "status", ticket, "in_progress", env=strict)["status"] == "in_progress"


@pytest.mark.parametrize(
    ("definition", "value", "complaint"),
    [
        (
            ("--type", "dropdown", "--choice", "Berlin", "--choice", "Lyon"),
            "Paris",
            "is not one of Berlin, Lyon",
        ),
        (("--type", "number", "--min", "1"), "0", "must be at least 1"),
        (("--type", "date"), "2026-02-30", "is not a date"),
    ],
    ids=["dropdown-value-not-a-choice", "number-below-min", "impossible-date"],
)
def test_invalid_custom_field_value_is_refused_and_changes_nothing(
    cli: Cli, ticket: str, definition: tuple[str, ...], value: str, complaint: str
) -> None:
    cli.ok("fields", "add", "extra", *definition)
    before = snapshot(cli)

    message = cli.fails("tickets", "update", ticket, "--field", f"extra={value}")

    assert message.startswith("error: extra: ") and complaint in message
    assert snapshot(cli) == before


def test_update_refused_for_one_field_writes_none_of_its_other_changes(cli: Cli, ticket: str) -> None:
    cli.ok("fields", "add", "floor", "--type", "number", "--min", "1")
    before = snapshot(cli)

    cli.fails("tickets", "update", ticket, "--priority", "low", "--tag", "fire", "--field", "floor=0")

    assert snapshot(cli) == before


def test_assigning_to_an_unknown_person_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "assign", ticket, "nobody@support.test")

    assert message.startswith("error: no person with email nobody@support.test")
    assert snapshot(cli) == before


def test_acting_as_an_unknown_person_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "comment", ticket, "On it.", "--as", "ghost@support.test")

    assert message.startswith("error: no person with email ghost@support.test")
    assert snapshot(cli) == before


def test_assigning_to_a_requester_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "assign", ticket, REQUESTER)

    assert message == f"error: {REQUESTER} is a requester; only agents and admins can be assigned"
    assert snapshot(cli) == before


def test_unknown_priority_is_refused_on_create_update_and_list(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    messages = [
        cli.fails(
            "tickets", "create", "--subject", "Meh", "--requester", "new@example.com", "--priority", "meh"
        ),
        cli.fails("tickets", "update", ticket, "--priority", "meh"),
        cli.fails("tickets", "list", "--priority", "meh"),
    ]

    assert all(m.startswith("error: unknown priority 'meh'; use one of: low, medium") for m in messages)
    assert snapshot(cli) == before
    assert [p["email"] for p in cli.json("people", "list")] == [AGENT, REQUESTER]


def test_merging_a_ticket_into_itself_is_refused_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    assert cli.fails("tickets", "merge", ticket, ticket) == "error: a ticket cannot be merged into itself"
    assert snapshot(cli) == before


def test_invalid_config_value_exits_2_naming_the_option_and_changes_nothing(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "comment", ticket, "Hello", code=2, env={"SUPPORTBOT_HTTP_PORT": "abc"})

    assert message == "configuration error: SUPPORTBOT_HTTP_PORT must be a whole number, not 'abc'"
    assert snapshot(cli) == before


# -- refusals found in review -----------------------------------------------------------


def test_unreachable_database_exits_3_with_one_line(tmp_path: Path) -> None:
    cli = Cli({"SUPPORTBOT_DATA_DIR": str(tmp_path / "data"), "SUPPORTBOT_DATABASE_URL": UNREACHABLE})

    message = cli.fails("tickets", "list", code=3)

    assert message.startswith("database unavailable: ")


def test_second_person_with_the_same_slack_user_id_is_refused(cli: Cli) -> None:
    cli.ok("people", "add", "--email", "ann@support.test", "--slack-user-id", "U012AB3CD")
    before = cli.json("people", "list")

    message = cli.fails("people", "add", "--email", "bob@support.test", "--slack-user-id", "U012AB3CD")

    assert "U012AB3CD" in message
    assert cli.json("people", "list") == before


def test_ticket_number_too_large_for_the_database_is_refused_with_a_message(cli: Cli, ticket: str) -> None:
    before = snapshot(cli)

    message = cli.fails("tickets", "show", "SUP-99999999999999999999")

    assert message.startswith("error: ") and "99999999999999999999" in message
    assert snapshot(cli) == before


def test_tickets_show_json_carries_the_sla_state(cli: Cli, ticket: str) -> None:
    shown = cli.json("tickets", "show", ticket)
    assert shown["sla_status"] == "on_time" and shown["escalation_level"] == 0
    assert shown["first_response_due"] and shown["resolution_due"]
    assert is_aware_timestamp(shown["resolution_due"])


def test_sla_sweep_at_a_later_time_dry_run_fires_nothing_then_for_real(cli: Cli, ticket: str) -> None:
    later = "2099-01-01T00:00:00"
    dry = cli.json("sla", "sweep", "--at", later, "--dry-run")
    assert dry["dry_run"] and [row["level"] for row in dry["fired"]] == [1, 2, 3, 4]
    assert cli.json("tickets", "show", ticket)["escalation_level"] == 0
    printed = cli.ok("sla", "sweep", "--at", later)
    assert "4 level(s) fired" in printed and ticket in printed
    shown = cli.json("tickets", "show", ticket)
    assert (shown["sla_status"], shown["escalation_level"]) == ("breached", 4)
    assert "0 level(s) fired" in cli.ok("sla", "sweep", "--at", later)
    assert "not a time" in cli.fails("sla", "sweep", "--at", "tomorrow")


def test_people_prefs_show_and_change_channels_per_event(cli: Cli, ticket: str) -> None:
    shown = cli.json("people", "prefs", AGENT)
    assert shown["sla_warning"] == "default"
    changed = cli.json("people", "prefs", AGENT, "--set", "sla_warning=slack", "--set", "escalation=none")
    assert (changed["sla_warning"], changed["escalation"]) == ("slack", "none")
    assert "unknown channels" in cli.fails("people", "prefs", AGENT, "--set", "escalation=pigeon")
    assert "unknown event" in cli.fails("people", "prefs", AGENT, "--set", "lunch=email")


def test_teams_lead_must_be_an_agent(cli: Cli, ticket: str) -> None:
    assert "lead agent@support.test" in cli.ok("teams", "lead", "Ops", AGENT)
    assert "only agents" in cli.fails("teams", "lead", "Ops", REQUESTER)
