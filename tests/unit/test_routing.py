"""Routing rules became "ticket created" automation rules (migration 0017): the rule a stored
routing rule is migrated into matches exactly the messages the routing matcher matched.

Each case below was a case of the old matcher (``Route``, ``first_route``,
``sender_matches``); here the routing row goes through the migration's own
``as_automation`` and the automation rule parser, and its conditions are asked
of a message's facts the way new tickets are placed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.routing.routes import least_loaded, next_round_robin
from bot.rules.conditions import matches
from bot.rules.model import Rule
from bot.rules.parse import parse_rule
from bot.rules.ruleset import RuleSet

MIGRATION = Path(__file__).resolve().parents[2] / "bot/store/migrations/versions/0017_automation_rules.py"


def _load_migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0017_automation_rules", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


migration = _load_migration()


def test_round_robin_goes_around_in_id_order():
    agents = [7, 3, 5]
    picks, last = [], None
    for _ in range(4):
        last = next_round_robin(agents, last)
        picks.append(last)
    assert picks == [3, 5, 7, 3]


def test_round_robin_survives_the_last_agent_leaving_the_team():
    assert next_round_robin([3, 5], last_assigned=4) == 5
    assert next_round_robin([3, 5], last_assigned=9) == 3


def test_round_robin_with_nobody_gives_nobody():
    assert next_round_robin([], None) is None


def test_least_loaded_prefers_fewest_then_lowest_id():
    assert least_loaded({4: 2, 2: 1, 9: 1}) == 2
    assert least_loaded({}) is None


# -- the migrated rules -------------------------------------------------------------------


class MessageFacts:
    """A new message as "ticket created" rules see it, from a dict; nothing else is known."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def value(self, field: str) -> object:
        return self.values.get(field)

    def hours_since(self, anchor: str, business: bool) -> float | None:
        return None

    def business_hours_now(self) -> bool:
        return False


def routing_row(
    name: str = "r",
    *,
    position: int = 10,
    channel: str = "",
    mailbox: str = "",
    sender: str = "",
    keywords: Sequence[str] = (),
    team: str | None = None,
    category: str | None = None,
    priority: str = "high",
    tags: Sequence[str] = (),
    enabled: bool = True,
) -> dict[str, Any]:
    """A ``routing_rules`` row as the migration reads it (team and category joined by name)."""
    return {
        "id": 1,
        "name": name,
        "position": position,
        "enabled": enabled,
        "channel": channel,
        "mailbox": mailbox,
        "sender": sender,
        "keywords": list(keywords),
        "team": team,
        "category": category,
        "priority": priority,
        "tags": list(tags),
        "created_at": None,
        "updated_at": None,
    }


def migrated(rule_id: int = 1, **row: Any) -> Rule:
    return parse_rule(migration.as_automation(routing_row(**row)), rule_id=rule_id)


def message(
    channel: str = "email", mailbox: str | None = None, sender: str | None = None, text: str = ""
) -> MessageFacts:
    """What the routing matcher was given: channel, support address, sender, subject + text."""
    domain = sender.rpartition("@")[2] if sender and "@" in sender else None
    return MessageFacts(
        {
            "channel": channel,
            "mailbox": mailbox,
            "requester": sender,
            "requester_domain": domain,
            "text": text,
        }
    )


def first_match(rules: Sequence[Rule], facts: MessageFacts) -> Rule | None:
    """The rules in the order they run; the first that matches stops the others (``stop``)."""
    for rule in RuleSet.of(rules).on("ticket_created"):
        if matches(rule.conditions, facts):
            assert rule.stop
            return rule
    return None


