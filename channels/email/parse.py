"""Raw RFC 5322 bytes -> :class:`ParsedEmail`: never raises, whatever arrives.

mail-parser reads the structure and the headers; bodies are decoded part by
part with the declared charset, falling back to charset-normalizer's guess
for undeclared or mislabelled ones, and to replacement characters last. HTML
is converted to text with inscriptis and sanitized with nh3 before it is
stored, unless :mod:`channels.email.html_guard` finds it nested too deep or
too large to sanitize in bounded time: then only its text is kept. The new
part of a reply is split from quoted history and signatures by
mail-parser-reply; the full text is kept beside it. :func:`parse_cheaply`
is the fallback when a full parse takes too long: headers and text only.
Whether a robot sent it is :mod:`channels.email.robot_marks`' to say.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import mailparser
from charset_normalizer import from_bytes
from mailparser_reply import EmailReplyParser

from bot.messages import Identity, IncomingFile
from bot.thread_index import root_of
from channels.email import tnef
from channels.email.header_text import header_text
from channels.email.html_guard import excess, strip_tags
from channels.email.html_kept import sanitize, text_of
from channels.email.reply_languages import reply_languages
from channels.email.robot_marks import is_automatic, is_bounce

logger = logging.getLogger(__name__)

# Sanitizing and converting HTML costs time that grows faster than its size; past
# this much, the text part and the raw message still carry everything.
MAX_HTML = 512 * 1024
# Defaults of [email] max_html_depth / max_html_elements: past them HTML is shown as text only.
MAX_HTML_DEPTH = 200
MAX_HTML_ELEMENTS = 20_000
# mail-parser-reply takes about a second per 200 KB of text (more with many short lines); past
# this, new_text is the whole text rather than a split that costs what the sender chooses.
MAX_REPLY_SPLIT = 64 * 1024
REPLY_LANGUAGES = ["en", "de", "cs", "da", "es", "fr", "it", "ja", "ko", "nl", "pl", "sv", "zh"]
# RFC 5322 msg-id: printable ASCII without spaces between the angle brackets, at most a
# header line (998) long. Anything else (an ESC that would reach a terminal through the log,
# a key too long for the store) is no Message-ID: the message gets one derived from its bytes.
MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,996}>")
# A Content-ID as a cid: URL can name it (RFC 2392): printable, no spaces or brackets; and what
# attachments.content_id holds.
CONTENT_ID = re.compile(r"[^\x00-\x20\x7f<>]+")
MAX_CONTENT_ID = 500


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    sender: Identity
    subject: str
    text: str
    new_text: str
    html: str | None
    attachments: tuple[IncomingFile, ...] = ()
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    auto_submitted: bool = False
    bounce: bool = False
    # authserv-ids of Authentication-Results headers that say dmarc=fail.
    dmarc_failed_by: tuple[str, ...] = ()
    # The Outlook conversation its Thread-Index names (the root, in base64), if well-formed.
    conversation: str | None = None
    # For a delivery report: the Message-IDs it returns, whom it failed for, and why.
    bounced_message_ids: tuple[str, ...] = ()
    failed_recipients: tuple[str, ...] = ()
    bounce_status: str = ""
    problems: tuple[str, ...] = field(default_factory=tuple)


def derived_message_id(raw: bytes) -> str:
    """For mail without a Message-ID: the same bytes get the same id, so a resend is a duplicate."""
    return f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@supportbot.invalid>"


def parse(
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    max_html_depth: int = MAX_HTML_DEPTH,
    max_html_elements: int = MAX_HTML_ELEMENTS,
) -> ParsedEmail:
    """``envelope_sender`` is SMTP's MAIL FROM: ``""`` is the null sender of bounces, None unknown."""
    try:
        return _parse(raw, envelope_sender, max_html_depth, max_html_elements)
    except Exception as error:  # noqa: BLE001 - a message we cannot read is still kept, never lost
        return _unreadable(raw, envelope_sender, error)


def _unreadable(raw: bytes, envelope_sender: str | None, error: Exception) -> ParsedEmail:
    logger.warning("unparseable message (%d bytes) from %s: %r", len(raw), envelope_sender or "?", error)
    text = raw.decode("utf-8", errors="replace")
    return ParsedEmail(
        message_id=derived_message_id(raw),
        sender=Identity(email=envelope_sender or None),
        subject="(message could not be read)",
        text=text,
        new_text=text,
        html=None,
        bounce=envelope_sender == "",
        problems=(f"unparseable: {error!r}",),
    )


