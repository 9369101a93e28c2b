from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from bot.errors import UserError
from bot.rules.durations import format_duration, parse_duration
from bot.rules.model import Action, Condition, FieldSpec, Trigger
from bot.rules.parse import parse_rule

FIELDS = {
    "os": FieldSpec("os", "dropdown", ("Mac", "Windows", "Linux")),
    "platforms": FieldSpec("platforms", "multiple_choice", ("ios", "android", "web")),
    "seats": FieldSpec("seats", "number"),
    "renewal": FieldSpec("renewal", "date"),
    "asset": FieldSpec("asset", "text"),
}
BASE: dict[str, Any] = {
    "name": "Tag VIPs",
    "trigger": {"on": "ticket_created"},
    "actions": [{"do": "add_tags", "tags": ["vip"]}],
}


def rule(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def when(*conditions: Any, group: str = "all") -> dict[str, Any]:
    return rule(conditions={group: list(conditions)})


def doing(*actions: Any) -> dict[str, Any]:
    return rule(actions=list(actions))


def on(**trigger: Any) -> dict[str, Any]:
    return rule(trigger=trigger)


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m", 60),
        ("30m", 1800),
        ("4h", 4 * 3600),
        ("3d", 3 * 86400),
        ("2w", 14 * 86400),
        ("1d12h", 36 * 3600),
        ("1D 12H", 36 * 3600),
        ("1w2d3h4m", 7 * 86400 + 2 * 86400 + 3 * 3600 + 240),
        ("90m", 5400),
        ("365d", 365 * 86400),
        ("52w1d", 365 * 86400),
    ],
)
def test_durations_read_as_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0m", "too short"),
        ("0d0h", "too short"),
        ("366d", "too long"),
        ("53w", "too long"),
        ("", "not a duration"),
        ("4", "not a duration"),
        ("30s", "not a duration"),
        ("4 hours", "not a duration"),
        ("12m1h", "not a duration"),  # largest unit first
        ("1h1h", "not a duration"),
        ("-1h", "not a duration"),
        ("9" * 5000 + "m", "not a duration"),
    ],
)
def test_durations_refused(text: str, why: str) -> None:
    with pytest.raises(UserError, match=why) as refused:
        parse_duration(text, field="trigger.after")
    assert refused.value.field == "trigger.after"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "1m"),
        (5400, "1h30m"),
        (36 * 3600, "1d12h"),
        (14 * 86400, "2w"),
        (365 * 86400, "52w1d"),
        (90, "1m30s"),
    ],
)
def test_durations_written_shortest(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [60, 3600, 5400, 86400 + 60, 10 * 86400, 365 * 86400])
def test_durations_read_back_what_they_write(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


# --- whole rules ----------------------------------------------------------------------

FULL: dict[str, Any] = {
    "name": "Urgent network tickets to Network",
    "position": 10,
    "enabled": False,
    "mode": "dry_run",
    "stop": True,
    "trigger": {"on": "ticket_updated", "field": "category", "from": "Billing", "to": "Network"},
    "conditions": {
        "all": [
            {"field": "priority", "op": "gt", "value": "medium"},
            {"field": "text", "op": "contains", "value": ["vpn", "wifi"]},
            {"field": "subject", "op": "matches", "value": r"(?i)^re:\s"},
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "field.renewal", "op": "lt", "value": "2026-06-30"},
            {"field": "field.platforms", "op": "not_contains", "value": ["web"]},
            {"field": "hours_since_created", "op": "gt", "value": 2.5, "business": True},
            {"field": "assignee", "op": "not_set"},
        ],
        "any": [
            {"field": "category", "op": "in", "value": ["Network", "Hardware/Laptops"]},
            {"field": "status", "op": "changed_to", "value": "open"},
            {"field": "business_hours_now", "op": "is", "value": True},
        ],
    },
    "actions": [
        {"do": "set_status", "value": "in_progress"},
        {"do": "set_priority", "value": "urgent"},
        {"do": "set_category", "value": "Network/VPN"},
        {"do": "set_team", "value": ""},
        {"do": "set_assignee", "person": None},
        {"do": "set_assignee", "round_robin": "Network"},
        {"do": "add_tags", "tags": ["network", "urgent"]},
        {"do": "remove_tags", "tags": ["triage"]},
        {"do": "set_field", "key": "platforms", "value": ["web", "ios"]},
        {"do": "set_field", "key": "renewal", "value": "2026-12-31"},
        {"do": "set_field", "key": "seats", "value": None},
        {"do": "add_note", "text": "Moved by automation; {{ not rendered }}"},
        {"do": "send_email", "to": "followers", "template": "ticket_escalated"},
        {"do": "send_email", "to": "Boss@Example.com", "template": "escalation"},
        {"do": "send_slack", "to": "channel", "channel": "C0123ABCD", "template": "escalated"},
        {"do": "send_slack", "to": "dm", "person": "ann@example.com", "template": "escalated"},
        {"do": "send_slack", "to": "thread", "template": "escalated"},
        {"do": "call_webhook", "subscription": 3},
        {"do": "escalate", "reason": "network outage"},
    ],
    "match_all": True,
}

