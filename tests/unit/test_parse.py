"""Parsing raw mail from real-world clients and charsets; nothing may crash or be lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email.parse import derived_message_id, parse

MAIL = Path(__file__).resolve().parents[1] / "data" / "email"


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_plain_new_message():
    mail = parse(load("new_plain.eml"))
    assert mail.message_id == "<new-plain-1@mail.example.com>"
    assert (mail.sender.email, mail.sender.name) == ("bob@example.com", "Bob Example")
    assert mail.subject == "VPN keeps dropping"
    assert "Café wifi" in mail.text and mail.references == ()
    assert not mail.auto_submitted and not mail.bounce


def test_gmail_reply_splits_the_new_part_and_sanitizes_html():
    mail = parse(load("gmail_reply.eml"))
    assert mail.references == ("<sup-1.ack@localhost>", "<new-plain-1@mail.example.com>")
    assert mail.new_text == "Here is the log you asked for."
    assert "opened ticket SUP-1" in mail.text  # the full text stays available
    assert mail.html is not None and "<script>" not in mail.html and "log you asked for" in mail.html


def test_outlook_reply_splits_at_its_header_block_and_keeps_the_inline_logo():
    mail = parse(load("outlook_reply.eml"))
    assert mail.new_text.startswith("Same problem here on the third floor.")
    assert "We have received your request" not in mail.new_text
    [logo] = mail.attachments
    assert (logo.filename, logo.content_type, logo.inline) == ("image001.png", "image/png", True)
    assert logo.data.startswith(b"\x89PNG")


def test_iso_2022_jp_subject_sender_and_body_decode():
    mail = parse(load("japanese_iso2022jp.eml"))
    assert mail.subject == "プリンター故障"
    assert mail.sender.name == "山田"
    assert "東京オフィスのプリンターが動きません" in mail.text


def test_koi8_r_decodes():
    mail = parse(load("cyrillic_koi8r.eml"))
    assert mail.subject == "Не работает почта"
    assert "Почта не отправляется" in mail.text


def test_mislabelled_charset_is_detected_not_garbled():
    mail = parse(load("mislabelled_cp1251.eml"))
    assert "Принтер на втором этаже" in mail.text


def test_missing_message_id_is_derived_from_the_bytes():
    raw = load("no_message_id.eml")
    assert parse(raw).message_id == derived_message_id(raw) == parse(raw).message_id
    assert parse(raw + b"x").message_id != parse(raw).message_id


def test_vacation_reply_is_automatic():
    assert parse(load("vacation.eml")).auto_submitted


@pytest.mark.parametrize(
    "headers",
    [
        "Precedence: bulk",
        "Precedence: list",
        "List-Id: <users.lists.example.com>",
        "List-Unsubscribe: <mailto:leave@lists.example.com>",
        "X-Autorespond: yes",
        "Auto-Submitted: auto-generated",
    ],
)
def test_bulk_and_list_mail_is_automatic(headers):
    raw = f"From: a@example.com\r\nTo: support@localhost\r\nSubject: hi\r\n{headers}\r\n\r\nbody\r\n".encode()
    assert parse(raw).auto_submitted


def test_auto_submitted_no_is_a_person():
    raw = b"From: a@example.com\r\nSubject: hi\r\nAuto-Submitted: no\r\n\r\nbody\r\n"
    assert not parse(raw).auto_submitted


def test_delivery_status_notification_is_a_bounce():
    assert parse(load("bounce_dsn.eml")).bounce
    assert parse(load("new_plain.eml"), envelope_sender="").bounce  # null reverse-path
    assert not parse(load("new_plain.eml"), envelope_sender="bob@example.com").bounce


def test_garbage_is_kept_as_text_with_a_derived_id():
    raw = load("garbage.eml")
    mail = parse(raw, envelope_sender="who@example.com")
    assert mail.message_id.endswith("@supportbot.invalid>")
    assert mail.sender.email == "who@example.com"
    assert "not mail at all" in mail.text


def test_html_only_mail_gets_text_from_the_html():
    raw = (
        b"From: a@example.com\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>there</b></p><ul><li>one</li></ul>\r\n"
    )
    mail = parse(raw)
    assert "Hello there" in mail.text and "one" in mail.text


def test_outlook_winmail_dat_is_unpacked_into_its_real_attachments():
    mail = parse(load("outlook_winmail.eml"))
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
    ]
    assert mail.attachments[0].data == b"%PDF-1.4 fake quarterly report"


@pytest.mark.parametrize(
    ("name", "new_part"),
    [
        ("apple_mail_reply.eml", "Works now, thanks — the new client fixed it."),
        ("thunderbird_reply_de.eml", "Leider immer noch kaputt, auch nach dem Neustart."),
    ],
)
def test_replies_from_apple_mail_and_german_thunderbird_split_at_the_quote(name, new_part):
    mail = parse(load(name))
    assert mail.new_text.startswith(new_part)
    assert "We have received your request" not in mail.new_text
    assert mail.references[0] == "<sup-1.ack@localhost>"
