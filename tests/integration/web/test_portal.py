"""The requesters' portal over real HTTP: opening a ticket with fields and files, following
it, replying, resolving; what a requester never sees (internal notes, others' tickets)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.config.settings import AttachmentSettings, Settings, load
from bot.desk.facade import Desk
from bot.messages import IncomingFile
from bot.model import Actor, Status
from bot.store import tables as t
from bot.store.db import Store
from channels.http.api import create_app
from channels.web.app import web_routes
from tests.fakes import FakeClock
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff
from tests.live_http import LiveServer

RITA = "rita@customer.test"
MAX_BYTES = 4000


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    """Small attachment limits, so a file over them is a few kilobytes."""
    loaded = load(None, environ)
    return replace(loaded, attachments=AttachmentSettings(max_bytes=MAX_BYTES, max_total_bytes=6000))


@pytest.fixture
def form_setup(desk: Desk, admin: Actor) -> None:
    desk.add_category(admin, "Hardware")
    desk.add_category(admin, "Hardware/Laptop")
    desk.add_category(admin, "Access")
    desk.define_field(admin, "serial", "Serial number", "text", required=True)
    desk.define_field(admin, "seats", "Seats", "number", options={"min": 1, "max": 50})
    desk.define_field(admin, "os", "Operating system", "dropdown", options={"choices": ["Linux", "macOS"]})
    desk.define_field(admin, "since", "Since", "date")
    desk.define_field(admin, "apps", "Apps", "multiple_choice", options={"choices": ["Mail", "Chat", "VPN"]})


def signed_in(browser: Browser, store: Store, email: str = RITA) -> Browser:
    signed = sign_in_with_link(browser, store, email)
    assert signed.status_code == 303
    return browser


def open_ticket(
    browser: Browser, data: dict[str, Any], files: list[tuple[str, tuple[str, bytes, str]]] | None = None
) -> httpx.Response:
    """The new-ticket form filled in and sent, as a browser sends it (multipart, its key)."""
    page = browser.get("/new")
    assert page.status_code == 200
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    body = {"csrf": browser.csrf, "key": key.group(1), **data}
    return browser.post("/new", data=body, files=files or [("files", ("", b"", "application/octet-stream"))])


def reply(browser: Browser, number: str, body: str, files: Any = None) -> httpx.Response:
    page = browser.get(f"/tickets/{number}")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    data = {"csrf": browser.csrf, "key": key.group(1), "body": body}
    return browser.post(f"/tickets/{number}/reply", data=data, files=files or [("files", ("", b"", ""))])


def count(store: Store, table: Any, *where: Any) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_a_requester_opens_a_ticket_with_a_field_and_a_file_and_follows_it(
    browser: Browser, store: Store, desk: Desk, admin: Actor, form_setup: None
) -> None:
    signed_in(browser, store)
    assert browser.get("/").status_code == 200
    form = browser.get("/new").text
    assert "Serial number" in form and 'name="field.serial"' in form and "required" in form
    assert "Hardware / Laptop" in form and 'type="date"' in form and 'type="file"' in form
    assert 'name="priority"' in form  # requesters_choose_priority is on by default

    sent = open_ticket(
        browser,
        {
            "subject": "Laptop will not boot",
            "description": "It beeps three times.\nThen nothing.",
            "priority": "high",
            "category": "Hardware/Laptop",
            "field.serial": "SN-1234",
            "field.seats": "3",
            "field.os": "Linux",
            "field.apps": ["Mail", "VPN"],
        },
        files=[("files", ("beeps.txt", b"beep beep beep", "text/plain"))],
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/tickets/SUP-1"

    stored = desk.visible_ticket(admin, "SUP-1").ticket
    assert (stored.channel, stored.priority, stored.category) == ("web", "high", "Hardware/Laptop")
    assert stored.requester == RITA
    assert stored.custom_fields == {"serial": "SN-1234", "seats": 3, "os": "Linux", "apps": ["Mail", "VPN"]}
    # Acknowledged like any other new ticket: a notification for the requester in the outbox.
    acknowledged = (t.Notification.template == "ticket_opened", t.Notification.recipient == RITA)
    assert count(store, t.Notification, *acknowledged) == 1

    listed = browser.get("/").text
    assert "SUP-1" in listed and "Laptop will not boot" in listed and 'href="/tickets/SUP-1"' in listed
    assert "We aim to answer by <time datetime=" in listed

    page = browser.get("/tickets/SUP-1")
    assert page.status_code == 200
    assert "It beeps three times.\nThen nothing." in page.text  # line breaks kept, shown by CSS
    assert "SN-1234" in page.text and "Mail, VPN" in page.text and "Serial number" in page.text
    assert 'data-live="/live/ticket/SUP-1"' in page.text and "data-key-reply" in page.text
    link = re.search(r'href="(/tickets/SUP-1/files/\d+)"[^>]*>beeps.txt<', page.text)
    assert link is not None
    download = browser.get(link.group(1))
    assert download.status_code == 200 and download.content == b"beep beep beep"
    assert download.headers["content-disposition"].startswith('attachment; filename="beeps.txt"')
    assert download.headers["x-content-type-options"] == "nosniff"

    answered = reply(browser, "SUP-1", "It also smells of smoke.")
    assert answered.status_code == 303 and answered.headers["location"].startswith("/tickets/SUP-1#c")
    assert "It also smells of smoke." in browser.get("/tickets/SUP-1").text
    comments = desk.visible_ticket(admin, "SUP-1").comments
    assert (comments[-1].body, comments[-1].channel, comments[-1].public) == (
        "It also smells of smoke.",
        "web",
        True,
    )


def test_a_reply_carries_its_files_on_one_comment(
    browser: Browser, store: Store, desk: Desk, admin: Actor
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "Printer"})
    files = [("files", ("a.txt", b"first", "text/plain")), ("files", ("b.log", b"second", "text/plain"))]
    assert reply(browser, "SUP-1", "Both logs", files).status_code == 303
    last = desk.visible_ticket(admin, "SUP-1").comments[-1]
    assert last.body == "Both logs" and [a.filename for a in last.attachments] == ["a.txt", "b.log"]
    # Files alone make a reply too.
    assert reply(browser, "SUP-1", "", [("files", ("c.png", b"\x89PNG", "image/png"))]).status_code == 303
    assert desk.visible_ticket(admin, "SUP-1").comments[-1].body == "Attached c.png"
    # Over the limit: nothing written, the reason beside the files, the text kept.
    before = len(desk.visible_ticket(admin, "SUP-1").comments)
    big = reply(browser, "SUP-1", "A big one", [("files", ("big.bin", b"x" * (MAX_BYTES + 1), "x/y"))])
    assert (
        big.status_code == 422
        and "big.bin is larger than" in big.text
        and ">A big one</textarea>" in big.text
    )
    assert len(desk.visible_ticket(admin, "SUP-1").comments) == before


def test_an_agents_answer_shows_and_an_internal_note_never_does(
    browser: Browser, store: Store, desk: Desk, agent: Actor
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "VPN drops"})
    desk.comment(agent, "SUP-1", "Try the new profile, please.", public=True, channel="email")
    desk.comment(agent, "SUP-1", "SECRET: customer is on the old plan", public=False, channel="web")

    page = browser.get("/tickets/SUP-1").text
    fragment = browser.get("/tickets/SUP-1/conversation", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    for text in (page, fragment.text):
        assert "Try the new profile, please." in text
        assert "SECRET" not in text and "old plan" not in text
        assert 'hx-get="/tickets/SUP-1/conversation"' in text and 'hx-trigger="sb:changed from:body"' in text
    assert "<html" not in fragment.text and 'hx-swap-oob="true"' in fragment.text
    assert re.search(r'<span class="channel"[^>]*>email</span>', page)


def test_validation_errors_show_beside_the_fields_with_what_was_typed(
    browser: Browser, store: Store, form_setup: None
) -> None:
    signed_in(browser, store)
    refused = open_ticket(
        browser,
        {
            "subject": "   ",
            "description": "Typed <carefully>",
            "field.seats": "999",
            "field.os": "Windows",
            "field.since": "yesterday",
            "category": "Nowhere",
        },
    )
    assert refused.status_code == 422
    html = refused.text
    for name in ("subject", "field.serial", "field.seats", "field.os", "field.since", "category"):
        assert f'aria-invalid="true" aria-describedby="{name}-error"' in html, name
        assert f'<p class="field-error" id="{name}-error">' in html, name
    assert "This field is required." in html and "must be at most 50" in html
    assert "Typed &lt;carefully&gt;</textarea>" in html and 'value="999"' in html
    assert count(store, t.Ticket) == 0

    too_big = open_ticket(
        browser,
        {"subject": "Logs", "field.serial": "1"},
        [("files", ("huge.log", b"x" * (MAX_BYTES + 1), "text/plain"))],
    )
    assert too_big.status_code == 422 and "huge.log is larger than" in too_big.text
    together = [("files", (f"part{i}.log", b"x" * 3000, "text/plain")) for i in range(3)]
    too_many = open_ticket(browser, {"subject": "Logs", "field.serial": "1"}, together)
    assert too_many.status_code == 422 and "Together the files are larger than" in too_many.text
    assert count(store, t.Ticket) == 0


def test_a_double_submit_opens_one_ticket(browser: Browser, store: Store) -> None:
    signed_in(browser, store)
    page = browser.get("/new")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    body = {"csrf": browser.csrf, "key": key.group(1), "subject": "Twice"}
    first = browser.post("/new", data=body, files=[("files", ("", b"", ""))])
    second = browser.post("/new", data=body, files=[("files", ("", b"", ""))])
    assert first.headers["location"] == second.headers["location"] == "/tickets/SUP-1"
    assert count(store, t.Ticket) == 1

    page = browser.get("/tickets/SUP-1")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    sent = {"csrf": browser.csrf, "key": key.group(1), "body": "Any news?"}
    once = browser.post("/tickets/SUP-1/reply", data=sent, files=[("files", ("log.txt", b"1", "text/plain"))])
    twice = browser.post(
        "/tickets/SUP-1/reply", data=sent, files=[("files", ("log.txt", b"1", "text/plain"))]
    )
    assert once.headers["location"] == twice.headers["location"]
    assert count(store, t.Comment, t.Comment.body == "Any news?") == 1 and count(store, t.Attachment) == 1
    # The same page sent again after an edit (the back button) is asked to be sent once more.
    edited = browser.post("/tickets/SUP-1/reply", data={**sent, "body": "Any news at all?"})
    assert edited.status_code == 422 and "This form was sent before" in edited.text
    assert key.group(1) not in edited.text and "Any news at all?</textarea>" in edited.text


def test_another_requesters_ticket_is_answered_like_a_missing_one(
    browser: Browser, open_browser: Any, store: Store, desk: Desk, admin: Actor
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "Rita's private matter"})
    other = signed_in(open_browser(), store, "otto@elsewhere.test")
    other.get("/")
    theirs, missing = other.get("/tickets/SUP-1"), other.get("/tickets/SUP-999")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text.replace("SUP-1", "N") == missing.text.replace("SUP-999", "N")
    assert "private matter" not in theirs.text
    assert other.get("/tickets/SUP-1/conversation").status_code == 404
    assert other.get("/tickets/nonsense").status_code == 404
    assert "private matter" not in other.get("/").text
    file_id = _first_file_id(desk, admin, browser)
    assert other.get(f"/tickets/SUP-1/files/{file_id}").status_code == 404
    # Writing to it is refused the same way, and writes nothing.
    other.get("/")
    assert other.submit("/tickets/SUP-1/reply", {"body": "mine now", "key": "k" * 20}).status_code == 404
    assert other.submit("/tickets/SUP-1/status", {"status": "resolved"}).status_code == 404
    detail = desk.visible_ticket(admin, "SUP-1")
    assert detail.ticket.status == "open" and all("mine now" not in c.body for c in detail.comments)


def _first_file_id(desk: Desk, admin: Actor, browser: Browser) -> int:
    """A file on Rita's ticket, attached through her own page."""
    reply(browser, "SUP-1", "a file", [("files", ("note.txt", b"private", "text/plain"))])
    return desk.visible_ticket(admin, "SUP-1").comments[-1].attachments[0].id


