"""Suspended mail and banned senders in the web desk, over real HTTP: agents find held mail,
read it as text, download its source, release and delete it; admins keep the ban list;
requesters, strangers and forged forms are refused. Last, the same in a real Chromium."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import expect

from bot.config.channels import Mailbox
from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store.db import Store
from bot.tickets.held_mail import HeldFilter
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.e2e.browser import chromium, playwright, screenshot  # noqa: F401 (fixtures)
from tests.integration.api.test_held_api import fail, hold
from tests.integration.smtp_harness import Smtp
from tests.integration.web.conftest import PASSWORD, Browser, sign_in_with_link, sign_in_with_password, staff
from tests.live_http import LiveServer

AGENT = "ann@support.test"
ADMIN = "boss@support.test"
BASE = "/desk/suspended"
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture
def ann(desk: Desk, browser: Browser) -> Browser:
    """The browser, signed in as an agent."""
    staff(desk, AGENT)
    assert sign_in_with_password(browser, AGENT).status_code == 303
    return browser


@pytest.fixture
def boss(desk: Desk, browser: Browser) -> Browser:
    """The browser, signed in as an admin."""
    staff(desk, ADMIN, Role.ADMIN)
    assert sign_in_with_password(browser, ADMIN).status_code == 303
    return browser


def rows(page: httpx.Response) -> list[str]:
    """The subjects the list shows, in order."""
    return re.findall(r'<a href="/desk/suspended/\d+\?back=[^"]*">([^<]*)</a>', page.text)


def held_ids(desk: Desk, **chosen: object) -> list[int]:
    return [view.id for view in desk.suspended_mail(Actor.console(), HeldFilter(**chosen))]  # type: ignore[arg-type]


# -- the list ----------------------------------------------------------------------------------


def test_agents_find_held_mail_from_the_navigation_with_its_count(ann: Browser, desk: Desk) -> None:
    for n in range(3):
        hold(desk, f"Offer {n}", f"spammer{n}@example.net")
    fail(desk, "Broken invoice")

    queue = ann.get("/desk")
    assert re.search(r'href="/desk/suspended"[^>]*>Suspended mail<span class="count">4</span>', queue.text)
    page = ann.get(BASE)
    assert page.status_code == 200
    assert rows(page) == ["Broken invoice", "Offer 2", "Offer 1", "Offer 0"]
    assert 'aria-current="page">Suspended mail' in page.text  # the navigation says where we are
    for text in ("Spammer2", "&lt;spammer2@example.net&gt;", "X-Spam-Flag: YES", "Failed<span", "Spam<span"):
        assert text in page.text, text
    assert 'name="ids" value=' in page.text and 'value="release"' in page.text

    assert rows(ann.get(f"{BASE}?reason=failed")) == ["Broken invoice"]
    assert rows(ann.get(f"{BASE}?reason=spam&q=SPAMMER1")) == ["Offer 1"]
    assert "No suspended mail matches this search." in ann.get(f"{BASE}?q=nothing+like+it").text
    assert rows(ann.get(f"{BASE}?released=1")) == []
    # A reason or a page no list has is the list itself, not an error.
    assert rows(ann.get(f"{BASE}?reason=junk&before=x")) == rows(page)
    too_long = ann.get(f"{BASE}?q={'x' * 250}")
    assert too_long.status_code == 200  # cut to the search's limit, as the queue cuts its own


def test_the_list_pages_back_fifty_at_a_time(ann: Browser, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n:02}", f"spammer{n}@example.net") for n in range(52)]
    first = ann.get(BASE)
    assert len(rows(first)) == 50 and rows(first)[0] == "Offer 51"
    older = re.search(r'href="(/desk/suspended\?before=(\d+))" rel="next"', first.text)
    assert older and int(older.group(2)) == ids[2]
    second = ann.get(older.group(1))
    assert rows(second) == ["Offer 01", "Offer 00"] and 'rel="next"' not in second.text
    assert 'href="/desk/suspended">Newest</a>' in second.text


# -- one message -------------------------------------------------------------------------------


def test_a_message_is_shown_as_text_with_its_headers_and_its_source_downloads(
    ann: Browser, desk: Desk
) -> None:
    held = hold(desk, XSS, "eve@example.net", f"Hello {XSS}\nSecond line")

    page = ann.get(f"{BASE}/{held}?back=/desk/suspended%3Freason%3Dspam")
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img" not in page.text and "style=" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert re.search(r'<pre class="held-text">Hello &lt;script&gt;.*\nSecond line</pre>', page.text)
    assert 'href="/desk/suspended?reason=spam">Back to suspended mail' in page.text
    for header in ("From", "To", "Message-ID", "X-Spam-Flag"):
        assert f'<dt class="mono">{header}</dt>' in page.text, header
    assert f'href="/desk/suspended/{held}/source"' in page.text
    assert ann.get(f"{BASE}/{held}?back=//evil.test/").text.count('href="/desk/suspended">Back') == 1

    source = ann.get(f"{BASE}/{held}/source")
    assert source.status_code == 200
    assert source.headers["content-type"] == "application/octet-stream"  # never rendered here
    assert source.headers["content-disposition"].startswith(f'attachment; filename="suspended-{held}.eml"')
    assert source.headers["x-content-type-options"] == "nosniff"
    assert source.headers["content-security-policy"].startswith("sandbox")
    parsed = email.message_from_bytes(source.content, policy=policy.default)
    assert (parsed["Subject"], parsed["From"]) == (XSS, "eve@example.net")

    for path in (f"{BASE}/99999", f"{BASE}/99999/source", f"{BASE}/{2**40}", f"{BASE}/{2**40}/source"):
        assert ann.get(path).status_code == 404, path


# -- releasing and deleting --------------------------------------------------------------------


def test_ticked_messages_are_released_as_tickets_and_each_result_is_shown(
    ann: Browser, desk: Desk, store: Store
) -> None:
    first = hold(desk, "Printer on fire", "bob@example.com")
    second = hold(desk, "Winner")
    ann.get(BASE)

    done = ann.submit(f"{BASE}/act", {"action": "release", "ids": [str(first)], "back": f"{BASE}?q=printer"})

    assert done.status_code == 200
    assert "1 of 1 released." in done.text
    assert 'new ticket <a class="mono" href="/desk/tickets/SUP-1">SUP-1</a>' in done.text
    assert 'href="/desk/suspended?q=printer">Back to suspended mail' in done.text
    assert 'Suspended mail<span class="count">1</span>' in done.text  # counted again at once
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.subject == "Printer on fire"
    assert held_ids(desk) == [second]

    again = ann.submit(f"{BASE}/act", {"action": "release", "ids": [str(first), str(second), "99999"]})
    assert "1 of 3 released." in again.text
    assert "already released" in again.text and "no suspended message 99999" in again.text
    assert held_ids(desk) == []
    released = ann.get(f"{BASE}?released=1")
    assert rows(released) == ["Winner", "Printer on fire"] and "SUP-2" in released.text
    assert 'value="release"' not in released.text  # released mail can only be deleted


def test_ticked_messages_are_deleted_and_a_whole_search_only_when_confirmed(ann: Browser, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n}") for n in range(3)] + [hold(desk, "Cheap pills", "pills@example.net")]
    fail(desk, "Broken")
    ann.get(BASE)

    deleted = ann.submit(f"{BASE}/act", {"action": "delete", "ids": [str(ids[0]), str(ids[1])]})
    assert deleted.status_code == 200 and "2 messages deleted." in deleted.text
    assert len(held_ids(desk)) == 3

    for form, words in (
        ({"action": "delete"}, "Select at least one message."),
        ({"action": "delete", "ids": ["x"]}, "The selection names no message."),
        ({"action": "delete", "ids": [str(2**40)]}, "The selection names no message."),
        ({"action": "explode", "ids": [str(ids[2])]}, "Choose whether to release or delete"),
        ({"action": "delete", "ids": [str(n) for n in range(1, 102)]}, "at most 100 messages"),
    ):
        refused = ann.submit(f"{BASE}/act", form)
        assert refused.status_code == 422 and words in refused.text, form
    page = ann.get(f"{BASE}?q=offer")
    assert "Delete every held message this search selects" in page.text
    unconfirmed = ann.submit(f"{BASE}/delete-matching", {"q": "offer", "reason": ""})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm" in unconfirmed.text
    assert len(held_ids(desk)) == 3

    matching = ann.submit(f"{BASE}/delete-matching", {"q": "offer", "reason": "", "confirm": "yes"})
    assert "1 message deleted." in matching.text
    assert [view.subject for view in desk.suspended_mail(Actor.console())] == ["Broken", "Cheap pills"]
    by_reason = ann.submit(f"{BASE}/delete-matching", {"q": "", "reason": "failed", "confirm": "yes"})
    assert "1 message deleted." in by_reason.text
    bad = ann.submit(f"{BASE}/delete-matching", {"q": "", "reason": "junk", "confirm": "yes"})
    assert bad.status_code == 422 and "junk" in bad.text
    everything = ann.submit(f"{BASE}/delete-matching", {"q": "", "reason": "", "confirm": "yes"})
    assert "1 message deleted." in everything.text and held_ids(desk) == []


def test_a_form_without_its_csrf_token_changes_nothing(ann: Browser, desk: Desk) -> None:
    held = hold(desk)
    ann.get(BASE)
    for path, form in (
        (f"{BASE}/act", {"action": "release", "ids": str(held)}),
        (f"{BASE}/act", {"action": "delete", "ids": str(held)}),
        (f"{BASE}/delete-matching", {"confirm": "yes"}),
    ):
        assert ann.post(path, data=form).status_code == 403
        assert ann.post(path, data={**form, "csrf": "0" * 40}).status_code == 403
        forged = ann.post(path, data=form, headers={"x-csrf-token": "0" * 40})
        assert forged.status_code == 403
    assert held_ids(desk) == [held]


def test_requesters_get_no_such_page_and_strangers_are_sent_to_sign_in(
    browser: Browser, desk: Desk, store: Store, open_browser: Callable[[], Browser]
) -> None:
    held = hold(desk)
    sign_in_with_link(browser, store, "rita@customer.test")
    browser.get("/")
    assert 'href="/desk/suspended"' not in browser.get("/").text
    for path in (BASE, f"{BASE}/{held}", f"{BASE}/{held}/source"):
        assert browser.get(path).status_code == 404, path
    for path, form in (
        (f"{BASE}/act", {"action": "release", "ids": str(held)}),
        (f"{BASE}/delete-matching", {"confirm": "yes"}),
    ):
        assert browser.submit(path, form).status_code == 404, path
    stranger = open_browser()
    away = stranger.get(f"{BASE}/{held}")
    assert (
        away.status_code == 303 and away.headers["location"] == f"/signin?next=%2Fdesk%2Fsuspended%2F{held}"
    )
    assert stranger.submit(f"{BASE}/act", {"action": "delete", "ids": str(held)}).status_code == 303
    assert held_ids(desk) == [held]


# -- banned senders ----------------------------------------------------------------------------


def test_admins_ban_and_unban_senders_on_their_page(boss: Browser, desk: Desk) -> None:
    index = boss.get("/admin")
    assert 'href="/admin/bans"' in index.text and "Banned senders" in index.text
    page = boss.get("/admin/bans")
    assert page.status_code == 200 and "No banned senders." in page.text and "550 5.7.1" in page.text

    added = boss.submit("/admin/bans", {"pattern": "Eve@Example.COM", "note": f"phishing {XSS}"})
    assert added.status_code == 303 and added.headers["location"] == "/admin/bans?done=added"
    boss.submit("/admin/bans", {"pattern": "*.spam.test", "note": ""})
    listed = boss.get("/admin/bans?done=added")
    assert "Added." in listed.text and "eve@example.com" in listed.text and "spam.test" in listed.text
    assert "<script>" not in listed.text and "phishing &lt;script&gt;" in listed.text
    assert "style=" not in listed.text
    [eve, domain] = desk.bans(Actor.console())
    assert (eve.note, eve.created_by, domain.kind) == (f"phishing {XSS}", ADMIN, "domain")

    refused = boss.submit("/admin/bans", {"pattern": "not a pattern", "note": "kept"})
    assert refused.status_code == 422
    assert "is not an address or a domain" in refused.text
    assert 'value="not a pattern"' in refused.text and 'aria-invalid="true"' in refused.text
    taken = boss.submit("/admin/bans", {"pattern": "EVE@example.com"})
    assert taken.status_code == 422 and "already banned" in taken.text
    assert boss.submit("/admin/bans", {"pattern": "x" * 321}).status_code == 422

    removed = boss.submit(f"/admin/bans/{domain.id}/remove")
    assert removed.status_code == 303 and removed.headers["location"] == "/admin/bans?done=removed"
    assert [ban.pattern for ban in desk.bans(Actor.console())] == ["eve@example.com"]
    gone = boss.submit(f"/admin/bans/{domain.id}/remove")
    assert gone.status_code == 422 and "is not banned" in gone.text
    assert boss.submit(f"/admin/bans/{2**40}/remove").status_code == 404

    assert boss.post("/admin/bans", data={"pattern": "forged@example.com"}).status_code == 403
    assert boss.post(f"/admin/bans/{eve.id}/remove", data={"csrf": "0" * 40}).status_code == 403
    assert [ban.pattern for ban in desk.bans(Actor.console())] == ["eve@example.com"]


def test_agents_may_not_keep_the_ban_list(ann: Browser, desk: Desk) -> None:
    kept = desk.ban_sender(Actor.console(), "eve@example.com")
    assert ann.get("/admin/bans").status_code == 403
    assert ann.submit("/admin/bans", {"pattern": "x@example.com"}).status_code == 403
    assert ann.submit(f"/admin/bans/{kept.id}/remove").status_code == 403
    assert [ban.pattern for ban in desk.bans(Actor.console())] == ["eve@example.com"]


# -- in a real browser -------------------------------------------------------------------------


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(
        desk, (Mailbox("support@localhost"),), b"suspended-pages-secret", desk.settings.email
    )
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


SPAM = [
    ("Mila <mila@lottery.example>", "You have WON 1,000,000 EUR", "Claim your prize today."),
    ("Carol Jones <carol@example.org>", "Invoice 2026-031 question", "Where is my invoice for March?"),
    ("Pharmacy <deals@pills.example>", "Cheap pills, fast shipping", "Buy now."),
    ("Crypto Desk <news@coins.example>", "Double your bitcoin overnight", "Send 1 BTC, get 2 back."),
]


@pytest.mark.slow
def test_an_agent_releases_one_held_message_and_deletes_another_in_chromium(
    chromium: Chromium,  # noqa: F811
    server: LiveServer,
    smtp: Smtp,
    desk: Desk,
    tmp_path: Path,
) -> None:
    staff(desk, AGENT)
    for n, (sender, subject, body) in enumerate(SPAM):
        raw = (
            f"From: {sender}\r\nTo: support@localhost\r\nSubject: {subject}\r\n"
            f"Message-ID: <held-{n}@example.net>\r\n"
            "X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99,URIBL_BLACK\r\n"
            "X-Spam-Flag: YES\r\n\r\n"
            f"{body}\r\n"
        ).encode()
        address = sender.split("<")[1].rstrip(">")
        assert smtp.send(raw, sender=address) == (250, "2.0.0 Accepted")
    fail(desk, "Order 7731 cannot be stored")
    context = chromium.new_context(
        base_url=f"http://127.0.0.1:{server.port}", viewport={"width": 1280, "height": 860}
    )
    try:
        page = context.new_page()
        page.goto("/signin")
        page.locator("summary").click()
        page.fill("#pw-email", AGENT)
        page.fill("#pw-password", PASSWORD)
        page.locator("form[action='/signin/password'] button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/desk"))
        link = page.get_by_role("navigation").get_by_role("link", name=re.compile("^Suspended mail"))
        expect(link).to_contain_text("5")
        link.click()
        expect(page.locator("h1")).to_have_text("Suspended mail")
        expect(page.locator("table.list tbody tr")).to_have_count(5)
        screenshot(page, tmp_path / "screenshots", "suspended")

        page.locator("table.list tbody tr", has_text="Invoice 2026-031 question").get_by_role(
            "checkbox"
        ).check()
        page.get_by_role("button", name="Release").click()
        expect(page.locator("body")).to_contain_text("1 of 1 released.")
        page.get_by_role("link", name="SUP-1").click()
        expect(page.locator("h1")).to_contain_text("Invoice 2026-031 question")

        page.goto(BASE)
        expect(page.locator("table.list tbody tr")).to_have_count(4)
        row = page.locator("table.list tbody tr", has_text="Double your bitcoin overnight")
        row.get_by_role("checkbox").check()
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator("[role=status]")).to_have_text("1 message deleted.")
        page.get_by_role("link", name="Back to suspended mail").click()
        expect(page.locator("table.list tbody tr")).to_have_count(3)
        expect(page.locator("body")).not_to_contain_text("Double your bitcoin")

        page.get_by_role("link", name="Cheap pills, fast shipping").click()
        expect(page.locator("pre.held-text")).to_have_text(re.compile("Buy now."))
        expect(page.get_by_role("link", name=re.compile("Download the raw message"))).to_be_visible()
        page.screenshot(path=str(tmp_path / "screenshots" / "suspended_message.png"))  # not kept in docs/
    finally:
        context.close()
    assert [view.subject for view in desk.suspended_mail(Actor.console())] == [
        "Order 7731 cannot be stored",
        "Cheap pills, fast shipping",
        "You have WON 1,000,000 EUR",
    ]
