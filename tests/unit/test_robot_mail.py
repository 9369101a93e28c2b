"""Which mail a robot sent: the header and subject rules of parsing, and other help desks' tags.

Over-eager detection loses a customer's answer (it reopens nothing and reaches no one), so
every rule has its human counterpart here: list headers, Delivered-To, single-kind
X-Auto-Response-Suppress values, and subjects that only talk about auto-replies.
"""

from __future__ import annotations

from email.header import Header

import pytest

from bot.people.robots import foreign_tag
from channels.email.parse import parse
from channels.email.robot_marks import AUTO_REPLY_PREFIXES


def raw(subject: str = "Printer on fire", headers: str = "") -> bytes:
    encoded = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    return (
        f"From: a@example.com\r\nTo: support@localhost\r\nSubject: {encoded}\r\n{headers}\r\nbody\r\n"
    ).encode()


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: auto-notified; owner-email=x@example.com",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: auto_reply",
        "X-Autoreply: yes",
        "X-Autorespond: Out of office",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: all",
        "Delivered-To: Autoresponder",
    ],
)
def test_robots_marks_make_mail_automatic(headers):
    assert parse(raw(headers=headers)).auto_submitted


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no",
        "Auto-Submitted: No (a person wrote this)",
        "Precedence: list",  # Google Groups, Mailman, Sympa stamp every post so
        "List-Id: <users.lists.example.com>",
        "List-Unsubscribe: <mailto:leave@lists.example.com>",
        "List-Id: <users.lists.example.com>\r\nList-Unsubscribe: <mailto:x@lists.example.com>\r\n"
        "Precedence: list",
        "Delivered-To: support@localhost",
        "Delivered-To: bob@example.com\r\nDelivered-To: support@localhost",
        # What Exchange writes on people's mail: single kinds, never All.
        "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",
        "X-Auto-Response-Suppress: DR, OOF, AutoReply",
        "X-Auto-Response-Suppress: OOF",
        "X-Auto-Response-Suppress: None",
    ],
)
def test_what_lists_and_mail_servers_add_to_a_persons_mail_leaves_it_human(headers):
    assert not parse(raw(headers=headers)).auto_submitted


@pytest.mark.parametrize("prefix", AUTO_REPLY_PREFIXES)
def test_every_auto_reply_prefix_with_its_colon_is_automatic(prefix):
    assert parse(raw(f"{prefix}: [SUP-1] Printer on fire")).auto_submitted
    assert parse(raw(f"{prefix.upper()}: Printer on fire")).auto_submitted


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: [SUP-1] Printer on fire",
        "Automatische Antwort: Drucker brennt",
        "Réponse automatique : Imprimante en feu",  # French puts a space before the colon
        "Réponse automatique\u00a0: Imprimante en feu",  # ... a no-break one in Outlook
        "Respuesta automática: Impresora",
        "Risposta automatica: Stampante",
        "Resposta automática: Impressora",
        "Automatisch antwoord: Printer",
        "Automatiskt svar: Skrivare",
        "Automatisk svar: Printer",
        "Automaattinen vastaus: Tulostin",
        "Odpowiedź automatyczna: Drukarka",
        "Automatická odpověď: Tiskárna",
        "Автоматический ответ: Принтер",
        "Otomatik yanıt: Yazıcı",
        "自動応答: プリンター",
        "自动答复：打印机",  # full-width colon
        "自動回覆: 印表機",
        "자동 회신: 프린터",
        "[EXTERNAL] Automatic reply: Printer on fire",  # a gateway's tag first
        "Out of Office AutoReply: Printer on fire",
        "Abwesenheitsnotiz: Drucker",
    ],
)
def test_outlook_auto_reply_subjects_in_many_languages_are_automatic_even_rfc2047_encoded(subject):
    assert parse(raw(subject)).auto_submitted


def test_a_folded_subject_still_matches():
    assert parse(b"From: a@example.com\r\nSubject: Automatic\r\n reply: x\r\n\r\nbody\r\n").auto_submitted


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply not working in Outlook",
        "Auto reply settings",
        "Vacation request for March",
        "Absence of invoice 7",
        "Out of office printer broken",
        "Re: Automatic reply: Printer on fire",  # a person answering an auto-reply
        "AW: Automatische Antwort: Drucker",
        "Fwd: Out of Office: Printer",
        "My automatic reply: how do I turn it off?",
    ],
)
def test_subjects_that_talk_about_auto_replies_are_human(subject):
    assert not parse(raw(subject)).auto_submitted


@pytest.mark.parametrize(
    "subject",
    [
        "[#12345] Re: Printer on fire",
        "Support Ticket Opened [#4711]",
        "[rt.example.com #998] Autoreply: Printer",
        "[Ticket#2024120510000012] Printer on fire",
        "Re: [Ticket#: 2024120510000012] Printer",
        "Ticket #123 received",
        "Your request #4711 has been received",
        "Request #4711: Printer on fire",
        "We got it (Case 00123)",
        "Case 00001026: Printer on fire",
        "Case #00123 opened",
        "Incident No. 55 logged",
        "[ABC-123] Printer on fire",
        "RE: [SUP-1] Printer [HELP-77]",
        "Incident INC0012345 has been opened on your behalf",
        "Printer [ ref:_00D1x2Ab._5001x2Ab3C:ref ]",
    ],
)
def test_other_help_desks_ticket_tags_are_foreign(subject):
    assert foreign_tag(subject, "SUP")


@pytest.mark.parametrize(
    "subject",
    [
        "Printer on fire",
        "[SUP-12] Printer on fire",
        "Re: [sup-12] Printer on fire",
        "Order #12345 never arrived",
        "Invoice #77 is wrong",
        "We are #1 in customer care",
        "[COVID-19] Office closure",
        "Issue with my ticket for the concert",
        "In case 2024 prices change",
        "[urgent] printer",
    ],
)
def test_our_own_tag_and_ordinary_numbers_are_not_foreign(subject):
    assert not foreign_tag(subject, "SUP")


def test_a_tag_with_another_prefix_than_ours_is_foreign_and_ours_is_not():
    assert foreign_tag("[SUP-12] Printer", "HELP")
    assert not foreign_tag("[HELP-12] Printer", "help")
