"""The automation rules' pages over real HTTP: a rule written in the form runs on the next
ticket, a refusal names the part at fault and stores nothing, trying a rule writes nothing,
the log shows what ran; agents read, only admins change, requesters are refused."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.rules.actions import ACTIONS
from bot.store.db import Store
from channels.web.automation_text import ACTION_HINTS, fragment, trigger_text
from tests.factories import make_ticket
from tests.fakes import FakeClock
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff

ADMIN = "boss@support.test"
AGENT = "ann@support.test"
BASE = "/admin/automations"
NETWORK_RULE = {
    "name": "VPN tickets to Network",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "subject", "op": "contains", "value": ["vpn"]}]},
    "actions": [{"do": "set_team", "value": "Network"}, {"do": "add_tags", "tags": ["vpn"]}],
}
URGENT_RULE = {
    "name": "Printers are urgent",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "text", "op": "contains", "value": "printer"}]},
    "actions": [{"do": "set_priority", "value": "urgent"}],
}


@pytest.fixture
def boss(desk: Desk, browser: Browser) -> Browser:
    """The browser, signed in as an admin."""
    staff(desk, ADMIN, Role.ADMIN)
    assert sign_in_with_password(browser, ADMIN).status_code == 303
    return browser


def done(response: httpx.Response, key: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{BASE}?done={key}"


def add(browser: Browser, rule: dict[str, Any]) -> None:
    browser.get(f"{BASE}/new")
    done(browser.submit(BASE, {"rule": json.dumps(rule)}), "added")


def textarea(page: httpx.Response) -> str:
    found = re.search(r'<textarea id="rule"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found, page.text
    return found.group(1)


def test_an_admin_adds_a_rule_in_the_form_and_the_next_ticket_is_placed_by_it(
    boss: Browser, desk: Desk, admin: Actor
) -> None:
    desk.add_team(admin, "Network")
    listed = boss.get(BASE)
    assert listed.status_code == 200 and 'href="/admin/automations/new"' in listed.text
    assert 'href="/admin/automations"' in boss.get("/admin").text  # in the admin navigation
    new = boss.get(f"{BASE}/new")
    assert new.status_code == 200
    # It starts from an example that stores as it is, and the reference comes from the catalogs.
    example = json.loads(textarea(new).replace("&#34;", '"'))
    assert example["mode"] == "dry_run" and example["actions"]
    for word in (
        "ticket_created",
        "hours_since_requester_reply",
        "changed_from",
        "round_robin",
        "send_slack",
    ):
        assert word in new.text, word

    done(boss.submit(BASE, {"rule": json.dumps(NETWORK_RULE)}), "added")
    [rule] = desk.list_automations(admin)
    assert (rule["name"], rule["mode"], rule["enabled"]) == ("VPN tickets to Network", "live", True)
    page = boss.get(f"{BASE}?done=added")
    assert "Rule added." in page.text and "VPN tickets to Network" in page.text
    assert "ticket created" in page.text and "set_team, add_tags" in page.text

    number = make_ticket(desk, subject="VPN down since this morning")
    ticket = desk.visible_ticket(admin, number).ticket
    assert (ticket.team, ticket.tags) == ("Network", ("vpn",))
    assert desk.get_automation(admin, rule["id"])["runs"]["applied"] == 1
    assert "applied 1" in boss.get(BASE).text

    # Edited: the stored rule is in the textarea; saved changed, it runs as changed.
    edit = boss.get(f"{BASE}/{rule['id']}")
    assert json.loads(textarea(edit).replace("&#34;", '"'))["name"] == "VPN tickets to Network"
    changed = NETWORK_RULE | {"name": "VPN to Network, urgent", "stop": True}
    changed["actions"] = [*NETWORK_RULE["actions"], {"do": "set_priority", "value": "urgent"}]
    done(boss.submit(f"{BASE}/{rule['id']}", {"rule": json.dumps(changed)}), "changed")
    second = make_ticket(desk, subject="VPN again")
    assert desk.visible_ticket(admin, second).ticket.priority == "urgent"
    assert desk.get_automation(admin, rule["id"])["position"] == rule["position"]  # kept its place


def test_a_refused_rule_names_the_part_at_fault_keeps_what_was_typed_and_stores_nothing(
    boss: Browser, desk: Desk, admin: Actor, snapshot: Callable[[], dict[str, int]]
) -> None:
    boss.get(f"{BASE}/new")
    before = snapshot()
    wrong_op = NETWORK_RULE | {"conditions": {"all": [{"field": "status", "op": "gt", "value": "open"}]}}
    refused = boss.submit(BASE, {"rule": json.dumps(wrong_op, indent=2)})
    assert refused.status_code == 422
    assert "conditions.all[0]: operator &#39;gt&#39; does not fit field &#39;status&#39;" in refused.text
    assert "<code>conditions.all[0].op</code>" in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert json.loads(textarea(refused).replace("&#34;", '"')) == wrong_op  # kept as typed
    # The part at fault is shown: the condition that holds it.
    assert "&#34;op&#34;: &#34;gt&#34;" in refused.text.split('<textarea id="rule"')[0]

    no_team = boss.submit(BASE, {"rule": json.dumps(NETWORK_RULE)})  # no team "Network" yet
    assert no_team.status_code == 422 and "<code>actions[0].value</code>" in no_team.text
    assert "no team named &#39;Network&#39;" in no_team.text

    not_json = boss.submit(BASE, {"rule": '{"name": "Half a rule",\n  "trigger": '})
    assert not_json.status_code == 422 and "this is not JSON" in not_json.text
    assert "line 2" in not_json.text and "Half a rule" in not_json.text
    assert boss.submit(BASE, {"rule": "[1, 2]"}).status_code == 422
    assert boss.submit(BASE, {"rule": "1" * 5000}).status_code == 422
    assert boss.submit(BASE, {"rule": "[" * 100_000}).status_code == 422
    assert desk.list_automations(admin) == [] and snapshot() == before

    # A refused change leaves the stored rule as it was.
    desk.add_team(admin, "Network")
    add(boss, NETWORK_RULE)
    [rule] = desk.list_automations(admin)
    broken = NETWORK_RULE | {"trigger": {"on": "time", "since": "created", "after": "forever"}}
    refused = boss.submit(f"{BASE}/{rule['id']}", {"rule": json.dumps(broken)})
    assert refused.status_code == 422 and "<code>trigger.after</code>" in refused.text
    assert "Save rule" in refused.text  # still the edit form of that rule
    assert desk.get_automation(admin, rule["id"])["trigger"] == {"on": "ticket_created"}


def test_an_admin_disables_enables_switches_to_dry_run_and_removes_a_rule(
    boss: Browser, desk: Desk, admin: Actor
) -> None:
    add(boss, URGENT_RULE)
    [rule] = desk.list_automations(admin)
    path = f"{BASE}/{rule['id']}"
    boss.get(BASE)
    done(boss.submit(f"{path}/enabled", {"enabled": "false"}), "disabled")
    assert desk.get_automation(admin, rule["id"])["enabled"] is False
    number = make_ticket(desk, subject="Printer jam")
    assert desk.visible_ticket(admin, number).ticket.priority != "urgent"
    done(boss.submit(f"{path}/enabled", {"enabled": "true"}), "enabled")
    done(boss.submit(f"{path}/mode", {"mode": "dry_run"}), "dry_run")
    assert "dry-run" in boss.get(f"{BASE}?done=dry_run").text
    dry = make_ticket(desk, subject="Printer smoke")
    assert desk.visible_ticket(admin, dry).ticket.priority != "urgent"  # only logged
    assert desk.get_automation(admin, rule["id"])["runs"]["dry_run"] == 1
    done(boss.submit(f"{path}/mode", {"mode": "live"}), "live")
    assert desk.get_automation(admin, rule["id"])["mode"] == "live"
    assert boss.submit(f"{path}/mode", {"mode": "sometimes"}).status_code == 422
    assert boss.submit(f"{path}/enabled", {"enabled": "maybe"}).status_code == 422
    assert desk.get_automation(admin, rule["id"])["mode"] == "live"

    confirm = boss.get(f"{path}/remove")
    assert confirm.status_code == 200 and "Remove rule Printers are urgent?" in confirm.text
    assert len(desk.list_automations(admin)) == 1  # asking is not removing
    done(boss.submit(f"{path}/remove"), "removed")
    assert desk.list_automations(admin) == []
    assert boss.get(path).status_code == 404
    assert boss.submit(f"{path}/enabled", {"enabled": "true"}).status_code == 404
    assert boss.get(f"{BASE}/99999999999").status_code == 404
    # What it did stays on record.
    assert "Printers are urgent" in boss.get(f"{BASE}/log").text


def test_trying_a_rule_shows_what_it_would_change_and_writes_nothing(
    boss: Browser, desk: Desk, admin: Actor, clock: FakeClock, snapshot: Callable[[], dict[str, int]]
) -> None:
    number = make_ticket(desk, subject="Printer on fire")
    make_ticket(desk, subject="Password reset", text="I forgot it.")
    clock.advance(hours=1)
    boss.get(f"{BASE}/new")
    before = snapshot()
    tried = boss.submit(f"{BASE}/test", {"rule": json.dumps(URGENT_RULE), "since": "30d"})
    assert tried.status_code == 200, tried.text
    assert "Nothing was written" in tried.text and "1 match" in tried.text
    assert f'href="/desk/tickets/{number}"' in tried.text
    assert '<span class="before">medium</span> → <span class="after">urgent</span>' in tried.text
    assert json.loads(textarea(tried).replace("&#34;", '"')) == URGENT_RULE  # to go on editing
    assert snapshot() == before
    assert desk.visible_ticket(admin, number).ticket.priority == "medium"
    assert desk.list_automations(admin) == [] and desk.automation_log(admin) == []

    # The filters narrow the tickets tried; a window that is not a duration is refused.
    narrowed = boss.submit(
        f"{BASE}/test", {"rule": json.dumps(URGENT_RULE), "since": "30d", "status": "closed"}
    )
    assert narrowed.status_code == 200 and "0 matches" in narrowed.text
    bad = boss.submit(f"{BASE}/test", {"rule": json.dumps(URGENT_RULE), "since": "a while"})
    assert bad.status_code == 422 and "is neither a duration like 30d nor an ISO date" in bad.text
    refused = boss.submit(f"{BASE}/test", {"rule": json.dumps(URGENT_RULE | {"actions": []})})
    assert refused.status_code == 422 and "<code>actions</code>" in refused.text
    assert "Nothing was tried" in refused.text

    # A stored rule is tried from its own page (a GET form), in dry-run or not.
    add(boss, URGENT_RULE | {"mode": "dry_run"})
    [rule] = desk.list_automations(admin)
    stored = boss.get(f"{BASE}/{rule['id']}/test?since=7d")
    assert stored.status_code == 200 and f"/desk/tickets/{number}" in stored.text and "1 match" in stored.text
    assert boss.get(f"{BASE}/{rule['id']}/test?since=10y").status_code == 422
    assert desk.visible_ticket(admin, number).ticket.priority == "medium"
    assert desk.automation_log(admin) == []


def test_the_log_shows_each_run_newest_first_filtered_and_paged(
    boss: Browser, desk: Desk, admin: Actor
) -> None:
    desk.add_team(admin, "Network")
    add(boss, NETWORK_RULE)
    add(boss, URGENT_RULE | {"mode": "dry_run"})
    network, urgent = desk.list_automations(admin)
    vpn = make_ticket(desk, subject="VPN down", text="It drops every minute.")
    printer = make_ticket(desk, subject="Printer jam")
    log = boss.get(f"{BASE}/log")
    assert log.status_code == 200
    rows = log.text.split("<tbody>")[1]
    assert rows.index(printer) < rows.index(vpn)  # newest first
    assert "dry-run" in rows and "applied" in rows
    assert '<span class="before">(none)</span> → <span class="after">Network</span>' in rows
    assert f'href="/desk/tickets/{vpn}"' in rows

    only = boss.get(f"{BASE}/log?outcome=dry_run").text.split("<tbody>")[1]
    assert printer in only and vpn not in only
    by_rule = boss.get(f"{BASE}/log?rule={network['id']}").text.split("<tbody>")[1]
    assert vpn in by_rule and printer not in by_rule
    by_ticket = boss.get(f"{BASE}/log?ticket={printer}").text.split("<tbody>")[1]
    assert printer in by_ticket and vpn not in by_ticket
    assert boss.get(f"{BASE}/log?outcome=exploded").status_code == 422
    assert boss.get(f"{BASE}/log?rule=abc").status_code == 422
    assert boss.get(f"{BASE}/log?ticket=nonsense").status_code == 422

    # A page holds 50 runs; "Older runs" pages back by the last one's id.
    for index in range(50):
        make_ticket(desk, subject=f"Printer {index}", email=f"c{index}@example.com")  # no flood
    first = boss.get(f"{BASE}/log?rule={urgent['id']}")
    older = re.search(r'href="(/admin/automations/log\?[^"]+)">Older runs', first.text)
    assert older, first.text
    second = boss.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and f">{printer}<" in second.text and "Older runs" not in second.text
    assert "Newest" in second.text
    assert f">{printer}<" not in first.text


def test_an_agent_reads_the_rules_tries_them_and_reads_the_log_but_changes_nothing(
    browser: Browser, desk: Desk, admin: Actor
) -> None:
    desk.add_automation(admin, URGENT_RULE)
    [rule] = desk.list_automations(admin)
    number = make_ticket(desk, subject="Printer jam")
    staff(desk, AGENT, Role.AGENT)
    sign_in_with_password(browser, AGENT)
    listed = browser.get(BASE)
    assert listed.status_code == 200 and "Printers are urgent" in listed.text
    assert 'href="/admin/automations"' in browser.get("/desk").text  # in their navigation
    for hidden in ("New rule", "Disable", "Dry-run", "Remove", "/admin/people"):
        assert hidden not in listed.text, hidden
    tried = browser.get(f"{BASE}/{rule['id']}/test")
    assert tried.status_code == 200 and "Nothing was written" in tried.text
    assert "Edit" not in tried.text
    typed = browser.submit(f"{BASE}/test", {"rule": json.dumps(URGENT_RULE), "since": "30d"})
    assert typed.status_code == 200 and "Save rule" not in typed.text and "Add rule" not in typed.text
    log = browser.get(f"{BASE}/log")
    assert log.status_code == 200 and number in log.text
    for path in (f"{BASE}/new", f"{BASE}/{rule['id']}", f"{BASE}/{rule['id']}/remove"):
        assert browser.get(path).status_code == 403, path
    assert browser.submit(BASE, {"rule": json.dumps(NETWORK_RULE)}).status_code == 403
    assert browser.submit(f"{BASE}/{rule['id']}/enabled", {"enabled": "false"}).status_code == 403
    assert browser.submit(f"{BASE}/{rule['id']}/mode", {"mode": "dry_run"}).status_code == 403
    assert browser.submit(f"{BASE}/{rule['id']}/remove").status_code == 403
    assert browser.submit(f"{BASE}/{rule['id']}", {"rule": json.dumps(NETWORK_RULE)}).status_code == 403
    [after] = desk.list_automations(admin)
    assert (after["name"], after["enabled"], after["mode"]) == ("Printers are urgent", True, "live")


def test_a_requester_is_refused_like_on_every_administration_page(
    browser: Browser, desk: Desk, store: Store, admin: Actor, open_browser
) -> None:
    desk.add_automation(admin, URGENT_RULE)
    [rule] = desk.list_automations(admin)
    sign_in_with_link(browser, store, "rita@customer.test")
    assert browser.get("/admin/people").status_code == 403  # what the other pages answer
    for path in (BASE, f"{BASE}/log", f"{BASE}/new", f"{BASE}/{rule['id']}", f"{BASE}/{rule['id']}/test"):
        page = browser.get(path)
        assert page.status_code == 403 and "Printers are urgent" not in page.text, path
    assert browser.submit(f"{BASE}/test", {"rule": json.dumps(URGENT_RULE)}).status_code == 403
    assert browser.submit(f"{BASE}/{rule['id']}/enabled", {"enabled": "false"}).status_code == 403
    assert desk.get_automation(admin, rule["id"])["enabled"] is True
    anonymous = open_browser()
    away = anonymous.get(f"{BASE}/log")
    assert away.status_code == 303 and away.headers["location"] == "/signin?next=%2Fadmin%2Fautomations%2Flog"


def test_a_form_without_its_csrf_token_changes_nothing(boss: Browser, desk: Desk, admin: Actor) -> None:
    desk.add_automation(admin, URGENT_RULE)
    [rule] = desk.list_automations(admin)
    boss.get(BASE)
    path = f"{BASE}/{rule['id']}"
    forged = {"rule": json.dumps(NETWORK_RULE | {"actions": [{"do": "add_tags", "tags": ["x"]}]})}
    for url, data in (
        (BASE, forged),
        (path, forged),
        (f"{path}/enabled", {"enabled": "false"}),
        (f"{path}/mode", {"mode": "dry_run"}),
        (f"{path}/remove", {}),
        (f"{BASE}/test", forged),
    ):
        assert boss.post(url, data=data).status_code == 403, url
        assert boss.post(url, data={**data, "csrf": "0" * 40}).status_code == 403, url
    [after] = desk.list_automations(admin)
    assert (after["name"], after["enabled"], after["mode"]) == ("Printers are urgent", True, "live")


def test_what_people_typed_is_shown_inert_and_no_page_has_inline_styles(
    boss: Browser, desk: Desk, admin: Actor
) -> None:
    hostile = "<script>alert(1)</script>"
    desk.add_automation(
        admin,
        URGENT_RULE
        | {
            "name": f"{hostile} rule",
            "actions": [{"do": "add_note", "text": f"<img src=x onerror=alert(2)> {hostile}"}],
        },
    )
    [rule] = desk.list_automations(admin)
    make_ticket(desk, subject=f"Printer {hostile}")
    pages = [
        boss.get(BASE),
        boss.get(f"{BASE}/{rule['id']}"),
        boss.get(f"{BASE}/{rule['id']}/test"),
        boss.get(f"{BASE}/{rule['id']}/remove"),
        boss.get(f"{BASE}/log"),
        boss.get(f"{BASE}/log?ticket={hostile}"),
        boss.submit(BASE, {"rule": json.dumps({"name": hostile, "trigger": {"on": hostile}})}),
        boss.submit(f"{BASE}/test", {"rule": hostile}),
    ]
    for page in pages:
        assert page.status_code in (200, 422), page.url
        assert "<script>alert" not in page.text and "<img" not in page.text, page.url
        assert "style=" not in page.text, page.url
    assert "&lt;script&gt;alert(1)&lt;/script&gt; rule" in pages[0].text
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[2].text  # the note it would add


def test_the_pages_explain_rules_from_the_cores_catalogs() -> None:
    assert set(ACTION_HINTS) == set(ACTIONS)
    assert trigger_text({"on": "time", "since": "status_changed", "after": "3d", "business_hours": True}) == (
        "3d after status changed (business hours)"
    )
    assert trigger_text({"on": "ticket_updated", "field": "priority", "to": "urgent"}) == (
        "ticket updated (priority) to urgent"
    )
    rule = {"conditions": {"all": [{"field": "status", "op": "gt"}]}, "name": "x"}
    assert json.loads(fragment(rule, "conditions.all[0].op") or "") == {"field": "status", "op": "gt"}
    assert fragment(rule, "name") is None and fragment(rule, None) is None
    assert json.loads(fragment(rule, "conditions.all[3].op") or "") == [{"field": "status", "op": "gt"}]
