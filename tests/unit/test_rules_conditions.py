from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.rules.conditions import Change, Occurrence, holds, matches, trigger_fits
from bot.rules.model import Condition, Conditions, FieldSpec, Trigger
from bot.rules.parse import parse_condition, parse_trigger
from bot.rules.predicates import MAX_SEARCH

FIELDS = {
    "os": FieldSpec("os", "dropdown", ("Mac", "Windows", "Linux")),
    "platforms": FieldSpec("platforms", "multiple_choice", ("ios", "android", "web")),
    "seats": FieldSpec("seats", "number"),
    "renewal": FieldSpec("renewal", "date"),
    "asset": FieldSpec("asset", "text"),
}


class DictFacts:
    """Facts from a dict; ``hours_since_<anchor>`` keys answer ``hours_since`` (with a
    ``_business`` suffix when business hours are asked for). Records what was asked."""

    def __init__(self, values: Mapping[str, Any] | None = None, business_now: bool = False) -> None:
        self.values = dict(values or {})
        self.business_now = business_now
        self.asked: list[str] = []

    def value(self, field: str) -> object:
        self.asked.append(field)
        return self.values.get(field)

    def hours_since(self, anchor: str, business: bool) -> float | None:
        key = f"hours_since_{anchor}" + ("_business" if business else "")
        self.asked.append(key)
        found = self.values.get(key)
        return None if found is None else float(found)

    def business_hours_now(self) -> bool:
        self.asked.append("business_hours_now")
        return self.business_now


def condition(field: str, op: str, value: object = None, business: bool = False) -> Condition:
    data: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        data["value"] = value
    if business:
        data["business"] = True
    return parse_condition(data, FIELDS, "conditions.all[0]")


def check(field: str, op: str, value: object, fact: object, change: Change | None = None) -> bool:
    facts = DictFacts({} if fact is None else {field: fact})
    return holds(condition(field, op, value), facts, change)