ROUND_TRIPS: list[dict[str, Any]] = [
    FULL,
    BASE,
    on(on="ticket_updated", field="tags", to="vip"),
    on(on="ticket_updated", field="field.platforms", **{"from": ["ios", "web"]}),
    on(on="ticket_updated", field="field.seats", **{"from": 1, "to": 10}),
    on(on="ticket_updated", field="field.renewal", to="2026-01-31"),
    on(on="ticket_updated", field="field.os", to="mac"),
    on(on="ticket_updated", field="assignee", to="ann@example.com"),
    rule(trigger={"on": "ticket_updated"}, match_all=True),
    on(on="status_changed", **{"from": "open", "to": "resolved"}),
    on(on="assigned"),
    on(on="unassigned"),
    on(on="comment_added", visibility="public", author="requester", channel="email"),
    on(on="sla_changed", to="breached"),
    on(on="sla_changed"),
    on(on="time", since="requester_reply", after="1d12h", business_hours=True),
    on(on="time", since="resolved", after="14d"),
    when({"field": "field.os", "op": "changed_from", "value": "Linux"}, group="any"),
]


@pytest.mark.parametrize("data", ROUND_TRIPS)
def test_as_json_reads_back_as_the_same_rule(data: dict[str, Any]) -> None:
    parsed = parse_rule(data, rule_id=7, fields=FIELDS)
    again = parse_rule(parsed.as_json(), rule_id=parsed.id, fields=FIELDS)
    assert again == parsed
    assert again.as_json() == parsed.as_json()


def test_a_full_rule_is_normalised() -> None:
    parsed = parse_rule(FULL, rule_id=7, fields=FIELDS)
    assert (parsed.id, parsed.name, parsed.position, parsed.enabled, parsed.mode, parsed.stop) == (
        7,
        "Urgent network tickets to Network",
        10,
        False,
        "dry_run",
        True,
    )
    assert parsed.trigger == Trigger("ticket_updated", field="category", before="Billing", after="Network")
    assert parsed.conditions.all[1] == Condition("text", "contains", ("vpn", "wifi"))
    assert parsed.conditions.all[4].value == date(2026, 6, 30)
    assert parsed.actions[8] == Action("set_field", (("key", "platforms"), ("value", ("ios", "web"))))
    assert parsed.actions[13].get("to") == "boss@example.com"
    assert parsed.actions[4].get("person", "someone") is None
    assert parsed.actions[0].get("missing", "default") == "default"
    json = parsed.as_json()
    assert json["position"] == 10
    assert json["conditions"]["all"][4] == {"field": "field.renewal", "op": "lt", "value": "2026-06-30"}
    assert json["conditions"]["all"][6]["business"] is True
    assert json["conditions"]["all"][7] == {"field": "assignee", "op": "not_set"}
    assert json["actions"][6] == {"do": "add_tags", "tags": ["network", "urgent"]}


