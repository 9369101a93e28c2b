"""The administration pages over real HTTP: each form changes what the API and the CLI see,
refusals come back beside their form, only admins get in, and no secret is ever shown."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import httpx
import pytest

from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.model import Role
from bot.store.db import Store
from channels.http.api import create_app
from channels.web.app import web_routes
from tests.fakes import FakeClock
from tests.integration.web.conftest import PASSWORD, Browser, sign_in_with_link, sign_in_with_password, staff
from tests.live_http import LiveServer

ADMIN = "boss@support.test"
SECTIONS = ("people", "teams", "categories", "fields", "sla", "routing", "webhooks", "tokens", "settings")


@pytest.fixture
def boss(desk: Desk, browser: Browser) -> Browser:
    """The browser, signed in as an admin."""
    staff(desk, ADMIN, Role.ADMIN)
    assert sign_in_with_password(browser, ADMIN).status_code == 303
    return browser


def done(response: httpx.Response, section: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(f"/admin/{section}?done=")


def test_an_admin_adds_a_person_and_a_new_role_ends_their_session(
    boss: Browser, desk: Desk, open_browser
) -> None:
    boss.get("/admin/people")
    added = boss.submit("/admin/people", {"email": "New@Support.test", "name": "Nia", "role": "agent"})
    done(added, "people")
    done(
        boss.submit(
            "/admin/people/password",
            {"email": "new@support.test", "password": PASSWORD, "password_again": PASSWORD},
        ),
        "people",
    )
    page = boss.get("/admin/people?done=added")
    assert "new@support.test" in page.text and "Added." in page.text
    # Nia signs in on her own browser and opens the dashboard.
    nia = open_browser()
    assert sign_in_with_password(nia, "new@support.test").status_code == 303
    assert nia.get("/dashboard").status_code == 200
    # The admin makes her a requester: her open session ends at once.
    edit = boss.get("/admin/people?edit=new@support.test")
    assert 'value="new@support.test"' in edit.text
    changed = boss.submit(
        "/admin/people/change", {"email": "new@support.test", "name": "", "role": "requester", "team": ""}
    )
    done(changed, "people")
    assert [p.role for p in desk.list_people() if p.email == "new@support.test"] == ["requester"]
    assert [p.name for p in desk.list_people() if p.email == "new@support.test"] == ["Nia"]  # kept
    after = nia.get("/dashboard")
    assert after.status_code == 303 and after.headers["location"].startswith("/signin")


def test_a_refused_person_shows_the_reason_beside_the_form_with_what_was_typed(
    boss: Browser, desk: Desk
) -> None:
    boss.get("/admin/people")
    refused = boss.submit("/admin/people", {"email": "sam@support.test", "name": "Sam", "team": "Nowhere"})
    assert refused.status_code == 422
    assert "no team named &#39;Nowhere&#39;" in refused.text
    assert 'value="sam@support.test"' in refused.text and 'value="Sam"' in refused.text
    mismatch = boss.submit(
        "/admin/people/password",
        {"email": ADMIN, "password": "one long password", "password_again": "another long one"},
    )
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    assert "one long password" not in mismatch.text  # a password is never put back
    assert all(p.email != "sam@support.test" for p in desk.list_people())


def test_an_admin_adds_teams_categories_and_custom_fields(boss: Browser, desk: Desk) -> None:
    boss.get("/admin/teams")
    done(boss.submit("/admin/teams", {"name": "Network"}), "teams")
    done(boss.submit("/admin/teams/lead", {"team": "Network", "email": ADMIN}), "teams")
    # What PostgreSQL would refuse (a NUL character, more than the column holds) is refused first.
    assert boss.submit("/admin/teams", {"name": "Net\x00work"}).status_code == 422
    assert boss.submit("/admin/teams", {"name": "N" * 201}).status_code == 422
    boss.get("/admin/categories")
    done(boss.submit("/admin/categories", {"path": "Network", "team": "Network"}), "categories")
    done(boss.submit("/admin/categories", {"path": "Network/VPN", "team": ""}), "categories")
    orphan = boss.submit("/admin/categories", {"path": "Printers/Toner", "team": ""})
    assert orphan.status_code == 422 and "no category" in orphan.text
    assert 'value="Printers/Toner"' in orphan.text
    assert [team["name"] for team in desk.list_teams()] == ["Network"]
    assert {(c["path"], c["team"]) for c in desk.list_categories()} == {
        ("Network", "Network"),
        ("Network/VPN", None),
    }
    assert "Network/VPN" in boss.get("/admin/categories").text

    boss.get("/admin/fields")
    field = {"key": "device", "label": "Device", "type": "dropdown", "choices": "Laptop\nPhone\n"}
    done(boss.submit("/admin/fields", field | {"required": "on"}), "fields")
    empty = boss.submit("/admin/fields", {"key": "os", "label": "OS", "type": "dropdown", "choices": ""})
    assert empty.status_code == 422 and "non-empty list of choices" in empty.text
    done(boss.submit("/admin/fields", {"key": "seats", "type": "number", "min": "1", "max": "500"}), "fields")
    fields = {row["key"]: row for row in desk.list_fields()}
    assert fields["device"]["options"] == {"choices": ["Laptop", "Phone"]} and fields["device"]["required"]
    assert fields["seats"]["options"] == {"min": 1, "max": 500}
    assert "os" not in fields


def test_an_admin_adds_changes_and_removes_an_sla_policy(boss: Browser, desk: Desk, admin) -> None:
    desk.add_category(admin, "Network")
    boss.get("/admin/sla")
    policy = {"category": "Network", "priority": "high", "first_response": "30m", "resolution": "4h"}
    done(boss.submit("/admin/sla", policy), "sla")
    bad = boss.submit("/admin/sla", policy | {"priority": "low", "resolution": "soon"})
    assert bad.status_code == 422 and 'value="soon"' in bad.text
    stored = [p for p in desk.sla_configuration(admin)["overrides"] if p["source"] == "api"]
    assert [(p["category"], p["priority"], p["resolution"]) for p in stored] == [("Network", "high", "4h")]
    policy_id = stored[0]["id"]
    edit = boss.get(f"/admin/sla/{policy_id}")
    assert edit.status_code == 200 and 'value="30m"' in edit.text
    done(boss.submit(f"/admin/sla/{policy_id}", policy | {"resolution": "8h"}), "sla")
    assert [p["resolution"] for p in desk.sla_configuration(admin)["overrides"] if p["id"] == policy_id] == [
        "8h"
    ]
    done(boss.submit(f"/admin/sla/{policy_id}/remove"), "sla")
    assert all(p["id"] != policy_id for p in desk.sla_configuration(admin)["overrides"])
    assert boss.get(f"/admin/sla/{policy_id}").status_code == 404
    assert boss.get("/admin/sla/99999999999").status_code == 404


def test_an_admin_adds_changes_and_removes_a_routing_rule(boss: Browser, desk: Desk, admin) -> None:
    desk.add_team(admin, "Network")
    boss.get("/admin/routing")
    rule = {
        "name": "VPN trouble",
        "enabled": "on",
        "keywords": "vpn\nremote access",
        "team": "Network",
        "priority": "high",
        "tags": "vpn, remote",
    }
    done(boss.submit("/admin/routing", rule), "routing")
    nothing = boss.submit("/admin/routing", {"name": "Empty", "enabled": "on"})
    assert nothing.status_code == 422 and "must set a team" in nothing.text
    [stored] = desk.list_routing_rules(admin)
    assert stored["conditions"]["keywords"] == ["vpn", "remote access"]
    assert stored["actions"] == {
        "team": "Network",
        "category": None,
        "priority": "high",
        "tags": ["remote", "vpn"],
    }
    edit = boss.get(f"/admin/routing/{stored['id']}")
    assert "remote access" in edit.text
    done(boss.submit(f"/admin/routing/{stored['id']}", rule | {"enabled": ""}), "routing")
    assert [r["enabled"] for r in desk.list_routing_rules(admin)] == [False]
    done(boss.submit(f"/admin/routing/{stored['id']}/remove"), "routing")
    assert desk.list_routing_rules(admin) == []


def test_an_admin_adds_and_removes_a_webhook_whose_secret_is_never_shown(
    boss: Browser, desk: Desk, admin
) -> None:
    secret = "s3cret-signing-key-0123456789"
    boss.get("/admin/webhooks")
    inside = boss.submit(
        "/admin/webhooks", {"url": "https://127.0.0.1/hook", "events": "ticket.created", "secret": secret}
    )
    assert inside.status_code == 422 and "private, loopback" in inside.text
    assert secret not in inside.text and 'value="https://127.0.0.1/hook"' in inside.text
    added = boss.post(
        "/admin/webhooks",
        data={
            "csrf": boss.csrf,
            "url": "https://hooks.example.com/supportbot",
            "events": ["ticket.created", "comment.added"],
            "priority": ["urgent"],
            "secret": secret,
        },
    )
    done(added, "webhooks")
    [hook] = desk.list_webhooks(admin)
    assert hook.events == ("ticket.created", "comment.added") and hook.priorities == ("urgent",)
    page = boss.get("/admin/webhooks")
    assert "https://hooks.example.com/supportbot" in page.text and secret not in page.text
    done(boss.submit(f"/admin/webhooks/{hook.id}/remove"), "webhooks")
    assert desk.list_webhooks(admin) == []


def test_a_new_token_is_shown_once_and_stops_working_when_revoked(boss: Browser, desk: Desk) -> None:
    boss.get("/admin/tokens")
    created = boss.submit("/admin/tokens", {"email": ADMIN, "name": "CI bot"})
    assert created.status_code == 200
    token = re.search(r'id="token-value">(sbt_[^<]+)<', created.text)
    assert token is not None
    api = {"authorization": f"Bearer {token.group(1)}"}
    assert boss.get("/api/v1/people", headers=api).status_code == 200
    listed = boss.get("/admin/tokens")
    assert token.group(1) not in listed.text and "CI bot" in listed.text
    [row] = desk.list_tokens()
    done(boss.submit(f"/admin/tokens/{row.id}/revoke"), "tokens")
    assert boss.get("/api/v1/people", headers=api).status_code == 401


def test_agents_and_requesters_are_refused_every_page_and_form(
    browser: Browser, desk: Desk, store: Store, open_browser
) -> None:
    staff(desk, "ann@support.test", Role.AGENT)
    sign_in_with_password(browser, "ann@support.test")
    browser.get("/desk")  # a page with this session's CSRF token
    assert browser.get("/admin").status_code == 403
    for section in SECTIONS:
        assert browser.get(f"/admin/{section}").status_code == 403, section
    assert browser.submit("/admin/people", {"email": "x@support.test", "role": "admin"}).status_code == 403
    assert browser.submit("/admin/teams", {"name": "Sneaky"}).status_code == 403
    requester = open_browser()
    sign_in_with_link(requester, store, "rita@customer.test")
    assert requester.get("/admin/people").status_code == 403
    assert requester.submit("/admin/teams", {"name": "Sneaky"}).status_code == 403
    assert all(p.email != "x@support.test" for p in desk.list_people()) and desk.list_teams() == []
    anonymous = open_browser()
    away = anonymous.get("/admin/teams")
    assert away.status_code == 303 and away.headers["location"] == "/signin?next=%2Fadmin%2Fteams"


def test_a_form_without_its_csrf_token_changes_nothing(boss: Browser, desk: Desk) -> None:
    boss.get("/admin/teams")
    assert boss.post("/admin/teams", data={"name": "Forged"}).status_code == 403
    assert boss.post("/admin/teams", data={"name": "Forged", "csrf": "0" * 40}).status_code == 403
    assert desk.list_teams() == []


def test_every_admin_page_renders_what_people_typed_inert_and_without_inline_styles(
    boss: Browser, desk: Desk, admin
) -> None:
    desk.add_team(admin, "<b>Team</b>")
    desk.add_category(admin, "<script>alert(1)", team="<b>Team</b>")
    desk.add_person(admin, "mal@support.test", name="<img src=x onerror=alert(1)>", role=Role.AGENT)
    for section in ("", *(f"/{s}" for s in SECTIONS)):
        page = boss.get(f"/admin{section}")
        assert page.status_code == 200, section
        assert "style=" not in page.text, section
        assert "<script>alert" not in page.text and "<img" not in page.text and "<b>" not in page.text
    assert "&lt;script&gt;alert(1)" in boss.get("/admin/categories").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in boss.get("/admin/people").text


SECRETS = {
    "bot_token": "xoxb-very-secret-bot-token",
    "signing_secret": "very-secret-signing-secret",
    "app_token": "xapp-very-secret-app-token",
}


@pytest.fixture
def secret_server(store: Store, clock: FakeClock, settings: Settings) -> Iterator[LiveServer]:
    """The web desk of a process whose settings hold secrets (Slack's, the reply addresses')."""
    configured = dataclasses.replace(
        settings,
        slack=dataclasses.replace(settings.slack, **SECRETS),
        email=dataclasses.replace(settings.email, reply_secret="very-secret-reply-key"),
        http=dataclasses.replace(settings.http, metrics_token="very-secret-metrics-token"),
    )
    desk = Desk(store, clock, configured)
    app = create_app(store, web_routes(desk, configured).routes, desk)
    with LiveServer(app) as live:
        yield live


def test_the_settings_page_never_shows_a_secret(secret_server: LiveServer, desk: Desk) -> None:
    staff(desk, ADMIN, Role.ADMIN)
    with Browser(base_url=f"http://127.0.0.1:{secret_server.port}", timeout=20) as boss:
        sign_in_with_password(boss, ADMIN)
        page = boss.get("/admin/settings")
        assert page.status_code == 200
        assert "slack.bot_token" in page.text and "email.reply_secret" in page.text
        assert page.text.count("********") >= 4
        for section in SECTIONS:
            text = boss.get(f"/admin/{section}").text
            assert "very-secret" not in text, section
