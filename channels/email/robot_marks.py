"""Which mail a machine sent, by what the message itself says: RFC 3834, the marks responders
actually use, Microsoft's out-of-office subjects, and delivery reports.

Over-eager is as bad as blind: a person's reply taken for a robot's reopens nothing and
reaches no one, so only marks a person's mail never carries count. Whose address it is,
and other help desks' acknowledgements, are the core's to judge (:mod:`bot.people.robots`).
"""

from __future__ import annotations

import re
from email.message import Message

from channels.email.header_text import header_text

# The prefix Outlook and Exchange put before the original subject of an out-of-office or
# rule reply, in the language of the replying mailbox, and the older forms still in use. Only
# with its colon: "Automatic reply not working" or "Vacation request" is a person asking.
AUTO_REPLY_PREFIXES = (
    "automatic reply",  # en; and the forms other responders use
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "out of office",
    "out of office autoreply",
    "out of the office",
    "automatische antwort",  # de
    "abwesenheitsnotiz",
    "réponse automatique",  # fr
    "réponse automatique d'absence du bureau",
    "respuesta automática",  # es
    "risposta automatica",  # it
    "resposta automática",  # pt
    "resposta automàtica",  # ca
    "automatisch antwoord",  # nl
    "automatiskt svar",  # sv
    "automatisk svar",  # nb, da
    "automaattinen vastaus",  # fi
    "odpowiedź automatyczna",  # pl
    "automatická odpověď",  # cs
    "automatická odpoveď",  # sk
    "automatikus válasz",  # hu
    "răspuns automat",  # ro
    "automatski odgovor",  # hr, sr
    "samodejni odgovor",  # sl
    "автоматический ответ",  # ru
    "автоматична відповідь",  # uk
    "автоматичен отговор",  # bg
    "αυτόματη απάντηση",  # el
    "otomatik yanıt",  # tr
    "otomatik yanit",
    "自動応答",  # ja
    "自动答复",  # zh-Hans (Outlook)
    "自动回复",  # zh-Hans (other clients)
    "自動回覆",  # zh-Hant
    "자동 회신",  # ko
    "자동 응답",
    "תשובה אוטומטית",  # he
    "رد تلقائي",  # ar
    "trả lời tự động",  # vi
    "balasan otomatis",  # id
)
VACATION_SUBJECT = re.compile(
    # A mail gateway may tag it first ("[EXTERNAL] Automatic reply: ..."); French puts a
    # (no-break) space before the colon, Chinese and Japanese may use a full-width one.
    r"^\s*(?:\[[^\[\]]{1,40}\]\s*)*(?:"
    + "|".join(r"\s+".join(map(re.escape, prefix.split())) for prefix in AUTO_REPLY_PREFIXES)
    + r")\s*[:：]",
    re.IGNORECASE,
)
# X-Auto-Response-Suppress asks the receiver not to answer; Exchange writes "All" on the
# replies it generates (out-of-office, rules, reports). Lists of single kinds ("DR, RN, NRN,
# OOF, AutoReply") are also on people's mail sent through Exchange or to a list: not robots'.
SUPPRESS_ALL = "all"
# People do write from postmaster@ (a small company's admin); only MAILER-DAEMON is a machine.
ROBOT_SENDERS = re.compile(r"^mailer-daemon@", re.IGNORECASE)


def is_automatic(message: Message, subject: str) -> bool:
    """RFC 3834, the headers responders actually send, and Microsoft's subject prefixes.

    What a list or a mail server adds to a person's mail says nothing of who wrote it, so it
    does not count: ``Precedence: list``, ``List-Id`` (every post a mailing list delivers),
    ``Delivered-To`` (every local delivery). Neither does ``List-Unsubscribe``: Mailman and
    Google Groups add it to each person's post as well as newsletters carry it; a newsletter
    taken for a person costs one acknowledgement within ``ack_limit`` on a new ticket, a
    reply taken for a robot is a customer's answer that reopens nothing and reaches no one.
    """
    suppress = {v.strip().lower() for v in header_text(message, "X-Auto-Response-Suppress").split(",")}
    return (
        _keyword(message, "Auto-Submitted") not in ("", "no")
        or _keyword(message, "Precedence") in ("bulk", "junk", "auto_reply")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or SUPPRESS_ALL in suppress
        # qmail's autoresponder marks its replies so; an address is never this word.
        or any(str(v).strip().lower() == "autoresponder" for v in message.get_all("Delivered-To", []))
        or bool(VACATION_SUBJECT.match(subject))
    )


def _keyword(message: Message, name: str) -> str:
    """A header's first word, lower case: ``Auto-Submitted: auto-replied; owner=...`` -> auto-replied."""
    found = re.match(r"\s*([\w-]*)", header_text(message, name))
    return found.group(1).lower() if found else ""


def is_bounce(message: Message, envelope_sender: str | None, from_address: str) -> bool:
    report = message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type", "")).lower() == "delivery-status"
    )
    return report or envelope_sender in ("", "<>") or bool(ROBOT_SENDERS.match(from_address or ""))