def _parse(raw: bytes, envelope_sender: str | None, max_depth: int, max_elements: int) -> ParsedEmail:
    mail = mailparser.parse_from_bytes(raw)
    message: Message = mail.message
    name, address = mail.from_[0] if mail.from_ else ("", "")
    sender = Identity(email=address or envelope_sender or None, name=_clean_header(name) or None)
    plain, html = _bodies(message)
    problems = [str(defect) for defect in mail.defects]
    html = html[:MAX_HTML] if html else None
    too_much = excess(html, max_depth=max_depth, max_elements=max_elements) if html else None
    if html and too_much:
        problems.append(f"{too_much}: kept as text only")
        text = plain if plain.strip() else strip_tags(html)
        html = None
    else:
        text = plain if plain.strip() or not html else text_of(html)
    message_id = _first_id(str(message.get("Message-ID", ""))) or derived_message_id(raw)
    references = tuple(
        dict.fromkeys(
            MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
            + MESSAGE_ID.findall(str(message.get("References", "")))
        )
    )
    report = _delivery_report(message)
    return ParsedEmail(
        message_id=message_id,
        sender=sender,
        subject=_clean_header(mail.subject or ""),
        text=text,
        new_text=_new_part(text),
        html=sanitize(html) if html else None,
        attachments=tuple(_attachments(mail)),
        references=references,
        recipients=_addresses(message, "Delivered-To", "X-Original-To", "To"),
        cc=_addresses(message, "Cc"),
        auto_submitted=is_automatic(message, mail.subject or ""),
        bounce=is_bounce(message, envelope_sender, address),
        dmarc_failed_by=_dmarc_failures(message),
        conversation=root_of(str(message.get("Thread-Index", ""))),
        bounced_message_ids=report.bounced_message_ids,
        failed_recipients=report.failed_recipients,
        bounce_status=report.bounce_status,
        problems=tuple(problems),
    )


def parse_cheaply(raw: bytes, *, envelope_sender: str | None = None, problem: str) -> ParsedEmail:
    """Headers and text only, in time linear in the size: for a message whose full parse ran too long.

    No HTML, no attachments (the raw message, stored beside the comment, still
    has them), no reply splitting; but the same Message-ID, so a later resend
    is still recognised as a duplicate.
    """
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        plain, html = _bodies(message, _decode_plainly)
        subject = _clean_header(header_text(message, "Subject"))
        name, address = parseaddr(header_text(message, "From"))
        text = plain if plain.strip() or not html else strip_tags(html[:MAX_HTML])
    except Exception as error:  # noqa: BLE001 - still kept, as parse() keeps what it cannot read
        return _unreadable(raw, envelope_sender, error)
    return ParsedEmail(
        message_id=_first_id(str(message.get("Message-ID", ""))) or derived_message_id(raw),
        sender=Identity(email=address or envelope_sender or None, name=_clean_header(name) or None),
        subject=subject,
        text=text,
        new_text=text.strip(),
        html=None,
        references=tuple(
            dict.fromkeys(
                MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
                + MESSAGE_ID.findall(str(message.get("References", "")))
            )
        ),
        recipients=_addresses(message, "Delivered-To", "X-Original-To", "To"),
        cc=_addresses(message, "Cc"),
        auto_submitted=is_automatic(message, subject),
        bounce=is_bounce(message, envelope_sender, address),
        dmarc_failed_by=_dmarc_failures(message),
        conversation=root_of(str(message.get("Thread-Index", ""))),
        problems=(problem,),
    )


