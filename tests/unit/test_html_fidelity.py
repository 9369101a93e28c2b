"""HTML mail read as people see it and kept without anything that runs: the pieces, and the
corpus and its independent reading (tests/html_oracle.py) that the SMTP tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from inscriptis.css_profiles import CSS_PROFILES

from channels.email.html_kept import sanitize, text_of
from channels.email.parse import parse
from tests.html_oracle import (
    dangers,
    differences,
    html_body,
    parts_by_content_id,
    pre_texts,
    read_mail,
    visible_text,
    words,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "email" / "html_corpus"
LAID_OUT = sorted(CORPUS.glob("*.eml"))
HOSTILE = sorted((CORPUS / "xss").glob("*.eml"))

# What the independent check must find in each hostile message as it arrives: proof that it
# sees every family of payload, so that finding nothing in the kept HTML means something.
PAYLOADS = {
    "01_script_tags": ["element <script>"],
    "02_event_handlers": ["<img> event attribute onerror", "<body> event attribute onload"],
    "03_javascript_urls": ["<a href> URL scheme 'javascript'"],
    "04_entity_encoded_urls": ["<a href> URL scheme 'javascript'"],
    "05_whitespace_split_urls": ["<a href> URL scheme 'javascript'"],
    "06_vbscript_and_others": ["<a href> URL scheme 'vbscript'", "<a href> URL scheme 'livescript'"],
    "07_data_urls": ["<a href> URL scheme 'data'", "element <iframe>"],
    "08_svg_script": ["element <{http://www.w3.org/2000/svg}script>"],
    "09_math_tricks": ["element <{http://www.w3.org/1998/Math/MathML}math>"],
    "10_iframe_srcdoc": ["<iframe> active attribute srcdoc"],
    "11_object_embed": ["element <object>", "element <embed>", "element <applet>"],
    "12_forms": ["<form action> URL scheme 'javascript'", "<button> active attribute formaction"],
    "13_meta_base_link": ["element <meta>", "element <base>", "element <link>"],
    "14_css_expressions": ["<div> style 'width: expression(alert(1));'"],
    "15_style_import": ["element <style>"],
    "16_noscript_mutation": ["<img> event attribute onerror", "element <noscript>"],
    "17_comment_breakout": ["<img> event attribute onerror"],
    "18_utf7_charset": ["element <script>"],
    "19_url_attributes": [
        "<blockquote cite> URL scheme 'javascript'",
        "<table background> URL scheme 'javascript'",
    ],
    "20_outlook_hybrid": ["<a href> URL scheme 'javascript'", "<p> event attribute onmouseover"],
}


def test_the_corpus_has_twenty_hostile_messages_and_the_check_finds_each_payload():
    assert sorted(path.stem for path in HOSTILE) == sorted(PAYLOADS)
    for path in HOSTILE:
        found = dangers(html_body(path.read_bytes()) or "")
        assert set(PAYLOADS[path.stem]) <= set(found), (path.name, found)


def test_the_corpus_is_mail_as_clients_write_it():
    raw = {path.stem: path.read_bytes() for path in LAID_OUT + HOSTILE}
    outlook = html_body(raw["outlook_mso"]) or ""
    for mark in ("<!--[if gte mso 9]>", "<![endif]-->", "<o:p>", "mso-list", "<v:imagedata", "<![if !vml]>"):
        assert mark in outlook
    newsletter = html_body(raw["newsletter_tables"]) or ""
    assert newsletter.count("<table") >= 5 and "<th" in newsletter and "<!--[if !mso]><!-- -->" in newsletter
    assert any("  " in text for text in pre_texts(html_body(raw["pre_report"]) or ""))
    encodings = {
        str(part.get("Content-Transfer-Encoding", "")).lower()
        for m in raw.values()
        for part in read_mail(m).walk()
    }
    charsets = {part.get_content_charset() for m in raw.values() for part in read_mail(m).walk()}
    assert {"quoted-printable", "base64", "8bit", "7bit"} <= encodings
    assert {"windows-1252", "iso-8859-15", "utf-7"} <= charsets
    for name in ("outlook_mso", "signature_apple", "signature_gmail", "signature_thunderbird_html_only"):
        assert parts_by_content_id(raw[name]), name


def test_what_only_outlook_shows_is_not_visible_text():
    raw = (CORPUS / "newsletter_tables.eml").read_bytes()
    seen = words(visible_text(html_body(raw) or ""))
    assert words("Book your workshop seat") == seen[seen.index("book") : seen.index("book") + 4]
    assert "outlook" not in seen  # the VML button only Outlook draws
    assert seen[:3] == ["trouble", "reading", "this"]  # not the hidden preview line
    outlook = words(visible_text(html_body((CORPUS / "outlook_mso.eml").read_bytes()) or ""))
    assert "0218" in outlook and "extra" not in outlook and "behavior" not in outlook


def test_a_layout_table_is_read_column_after_column_and_a_data_table_row_by_row():
    layout = (
        "<table><tr><td><b>Drill</b><br>18 V<br>149 EUR</td>"
        "<td><b>Driver</b><br>200 Nm<br>119 EUR</td></tr></table>"
    )
    assert text_of(layout).split("\n") == ["Drill", "18 V", "149 EUR", "Driver", "200 Nm", "119 EUR"]
    data = "<table><tr><th>Product</th><th>Now</th></tr><tr><td>Drill</td><td>149 EUR</td></tr></table>"
    assert text_of(data).split("\n") == ["Product  Now", "Drill    149 EUR"]


def test_text_keeps_a_word_written_in_two_spans_and_ends_lines_at_every_block():
    assert text_of('Credit note CN-02<span style="color:red">18</span>') == "Credit note CN-0218"
    assert text_of("<dl><dt>Failed</dt><dd>1</dd></dl><hr>Jobs<section>3</section>").split() == [
        "Failed",
        "1",
        "Jobs",
        "3",
    ]
    assert text_of("<div><div><p>Not indented</p></div></div>") == "Not indented"


def test_reading_text_leaves_inscriptis_shared_profile_alone():
    """inscriptis points its profile's body element at the document it reads; shared by
    two threads, one message's text could land in the other's."""
    bodies = [profile["body"] for profile in CSS_PROFILES.values()]
    before = [body.canvas for body in bodies]
    text_of("<p>one</p>")
    assert [body.canvas for body in bodies] == before


def test_the_sanitizer_keeps_cid_images_only_and_no_relative_or_unchecked_url():
    kept = sanitize(
        '<img src="cid:logo@x"><a href="cid:logo@x">a</a><img src="/desk/tickets/SUP-1">'
        '<a href="help">b</a><blockquote cite="javascript:alert(1)">q</blockquote>'
        '<a href="https://example.com/">c</a><a href="mailto:a@example.com">d</a>'
    )
    assert kept == (
        '<img src="cid:logo@x"><a rel="noopener noreferrer">a</a><img><a rel="noopener noreferrer">b</a>'
        '<blockquote>q</blockquote><a href="https://example.com/" rel="noopener noreferrer">c</a>'
        '<a href="mailto:a@example.com" rel="noopener noreferrer">d</a>'
    )


def test_the_sanitizer_drops_the_title_and_keeps_its_other_defaults():
    assert sanitize("<title>Backup report</title><p>Body</p>") == "<p>Body</p>"
    assert sanitize('<script>alert(1)</script><img src="https://x.example/a.png" onerror="alert(1)">') == (
        '<img src="https://x.example/a.png">'
    )
    assert (
        sanitize('<img src="cid:x" style="background:url(\'javascript:alert(1)\')">') == '<img src="cid:x">'
    )


def mail_with_part(content_id: str) -> bytes:
    return (
        'From: a@example.com\r\nSubject: logo\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/html\r\n\r\n<img src="cid:logo">\r\n'
        f"--b\r\nContent-Type: image/png\r\nContent-ID: {content_id}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("<logo@example.com>", "logo@example.com"),
        ("  <image001.png@01DA8C2E.5F0B3A20>  ", "image001.png@01DA8C2E.5F0B3A20"),
        ("bare-id", "bare-id"),
        ("<two words>", None),
        ("<>", None),
        ("<a<b>", None),
        ("<" + "x" * 501 + ">", None),
    ],
)
def test_an_inline_part_keeps_its_content_id_without_brackets(header, kept):
    [image] = parse(mail_with_part(header)).attachments
    assert image.inline and image.content_id == kept


def test_the_outlook_mail_keeps_its_logo_by_cid_and_every_word_of_its_html():
    mail = parse((CORPUS / "outlook_mso.eml").read_bytes())
    [logo] = mail.attachments
    assert logo.content_id == "image001.png@01DA8C2E.5F0B3A20"
    assert f'src="cid:{logo.content_id}"' in (mail.html or "")
    html = html_body((CORPUS / "outlook_mso.eml").read_bytes()) or ""
    assert differences(words(visible_text(html)), words(text_of(html))) == []
