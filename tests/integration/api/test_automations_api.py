"""Automation rules over the API: admins keep them, staff read and try them, and the log
shows what they did."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest

from bot.automation.runs import OUTCOMES
from bot.desk.facade import Desk
from channels.http.automations_routes import Outcome
from tests.fakes import FakeClock
from tests.integration.api.conftest import World

API = "/api/v1"
PRINTERS: dict[str, Any] = {
    "name": "Printers are urgent",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "subject", "op": "contains", "value": "printer"}]},
    "actions": [{"do": "add_tags", "tags": ["printer"]}, {"do": "set_priority", "value": "high"}],
}


def add(world: World, rule: dict[str, Any], who: str = "admin") -> dict[str, Any]:
    response = world.client.post(f"{API}/automations", json=rule, headers=world.headers(who))
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def listed(world: World) -> list[dict[str, Any]]:
    response = world.client.get(f"{API}/automations", headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def try_rule(world: World, body: dict[str, Any], who: str = "agent") -> dict[str, Any]:
    response = world.client.post(f"{API}/automations/test", json=body, headers=world.headers(who))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def log(world: World, query: str = "", path: str = "/automations/log") -> dict[str, Any]:
    response = world.client.get(f"{API}{path}{query}", headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def ticket(world: World, number: str) -> dict[str, Any]:
    response = world.client.get(f"{API}/tickets/{number}", headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["ticket"]
    return found


def create(world: World, subject: str) -> str:
    body = {"subject": subject, "requester": "rita@customer.test"}
    response = world.client.post(f"{API}/tickets", json=body, headers=world.headers("agent"))
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


# -- keeping rules -------------------------------------------------------------------------


def test_a_rule_is_added_read_replaced_patched_and_removed(world: World) -> None:
    added = add(world, PRINTERS)
    rule_id = added["id"]
    assert {key: added[key] for key in added if key not in ("id", "created_at", "updated_at")} == {
        "name": "Printers are urgent",
        "position": 10,
        "enabled": True,
        "mode": "live",
        "stop": False,
        "trigger": {"on": "ticket_created"},
        "conditions": {"all": [{"field": "subject", "op": "contains", "value": "printer"}], "any": []},
        "actions": [{"do": "add_tags", "tags": ["printer"]}, {"do": "set_priority", "value": "high"}],
        "match_all": False,
        "runs": {"applied": 0, "dry_run": 0, "failed": 0, "skipped": 0},
        "problem": None,
    }
    assert listed(world) == [added]
    one = world.client.get(f"{API}/automations/{rule_id}", headers=world.headers("agent"))
    assert one.status_code == 200 and one.json() == added

    second = add(world, PRINTERS | {"name": "Second", "stop": True})
    assert second["position"] == 20  # after the others
    replaced = world.client.put(
        f"{API}/automations/{rule_id}",
        json=PRINTERS | {"name": "Printers, renamed", "actions": [{"do": "set_priority", "value": "urgent"}]},
        headers=world.headers("admin"),
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["position"]) == ("Printers, renamed", 10)
    assert replaced.json()["actions"] == [{"do": "set_priority", "value": "urgent"}]

    admin = world.headers("admin")
    for change, expected in (
        ({"enabled": False}, ("enabled", False)),
        ({"mode": "dry_run"}, ("mode", "dry_run")),
        ({"position": 30}, ("position", 30)),
        ({"enabled": True, "mode": "live"}, ("mode", "live")),
    ):
        patched = world.client.patch(f"{API}/automations/{rule_id}", json=change, headers=admin)
        assert patched.status_code == 200, patched.text
        assert patched.json()[expected[0]] == expected[1]
        assert patched.json()["name"] == "Printers, renamed"  # the rest kept
    assert [rule["name"] for rule in listed(world)] == ["Second", "Printers, renamed"]  # moved after

    empty = world.client.patch(f"{API}/automations/{rule_id}", json={}, headers=admin)
    assert (empty.status_code, empty.json()["error"]["field"]) == (422, "body")
    removed = world.client.delete(f"{API}/automations/{rule_id}", headers=admin)
    assert removed.status_code == 200 and removed.json()["name"] == "Printers, renamed"
    assert [rule["id"] for rule in listed(world)] == [second["id"]]
    for method in ("get", "delete"):
        assert getattr(world.client, method)(f"{API}/automations/{rule_id}", headers=admin).status_code == 404
    assert world.client.put(f"{API}/automations/{rule_id}", json=PRINTERS, headers=admin).status_code == 404
    missing = world.client.patch(f"{API}/automations/{rule_id}", json={"enabled": True}, headers=admin)
    assert missing.status_code == 404


def _with(**parts: Any) -> dict[str, Any]:
    return PRINTERS | parts


def _condition(**condition: Any) -> dict[str, Any]:
    return _with(conditions={"all": [condition]})


def _action(**action: Any) -> dict[str, Any]:
    return _with(actions=[{"do": "add_tags", "tags": ["x"]}, action])


UPDATED = {
    "trigger": {"on": "ticket_updated"},
    "conditions": {},
    "actions": [{"do": "add_tags", "tags": ["x"]}],
}


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (_with(colour="red"), "colour", "unknown key"),
        (_with(trigger={"on": "ticket_created", "when": "now"}), "trigger.when", "does not fit"),
        (_with(trigger={"on": "tuesday"}), "trigger.on", "tuesday"),
        (_condition(field="colour", op="is", value="red"), "conditions.all[0].field", "colour"),
        (_condition(field="status", op="gt", value="open"), "conditions.all[0].op", "gt"),
        (_condition(field="tags", op="starts_with", value="a"), "conditions.all[0].op", "starts_with"),
        (_condition(field="hours_since_created", op="gt", value="soon"), "conditions.all[0].value", ""),
        (_condition(field="priority", op="is", value="asap"), "conditions.all[0].value", "asap"),
        (_condition(field="status", op="in", value="open"), "conditions.all[0].value", ""),
        (_condition(field="subject", op="matches", value="(unclosed"), "conditions.all[0].value", ""),
        (_condition(field="subject", op="matches", value=r"(a)\1"), "conditions.all[0].value", ""),
        (_condition(field="subject", op="matches", value="a" * 501), "conditions.all[0].value", "500"),
        (_with(actions=[]), "actions", "1 or more"),
        (_action(do="explode"), "actions[1].do", "explode"),
        (_action(do="set_assignee", person="nobody@support.test"), "actions[1].person", "nobody"),
        (_action(do="set_team", value="Nowhere"), "actions[1].value", "Nowhere"),
        (_action(do="send_email", to="requester", template="nope"), "actions[1].template", "nope"),
        (_action(do="send_slack", to="dm", person="x@y.test", template="gone"), "actions[1].template", ""),
        (_action(do="set_field", key="nope", value=1), "actions[1].key", "nope"),
        (_action(do="call_webhook", subscription=99), "actions[1].subscription", "99"),
        (PRINTERS | UPDATED, "match_all", "match_all"),
        (_with(trigger={"on": "comment_added"}, conditions={"any": []}), "match_all", "match_all"),
        (_with(name=""), "name", "name"),
        (_with(mode="maybe"), "mode", "maybe"),
        (_with(position=-1), "position", "position"),
        (_with(name="Nul\x00"), "name", "NUL"),
        (_with(actions=[{"do": "add_note", "text": "a\x00b"}]), "actions[0].text", "NUL"),
    ],
    ids=lambda value: str(value)[:50] if isinstance(value, str) else None,
)
def test_a_bad_rule_is_refused_naming_the_part_at_fault_and_nothing_is_stored(
    world: World, rule: dict[str, Any], field: str, words: str
) -> None:
    kept = add(world, PRINTERS | {"name": "Kept"})
    admin = world.headers("admin")
    for method, url in (("post", f"{API}/automations"), ("put", f"{API}/automations/{kept['id']}")):
        response = getattr(world.client, method)(url, json=rule, headers=admin)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == field
        # The message begins with the rule, condition or action at fault: "actions[1] (set_team): ..."
        assert error["message"].startswith(field.split("].")[0]) and words in error["message"]
    assert listed(world) == [kept]
    tried = world.client.post(f"{API}/automations/test", json={"rule": rule}, headers=admin)
    assert (tried.status_code, tried.json()["error"]["field"]) == (422, field)


def test_an_update_rule_without_conditions_is_stored_when_match_all_confirms_it(world: World) -> None:
    added = add(world, PRINTERS | UPDATED | {"match_all": True})
    assert (added["trigger"], added["match_all"]) == ({"on": "ticket_updated"}, True)


def test_requesters_may_not_see_rules_and_agents_may_read_and_try_but_not_change_them(world: World) -> None:
    rule = add(world, PRINTERS)
    url = f"{API}/automations/{rule['id']}"
    reads = [
        ("get", f"{API}/automations", None),
        ("get", url, None),
        ("get", f"{API}/automations/log", None),
        ("get", f"{url}/log", None),
        ("post", f"{API}/automations/test", {"rule_id": rule["id"]}),
        ("post", f"{API}/automations/test", {"rule": PRINTERS}),
    ]
    writes = [
        ("post", f"{API}/automations", PRINTERS),
        ("put", url, PRINTERS | {"name": "Taken over"}),
        ("patch", url, {"enabled": False}),
        ("delete", url, None),
    ]
    for method, path, body in reads + writes:
        kwargs = {"json": body} if body is not None else {}
        as_requester = getattr(world.client, method)(path, headers=world.headers("requester"), **kwargs)
        assert as_requester.status_code == 403, (method, path, as_requester.text)
        assert world.client.request(method.upper(), path, **kwargs).status_code == 401
        as_agent = getattr(world.client, method)(path, headers=world.headers("agent"), **kwargs)
        assert as_agent.status_code == (200 if (method, path, body) in reads else 403), (method, path)
        if as_agent.status_code == 403:
            assert "admin" in as_agent.json()["error"]["message"]
    assert listed(world) == [rule]


# -- trying rules --------------------------------------------------------------------------


def test_a_new_rule_is_tried_on_stored_tickets_and_nothing_is_written(world: World) -> None:
    before = ticket(world, world.own)
    report = try_rule(world, {"rule": PRINTERS})
    assert (report["examined"], report["matched"], report["truncated"]) == (2, 1, False)
    assert report["rule"]["name"] == "Printers are urgent"
    [match] = report["matches"]
    assert (match["ticket"], match["trigger"], match["note"]) == (world.own, "ticket_created", None)
    assert match["changes"] == [
        {"action": "add_tags", "field": "tags", "before": [], "after": ["printer"]},
        {"action": "set_priority", "field": "priority", "before": "medium", "after": "high"},
    ]
    assert ticket(world, world.own) == before
    assert listed(world) == []
    assert log(world)["items"] == []


def test_a_stored_rule_is_tried_by_its_id_even_when_disabled(world: World) -> None:
    rule = add(world, PRINTERS | {"enabled": False})
    report = try_rule(world, {"rule_id": rule["id"]})
    assert [match["ticket"] for match in report["matches"]] == [world.own]
    missing = world.client.post(
        f"{API}/automations/test", json={"rule_id": rule["id"] + 1}, headers=world.headers("agent")
    )
    assert missing.status_code == 404


def test_since_and_a_filter_narrow_the_tickets_tried(world: World, clock: FakeClock) -> None:
    either = PRINTERS | {
        "conditions": {
            "any": [
                {"field": "subject", "op": "contains", "value": "printer"},
                {"field": "subject", "op": "contains", "value": "vpn"},
            ]
        }
    }
    opened = clock.now()
    clock.advance(days=10)
    assert try_rule(world, {"rule": either})["matched"] == 2  # 30 days by default
    assert try_rule(world, {"rule": either, "since": "30d"})["matched"] == 2
    recent = try_rule(world, {"rule": either, "since": "1d"})
    assert (recent["examined"], recent["matched"], recent["since"]) == (
        0,
        0,
        (clock.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    )
    at = (opened - timedelta(hours=1)).isoformat()
    assert try_rule(world, {"rule": either, "since": at})["matched"] == 2
    later = (opened + timedelta(hours=1)).replace(tzinfo=None).isoformat()  # no offset: UTC
    assert try_rule(world, {"rule": either, "since": later})["matched"] == 0

    filtered = try_rule(world, {"rule": either, "filter": {"requester": "otto@other.test"}})
    assert (filtered["examined"], [m["ticket"] for m in filtered["matches"]]) == (1, [world.others])
    assert try_rule(world, {"rule": either, "filter": {"status": "closed"}})["examined"] == 0
    limited = try_rule(world, {"rule": either, "limit": 1})
    assert (limited["examined"], limited["truncated"]) == (1, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": PRINTERS, "since": "yesterday"}, "since"),
        ({"rule": PRINTERS, "since": "0m"}, "since"),
        ({"rule": PRINTERS, "since": "400d"}, "since"),
        ({"rule": PRINTERS, "rule_id": 1}, "rule"),
        ({}, "rule"),
        ({"rule": PRINTERS, "filter": {"colour": "red"}}, "filter.colour"),
        ({"rule": PRINTERS, "filter": {"priority": "asap"}}, None),
    ],
    ids=str,
)
def test_a_test_request_that_cannot_be_run_is_refused(
    world: World, body: dict[str, Any], field: str | None
) -> None:
    response = world.client.post(f"{API}/automations/test", json=body, headers=world.headers("agent"))
    assert response.status_code == 422, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field


# -- the log -------------------------------------------------------------------------------


def test_the_log_shows_what_a_rule_did_to_a_ticket_opened_over_the_api(world: World) -> None:
    rule = add(world, PRINTERS)
    other = add(world, PRINTERS | {"name": "Never", "conditions": {"all": [_never()]}})
    number = create(world, "Printer jam on floor 2")
    placed = ticket(world, number)
    assert (placed["tags"], placed["priority"]) == (["printer"], "high")

    [run] = log(world)["items"]
    assert {key: run[key] for key in run if key not in ("id", "at")} == {
        "rule_id": rule["id"],
        "rule": "Printers are urgent",
        "ticket": number,
        "trigger": "ticket_created",
        "outcome": "applied",
        "changes": [
            {"action": "add_tags", "field": "tags", "before": [], "after": ["printer"]},
            {"action": "set_priority", "field": "priority", "before": "medium", "after": "high"},
        ],
        "reason": None,
        "depth": 0,
        "subject": "Printer jam on floor 2",
    }
    assert log(world, path=f"/automations/{rule['id']}/log")["items"] == [run]
    assert log(world, path=f"/automations/{other['id']}/log") == {"items": [], "next": None}
    assert log(world, f"?ticket={number}")["items"] == [run]
    assert log(world, f"?ticket={world.own}")["items"] == []
    assert log(world, "?outcome=failed")["items"] == []
    assert log(world, f"?rule={rule['id']}&outcome=applied")["items"] == [run]
    counts = {view["name"]: view["runs"] for view in listed(world)}
    assert counts["Printers are urgent"] == {"applied": 1, "dry_run": 0, "failed": 0, "skipped": 0}

    bad = world.client.get(f"{API}/automations/log?outcome=maybe", headers=world.headers("agent"))
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "outcome")
    bad = world.client.get(f"{API}/automations/log?ticket=XYZ-1", headers=world.headers("agent"))
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "ticket")


def _never() -> dict[str, Any]:
    return {"field": "subject", "op": "contains", "value": "nothing-like-this"}


def test_the_log_pages_back_newest_first(world: World) -> None:
    add(world, PRINTERS)
    numbers = [create(world, f"Printer {n}") for n in range(3)]
    first = log(world, "?limit=2")
    assert [run["ticket"] for run in first["items"]] == numbers[:0:-1]
    assert first["next"] == first["items"][-1]["id"]
    rest = log(world, f"?limit=2&before={first['next']}")
    assert ([run["ticket"] for run in rest["items"]], rest["next"]) == ([numbers[0]], None)


def test_a_rule_disabled_runs_not_and_one_in_dry_run_only_logs(world: World, desk: Desk) -> None:
    rule = add(world, PRINTERS)
    admin = world.headers("admin")
    url = f"{API}/automations/{rule['id']}"
    assert world.client.patch(url, json={"enabled": False}, headers=admin).json()["enabled"] is False
    untouched = ticket(world, create(world, "Printer one"))
    assert (untouched["tags"], untouched["priority"]) == ([], "medium")
    assert log(world)["items"] == []

    patched = world.client.patch(url, json={"enabled": True, "mode": "dry_run"}, headers=admin).json()
    assert (patched["enabled"], patched["mode"]) == (True, "dry_run")
    number = create(world, "Printer two")
    tried = ticket(world, number)
    assert (tried["tags"], tried["priority"]) == ([], "medium")
    [run] = log(world)["items"]
    assert (run["ticket"], run["outcome"]) == (number, "dry_run")
    assert {"action": "set_priority", "field": "priority", "before": "medium", "after": "high"} in run[
        "changes"
    ]
    assert world.client.get(url, headers=admin).json()["runs"]["dry_run"] == 1

    world.client.patch(url, json={"mode": "live"}, headers=admin)
    assert ticket(world, create(world, "Printer three"))["priority"] == "high"
    assert [run["outcome"] for run in log(world)["items"]] == ["applied", "dry_run"]


def test_the_apis_outcomes_are_the_cores() -> None:
    assert get_args(Outcome) == OUTCOMES


def test_the_openapi_document_shows_the_endpoints_and_an_example_the_core_accepts(
    world: World, desk: Desk
) -> None:
    paths = world.client.get(f"{API}/openapi.json").json()["paths"]
    assert {path: set(methods) for path, methods in paths.items() if path.startswith("/automations")} == {
        "/automations": {"get", "post"},
        "/automations/test": {"post"},
        "/automations/log": {"get"},
        "/automations/{rule_id}": {"get", "put", "patch", "delete"},
        "/automations/{rule_id}/log": {"get"},
    }
    example = paths["/automations"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    desk.add_team(desk.actor(None), "Network")
    desk.add_category(desk.actor(None), "Network")
    assert add(world, example["route"]["value"])["trigger"] == {"on": "ticket_created"}
