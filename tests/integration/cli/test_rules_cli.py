"""``supportbot routing`` and ``supportbot sla policies``: the same rules as the API, from a terminal."""

from __future__ import annotations

from tests.integration.cli.support import AGENT, Cli, create


def test_an_admin_adds_lists_and_removes_a_routing_rule(cli: Cli, ticket: str) -> None:
    cli.ok("categories", "add", "Network", "--team", "Ops")
    added = cli.json(
        "routing",
        "add",
        "VPN",
        "--keyword",
        "vpn",
        "--category",
        "Network",
        "--priority",
        "high",
        "--tag",
        "vpn",
    )
    assert added["actions"] == {"team": None, "category": "Network", "priority": "high", "tags": ["vpn"]}
    table = cli.ok("routing", "list")
    assert "words=vpn" in table and "category=Network priority=high tags=vpn" in table

    routed = create(cli, "VPN down", description="Since 9:00")
    assert (routed["priority"], routed["category"], routed["team"]) == ("high", "Network", "Ops")

    assert "removed" in cli.ok("routing", "remove", str(added["id"]))
    assert cli.ok("routing", "list").strip() == "no routing rules"


def test_a_rule_without_an_action_and_an_agent_writing_rules_are_refused(cli: Cli, ticket: str) -> None:
    assert "must set a team, a category, a priority or tags" in cli.fails("routing", "add", "Nothing")
    refused = cli.fails("routing", "add", "Urgent", "--priority", "urgent", "--as", AGENT)
    assert "only admins" in refused


def test_an_admin_adds_and_removes_an_sla_policy(cli: Cli) -> None:
    added = cli.json(
        "sla", "policy-add", "--priority", "urgent", "--first-response", "5m", "--resolution", "1h"
    )
    assert (added["source"], added["first_response_seconds"]) == ("api", 300)
    assert "5m" in cli.ok("sla", "policies")
    refused = cli.fails(
        "sla", "policy-add", "--priority", "low", "--first-response", "soon", "--resolution", "1h"
    )
    assert "write a duration like 90s" in refused
    assert "removed" in cli.ok("sla", "policy-remove", str(added["id"]))
    assert cli.json("sla", "policies")["overrides"] == []