def _decode_plainly(part: Message) -> str:
    """Like :func:`decode_text`, but with no charset guessing: undeclared bytes become U+FFFD."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _clean_header(value: str) -> str:
    return " ".join(value.split())


def _first_id(value: str) -> str | None:
    found = MESSAGE_ID.findall(value)
    return found[0] if found else None


def _addresses(message: Message, *headers: str) -> tuple[str, ...]:
    values = [str(v) for header in headers for v in message.get_all(header, [])]
    return tuple(address.lower() for _, address in getaddresses(values) if "@" in address)


def decode_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload())
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass  # mislabelled: guess below
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        guess = from_bytes(payload).best()
        return str(guess) if guess is not None else payload.decode("utf-8", errors="replace")


def _bodies(message: Message, decode: Callable[[Message], str] = decode_text) -> tuple[str, str | None]:
    """The first text/plain and text/html parts that are not attachments."""
    plain: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = decode(part)
        elif kind == "text/html" and html is None:
            html = decode(part)
    return plain or "", html


def _new_part(text: str) -> str:
    """The reply above quoted history; all of a text too long to split cheaply (a log, a flood)."""
    if len(text) > MAX_REPLY_SPLIT:
        return text.strip()
    try:
        languages = reply_languages(text, REPLY_LANGUAGES)  # the same split, sooner
        reply = EmailReplyParser(languages=languages).read(text=text).latest_reply
    except Exception:  # noqa: BLE001 - the full text is the safe answer
        return text.strip()
    return (reply or text).strip()


def _attachments(mail: mailparser.MailParser) -> list[IncomingFile]:
    files: list[IncomingFile] = []
    for item in mail.attachments:
        data = _payload_bytes(item)
        kind = str(item.get("mail_content_type") or "application/octet-stream").lower()
        name = _clean_header(str(item.get("filename") or "")) or "attachment"
        inline = bool(item.get("content-id")) or str(item.get("content-disposition", "")).startswith("inline")
        if kind == "application/ms-tnef" or name.lower() == "winmail.dat":
            unpacked = tnef.unpack(data)
            if unpacked:
                files.extend(unpacked)
                continue
        files.append(IncomingFile(name, kind, data, inline=inline, content_id=_content_id(item)))
    return files


def _content_id(item: dict[str, object]) -> str | None:
    """The part's Content-ID without its <>, as the HTML's ``cid:`` URLs name it; None for one
    that no URL could name (spaces, controls, brackets) or longer than the store keeps."""
    value = _clean_header(str(item.get("content-id") or ""))
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if not value or len(value) > MAX_CONTENT_ID or not CONTENT_ID.fullmatch(value):
        return None
    return value


def _payload_bytes(item: dict[str, object]) -> bytes:
    payload = item.get("payload") or ""
    if item.get("binary"):
        return base64.b64decode(str(payload))
    text = str(payload)
    charset = str(item.get("charset") or "utf-8")
    try:
        return text.encode(charset)
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8")


def _dmarc_failures(message: Message) -> tuple[str, ...]:
    """RFC 8601: ``authserv-id; ... dmarc=fail ...``; whom to believe is the caller's choice."""
    failed = []
    for header in message.get_all("Authentication-Results", []):
        value = " ".join(str(header).split())
        authserv_id = value.split(";", 1)[0].strip().split(" ")[0].lower()
        if re.search(r"\bdmarc\s*=\s*fail\b", value, re.IGNORECASE):
            failed.append(authserv_id)
    return tuple(failed)


@dataclass(frozen=True, slots=True)
class _DeliveryReport:
    bounced_message_ids: tuple[str, ...]
    failed_recipients: tuple[str, ...]
    bounce_status: str


def _delivery_report(message: Message) -> _DeliveryReport:
    """RFC 3464: the returned message's headers and the per-recipient status lines."""
    ids: list[str] = []
    failed: list[str] = []
    status = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            header_text = (
                str(inner.get("Message-ID", "")) if isinstance(inner, Message) else decode_text(part)
            )
            ids += MESSAGE_ID.findall(header_text if isinstance(inner, Message) else _header(header_text))
        elif kind == "message/delivery-status":
            text = "\n".join(str(block) for block in (part.get_payload() or []))
            failed += [
                a.lower() for a in re.findall(r"Final-Recipient:\s*rfc822;\s*<?([^>\s]+)>?", text, re.I)
            ]
            found = re.search(r"^Status:\s*([0-9.]+)", text, re.I | re.M)
            status = found.group(1) if found else status
    return _DeliveryReport(
        bounced_message_ids=tuple(dict.fromkeys(ids)),
        failed_recipients=tuple(failed),
        bounce_status=status,
    )


def _header(text: str) -> str:
    found = re.search(r"^Message-ID:\s*(.+)$", text, re.I | re.M)
    return found.group(1) if found else ""