# (field, op, value, fact, expected); a None fact is an unset one.
CASES: list[tuple[str, str, object, object, bool]] = [
    # enum: status
    ("status", "is", "open", "open", True),
    ("status", "is", "OPEN", "open", True),
    ("status", "is", "open", "resolved", False),
    ("status", "is", "open", None, False),
    ("status", "is_not", "open", "resolved", True),
    ("status", "is_not", "open", "open", False),
    ("status", "is_not", "open", None, True),
    ("status", "in", ["open", "in_progress"], "in_progress", True),
    ("status", "in", ["open", "in_progress"], "closed", False),
    ("status", "in", ["open"], None, False),
    ("status", "not_in", ["open", "in_progress"], "closed", True),
    ("status", "not_in", ["open", "in_progress"], "open", False),
    ("status", "not_in", ["open"], None, True),
    ("status", "is_set", None, "open", True),
    ("status", "is_set", None, None, False),
    ("status", "not_set", None, None, True),
    ("status", "not_set", None, "open", False),
    # enum: channel, sla_status, a dropdown custom field
    ("channel", "is", "email", "email", True),
    ("channel", "is", "email", "slack", False),
    ("channel", "in", ["slack", "web"], "web", True),
    ("channel", "not_in", ["slack", "web"], "email", True),
    ("sla_status", "is", "breached", "breached", True),
    ("sla_status", "is_not", "on_time", "at_risk", True),
    ("sla_status", "is", "on_time", None, False),
    ("field.os", "is", "mac", "Mac", True),
    ("field.os", "is", "Mac", "Linux", False),
    ("field.os", "is_not", "Mac", None, True),
    ("field.os", "in", ["Mac", "Linux"], "Linux", True),
    ("field.os", "not_in", ["Mac", "Linux"], "Windows", True),
    ("field.os", "not_in", ["Mac", "Linux"], "Mac", False),
    ("field.os", "is_set", None, "Mac", True),
    ("field.os", "not_set", None, None, True),
    # ordered enum: priority
    ("priority", "is", "critical", "urgent", True),
    ("priority", "is", "high", "low", False),
    ("priority", "is_not", "high", None, True),
    ("priority", "in", ["high", "urgent"], "urgent", True),
    ("priority", "not_in", ["high", "urgent"], "low", True),
    ("priority", "gt", "medium", "high", True),
    ("priority", "gt", "medium", "medium", False),
    ("priority", "gt", "low", None, False),
    ("priority", "lt", "high", "low", True),
    ("priority", "lt", "high", "urgent", False),
    ("priority", "lt", "urgent", None, False),
    ("priority", "is_set", None, "low", True),
    ("priority", "not_set", None, "low", False),
    # category: a path with its subcategories, any case
    ("category", "is", "Network", "Network", True),
    ("category", "is", "network", "Network/VPN", True),
    ("category", "is", "Network/VPN", "Network", False),
    ("category", "is", "Net", "Network", False),
    ("category", "is", "Network", None, False),
    ("category", "is_not", "Network", "Network/VPN", False),
    ("category", "is_not", "Network", "Billing", True),
    ("category", "is_not", "Network", None, True),
    ("category", "in", ["Billing", "Network"], "network/wifi/5ghz", True),
    ("category", "in", ["Billing", "Network"], "Hardware", False),
    ("category", "not_in", ["Billing", "Network"], "Hardware", True),
    ("category", "not_in", ["Billing"], "Billing/Refunds", False),
    ("category", "is_set", None, "Billing", True),
    ("category", "not_set", None, None, True),
    # name: team
    ("team", "is", "network", "Network", True),
    ("team", "is", "Network", "Networking", False),
    ("team", "is_not", "Network", None, True),
    ("team", "in", ["Billing", "Network"], "NETWORK", True),
    ("team", "not_in", ["Billing"], "Network", True),
    ("team", "is_set", None, None, False),
    ("team", "not_set", None, "Network", False),
    # address: assignee, mailbox, requester
    ("assignee", "is", "Ann@Example.com", "ann@example.com", True),
    ("assignee", "is", "ann@example.com", "bob@example.com", False),
    ("assignee", "is_not", "ann@example.com", None, True),
    ("assignee", "in", ["ann@example.com", "bob@example.com"], "BOB@example.com", True),
    ("assignee", "not_in", ["ann@example.com"], "bob@example.com", True),
    ("assignee", "is_set", None, "ann@example.com", True),
    ("assignee", "not_set", None, None, True),
    ("mailbox", "is", "support@desk.test", "Support@Desk.test", True),
    ("mailbox", "is_not", "support@desk.test", "sales@desk.test", True),
    ("requester", "is", "ceo@example.com", "ceo@example.com", True),
    ("requester", "in", ["ceo@example.com"], "cfo@example.com", False),
    # domain: that domain only, not its subdomains
    ("requester_domain", "is", "example.com", "Example.COM", True),
    ("requester_domain", "is", "@example.com", "example.com", True),
    ("requester_domain", "is", "example.com", "mail.example.com", False),
    ("requester_domain", "is", "example.com", None, False),
    ("requester_domain", "is_not", "example.com", "other.test", True),
    ("requester_domain", "in", ["example.com", "localhost"], "localhost", True),
    ("requester_domain", "not_in", ["example.com"], "example.com", False),
    ("requester_domain", "is_set", None, "example.com", True),
    ("requester_domain", "not_set", None, "example.com", False),
    # text: subject, comment, text and a text custom field
    ("subject", "is", "vpn down", "VPN Down", True),
    ("subject", "is", "vpn down", "VPN down again", False),
    ("subject", "is", "vpn down", None, False),
    ("subject", "is_not", "vpn down", "Printer", True),
    ("subject", "is_not", "vpn down", None, True),
    ("subject", "contains", "vpn", "VPN down", True),
    ("subject", "contains", "vpn", "vpnclient crashed", False),
    ("subject", "contains", "vpn", None, False),
    ("comment", "contains", "can't log in", "Hi, I CAN'T LOG IN today", True),
    ("comment", "contains", ["printer", "vpn"], "my vpn is down", True),
    ("comment", "contains", ["printer", "vpn"], "my laptop is down", False),
    ("comment", "contains", "c++", "the c++ build fails", True),
    ("comment", "not_contains", "vpn", "printer jam", True),
    ("comment", "not_contains", "vpn", "vpn jam", False),
    ("comment", "not_contains", ["vpn", "wifi"], "vpnclient", True),
    ("comment", "not_contains", "vpn", None, True),
    ("text", "starts_with", "re:", "RE: your ticket", True),
    ("text", "starts_with", "re:", "Fwd: RE: your ticket", False),
    ("text", "starts_with", "re:", None, False),
    ("text", "matches", r"INV-\d{4}", "about INV-2024 please", True),
    ("text", "matches", r"INV-\d{4}", "about inv-2024 please", False),
    ("text", "matches", r"(?i)INV-\d{4}", "about inv-2024 please", True),
    ("text", "matches", r"INV-\d{4}", None, False),
    ("text", "is_set", None, "hello", True),
    ("text", "is_set", None, "", False),
    ("text", "not_set", None, None, True),
    ("field.asset", "is", "abc-12", "ABC-12", True),
    ("field.asset", "contains", "laptop", "Laptop 14", True),
    ("field.asset", "starts_with", "abc", "ABC-12", True),
    ("field.asset", "matches", "^[A-Z]{3}-", "abc-12", False),
    ("field.asset", "not_set", None, "", True),
    # number: a custom field and hours_since_*
    ("field.seats", "is", 10, 10, True),
    ("field.seats", "is", 10, 10.0, True),
    ("field.seats", "is", 10, 11, False),
    ("field.seats", "is", 10, None, False),
    ("field.seats", "is_not", 10, 11, True),
    ("field.seats", "is_not", 10, None, True),
    ("field.seats", "gt", 10, 11, True),
    ("field.seats", "gt", 10, 10, False),
    ("field.seats", "gt", 0, None, False),
    ("field.seats", "lt", 10, 2.5, True),
    ("field.seats", "lt", 10, 10, False),
    ("field.seats", "lt", 10, None, False),
    ("field.seats", "is_set", None, 0, True),
    ("field.seats", "not_set", None, None, True),
    ("hours_since_created", "gt", 4, 4.5, True),
    ("hours_since_created", "gt", 4, 3.0, False),
    ("hours_since_created", "gt", 4, None, False),
    ("hours_since_updated", "lt", 1, 0.5, True),
    ("hours_since_requester_reply", "is_set", None, 2, True),
    ("hours_since_agent_reply", "not_set", None, None, True),
    ("hours_since_agent_reply", "is", 2, 2, True),
    ("hours_since_agent_reply", "is_not", 2, None, True),
    # date: a custom field, stored as ISO text
    ("field.renewal", "is", "2026-01-31", "2026-01-31", True),
    ("field.renewal", "is", "2026-01-31", "2026-02-01", False),
    ("field.renewal", "is", "2026-01-31", None, False),
    ("field.renewal", "is_not", "2026-01-31", "2026-02-01", True),
    ("field.renewal", "is_not", "2026-01-31", None, True),
    ("field.renewal", "gt", "2026-01-31", "2026-02-01", True),
    ("field.renewal", "gt", "2026-01-31", "2026-01-31", False),
    ("field.renewal", "gt", "2026-01-31", None, False),
    ("field.renewal", "lt", "2026-01-31", "2025-12-31", True),
    ("field.renewal", "lt", "2026-01-31", "not a date", False),
    ("field.renewal", "is_set", None, "2026-01-31", True),
    ("field.renewal", "not_set", None, "2026-01-31", False),
    # set: tags and a multiple_choice custom field
    ("tags", "contains", "vip", ("vip", "billing"), True),
    ("tags", "contains", "VIP", frozenset({"vip"}), True),
    ("tags", "contains", ["vip", "press"], ("press",), True),
    ("tags", "contains", "vip", ("billing",), False),
    ("tags", "contains", "vip", (), False),
    ("tags", "contains", "vip", None, False),
    ("tags", "not_contains", "vip", ("billing",), True),
    ("tags", "not_contains", ["vip", "press"], ("press",), False),
    ("tags", "not_contains", "vip", (), True),
    ("tags", "is_set", None, ("vip",), True),
    ("tags", "is_set", None, (), False),
    ("tags", "not_set", None, (), True),
    ("tags", "not_set", None, ("vip",), False),
    ("field.platforms", "contains", "iOS", ["ios", "web"], True),
    ("field.platforms", "contains", ["android", "web"], ["ios"], False),
    ("field.platforms", "not_contains", "web", ["ios"], True),
    ("field.platforms", "not_contains", "web", None, True),
    ("field.platforms", "is_set", None, ["ios"], True),
    ("field.platforms", "not_set", None, [], True),
]


