"""Which SLA policy a ticket gets when the settings file's and the stored ones are layered."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.sla.policy import Policies, layered, parse_duration, policy_key
from bot.sla.settings import SlaPolicyOverride, SlaSettings


def entry(category: str = "", priority: str = "", targets: str = "1h/8h") -> SlaPolicyOverride:
    first, _, resolution = targets.partition("/")
    return SlaPolicyOverride(
        category=category, priority=priority, first_response=first, resolution=resolution
    )


def test_the_same_category_and_priority_is_one_policy_whatever_the_spelling() -> None:
    assert policy_key(entry(" Network / VPN ", "Critical")) == ("network/vpn", "urgent")
    assert policy_key(entry("network/vpn", "urgent")) == ("network/vpn", "urgent")


def test_a_stored_policy_replaces_the_files_for_its_key_and_keeps_the_rest() -> None:
    from_file = (entry("Network", "high", "30m/4h"), entry("Billing"))
    stored = [entry("network", "HIGH", "2h/1d")]
    assert layered(from_file, stored) == (entry("Billing"), entry("network", "HIGH", "2h/1d"))
    assert layered(from_file, []) == from_file


@pytest.mark.parametrize(
    ("priority", "category", "policy"),
    [
        ("high", "Network/VPN", "Network/VPN"),  # the longest path first
        ("high", "Network/Wifi", "Network/high"),  # a parent's entry covers its subcategories
        ("low", "Network/Wifi", "Network"),
        ("urgent", "Network/Wifi", "Network"),  # a category's policy before a priority-only one
        ("urgent", "Billing", "any/urgent"),
        ("urgent", None, "any/urgent"),
        ("medium", None, "default/medium"),
    ],
)
def test_the_most_specific_policy_applies(priority: str, category: str | None, policy: str) -> None:
    policies = Policies(
        SlaSettings(),
        [entry("", "urgent"), entry("Network"), entry("Network", "high"), entry("Network/VPN")],
    )
    assert policies.for_ticket(priority, category).name == policy


def test_a_policy_needs_a_category_or_a_priority() -> None:
    with pytest.raises(ConfigError, match="needs a category, a priority or both"):
        Policies(SlaSettings(), [entry()])


@pytest.mark.parametrize("text", ["366d", "8761h", "9999999999d", "99999999999999999999s", "0h", "4 hours"])
def test_durations_are_positive_and_at_most_a_year(text: str) -> None:
    with pytest.raises(ConfigError, match="first_response"):
        parse_duration(text, "first_response")
    assert parse_duration("365d", "x") == 365 * 86400
