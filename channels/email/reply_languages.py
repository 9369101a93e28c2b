"""Which of mail-parser-reply's languages could match a text at all, so the splitter tries only those.

The splitter builds one regular expression of every language's reply headers
("On ... wrote:", "Am ... schrieb ...:", "Von:/Gesendet:" blocks), signatures
and disclaimers, and runs it over the whole text: with all 13 languages that
is most of the cost of parsing a plain message (about 4 ms for 2 KB, against
0.6 ms with English alone). Each language's patterns need at least one of a
few words to be present (``schrieb``, ``Betreff:``, ``Grüße``, ...). A
language none of whose words occurs in the text cannot match anywhere, so
leaving it out of the expression changes no match and no split: the answer is
the same as with every language, only sooner.

The words are lower-case pieces of the library's own patterns
(``mailparser_reply.constants.MAIL_LANGUAGES``), chosen so that every
alternative of every pattern contains one of them; a word that occurs more
often than its pattern matches only costs time, never a different split.
Disclaimer patterns let a space be any blank, so their words hold no space.
English is always tried (the library adds it to every language list).
"""

from __future__ import annotations

from collections.abc import Sequence

# Every language's words; each pattern (wrote_header, from_header, sent_from, signatures,
# disclaimers) of the language needs one of them. Kept in step with mail-parser-reply's
# constants by tests/unit/test_reply_languages.py, which splits texts made of each
# language's own phrases both ways.
MARKERS: dict[str, tuple[str, ...]] = {
    "de": (
        "schrieb",
        "von:",
        "gesendet",
        "an:",
        "betreff:",
        "datum:",
        "cc:",
        "organisation:",
        "hinweis:",
        "achtung:",
        "grü",
        "grue",
        "gruß",
        "gruss",
    ),
    "cs": (
        "napsal(a):",
        "od:",
        "odesláno",
        "komu:",
        "předmět:",
        "datum:",
        "kopie:",
        "upozornění:",
        "důvěrné:",
        "varování:",
        "s pozdravem,",
        "s úctou,",
        "děkuji,",
        "děkujeme,",
        "s přáním hezkého dne,",
    ),
    "da": (
        "skrev",
        "oprindelig meddelelse",
        "fra:",
        "sendt",
        "til:",
        "emne:",
        "dato:",
        "cc:",
        "kopi:",
        "vedhæftet:",
        "advarsel:",
        "bemærk:",
        "fortroligt:",
        "hilsen",
        "hilsner",
        "mvh",
        "dbh",
        "kh",
        "knus",
        "tak",
        "hent outlook til",
    ),
    "es": (
        "escribió:",
        "de:",
        "enviado",
        "para:",
        "asunto:",
        "fecha:",
        "cc:",
        "organización:",
        "aviso:",
        "confidencialidad:",
        "advertencia:",
        "responsabilidad:",
        "saludo",
        "atentamente,",
        "gracias,",
        "cordialmente,",
    ),
    "fr": (
        "a écrit",
        "de :",
        "envoyé ",
        "à :",
        "objet :",
        "  :",
        "cc :",
        "cordialement",
        "salutations",
        "bonne r",
        "bonne journ",
        "envoyé depuis",
    ),
    "it": (
        "ha scritto:",
        "da:",
        "inviato",
        "a:",
        "oggetto:",
        "data:",
        "cc:",
        "cordiali saluti",
    ),
    "ja": ("年", "from:", "sent:", "to:", "subject:", "date:", "cc:"),
    "ko": (
        "님이 작성하였습니다:",
        "보낸",
        "받는",
        "제목:",
        "참조:",
        "주의:",
        "조항:",
        "비밀정보:",
        "감사합니다",
        "안부 전합니다,",
        "좋은 하루 되세요,",
        "고맙습니다,",
        "에서 보냄",
    ),
    "nl": (
        "schreef:",
        "van:",
        "verzonden",
        "aan:",
        "onderwerp:",
        "datum:",
        "cc:",
        "disclaimer:",
        "waarschuwing:",
        "met vriendelijke groet",
        "hartelijke groeten",
        "bedankt,",
        "dank u,",
    ),
    "pl": (
        "nadesłał",
        "napisał(a):",
        "od:",
        "wysłano",
        "do:",
        "temat:",
        "data:",
        "dw:",
        "uwaga:",
        "z poważaniem",
        "z powazaniem",
        "pozdrawiam",
        "w przypadku niejasności, proszę o kontakt.",
    ),
    "sv": (
        "skrev",
        "från",
        "skickat",
        "till:",
        "ämne:",
        "datum:",
        "kopia:",
        "varning:",
        "observera:",
        "hälsningar",
        "mvh",
        "/",
    ),
    "zh": (
        "写道：",
        "发件人:",
        "发送时间:",
        "收件人:",
        "主题:",
        "抄送:",
        "组织:",
        "免责声明：",
        "注意：",
        "重要信息：",
        "此致，",
        "敬礼，",
        "谢谢，",
        "谢谢您的关注，",
        "祝好，",
        "从我的",
    ),
}


def reply_languages(text: str, languages: Sequence[str]) -> list[str]:
    """``languages`` (in their order) less those that cannot match ``text``; English stays."""
    lowered = text.lower()
    return [
        language
        for language in languages
        if language == "en"
        or language not in MARKERS
        or any(marker in lowered for marker in MARKERS[language])
    ]