@pytest.mark.parametrize(("field", "op", "value", "fact", "expected"), CASES)
def test_every_operator_on_every_field_type(
    field: str, op: str, value: object, fact: object, expected: bool
) -> None:
    assert check(field, op, value, fact) is expected


def test_business_hours_now_is_true_or_false() -> None:
    assert holds(condition("business_hours_now", "is", True), DictFacts(business_now=True))
    assert not holds(condition("business_hours_now", "is", True), DictFacts(business_now=False))
    assert holds(condition("business_hours_now", "is", False), DictFacts(business_now=False))


def test_hours_since_counts_business_hours_when_asked() -> None:
    facts = DictFacts({"hours_since_created": 30, "hours_since_created_business": 6})
    assert holds(condition("hours_since_created", "gt", 24), facts)
    assert not holds(condition("hours_since_created", "gt", 24, business=True), facts)
    assert facts.asked == ["hours_since_created", "hours_since_created_business"]


def test_matches_is_searched_in_the_first_100000_characters_only() -> None:
    padding = "x " * (MAX_SEARCH // 2)
    rule = condition("comment", "matches", "needle")
    assert holds(rule, DictFacts({"comment": padding[:-20] + "needle" + padding}))
    assert not holds(rule, DictFacts({"comment": padding + "needle"}))


def test_contains_reads_a_long_text_to_its_end() -> None:
    assert check("comment", "contains", "vpn", "x " * MAX_SEARCH + "VPN down", None)


# (field, op, value, change, expected)
CHANGES: list[tuple[str, str, object, Change | None, bool]] = [
    ("status", "changed", None, Change("status", "open", "resolved"), True),
    ("status", "changed", None, Change("priority", "low", "high"), False),
    ("status", "changed", None, None, False),
    ("status", "changed_from", "open", Change("status", "open", "resolved"), True),
    ("status", "changed_from", "open", Change("status", "in_progress", "resolved"), False),
    ("status", "changed_to", "Resolved", Change("status", "open", "resolved"), True),
    ("status", "changed_to", "closed", Change("status", "open", "resolved"), False),
    ("status", "changed_to", "resolved", Change("priority", "open", "resolved"), False),
    ("status", "changed_to", "resolved", None, False),
    ("priority", "changed_to", "critical", Change("priority", "high", "urgent"), True),
    ("priority", "changed_from", "low", Change("priority", "medium", "urgent"), False),
    ("category", "changed_from", "Network", Change("category", "Network/VPN", "Billing"), True),
    ("category", "changed_from", "Network", Change("category", None, "Network"), False),
    ("category", "changed_to", "billing", Change("category", "Network", "Billing/Refunds"), True),
    ("category", "changed", None, Change("category", None, "Billing"), True),
    ("team", "changed_to", "network", Change("team", None, "Network"), True),
    ("team", "changed_from", "Network", Change("team", None, "Network"), False),
    ("assignee", "changed_to", "Ann@example.com", Change("assignee", None, "ann@example.com"), True),
    ("assignee", "changed_from", "ann@example.com", Change("assignee", "ann@example.com", None), True),
    ("assignee", "changed", None, Change("team", "A", "B"), False),
    ("tags", "changed", None, Change("tags", ("vip",), ("vip", "press")), True),
    ("tags", "changed", None, Change("status", "open", "closed"), False),
    ("field.os", "changed", None, Change("field.os", None, "Mac"), True),
    ("field.os", "changed_to", "mac", Change("field.os", None, "Mac"), True),
    ("field.os", "changed_from", "Mac", Change("field.os", None, "Mac"), False),
]


@pytest.mark.parametrize(("field", "op", "value", "change", "expected"), CHANGES)
def test_changed_operators_look_at_the_triggering_change(
    field: str, op: str, value: object, change: Change | None, expected: bool
) -> None:
    facts = DictFacts({field: "whatever"})
    assert holds(condition(field, op, value), facts, change) is expected
    assert facts.asked == []  # a change is all they need


def test_all_must_hold_then_one_of_any() -> None:
    conditions = Conditions(
        all=(condition("status", "is", "open"),),
        any=(condition("priority", "is", "urgent"), condition("tags", "contains", "vip")),
    )
    assert matches(conditions, DictFacts({"status": "open", "tags": ("vip",)}))
    assert not matches(conditions, DictFacts({"status": "open", "priority": "low", "tags": ()}))
    assert not matches(conditions, DictFacts({"status": "closed", "priority": "urgent"}))


def test_no_conditions_always_match() -> None:
    assert matches(Conditions(), DictFacts())
    assert matches(Conditions(all=(condition("status", "is", "open"),)), DictFacts({"status": "open"}))


def test_facts_are_asked_lazily_all_first_and_evaluation_stops_early() -> None:
    conditions = Conditions(
        all=(condition("status", "is", "open"), condition("team", "is", "Network")),
        any=(condition("subject", "contains", "vpn"), condition("comment", "contains", "vpn")),
    )
    facts = DictFacts({"status": "closed"})
    assert not matches(conditions, facts)
    assert facts.asked == ["status"]
    facts = DictFacts({"status": "open", "team": "network", "subject": "VPN down"})
    assert matches(conditions, facts)
    assert facts.asked == ["status", "team", "subject"]


def test_conditions_compare_and_hash_by_their_public_fields() -> None:
    one, two = condition("tags", "contains", ["vip"]), Condition("tags", "contains", ("vip",))
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two, Condition("tags", "contains", ("press",))}) == 2
    assert "_test" not in repr(one)


