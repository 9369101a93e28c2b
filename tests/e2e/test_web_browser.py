"""The web desk in a real headless Chromium against the real ``supportbot serve``.

The server runs as ``make run`` runs it (its own data folder, SQLite or a fresh
PostgreSQL schema, mail to the outbox folder), on a desk seeded before it starts.
Each person has a browser context of their own; sign-in links are read from the
``.eml`` files the outbox writes, as a person would read their mail. What is checked is
what the page shows and does (``window`` state for script injection), not only the HTML
the server sent.
"""

from __future__ import annotations

import email
import json
import re
import smtplib
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.clock import SystemClock
from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store import migrate
from bot.store.db import Store
from tests.e2e.browser import chromium, playwright, screenshot  # noqa: F401 (fixtures)
from tests.e2e.process import clean_environment, supportbot
from tests.e2e.test_serve import Server, serving, wait_for
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.ports import free_port

AGENT = "ann@support.test"
ADMIN = "boss@support.test"
OTHER_AGENT = "bo@support.test"
REQUESTER = "rita@customer.test"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"https?://\S+/signin/link/[A-Za-z0-9_-]+")
WAIT_MS = 15_000

pytestmark = pytest.mark.slow
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def desk_server(request: pytest.FixtureRequest, tmp_path: Path, provider: OidcProvider) -> Iterator[Server]:
    port = free_port()
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(port),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
        "SUPPORTBOT_OUTBOX_INTERVAL_SECONDS": "1",
        "SUPPORTBOT_WEB_LIVE_POLL_MS": "250",
        "SUPPORTBOT_WEB_OIDC_ISSUER": provider.issuer,
        "SUPPORTBOT_WEB_OIDC_CLIENT_ID": CLIENT_ID,
        "SUPPORTBOT_WEB_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "SUPPORTBOT_WEB_OIDC_NAME": "Example SSO",
        "SUPPORTBOT_WEB_OIDC_AGENT_DOMAINS": "support.test",
    }
    if request.param == "postgresql":
        env["SUPPORTBOT_DATABASE_URL"] = request.getfixturevalue("empty_schema")
    seed(load(None, env))
    with serving(env, tmp_path) as started:
        yield started


def seed(settings: Settings) -> None:
    """The desk the tests start from, written before the server starts (in this process: the
    CLI's own commands are tested elsewhere, and eight of them cost ten seconds a test)."""
    store = Store(settings.database_url)
    try:
        migrate.upgrade(store)
        desk = Desk(store, SystemClock(), settings)
        console = Actor.console()
        desk.add_team(console, "Ops")
        for address, name in ((AGENT, "Ann Agent"), (OTHER_AGENT, "Bo Agent")):
            desk.add_person(console, address, name=name, role=Role.AGENT, team="Ops")
            desk.set_password(console, address, PASSWORD)
        desk.add_person(console, ADMIN, name="Bea Boss", role=Role.ADMIN)
        desk.set_password(console, ADMIN, PASSWORD)
        desk.define_field(console, "order", "Order number", "text")
        desk.add_category(console, "Hardware", team="Ops")
        desk.add_category(console, "Hardware/Printers")
    finally:
        store.dispose()


@pytest.fixture
def person(chromium: Browser, desk_server: Server) -> Iterator[Callable[[], Page]]:  # noqa: F811
    """A new browser context (its own cookies) and page per call: one per person."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = chromium.new_context(base_url=desk_server.url, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def outbox_mail(server: Server, template: str, to: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted((server.data_dir / "outbox").glob(f"*-{template}.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if to in str(message["To"]):
            found.append(message)
    return found  # type: ignore[return-value]


def sign_in_by_link(page: Page, server: Server, address: str) -> None:
    """As a requester does it: ask, read the mail, open the link, press the button."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.fill("#link-email", address)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.locator("[role=status]")).to_contain_text("on its way")
    mails = wait_for(
        lambda: outbox_mail(server, "sign_in_link", address) or None,
        seconds=15,
        what=f"a sign-in link for {address} in the outbox",
        server=server,
    )
    body = mails[-1].get_body(preferencelist=("plain",))
    assert body is not None
    link = LINK.search(body.get_content())
    assert link, body.get_content()
    page.goto(link.group(0))
    page.get_by_role("button", name="Sign in").click()


