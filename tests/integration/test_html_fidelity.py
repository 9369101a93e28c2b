"""HTML mail over real SMTP into both stores: what is kept reads as the sender's client showed
it, can run nothing, and its inline images are the stored attachments its cid: URLs name.

The corpus (tests/data/email/html_corpus, see its README) is mail as Outlook, Apple Mail,
Gmail, Thunderbird, a newsletter service and a report script write it, and twenty hostile
messages. What a reader sees and what could run are judged by tests/html_oracle.py, which
reads the messages with the standard library and html5lib, never with the channel's parsers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import html5lib
import pytest
from playwright.sync_api import Browser, Route
from sqlalchemy import select

from bot.config.settings import Mailbox
from bot.desk.facade import Desk
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store
from bot.store.files import FileStore
from channels.email.ingest import EmailIngest
from channels.email.smtp_server import SupportHandler
from tests.e2e.browser import chromium, playwright, screenshot  # noqa: F401 (fixtures)
from tests.html_oracle import (
    INERT_ELEMENTS,
    cid_of,
    cid_sources,
    dangers,
    differences,
    has_plain_alternative,
    html_body,
    missing,
    parse_fragment,
    parts_by_content_id,
    pre_texts,
    visible_text,
    without_plain,
    words,
)
from tests.integration.smtp_harness import Smtp

CORPUS = Path(__file__).resolve().parents[1] / "data" / "email" / "html_corpus"
LAID_OUT = sorted(CORPUS.glob("*.eml"))
HOSTILE = sorted((CORPUS / "xss").glob("*.eml"))
WITH_IMAGES = [path for path in LAID_OUT + HOSTILE if cid_sources(html_body(path.read_bytes()) or "")]
SECRET = b"html-fidelity-secret"


@pytest.fixture
def smtp(desk: Desk) -> Iterator[Smtp]:
    ingest = EmailIngest(desk, (Mailbox("support@localhost"),), SECRET)
    server = Smtp(SupportHandler(ingest))
    server.controller.start()
    yield server
    server.controller.stop()
    ingest.close()


@dataclass(frozen=True, slots=True)
class Kept:
    """A new ticket's first comment as stored, and its ticket's attachments."""

    number: str
    text: str
    html: str | None
    attachments: tuple[t.Attachment, ...]


def send(smtp: Smtp, desk: Desk, store: Store, raw: bytes) -> Kept:
    code, reply = smtp.send(raw)
    assert code == 250, reply
    number = reply.split()[-1]
    ticket_id = desk.visible_ticket(Actor.console(), number).ticket.id
    with store.read() as session:
        first = session.scalars(
            select(t.Comment).where(t.Comment.ticket_id == ticket_id).order_by(t.Comment.id)
        ).first()
        assert first is not None
        files = session.scalars(select(t.Attachment).where(t.Attachment.ticket_id == ticket_id)).all()
        session.expunge_all()
    # full_body is the whole message when the body kept only its new part.
    return Kept(number, first.full_body or first.body, first.html, tuple(files))


def name_of(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("path", LAID_OUT + HOSTILE, ids=name_of)
def test_the_stored_text_keeps_every_word_the_sender_s_client_shows(path, smtp, desk, store):
    raw = path.read_bytes()
    seen = words(visible_text(html_body(raw) or ""))
    assert seen, "the oracle found no visible text"
    html_only = without_plain(raw, f"<html-only.{path.stem}@fidelity.test>")
    # Sent as HTML alone, the text is read from the HTML: word for word, in order.
    stored = send(smtp, desk, store, html_only)
    assert differences(seen, words(stored.text)) == [], stored.text
    if has_plain_alternative(raw):
        # Sent with the sender's own plain alternative, that is the text: it may add (link
        # addresses, "[image: logo]"), it must not lose a word.
        stored = send(smtp, desk, store, raw)
        assert missing(seen, words(stored.text)) == [], stored.text


@pytest.mark.parametrize("path", LAID_OUT + HOSTILE, ids=name_of)
def test_the_kept_html_has_nothing_that_can_run_script(path, smtp, desk, store):
    kept = send(smtp, desk, store, path.read_bytes())
    assert kept.html is not None
    assert dangers(kept.html) == []


@pytest.mark.parametrize("path", LAID_OUT, ids=name_of)
def test_the_kept_html_shows_every_word_of_tables_outlook_sections_and_pre(path, smtp, desk, store):
    """The sanitizer must not drop table contents or Outlook's sections (as Zammad's did).
    It may show more than the client did: inline styles are not kept, so a newsletter's
    hidden preview line shows."""
    raw = path.read_bytes()
    original = html_body(raw) or ""
    kept = send(smtp, desk, store, raw)
    assert kept.html is not None
    assert missing(words(visible_text(original)), words(visible_text(kept.html))) == []
    assert pre_texts(kept.html) == pre_texts(original)


@pytest.mark.parametrize("path", WITH_IMAGES, ids=name_of)
def test_each_cid_image_names_a_stored_attachment_of_its_ticket(path, smtp, desk, store, settings):
    raw = path.read_bytes()
    parts = parts_by_content_id(raw)
    kept = send(smtp, desk, store, raw)
    assert kept.html is not None
    named = cid_sources(kept.html)
    assert named == cid_sources(html_body(raw) or "")  # none lost, none added
    by_content_id = {a.content_id: a for a in kept.attachments if a.content_id}
    assert set(by_content_id) == set(parts)
    files = FileStore(settings.attachments_path)
    for content_id in named:
        attachment = by_content_id[content_id]
        assert attachment.inline and attachment.content_type.startswith("image/")
        assert files.get(attachment.sha256) == parts[content_id]


# ---------------------------------------------------------------- in a real browser

DESK = "http://desk.test"
ALLOWED_PROTOCOLS = {"http:", "https:", "mailto:", "tel:"}
# Set before any of the page's own code could run: what a payload calls is recorded.
TRAPS = """
window.__ran = [];
for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
  window[name] = (...args) => { window.__ran.push(name + "(" + args.join(",") + ")"); };
}
"""
# The DOM as Chromium built it from the kept HTML, after every load and error event.
INSPECT = """
() => {
  const root = document.getElementById("mail");
  const found = {elements: [], attributes: [], protocols: [], images: []};
  const inert = new Set(%s);
  const URL_ATTRIBUTES = ["href", "src", "srcset", "action", "formaction", "background", "poster", "cite"];
  for (const el of root.querySelectorAll("*")) {
    if (el.namespaceURI !== "http://www.w3.org/1999/xhtml" || !inert.has(el.localName))
      found.elements.push(el.localName);
    for (const attribute of el.attributes) {
      if (/^on|^style$|^srcdoc$|:/.test(attribute.name))
        found.attributes.push(el.localName + " " + attribute.name);
    }
    for (const name of URL_ATTRIBUTES) {
      const value = el.getAttribute(name);
      if (value !== null) found.protocols.push(new URL(value, document.baseURI).protocol);
    }
  }
  for (const img of root.querySelectorAll("img[data-cid]"))
    found.images.push([img.dataset.cid, img.complete, img.naturalWidth]);
  return {...found, ran: window.__ran, base: document.baseURI, url: location.href};
}
"""


def with_resolved_images(markup: str, files: dict[str, int]) -> str:
    """What a page showing the comment does: each ``cid:`` image points at its ticket's file of
    that Content-ID; one naming no such file loses its src."""
    fragment = parse_fragment(markup)
    for img in fragment.iter("img"):
        content_id = cid_of(img.attrib.get("src", ""))
        if content_id is None:
            continue
        if content_id in files:
            img.set("src", f"{DESK}/files/{files[content_id]}")
            img.set("data-cid", content_id)
        else:
            del img.attrib["src"]
    return html5lib.serialize(fragment, tree="etree", omit_optional_tags=False)


@pytest.mark.slow
def test_a_browser_shows_the_kept_html_with_its_images_and_runs_nothing(
    chromium: Browser,  # noqa: F811
    smtp,
    desk,
    store,
    settings,
    tmp_path,
):
    files = FileStore(settings.attachments_path)
    pages: dict[str, tuple[str, list[str]]] = {}
    stored: dict[int, t.Attachment] = {}
    for path in LAID_OUT + HOSTILE:
        kept = send(smtp, desk, store, path.read_bytes())
        stored.update({a.id: a for a in kept.attachments})
        ids = {a.content_id: a.id for a in kept.attachments if a.content_id}
        named = cid_sources(html_body(path.read_bytes()) or "")  # as sent: none may be lost
        pages[path.stem] = (with_resolved_images(kept.html or "", ids), named)

    requests: list[tuple[str, str]] = []

    def serve(route: Route) -> None:
        url, kind = route.request.url, route.request.resource_type
        name = url.rsplit("/", 1)[-1]
        if url == f"{DESK}/mail/{name}" and name in pages:
            page = (
                '<!doctype html><html><head><meta charset="utf-8"><title>mail</title></head>'
                f'<body><article id="mail">{pages[name][0]}</article></body></html>'
            )
            return route.fulfill(status=200, content_type="text/html; charset=utf-8", body=page)
        if url == f"{DESK}/files/{name}" and name.isdigit() and int(name) in stored:
            attachment = stored[int(name)]
            return route.fulfill(
                status=200, content_type=attachment.content_type, body=files.get(attachment.sha256)
            )
        requests.append((kind, url))  # anything else: no page of ours, never fetched
        return route.abort()

    context = chromium.new_context()
    try:
        context.route("**/*", serve)
        context.add_init_script(TRAPS)
        page = context.new_page()
        page.set_default_timeout(10_000)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for name, (_, named) in pages.items():
            page.goto(f"{DESK}/mail/{name}", wait_until="load")
            seen = page.evaluate(INSPECT % json.dumps(sorted(INERT_ELEMENTS - {"html", "head", "body"})))
            assert (seen["ran"], dialogs) == ([], []), name
            assert (seen["url"], seen["base"]) == (f"{DESK}/mail/{name}",) * 2, name
            assert (seen["elements"], seen["attributes"]) == ([], []), name
            assert set(seen["protocols"]) <= ALLOWED_PROTOCOLS, (name, seen["protocols"])
            assert sorted(cid for cid, _, _ in seen["images"]) == sorted(named), name
            assert all(complete and width > 0 for _, complete, width in seen["images"]), (
                name,
                seen["images"],
            )
            if name in {path.stem for path in LAID_OUT}:
                screenshot(page, tmp_path, name, whole=True)
    finally:
        context.close()
    # What the page asked for beyond the desk: the newsletter's remote images, never a script.
    assert {kind for kind, _ in requests} <= {"image"}, requests


def _signed_mail(content_id: str, message_id: str, extra: str = "") -> bytes:
    logo = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    return (
        "From: Bob <bob@example.com>\r\nTo: support@localhost\r\nSubject: Logo\r\n"
        f"Message-ID: {message_id}\r\n{extra}MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="r"\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n'
        f'<p>Hello</p><img src="cid:{content_id}" alt="logo">\r\n--r\r\nContent-Type: image/png\r\n'
        f"Content-ID: <{content_id}>\r\nContent-Disposition: inline\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{logo}\r\n--r--\r\n"
    ).encode()


def test_a_replys_copy_of_an_image_the_ticket_has_names_the_copy_kept(smtp, desk, store) -> None:
    assert smtp.send(_signed_mail("logo-1@bob", "<first@example.com>")) == (250, "2.0.0 SUP-1")
    reply = _signed_mail("logo-2@bob", "<second@example.com>", "In-Reply-To: <first@example.com>\r\n")
    assert smtp.send(reply) == (250, "2.0.0 SUP-1")
    with store.read() as session:
        kept = session.scalars(select(t.Attachment).where(t.Attachment.inline.is_(True))).all()
        second = session.scalar(select(t.Comment).where(t.Comment.external_id == "<second@example.com>"))
    assert [a.content_id for a in kept] == ["logo-1@bob"]  # one copy of the picture
    assert second is not None and "cid:logo-1@bob" in (second.html or "")
    assert "logo-2@bob" not in (second.html or "")


def test_a_content_id_with_a_backslash_breaks_nothing(smtp, desk, store) -> None:
    """A Content-ID is the sender's text: as a kept name it must not act as a regex template."""
    assert smtp.send(_signed_mail("logo\\9@bob", "<first@example.com>")) == (250, "2.0.0 SUP-1")
    reply = _signed_mail("logo-2@bob", "<second@example.com>", "In-Reply-To: <first@example.com>\r\n")
    assert smtp.send(reply) == (250, "2.0.0 SUP-1")
    with store.read() as session:
        second = session.scalar(select(t.Comment).where(t.Comment.external_id == "<second@example.com>"))
    assert second is not None and "cid:logo\\9@bob" in (second.html or "")