# --- triggers -------------------------------------------------------------------------


def trigger(**data: Any) -> Trigger:
    return parse_trigger(data, FIELDS)


TRIGGER_CASES: list[tuple[dict[str, Any], Occurrence, bool]] = [
    ({"on": "ticket_created"}, Occurrence("ticket_created"), True),
    ({"on": "ticket_created"}, Occurrence("ticket_updated", Change("status", "open", "closed")), False),
    ({"on": "ticket_updated"}, Occurrence("ticket_updated", Change("team", None, "Network")), True),
    (
        {"on": "ticket_updated", "field": "team"},
        Occurrence("ticket_updated", Change("team", None, "A")),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "team"},
        Occurrence("ticket_updated", Change("status", "a", "b")),
        False,
    ),
    ({"on": "ticket_updated", "field": "team"}, Occurrence("ticket_updated"), False),
    (
        {"on": "ticket_updated", "field": "priority", "from": "low", "to": "critical"},
        Occurrence("ticket_updated", Change("priority", "low", "urgent")),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "priority", "from": "low"},
        Occurrence("ticket_updated", Change("priority", "medium", "urgent")),
        False,
    ),
    (
        {"on": "ticket_updated", "field": "priority", "to": "high"},
        Occurrence("ticket_updated", Change("priority", "low", "urgent")),
        False,
    ),
    (
        {"on": "ticket_updated", "field": "category", "to": "network"},
        Occurrence("ticket_updated", Change("category", None, "Network/VPN")),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "category", "from": "Network"},
        Occurrence("ticket_updated", Change("category", "Billing", "Network")),
        False,
    ),
    (
        {"on": "ticket_updated", "field": "assignee", "to": "ann@example.com"},
        Occurrence("ticket_updated", Change("assignee", None, "Ann@Example.com")),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "tags", "to": "vip"},
        Occurrence("ticket_updated", Change("tags", (), ("vip", "press"))),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "tags", "from": ["vip", "press"]},
        Occurrence("ticket_updated", Change("tags", ("billing",), ())),
        False,
    ),
    (
        {"on": "ticket_updated", "field": "field.seats", "to": 10},
        Occurrence("ticket_updated", Change("field.seats", 5, 10)),
        True,
    ),
    (
        {"on": "ticket_updated", "field": "field.renewal", "from": "2026-01-31"},
        Occurrence("ticket_updated", Change("field.renewal", "2026-01-31", None)),
        True,
    ),
    ({"on": "status_changed"}, Occurrence("status_changed", Change("status", "open", "closed")), True),
    (
        {"on": "status_changed", "from": "open", "to": "resolved"},
        Occurrence("status_changed", Change("status", "open", "resolved")),
        True,
    ),
    (
        {"on": "status_changed", "to": "resolved"},
        Occurrence("status_changed", Change("status", "open", "closed")),
        False,
    ),
    (
        {"on": "status_changed", "from": "waiting_customer"},
        Occurrence("status_changed", Change("status", "open", "closed")),
        False,
    ),
    ({"on": "status_changed", "to": "resolved"}, Occurrence("status_changed"), False),
    ({"on": "assigned"}, Occurrence("assigned", Change("assignee", None, "ann@example.com")), True),
    ({"on": "assigned"}, Occurrence("unassigned", Change("assignee", "ann@example.com", None)), False),
    ({"on": "unassigned"}, Occurrence("unassigned", Change("assignee", "ann@example.com", None)), True),
    ({"on": "comment_added"}, Occurrence("comment_added", visibility="internal", author="agent"), True),
    ({"on": "comment_added", "visibility": "public"}, Occurrence("comment_added", visibility="public"), True),
    (
        {"on": "comment_added", "visibility": "public"},
        Occurrence("comment_added", visibility="internal"),
        False,
    ),
    ({"on": "comment_added", "visibility": "any"}, Occurrence("comment_added", visibility="internal"), True),
    ({"on": "comment_added", "author": "requester"}, Occurrence("comment_added", author="requester"), True),
    ({"on": "comment_added", "author": "requester"}, Occurrence("comment_added", author="agent"), False),
    ({"on": "comment_added", "author": "partner"}, Occurrence("comment_added", author="other"), False),
    ({"on": "comment_added", "channel": "email"}, Occurrence("comment_added", channel="email"), True),
    ({"on": "comment_added", "channel": "email"}, Occurrence("comment_added", channel="slack"), False),
    (
        {"on": "comment_added", "visibility": "public", "author": "requester", "channel": "email"},
        Occurrence("comment_added", visibility="public", author="requester", channel="web"),
        False,
    ),
    ({"on": "sla_changed"}, Occurrence("sla_changed", sla_to="at_risk"), True),
    ({"on": "sla_changed", "to": "breached"}, Occurrence("sla_changed", sla_to="breached"), True),
    ({"on": "sla_changed", "to": "breached"}, Occurrence("sla_changed", sla_to="at_risk"), False),
    ({"on": "time", "since": "created", "after": "1h"}, Occurrence("ticket_created"), False),
]


@pytest.mark.parametrize(("data", "event", "expected"), TRIGGER_CASES)
def test_trigger_fits_its_event_and_narrowing_options(
    data: dict[str, Any], event: Occurrence, expected: bool
) -> None:
    assert trigger_fits(trigger(**data), event) is expected