def test_a_file_on_an_internal_note_is_not_the_requesters_to_download(
    browser: Browser, store: Store, desk: Desk, agent: Actor
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "Contract"})
    note = IncomingFile("pricing.pdf", "application/pdf", b"%PDF internal")
    stored = desk.attach_file(agent, "SUP-1", note, "our margins", public=False)
    page = browser.get("/tickets/SUP-1").text
    assert "pricing.pdf" not in page and "our margins" not in page
    assert browser.get(f"/tickets/SUP-1/files/{stored.id}").status_code == 404


def test_what_people_wrote_is_escaped(browser: Browser, store: Store, desk: Desk, agent: Actor) -> None:
    signed_in(browser, store)
    open_ticket(
        browser, {"subject": "<script>alert(1)</script>", "description": '<img src=x onerror="alert(2)">'}
    )
    desk.comment(agent, "SUP-1", "<b>bold?</b>", public=True)
    for path in ("/", "/tickets/SUP-1", "/tickets/SUP-1/conversation"):
        text = browser.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>bold" not in text, path
    page = browser.get("/tickets/SUP-1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold?&lt;/b&gt;" in page


def test_a_post_without_the_csrf_token_changes_nothing(
    browser: Browser, store: Store, desk: Desk, admin: Actor
) -> None:
    signed_in(browser, store)
    browser.get("/new")
    forged = browser.post("/new", data={"subject": "Forged"}, files=[("files", ("", b"", ""))])
    assert forged.status_code == 403 and count(store, t.Ticket) == 0
    open_ticket(browser, {"subject": "Real"})
    before = len(desk.visible_ticket(admin, "SUP-1").comments)
    assert browser.post("/tickets/SUP-1/reply", data={"body": "forged", "csrf": "0" * 40}).status_code == 403
    assert browser.post("/tickets/SUP-1/status", data={"status": "resolved"}).status_code == 403
    detail = desk.visible_ticket(admin, "SUP-1")
    assert len(detail.comments) == before and detail.ticket.status == "open"


def test_a_requester_resolves_and_reopens_their_ticket(
    browser: Browser, store: Store, desk: Desk, agent: Actor
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "Fixed itself"})
    desk.transition(agent, "SUP-1", Status.WAITING_CUSTOMER)
    page = browser.get("/tickets/SUP-1").text
    assert "Waiting for you" in page and 'value="resolved"' in page
    assert "Waiting for you" in browser.get("/").text

    assert browser.submit("/tickets/SUP-1/status", {"status": "resolved"}).status_code == 303
    page = browser.get("/tickets/SUP-1").text
    assert "Resolved. Not quite?" in page and 'value="open"' in page
    assert browser.submit("/tickets/SUP-1/status", {"status": "open"}).status_code == 303
    assert desk.visible_ticket(agent, "SUP-1").ticket.status == "open"
    # What the desk refuses a requester (moves that are the team's) is refused here too.
    browser.get("/tickets/SUP-1")
    refused = browser.submit("/tickets/SUP-1/status", {"status": "in_progress"})
    assert refused.status_code == 403 and desk.visible_ticket(agent, "SUP-1").ticket.status == "open"