def test_defaults_fill_what_is_left_out() -> None:
    parsed = parse_rule(BASE)
    assert (parsed.id, parsed.position, parsed.enabled, parsed.mode, parsed.stop, parsed.match_all) == (
        0,
        0,
        True,
        "live",
        False,
        False,
    )
    assert parsed.conditions.all == parsed.conditions.any == ()


def test_position_given_by_the_caller_goes_where_the_rule_says_none() -> None:
    assert parse_rule(BASE, position=40).position == 40
    assert parse_rule(rule(position=5), position=40).position == 5
    assert parse_rule(rule(position=0), position=40).position == 0


def test_time_rules_keep_their_wait_as_text() -> None:
    parsed = parse_rule(on(on="time", since="created", after="36h"))
    assert parsed.trigger.seconds == 36 * 3600
    assert parsed.as_json()["trigger"] == {
        "on": "time",
        "since": "created",
        "after": "1d12h",
        "business_hours": False,
    }


def test_values_are_normalised() -> None:
    parsed = parse_rule(
        when(
            {"field": "priority", "op": "is", "value": "Critical"},
            {"field": "status", "op": "in", "value": ["OPEN", " resolved "]},
            {"field": "category", "op": "is", "value": " Network / VPN "},
            {"field": "requester_domain", "op": "is", "value": "@Example.COM"},
            {"field": "tags", "op": "contains", "value": ["Big Customer"]},
            {"field": "field.os", "op": "is", "value": "mac"},
            {"field": "comment", "op": "contains", "value": " vpn "},
        ),
        fields=FIELDS,
    )
    assert [c.value for c in parsed.conditions.all] == [
        "urgent",
        ("open", "resolved"),
        "Network/VPN",
        "example.com",
        ("big-customer",),
        "Mac",
        "vpn",
    ]


def test_narrow_triggers_need_no_conditions() -> None:
    for trigger in (
        {"on": "ticket_updated", "field": "status"},
        {"on": "comment_added", "author": "requester"},
        {"on": "comment_added", "visibility": "internal"},
        {"on": "comment_added", "channel": "slack"},
        {"on": "assigned"},
    ):
        assert parse_rule(rule(trigger=trigger)).trigger.update_type is False


def test_update_type_triggers_take_conditions_or_match_all() -> None:
    assert parse_rule(rule(trigger={"on": "comment_added"}, match_all=True)).match_all
    with_condition = when({"field": "status", "op": "is", "value": "open"})
    assert parse_rule(with_condition | {"trigger": {"on": "ticket_updated"}}).trigger.update_type


def test_regex_patterns_up_to_500_characters_are_accepted() -> None:
    parse_rule(when({"field": "text", "op": "matches", "value": "a" * 500}))


# --- refusals -------------------------------------------------------------------------

TOO_MANY = [{"field": "status", "op": "is", "value": "open"}] * 51