def sign_in_with_password(page: Page, address: str) -> None:
    page.goto("/signin")
    page.locator("summary").click()
    page.fill("#pw-email", address)
    page.fill("#pw-password", PASSWORD)
    page.locator("form[action='/signin/password'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/desk"))


def open_ticket_as_requester(page: Page, subject: str) -> str:
    page.get_by_role("navigation").get_by_role("link", name="New ticket").click()
    page.fill("#subject", subject)
    page.fill("#description", "The printer on floor 3 prints blank pages.")
    page.fill("#f-order", "A-1234")
    page.select_option("#category", "Hardware/Printers")
    page.set_input_files(
        "#files", files=[{"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"order A-1234\n" * 10}]
    )
    page.get_by_role("button", name="Open ticket").click()
    expect(page.locator("h1")).to_contain_text(subject)
    number = re.search(r"/tickets/([A-Z]+-\d+)", page.url)
    assert number, page.url
    return number.group(1)


def test_a_requester_and_an_agent_work_a_ticket_in_the_browser(
    desk_server: Server, person: Callable[[], Page], tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    rita = person()
    sign_in_by_link(rita, desk_server, REQUESTER)
    expect(rita).to_have_url(desk_server.url + "/")
    number = open_ticket_as_requester(rita, "Printer prints blank pages")
    expect(rita.locator("body")).to_contain_text("A-1234")
    expect(rita.get_by_role("link", name="receipt.txt")).to_be_visible()
    rita.goto("/")
    expect(rita.locator("body")).to_contain_text("Printer prints blank pages")
    screenshot(rita, shots, "portal")
    rita.get_by_role("link", name="Printer prints blank pages").click()
    rita.fill("#reply-body", "It also smells of toner.")
    rita.get_by_role("button", name="Send reply").click()
    expect(rita.locator("body")).to_contain_text("It also smells of toner.")

    ann = person()
    sign_in_with_password(ann, AGENT)
    ann.get_by_role("link", name=re.compile("^All open")).click()
    expect(ann.locator("[data-nav-item]").first).to_contain_text("Printer prints blank pages")
    screenshot(ann, shots, "queue")
    # The keyboard: the first row is selected; Enter opens it, r replies, n writes a note.
    ann.keyboard.press("j")
    ann.keyboard.press("k")
    ann.keyboard.press("Enter")
    expect(ann).to_have_url(re.compile(rf"/desk/tickets/{number}$"))
    ann.keyboard.press("r")
    expect(ann.locator("#reply-body")).to_be_focused()
    ann.keyboard.type("Please switch it off and on again.")
    ann.locator("#reply-body").press("Tab")
    ann.get_by_role("button", name="Send reply").click()
    expect(ann.locator("body")).to_contain_text("Please switch it off and on again.")
    ann.keyboard.press("n")
    expect(ann.locator("#note-body")).to_be_focused()
    ann.keyboard.type("Toner smell: check the fuser before Monday.")
    ann.get_by_role("button", name="Add internal note").click()
    expect(ann.locator(".comment.internal")).to_contain_text("check the fuser")
    ann.select_option("#assignee", AGENT)
    ann.get_by_role("button", name="Assign", exact=True).click()
    expect(ann.locator("body")).to_contain_text("Ann")
    ann.select_option("#status", "waiting_customer")
    ann.get_by_role("button", name="Set status").click()
    expect(ann.locator("body")).to_contain_text("waiting")
    screenshot(ann, shots, "ticket")

    # The requester's open page shows the answer without a reload, and never the note.
    expect(rita.locator("body")).to_contain_text("Please switch it off and on again.", timeout=WAIT_MS)
    assert "check the fuser" not in rita.content()
    # ... and the answer reaches them by email too.
    wait_for(
        lambda: outbox_mail(desk_server, "agent_replied", REQUESTER) or None,
        seconds=15,
        what="the agent's reply mailed to the requester",
        server=desk_server,
    )
    ann.goto("/dashboard")
    expect(ann.locator("svg").first).to_be_visible()
    screenshot(ann, shots, "dashboard", whole=True)


def test_two_agents_on_one_ticket_see_each_others_changes(
    desk_server: Server, person: Callable[[], Page]
) -> None:
    mail_ticket(desk_server, "Laptop will not boot", "It beeps three times.")
    ann, bo = person(), person()
    sign_in_with_password(ann, AGENT)
    sign_in_with_password(bo, OTHER_AGENT)
    ann.goto("/desk/tickets/SUP-1")
    bo.goto("/desk/tickets/SUP-1")
    bo.fill("#reply-body", "Which model is it?")  # Bo starts writing ...
    ann.fill("#reply-body", "Three beeps is the memory: reseat it.")
    ann.get_by_role("button", name="Send reply").click()
    # ... Ann's reply appears on Bo's page without a reload, and Bo's draft is still there.
    expect(bo.locator("body")).to_contain_text("Three beeps is the memory", timeout=WAIT_MS)
    expect(bo.locator("#reply-body")).to_have_value("Which model is it?")
    bo.get_by_role("button", name="Send reply").click()
    # Bo's reply, written against the older state, is kept, and the page says what changed.
    expect(bo.locator("body")).to_contain_text("Which model is it?")
    expect(bo.locator("div.changed-banner")).to_contain_text("Ann Agent replied")
    expect(ann.locator("body")).to_contain_text("Which model is it?", timeout=WAIT_MS)


def mail_ticket(server: Server, subject: str, text: str, html: str | None = None) -> None:
    message = email.message.EmailMessage()
    message["From"] = f"Rita <{REQUESTER}>"
    message["To"] = "support@localhost"
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", int(server.env["SUPPORTBOT_SMTP_PORT"]), timeout=30) as client:
        client.send_message(message)


def test_hostile_content_is_inert_and_forged_or_foreign_requests_change_nothing(
    desk_server: Server, person: Callable[[], Page]
) -> None:
    mail_ticket(
        desk_server,
        "<script>window.__xss = 1</script>Help",
        "See the picture.",
        html=(
            '<p>See the picture.</p><img src="x" onerror="window.__xss = 2"><script>window.__xss = 3</script>'
        ),
    )
    mail_ticket(desk_server, "Someone else's ticket", "Private.")  # SUP-2, Rita's too
    supportbot(
        desk_server.env, "tickets", "create", "--subject", "Zed's secret", "--requester", "zed@else.test"
    )

    ann = person()
    sign_in_with_password(ann, AGENT)
    ann.goto("/desk/tickets/SUP-1")
    expect(ann.locator("h1")).to_contain_text("<script>window.__xss = 1</script>Help")
    assert ann.evaluate("window.__xss") is None
    ann.goto("/desk")
    assert ann.evaluate("window.__xss") is None
    # A state change posted without the page's CSRF token is refused and changes nothing.
    status = ann.evaluate(
        """async () => (await fetch('/desk/tickets/SUP-1/status', {method: 'POST',
            headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'status=closed'})).status"""
    )
    assert status == 403
    shown = supportbot(desk_server.env, "tickets", "show", "SUP-1", "--format", "json")
    assert json.loads(shown.stdout)["status"] == "open"

    rita = person()
    sign_in_by_link(rita, desk_server, REQUESTER)
    rita.goto("/tickets/SUP-1")
    expect(rita.locator("h1")).to_contain_text("<script>")
    assert rita.evaluate("window.__xss") is None
    # Another requester's ticket, the agents' pages and the queue's live stream: not found.
    for path in ("/tickets/SUP-3", "/desk/tickets/SUP-1", "/desk", "/live/queue", "/tickets/SUP-99"):
        answer = rita.goto(path)
        assert answer is not None and answer.status == 404, path
    assert "Zed's secret" not in rita.content()


def test_an_agent_signs_in_through_single_sign_on_and_a_tampered_token_is_refused(
    desk_server: Server, person: Callable[[], Page], provider: OidcProvider
) -> None:
    provider.sign_in_as("new.agent@support.test", name="New Agent")
    page = person()
    page.goto("/signin")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page).to_have_url(re.compile(r"/desk"))
    expect(page.locator("header")).to_contain_text("new.agent@support.test")

    other = person()
    provider.claims = {"nonce": "not-the-one-we-sent"}
    other.goto("/signin")
    other.get_by_role("link", name="Sign in with Example SSO").click()
    expect(other.locator("body")).to_contain_text("nonce")
    other.goto("/desk")
    expect(other).to_have_url(re.compile(r"/signin"))


VPN_RULE = """{
  "name": "VPN trouble to Ops, high",
  "trigger": {"on": "ticket_created"},
  "conditions": {"all": [{"field": "text", "op": "contains", "value": ["vpn", "remote access"]}]},
  "actions": [
    {"do": "set_team", "value": "Ops"},
    {"do": "set_priority", "value": "high"},
    {"do": "add_tags", "tags": ["vpn"]}
  ]
}"""
REMINDER_RULE = """{
  "name": "Remind the requester after 3 days waiting",
  "mode": "dry_run",
  "trigger": {"on": "time", "since": "status_changed", "after": "3d"},
  "conditions": {"all": [{"field": "status", "op": "is", "value": "waiting_customer"}]},
  "actions": [{"do": "send_email", "to": "requester", "template": "automation_reminder"}]
}"""
PRINTER_RULE = """{
  "name": "Printers: tag and note",
  "trigger": {"on": "comment_added", "author": "requester"},
  "conditions": {"all": [{"field": "category", "op": "is", "value": "Hardware/Printers"}]},
  "actions": [{"do": "add_tags", "tags": ["printer"]}, {"do": "add_note", "text": "Check the toner first."}]
}"""
BAD_RULE = VPN_RULE.replace('"op": "contains"', '"op": "gt"').replace('"field": "text"', '"field": "status"')


def add_rule_in_the_form(page: Page, rule: str) -> None:
    page.get_by_role("link", name="New rule").click()
    page.fill("#rule", rule)
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("[role=status]")).to_contain_text("Rule added.")


def test_an_admin_writes_tries_and_watches_automation_rules_in_the_browser(
    desk_server: Server, person: Callable[[], Page], tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    boss = person()
    sign_in_with_password(boss, ADMIN)
    boss.get_by_role("navigation").get_by_role("link", name="Admin").click()
    boss.get_by_role("link", name="Automations").first.click()
    expect(boss.locator("h2")).to_contain_text("Automation rules")
    for rule in (VPN_RULE, REMINDER_RULE, PRINTER_RULE):
        add_rule_in_the_form(boss, rule)
    mail_ticket(desk_server, "VPN drops every few minutes", "Since this morning the VPN drops.")
    boss.reload()
    row = boss.locator("tr", has_text="VPN trouble to Ops")
    expect(row).to_contain_text("applied 1")
    row.get_by_role("button", name="Disable").click()
    expect(boss.locator("[role=status]")).to_contain_text("Rule disabled.")
    boss.locator("tr", has_text="VPN trouble to Ops").get_by_role("button", name="Enable").click()
    expect(boss.locator("[role=status]")).to_contain_text("Rule enabled.")
    screenshot(boss, shots, "automations")

    # The log says what the rule did to the ticket.
    boss.get_by_role("link", name="Log", exact=True).first.click()
    expect(boss.locator("tbody")).to_contain_text("SUP-1")
    expect(boss.locator("tbody")).to_contain_text("Ops")

    # A rule refused names its part at fault beside what was typed; trying one writes nothing.
    boss.goto("/admin/automations")
    boss.locator("tr", has_text="VPN trouble to Ops").get_by_role("link", name="Edit").click()
    boss.fill("#rule", BAD_RULE)
    boss.get_by_role("button", name="Save rule").click()
    expect(boss.locator("#rule-error")).to_contain_text("conditions.all[0].op")
    expect(boss.locator("#rule")).to_have_value(BAD_RULE)
    boss.screenshot(path=str(shots / "automation_refused.png"), full_page=True)  # not kept in docs/
    boss.fill("#rule", VPN_RULE.replace('"high"', '"urgent"'))
    boss.get_by_role("button", name="Try it").click()
    expect(boss.locator("#results")).to_contain_text("Nothing was written")
    expect(boss.locator("#results")).to_contain_text("high")
    expect(boss.locator("#results")).to_contain_text("urgent")
    shown = supportbot(desk_server.env, "tickets", "show", "SUP-1", "--format", "json")
    assert json.loads(shown.stdout)["priority"] == "high"