def test_tickets_are_listed_newest_first_a_page_at_a_time(browser: Browser, store: Store) -> None:
    signed_in(browser, store)
    for n in range(27):
        open_ticket(browser, {"subject": f"Question {n}"})
    first = browser.get("/").text
    assert first.index("Question 26") < first.index("Question 25")
    assert "Question 1<" not in first and 'href="/?before=3"' in first
    rest = browser.get("/?before=3").text
    assert "Question 1<" in rest and "Question 0<" in rest and "Question 26" not in rest
    assert "Older tickets" not in rest


def test_who_is_not_a_requester_goes_elsewhere(
    browser: Browser, open_browser: Any, store: Store, desk: Desk
) -> None:
    assert browser.get("/").headers["location"] == "/signin"
    assert browser.get("/tickets/SUP-1").headers["location"].startswith("/signin?next=")
    staff(desk, "ann@support.test")
    agent = open_browser()
    sign_in_with_password(agent, "ann@support.test")
    assert agent.get("/").headers["location"] == "/desk"
    assert agent.get("/tickets/SUP-7").headers["location"] == "/desk/tickets/SUP-7"


def test_times_are_machine_readable_for_local_display(
    browser: Browser, store: Store, clock: FakeClock
) -> None:
    signed_in(browser, store)
    open_ticket(browser, {"subject": "When?"})
    page = browser.get("/tickets/SUP-1").text
    assert f'<time datetime="{clock.now().isoformat()}">' in page