REFUSALS: list[tuple[str, dict[str, Any] | Any, str, str]] = [
    # (case, data, field, words in the message)
    ("not an object", ["a list"], "", "expected a rule"),
    ("name missing", {k: v for k, v in BASE.items() if k != "name"}, "name", "name of 1 to 200"),
    ("name blank", rule(name="  "), "name", "name of 1 to 200"),
    ("name too long", rule(name="x" * 201), "name", "1 to 200"),
    ("name not text", rule(name=5), "name", "name of"),
    ("unknown key", rule(colour="red"), "colour", "unknown key 'colour'"),
    ("position negative", rule(position=-1), "position", "0 to"),
    ("position too big", rule(position=2**31), "position", "0 to"),
    ("position a bool", rule(position=True), "position", "whole number"),
    ("position text", rule(position="1"), "position", "whole number"),
    ("enabled not bool", rule(enabled="yes"), "enabled", "true or false"),
    ("mode unknown", rule(mode="test"), "mode", "live, dry_run"),
    ("stop not bool", rule(stop=1), "stop", "true or false"),
    ("match_all not bool", rule(match_all="yes"), "match_all", "true or false"),
    # triggers
    ("trigger missing", {k: v for k, v in BASE.items() if k != "trigger"}, "trigger", "expected a trigger"),
    ("trigger not object", rule(trigger="ticket_created"), "trigger", "expected a trigger"),
    ("trigger on missing", rule(trigger={}), "trigger.on", "ticket_created, ticket_updated"),
    ("trigger on unknown", on(on="ticket_deleted"), "trigger.on", "use one of"),
    (
        "option of another trigger",
        on(on="ticket_created", visibility="public"),
        "trigger.visibility",
        "no options",
    ),
    ("time option on update", on(on="ticket_updated", since="created"), "trigger.since", "field, from, to"),
    ("from without field", on(on="ticket_updated", **{"from": "open"}), "trigger.from", "needs a field"),
    ("to without field", on(on="ticket_updated", to="open"), "trigger.to", "needs a field"),
    ("field not changeable", on(on="ticket_updated", field="subject"), "trigger.field", "status, priority"),
    ("field unknown custom", on(on="ticket_updated", field="field.nope"), "trigger.field", "field.os"),
    ("to not a status", on(on="ticket_updated", field="status", to="done"), "trigger.to", "unknown status"),
    ("to not a choice", on(on="ticket_updated", field="field.os", to="BeOS"), "trigger.to", "Mac, Windows"),
    ("to not a number", on(on="ticket_updated", field="field.seats", to="10"), "trigger.to", "a number"),
    ("status from unknown", on(on="status_changed", **{"from": "new"}), "trigger.from", "unknown status"),
    ("status_changed field", on(on="status_changed", field="status"), "trigger.field", "from, to"),
    ("visibility unknown", on(on="comment_added", visibility="private"), "trigger.visibility", "public"),
    ("author unknown", on(on="comment_added", author="bot"), "trigger.author", "requester, agent, partner"),
    ("channel unknown", on(on="comment_added", channel="fax"), "trigger.channel", "email, slack"),
    ("sla to on time", on(on="sla_changed", to="on_time"), "trigger.to", "at_risk, breached"),
    ("since missing", on(on="time", after="1h"), "trigger.since", "created, updated"),
    ("since unknown", on(on="time", since="opened", after="1h"), "trigger.since", "requester_reply"),
    ("after missing", on(on="time", since="created"), "trigger.after", "like 4h"),
    ("after junk", on(on="time", since="created", after="soon"), "trigger.after", "not a duration"),
    ("after zero", on(on="time", since="created", after="0m"), "trigger.after", "shortest wait is 1m"),
    ("after over a year", on(on="time", since="created", after="366d"), "trigger.after", "365d"),
    ("after a number", on(on="time", since="created", after=3600), "trigger.after", "like 4h"),
    (
        "business_hours not bool",
        on(on="time", since="created", after="1h", business_hours="yes"),
        "trigger.business_hours",
        "true or false",
    ),
    ("update without conditions", on(on="ticket_updated"), "match_all", "match_all to true"),
    ("comment without conditions", on(on="comment_added"), "match_all", "add conditions"),
    (
        "comment, only 'any' options",
        on(on="comment_added", visibility="any", author="any"),
        "match_all",
        "add conditions",
    ),
    # conditions
    ("conditions not object", rule(conditions=[]), "conditions", 'expected an object like {"all"'),
    ("conditions unknown group", rule(conditions={"none": []}), "conditions.none", "use: all, any"),
    ("conditions all not list", rule(conditions={"all": {}}), "conditions.all", "list of conditions"),
    ("condition not object", when("status is open"), "conditions.all[0]", "expected a condition"),
    ("too many conditions", rule(conditions={"all": TOO_MANY}), "conditions", "at most 50"),
    (
        "condition unknown key",
        when({"field": "status", "op": "is", "value": "open", "not": True}),
        "conditions.all[0].not",
        "unknown key 'not'",
    ),
    ("field missing", when({"op": "is", "value": "open"}), "conditions.all[0].field", "unknown field"),
    (
        "field unknown",
        when({"field": "colour", "op": "is", "value": "red"}),
        "conditions.all[0].field",
        "hours_since_created",
    ),
    (
        "custom field unknown",
        when({"field": "field.nope", "op": "is", "value": 1}),
        "conditions.all[0].field",
        "field.os, field.platforms",
    ),
    ("op missing", when({"field": "status", "value": "open"}), "conditions.all[0].op", "use is, is_not"),
    (
        "op unknown",
        when({"field": "status", "op": "equals", "value": "open"}),
        "conditions.all[0].op",
        "does not fit field 'status'",
    ),
    (
        "gt on an enum",
        when(
            {"field": "status", "op": "is", "value": "open"}, {"field": "status", "op": "gt", "value": "open"}
        ),
        "conditions.all[1].op",
        "operator 'gt' does not fit field 'status' (an enum): use is, is_not, in, not_in",
    ),
    (
        "contains on a name",
        when({"field": "team", "op": "contains", "value": "net"}),
        "conditions.all[0].op",
        "(a team name)",
    ),
    (
        "in on text",
        when({"field": "subject", "op": "in", "value": ["a"]}),
        "conditions.all[0].op",
        "starts_with, matches",
    ),
    ("gt on a set", when({"field": "tags", "op": "gt", "value": "a"}), "conditions.all[0].op", "(a set)"),
    (
        "is on a set",
        when({"field": "field.platforms", "op": "is", "value": "ios"}),
        "conditions.all[0].op",
        "contains, not_contains",
    ),
    ("changed on text", when({"field": "subject", "op": "changed"}), "conditions.all[0].op", "(text)"),
    ("changed on channel", when({"field": "channel", "op": "changed"}), "conditions.all[0].op", "(an enum)"),
    (
        "changed_to on tags",
        when({"field": "tags", "op": "changed_to", "value": "a"}),
        "conditions.all[0].op",
        "not_set, changed",
    ),
    (
        "is_not on a bool",
        when({"field": "business_hours_now", "op": "is_not", "value": True}),
        "conditions.all[0].op",
        "use is",
    ),
    (
        "gt on a domain",
        when({"field": "requester_domain", "op": "gt", "value": "a.b"}),
        "conditions.all[0].op",
        "(a domain)",
    ),
    (
        "contains on a number",
        when({"field": "field.seats", "op": "contains", "value": 1}),
        "conditions.all[0].op",
        "(a number)",
    ),
    (
        "status not text",
        when({"field": "status", "op": "is", "value": 1}, group="any"),
        "conditions.any[0].value",
        "expected one of: open",
    ),
    (
        "status unknown",
        when({"field": "status", "op": "is", "value": "pending"}),
        "conditions.all[0].value",
        "unknown status 'pending'",
    ),
    (
        "priority unknown",
        when({"field": "priority", "op": "gt", "value": "p1"}),
        "conditions.all[0].value",
        "unknown priority",
    ),
    (
        "channel unknown",
        when({"field": "channel", "op": "is", "value": "fax"}),
        "conditions.all[0].value",
        "email, slack, api",
    ),
    (
        "sla_status unknown",
        when({"field": "sla_status", "op": "is", "value": "late"}),
        "conditions.all[0].value",
        "on_time, at_risk, breached, paused",
    ),
    (
        "choice unknown",
        when({"field": "field.os", "op": "is", "value": "BeOS"}),
        "conditions.all[0].value",
        "Mac, Windows, Linux",
    ),
    ("value missing", when({"field": "status", "op": "is"}), "conditions.all[0].value", "needs a value"),
    (
        "in not a list",
        when({"field": "status", "op": "in", "value": "open"}),
        "conditions.all[0].value",
        "non-empty list",
    ),
    (
        "in empty",
        when({"field": "status", "op": "not_in", "value": []}),
        "conditions.all[0].value",
        "non-empty list",
    ),
    (
        "in bad member",
        when({"field": "status", "op": "in", "value": ["open", "nope"]}),
        "conditions.all[0].value[1]",
        "unknown status",
    ),
    (
        "is_set with a value",
        when({"field": "team", "op": "is_set", "value": "x"}),
        "conditions.all[0].value",
        "takes no value",
    ),
    (
        "changed with a value",
        when({"field": "team", "op": "changed", "value": "x"}),
        "conditions.all[0].value",
        "takes no value",
    ),
    (
        "changed_to without",
        when({"field": "team", "op": "changed_to"}),
        "conditions.all[0].value",
        "needs a value",
    ),
    (
        "category blank part",
        when({"field": "category", "op": "is", "value": "Network//VPN"}),
        "conditions.all[0].value",
        "category path",
    ),
    ("team blank", when({"field": "team", "op": "is", "value": " "}), "conditions.all[0].value", "empty"),
    (
        "address bad",
        when({"field": "assignee", "op": "is", "value": "ann"}),
        "conditions.all[0].value",
        "not an email address",
    ),
    (
        "domain bad",
        when({"field": "requester_domain", "op": "is", "value": "ex ample.com"}),
        "conditions.all[0].value",
        "not a domain",
    ),
    (
        "text not text",
        when({"field": "subject", "op": "is", "value": 5}),
        "conditions.all[0].value",
        "expected text",
    ),
    (
        "contains blank",
        when({"field": "text", "op": "contains", "value": " "}),
        "conditions.all[0].value",
        "must not be empty",
    ),
    (
        "contains empty list",
        when({"field": "text", "op": "contains", "value": []}),
        "conditions.all[0].value",
        "non-empty list",
    ),
    (
        "contains bad word",
        when({"field": "text", "op": "contains", "value": ["vpn", 3]}),
        "conditions.all[0].value[1]",
        "expected text",
    ),
    (
        "starts_with a list",
        when({"field": "text", "op": "starts_with", "value": ["re:"]}),
        "conditions.all[0].value",
        "expected text",
    ),
    (
        "number as text",
        when({"field": "field.seats", "op": "gt", "value": "10"}),
        "conditions.all[0].value",
        "expected a number",
    ),
    (
        "number as bool",
        when({"field": "field.seats", "op": "is", "value": True}),
        "conditions.all[0].value",
        "expected a number",
    ),
    (
        "number not finite",
        when({"field": "field.seats", "op": "lt", "value": float("inf")}),
        "conditions.all[0].value",
        "expected a number",
    ),
    (
        "hours negative",
        when({"field": "hours_since_updated", "op": "gt", "value": -1}),
        "conditions.all[0].value",
        "negative",
    ),
    (
        "date junk",
        when({"field": "field.renewal", "op": "gt", "value": "next week"}),
        "conditions.all[0].value",
        "not a date",
    ),
    (
        "date a number",
        when({"field": "field.renewal", "op": "is", "value": 20260131}),
        "conditions.all[0].value",
        "not a date",
    ),
    (
        "bool as text",
        when({"field": "business_hours_now", "op": "is", "value": "true"}),
        "conditions.all[0].value",
        "true or false",
    ),
    (
        "tag with a comma",
        when({"field": "tags", "op": "contains", "value": "a,b"}),
        "conditions.all[0].value",
        "not a tag",
    ),
    (
        "choice unknown in set",
        when({"field": "field.platforms", "op": "contains", "value": ["ios", "tv"]}),
        "conditions.all[0].value[1]",
        "ios, android, web",
    ),
    (
        "business on a non-hours field",
        when({"field": "status", "op": "is_set", "business": True}),
        "conditions.all[0].business",
        "hours_since_",
    ),
    (
        "business not bool",
        when({"field": "hours_since_created", "op": "gt", "value": 1, "business": "yes"}),
        "conditions.all[0].business",
        "true or false",
    ),
    (
        "backreference",
        when({"field": "text", "op": "matches", "value": r"(a)\1"}),
        "conditions.all[0].value",
        "backreferences",
    ),
    (
        "lookahead",
        when({"field": "text", "op": "matches", "value": r"vpn(?=down)"}),
        "conditions.all[0].value",
        "not a pattern RE2 accepts",
    ),
    (
        "lookbehind",
        when({"field": "text", "op": "matches", "value": r"(?<!no )vpn"}),
        "conditions.all[0].value",
        "lookarounds",
    ),
    (
        "unbalanced",
        when({"field": "text", "op": "matches", "value": "(vpn"}),
        "conditions.all[0].value",
        "missing )",
    ),
    (
        "too long pattern",
        when({"field": "text", "op": "matches", "value": "a" * 501}),
        "conditions.all[0].value",
        "at most 500 characters",
    ),
    (
        "pattern not text",
        when({"field": "text", "op": "matches", "value": ["a"]}),
        "conditions.all[0].value",
        "expected text",
    ),
    # actions
    ("actions missing", {k: v for k, v in BASE.items() if k != "actions"}, "actions", "1 or more actions"),
    ("actions empty", rule(actions=[]), "actions", "1 or more actions"),
    ("actions not list", rule(actions={"do": "escalate"}), "actions", "1 or more actions"),
    ("too many actions", rule(actions=[{"do": "escalate", "reason": "x"}] * 21), "actions", "at most 20"),
    ("action not object", doing("escalate"), "actions[0]", "expected an action"),
    ("do missing", doing({"reason": "x"}), "actions[0].do", "set_status, set_priority"),
    ("do unknown", doing({"do": "escalate", "reason": "x"}, {"do": "delete"}), "actions[1].do", "use one of"),
    (
        "action unknown key",
        doing({"do": "escalate", "reason": "x", "level": 2}),
        "actions[0].level",
        "use: do, reason",
    ),
    ("set_status missing", doing({"do": "set_status"}), "actions[0].value", "set_status needs value"),
    (
        "set_status unknown",
        doing({"do": "set_status", "value": "done"}),
        "actions[0].value",
        "unknown status",
    ),
    (
        "set_priority unknown",
        doing({"do": "set_priority", "value": "p1"}),
        "actions[0].value",
        "unknown priority",
    ),
    (
        "set_category not text",
        doing({"do": "set_category", "value": None}),
        "actions[0].value",
        "to clear it",
    ),
    (
        "set_category bad path",
        doing({"do": "set_category", "value": "A//B"}),
        "actions[0].value",
        "category path",
    ),
    ("set_team not text", doing({"do": "set_team", "value": 3}), "actions[0].value", "a team"),
    ("set_assignee nothing", doing({"do": "set_assignee"}), "actions[0].person", "exactly one of"),
    (
        "set_assignee two ways",
        doing({"do": "set_assignee", "person": None, "round_robin": "Network"}),
        "actions[0].round_robin",
        "exactly one of",
    ),
    (
        "set_assignee bad person",
        doing({"do": "set_assignee", "person": "ann"}),
        "actions[0].person",
        "not an email address",
    ),
    (
        "round_robin blank",
        doing({"do": "set_assignee", "round_robin": ""}),
        "actions[0].round_robin",
        "1 to 200",
    ),
    ("tags empty", doing({"do": "add_tags", "tags": []}), "actions[0].tags", "1 to 20 tags"),
    (
        "tags too many",
        doing({"do": "remove_tags", "tags": [f"t{n}" for n in range(21)]}),
        "actions[0].tags",
        "1 to 20 tags",
    ),
    ("tags not a list", doing({"do": "add_tags", "tags": "vip"}), "actions[0].tags", "list"),
    ("tag not text", doing({"do": "add_tags", "tags": ["vip", 1]}), "actions[0].tags[1]", "a tag is text"),
    ("tag with a comma", doing({"do": "add_tags", "tags": ["a,b"]}), "actions[0].tags[0]", "not a tag"),
    ("set_field no key", doing({"do": "set_field", "value": 1}), "actions[0].key", "set_field needs key"),
    (
        "set_field unknown key",
        doing({"do": "set_field", "key": "nope", "value": 1}),
        "actions[0].key",
        "os, platforms, seats",
    ),
    (
        "set_field bad number",
        doing({"do": "set_field", "key": "seats", "value": "ten"}),
        "actions[0].value",
        "expected a number",
    ),
    (
        "set_field bad date",
        doing({"do": "set_field", "key": "renewal", "value": "soon"}),
        "actions[0].value",
        "not a date",
    ),
    (
        "set_field bad choice",
        doing({"do": "set_field", "key": "os", "value": "BeOS"}),
        "actions[0].value",
        "Mac, Windows",
    ),
    (
        "set_field set not list",
        doing({"do": "set_field", "key": "platforms", "value": "ios"}),
        "actions[0].value",
        "non-empty list",
    ),
    (
        "set_field set bad member",
        doing({"do": "set_field", "key": "platforms", "value": ["ios", "tv"]}),
        "actions[0].value[1]",
        "ios, android, web",
    ),
    ("add_note missing", doing({"do": "add_note"}), "actions[0].text", "add_note needs text"),
    ("add_note blank", doing({"do": "add_note", "text": "  "}), "actions[0].text", "1 to 10000"),
    ("add_note too long", doing({"do": "add_note", "text": "x" * 10_001}), "actions[0].text", "1 to 10000"),
    (
        "send_email no to",
        doing({"do": "send_email", "template": "escalation"}),
        "actions[0].to",
        "requester, assignee, team, followers",
    ),
    (
        "send_email bad to",
        doing({"do": "send_email", "to": "manager", "template": "escalation"}),
        "actions[0].to",
        "or an email address",
    ),
    (
        "send_email no template",
        doing({"do": "send_email", "to": "requester"}),
        "actions[0].template",
        "email/<name>.txt.j2",
    ),
    (
        "send_email path template",
        doing({"do": "send_email", "to": "requester", "template": "../secrets"}),
        "actions[0].template",
        "not a template name",
    ),
    (
        "send_email partial",
        doing({"do": "send_email", "to": "requester", "template": "_footer"}),
        "actions[0].template",
        "not a template name",
    ),
    (
        "send_slack bad to",
        doing({"do": "send_slack", "to": "email", "template": "escalated"}),
        "actions[0].to",
        "thread, channel, dm",
    ),
    (
        "send_slack no channel",
        doing({"do": "send_slack", "to": "channel", "template": "escalated"}),
        "actions[0].channel",
        "Slack channel id",
    ),
    (
        "send_slack bad channel",
        doing({"do": "send_slack", "to": "channel", "channel": "#support", "template": "escalated"}),
        "actions[0].channel",
        "not a Slack channel id",
    ),
    (
        "send_slack channel for dm",
        doing(
            {"do": "send_slack", "to": "dm", "person": "a@b.c", "channel": "C123", "template": "escalated"}
        ),
        "actions[0].channel",
        "only fits to: channel",
    ),
    (
        "send_slack no person",
        doing({"do": "send_slack", "to": "dm", "template": "escalated"}),
        "actions[0].person",
        "email of the person",
    ),
    (
        "send_slack no template",
        doing({"do": "send_slack", "to": "thread"}),
        "actions[0].template",
        "slack/<name>.md.j2",
    ),
    (
        "call_webhook text id",
        doing({"do": "call_webhook", "subscription": "3"}),
        "actions[0].subscription",
        "id (a number)",
    ),
    (
        "call_webhook zero",
        doing({"do": "call_webhook", "subscription": 0}),
        "actions[0].subscription",
        "id (a number)",
    ),
    ("escalate no reason", doing({"do": "escalate"}), "actions[0].reason", "escalate needs reason"),
    (
        "escalate long reason",
        doing({"do": "escalate", "reason": "x" * 1001}),
        "actions[0].reason",
        "1 to 1000",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "words"), [case[1:] for case in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refusals_name_the_part_at_fault(data: Any, field: str, words: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_rule(data, fields=FIELDS)
    assert refused.value.field == (field or None)
    assert words in refused.value.message
    if field:  # the message says where too, for a CLI or a file's author
        assert refused.value.message.startswith(field.split(".")[0].split("[")[0])