@pytest.mark.parametrize(
    ("pattern", "email", "expected"),
    [
        ("@example.com", "Ann@Example.COM", True),
        ("@example.com", "ann@mail.example.com", False),  # not its subdomains
        ("@example.com", "ann@example.com.evil.test", False),
        ("ann@example.com", "ANN@example.com", True),
        ("ann@example.com", "bob@example.com", False),
        ("@example.com", None, False),  # a Slack user without an email
    ],
)
def test_sender_is_an_address_or_a_whole_domain(pattern: str, email: str | None, expected: bool) -> None:
    rule = migrated(sender=pattern)
    assert matches(rule.conditions, message(sender=email)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Our VPN is down", True),
        ("vpn.", True),
        ("the vpnclient crashed", False),
        ("site-to-site tunnel drops", True),
        ("A Site-to-Site  Tunnel", False),  # a phrase matches as written, spaces included
        ("c++ build fails", True),  # keywords are text, not patterns
        ("", False),
    ],
)
def test_keywords_match_whole_words_in_any_case(text: str, expected: bool) -> None:
    rule = migrated(keywords=("vpn", "site-to-site tunnel", "c++"))
    assert matches(rule.conditions, message(text=text)) is expected


def test_every_condition_given_must_hold_and_empty_ones_do_not_narrow() -> None:
    rule = migrated(channel="email", mailbox="sales@support.test", keywords=("vpn",))
    assert matches(rule.conditions, message("email", "Sales@Support.test", "ann@x.test", "VPN down"))
    assert not matches(rule.conditions, message("slack", "sales@support.test", "ann@x.test", "VPN down"))
    assert not matches(rule.conditions, message("email", "help@support.test", "ann@x.test", "VPN down"))
    assert not matches(rule.conditions, message("email", "sales@support.test", "ann@x.test", "Printer"))
    assert not matches(rule.conditions, message("email", None, "ann@x.test", "VPN down"))
    everything = migrated(name="Everything")
    assert everything.conditions.all == () and everything.conditions.any == ()
    assert matches(everything.conditions, message("api", None, None, ""))


def test_the_first_matching_rule_wins() -> None:
    rules = [
        migrated(1, name="slack", channel="slack", position=10),
        migrated(2, name="any", position=20),
        migrated(3, name="never reached", position=30),
    ]
    found = first_match(rules, message("slack"))
    assert found is not None and found.name == "slack"
    found = first_match(rules, message("email"))
    assert found is not None and found.name == "any"
    assert first_match([], message("email")) is None


def test_rules_at_one_position_run_in_the_order_they_were_added() -> None:
    rules = [migrated(2, name="second", position=10), migrated(1, name="first", position=10)]
    found = first_match(rules, message("email"))
    assert found is not None and found.name == "first"


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("Ärger", "großer ÄRGER im Büro", True),
        ("STRASSE", "die Straße ist gesperrt", False),  # the pattern decides: ß is not ss as a word
        ("kelvin", "\u212aELVIN scale", True),  # KELVIN SIGN folds to k
        ("vpn", "VPNs everywhere", False),
    ],
)
def test_a_rule_matches_keywords_in_any_case_beyond_ascii(keyword: str, text: str, expected: bool) -> None:
    rule = migrated(keywords=(keyword,))
    assert matches(rule.conditions, message(text=text)) is expected
    found = first_match([rule], message(text=text))
    assert (found is not None) is expected


def test_the_migrated_rule_sets_what_the_routing_rule_set_category_before_team() -> None:
    definition = migration.as_automation(
        routing_row(
            name="Network",
            position=5,
            enabled=False,
            team="Network",
            category="IT/Network",
            priority="urgent",
            tags=("net", "vpn"),
        )
    )
    assert definition["trigger"] == {"on": "ticket_created"}
    assert (definition["stop"], definition["enabled"], definition["position"]) == (True, False, 5)
    assert definition["actions"] == [
        {"do": "set_category", "value": "IT/Network"},
        {"do": "set_team", "value": "Network"},
        {"do": "set_priority", "value": "urgent"},
        {"do": "add_tags", "tags": ["net", "vpn"]},
    ]
    rule = parse_rule(definition, rule_id=7)
    assert [action.do for action in rule.actions] == ["set_category", "set_team", "set_priority", "add_tags"]


def test_keywords_and_tags_stored_as_json_text_are_read_alike() -> None:
    """SQLite's raw SELECT hands JSON columns back as text."""
    row = routing_row(keywords=("vpn",), tags=("net",))
    row["keywords"], row["tags"] = '["vpn"]', '["net"]'
    rule = parse_rule(migration.as_automation(row), rule_id=1)
    assert matches(rule.conditions, message(text="VPN down"))
    assert rule.actions[-1].get("tags") == ("net",)