@contextmanager
def served(desk: Desk) -> Iterator[Browser]:
    """The web desk of a desk with settings of its own, and a browser on it."""
    web = web_routes(desk, desk.settings)
    app = create_app(desk.store, web.routes, desk, limits=web.upload_paths)
    with LiveServer(app) as live, Browser(base_url=f"http://127.0.0.1:{live.port}", timeout=20) as browser:
        yield browser


def test_without_choosing_priority_the_form_offers_none(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    quiet = replace(settings, web=replace(settings.web, requesters_choose_priority=False))
    desk = Desk(store, clock, quiet)
    with served(desk) as browser:
        signed_in(browser, store)
        assert 'name="priority"' not in browser.get("/new").text
        assert open_ticket(browser, {"subject": "Urgent!!!", "priority": "urgent"}).status_code == 303
    assert desk.visible_ticket(Actor.console(), "SUP-1").ticket.priority == quiet.default_priority


def test_files_larger_than_an_ordinary_body_go_through_the_upload_forms(
    store: Store, clock: FakeClock, environ: dict[str, str]
) -> None:
    desk = Desk(store, clock, load(None, environ))  # the default limits: 25 MB a file
    big = b"x" * (3 * 1024 * 1024)  # over the server's 1 MiB limit for other bodies
    with served(desk) as browser:
        signed_in(browser, store)
        assert (
            open_ticket(browser, {"subject": "Dump"}, [("files", ("core.bin", big, "x/y"))]).status_code
            == 303
        )
        assert reply(browser, "SUP-1", "another", [("files", ("core2.bin", big, "x/y"))]).status_code == 303
        # Elsewhere the ordinary limit holds.
        assert (
            browser.submit("/tickets/SUP-1/status", {"status": "resolved", "pad": big.decode()}).status_code
            == 413
        )
    assert [
        a.size for c in desk.visible_ticket(Actor.console(), "SUP-1").comments for a in c.attachments
    ] == [
        len(big),
        len(big),
    ]


def test_a_file_declared_as_script_or_page_downloads_as_inert_bytes(browser: Browser, store: Store) -> None:
    signed_in(browser, store)
    files = [
        ("files", ("evil.js", b"window.__xss = 1", "text/javascript")),
        ("files", ("page.html", b"<script>alert(1)</script>", "text/html")),
    ]
    assert open_ticket(browser, {"subject": "Files"}, files).status_code == 303
    page = browser.get("/tickets/SUP-1").text
    for name in ("evil.js", "page.html"):
        link = re.search(rf'href="(/tickets/SUP-1/files/\d+)"[^>]*>{re.escape(name)}<', page)
        assert link is not None, name
        served = browser.get(link.group(1))
        assert served.headers["content-type"] == "application/octet-stream"
        assert served.headers["content-security-policy"].startswith("sandbox")
        assert served.headers["cross-origin-resource-policy"] == "same-origin"
