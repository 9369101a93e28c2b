"""Trying only the languages that can match gives the same split as trying all thirteen."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailparser_reply import EmailReplyParser

from channels.email.parse import REPLY_LANGUAGES, parse
from channels.email.reply_languages import MARKERS, reply_languages

MAIL = Path(__file__).resolve().parents[1] / "data" / "email"

NEW = "Hello,\n\nthe printer is still jammed after the reboot.\n"
QUOTED = "\n> The printer on floor 3 is jammed.\n> Error E-42.\n"

# Each language's own reply headers, header blocks, client signatures, sign-offs and
# disclaimers, as its mail clients write them.
PHRASES: dict[str, list[str]] = {
    "de": [
        "Am 03.03.2026 um 10:15 schrieb Max Muster <max@example.com>:",
        "Von: Max Muster\nGesendet: Dienstag, 3. März 2026 10:15\nAn: Support\nBetreff: Drucker",
        "Mit freundlichen Grüßen\nMax",
        "Viele Grüße\nMax",
        "Gruss, Max",
        "Gesendet von meinem iPhone",
        "Wichtiger Hinweis: Diese E-Mail ist vertraulich.",
    ],
    "cs": [
        "Dne 3. 3. 2026 10:15 Jan Novák napsal(a):",
        "Od: Jan Novák\nOdesláno: 3. března 2026\nKomu: Podpora\nPředmět: Tiskárna",
        "S pozdravem,\nJan",
        "Odesláno z mého telefonu",
        "Upozornění: tento e-mail je důvěrný.",
    ],
    "da": [
        "Den 3. mar. 2026 kl. 10.15 skrev Jens Jensen <jens@example.com>:",
        "Fra: Jens Jensen\nSendt: 3. marts 2026 10:15\nTil: Support\nEmne: Printer",
        "Med venlig hilsen\nJens",
        "Mvh Jens",
        "Sendt fra min iPhone",
        "Fortroligt: denne e-mail er fortrolig.",
    ],
    "es": [
        "El mar, 3 mar 2026 a las 10:15, Ana García <ana@example.com> escribió:",
        "De: Ana García\nEnviado: martes, 3 de marzo de 2026\nPara: Soporte\nAsunto: Impresora",
        "Saludos,\nAna",
        "Enviado desde mi iPhone",
        "Descargo de responsabilidad: este correo es confidencial.",
    ],
    "fr": [
        "Le mar. 3 mars 2026 à 10:15, Marie Dupont <marie@example.com> a écrit :",
        "De : Marie Dupont\nEnvoyé : mardi 3 mars 2026 10:15\nÀ : Support\nObjet : Imprimante",
        "Cordialement,\nMarie",
        "Bonne journée\nMarie",
        "Envoyé depuis mon iPhone",
    ],
    "it": [
        "Il giorno mar 3 mar 2026 alle ore 10:15 Marco Rossi <marco@example.com> ha scritto:",
        "Da: Marco Rossi\nInviato: martedì 3 marzo 2026 10:15\nA: Supporto\nOggetto: Stampante",
        "Cordiali saluti\nMarco",
        "Inviato da iPhone",
    ],
    "ja": [
        "2026年3月3日(火) 10:15 山田太郎 <taro@example.com>:",
        "From: 山田太郎\nSent: Tuesday, March 3, 2026\nTo: Support\nSubject: プリンター",
    ],
    "ko": [
        "2026년 3월 3일 (화) 오전 10:15, 김철수 님이 작성하였습니다:",
        "보낸 사람: 김철수\n보낸 날짜: 2026년 3월 3일\n받는 사람: 지원\n제목: 프린터",
        "감사합니다,\n김철수",
        "내 iPhone에서 보냄",
        "면책 조항: 이 메일은 기밀입니다.",
    ],
    "nl": [
        "Op di 3 mrt 2026 om 10:15 Jan de Vries <jan@example.com> schreef:",
        "Van: Jan de Vries\nVerzonden: dinsdag 3 maart 2026 10:15\nAan: Support\nOnderwerp: Printer",
        "Met vriendelijke groet,\nJan",
        "Verzonden vanaf mijn iPhone",
        "Waarschuwing: deze e-mail is vertrouwelijk.",
    ],
    "pl": [
        "Dnia 3 marca 2026 10:15 Jan Kowalski <jan@example.com> napisał(a):",
        "Od: Jan Kowalski\nWysłano: wtorek, 3 marca 2026\nDo: Wsparcie\nTemat: Drukarka",
        "Z poważaniem\nJan",
        "Wysłano z iPhone'a",
        "Uwaga: ta wiadomość jest poufna.",
    ],
    "sv": [
        "Den 3 mars 2026 kl. 10:15 skrev Anna Andersson <anna@example.com>:",
        "Från: Anna Andersson\nSkickat: den 3 mars 2026 10:15\nTill: Support\nÄmne: Skrivare",
        "Med vänliga hälsningar\nAnna",
        "/Anna",
        "Skickat från min iPhone",
        "Observera: detta e-postmeddelande är konfidentiellt.",
    ],
    "zh": [
        "2026年3月3日 10:15，张伟 <wei@example.com> 写道：",
        "发件人: 张伟\n发送时间: 2026年3月3日\n收件人: 支持\n主题: 打印机",
        "此致，\n张伟",
        "从我的iPhone发送",
        "免责声明：本邮件为机密。",
    ],
}
ENGLISH = [
    "On Tue, Mar 3, 2026 at 10:15 AM Bob <bob@example.com> wrote:",
    "From: Bob\nSent: Tuesday, March 3, 2026 10:15\nTo: Support\nCc: Carol\nSubject: Printer",
    "-----Original Message-----",
    "Thanks,\nBob",
    "Sent from my iPhone",
    "CONFIDENTIALITY: this email is confidential.",
    "See https://status.example.com/incidents/42 and C:/Users/bob/log.txt",
]


def _split(text: str, languages: list[str]) -> str | None:
    return EmailReplyParser(languages=languages).read(text=text).latest_reply


def _same_split(text: str) -> None:
    chosen = reply_languages(text, REPLY_LANGUAGES)
    assert _split(text, chosen) == _split(text, list(REPLY_LANGUAGES)), chosen


@pytest.mark.parametrize("path", sorted(MAIL.glob("*.eml")), ids=lambda p: p.name)
def test_every_sample_message_splits_as_with_all_languages(path: Path) -> None:
    _same_split(parse(path.read_bytes()).text)


@pytest.mark.parametrize(
    ("language", "phrase"),
    [(language, phrase) for language, phrases in PHRASES.items() for phrase in phrases],
)
def test_a_language_s_own_phrase_keeps_it_and_splits_the_same(language: str, phrase: str) -> None:
    for text in (f"{NEW}\n{phrase}\n{QUOTED}", f"{NEW}\n{phrase}\n", f"{phrase}\n{NEW}"):
        assert language in reply_languages(text, REPLY_LANGUAGES)
        _same_split(text)


@pytest.mark.parametrize("phrase", ENGLISH)
def test_english_phrases_split_the_same(phrase: str) -> None:
    _same_split(f"{NEW}\n{phrase}\n{QUOTED}")


def test_every_language_the_splitter_tries_has_its_words() -> None:
    assert set(REPLY_LANGUAGES) - {"en"} == set(MARKERS)
    assert all(marker == marker.lower() for markers in MARKERS.values() for marker in markers)


def test_a_plain_english_message_tries_english_alone() -> None:
    """Where the time goes: this is what makes the split of ordinary mail cheap."""
    assert reply_languages(f"{NEW}\nThanks,\nBob\n", REPLY_LANGUAGES) == ["en"]


@pytest.mark.parametrize("language", sorted(PHRASES))
def test_the_samples_have_teeth_each_language_splits_differently_from_english_alone(language: str) -> None:
    """Leaving a language out wrongly would change a split here: the tests above would see it."""
    texts = [f"{NEW}\n{phrase}\n{QUOTED}" for phrase in PHRASES[language]]
    assert any(_split(text, list(REPLY_LANGUAGES)) != _split(text, ["en"]) for text in texts)
