"""Turns an :class:`~bot.messages.Outbound` into a threaded multipart email.

Headers go through ``email.policy.SMTP``, which folds and encodes non-ASCII
names and subjects (RFC 2047) and refuses raw CR/LF, so a subject typed by a
customer can never inject a header.

Mail on a ticket carries Outlook's threading headers too: ``Thread-Topic`` (the
subject without our tag or reply prefixes) and ``Thread-Index``, the ticket's
conversation root extended by a block per earlier message in the recipient's
thread, as an Outlook reply extends its parent's (:mod:`bot.thread_index`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime

from jinja2 import TemplateError

from bot import thread_index
from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError
from bot.notify.render import Renderer
from channels.email.addresses import reply_address

# RFC 3834: acknowledgements are auto-replied, other robot mail auto-generated;
# an agent's reply is a person's words and carries no such header.
AUTO_SUBMITTED = {"ticket_opened": "auto-replied", "agent_replied": None}


# A stored reference that is not a plain <id@host> (a sender's broken Message-ID)
# is left out rather than allowed to fail every later email on the ticket.
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Reply and forward prefixes (English, German, Nordic, French, Spanish, Dutch, Polish) that
# Outlook leaves out of a conversation's topic.
REPLY_PREFIX = re.compile(r"^\s*(re|fwd?|aw|wg|sv|vs|tr|rv|antw|odp)\s*(\[\d+\])?\s*:", re.IGNORECASE)
# Child blocks we add at most: half of what bot.thread_index accepts, so a reply's own still fits.
MAX_BLOCKS = thread_index.MAX_CHILDREN // 2


@dataclass(frozen=True, slots=True)
class Sender:
    address: str
    name: str
    # Signs the Reply-To address; without it replies thread by References only.
    reply_secret: bytes | None = None


def compose(outbound: Outbound, renderer: Renderer, sender: Sender, date: object = None) -> EmailMessage:
    try:
        text = renderer.render(f"email/{outbound.template}.txt.j2", outbound.context)
        html_name = f"email/{outbound.template}.html.j2"
        html = renderer.render(html_name, outbound.context) if renderer.has(html_name) else None
    except TemplateError as error:
        raise PermanentDeliveryError(f"template {outbound.template}: {error}") from error
    message = EmailMessage(policy=SMTP)
    ticket = outbound.context.get("ticket", {})
    mailbox = ticket.get("mailbox") or {"address": sender.address, "name": sender.name}
    message["From"] = _address(mailbox["name"], mailbox["address"])
    message["To"] = _address(outbound.recipient_name or "", outbound.recipient)
    number = str(ticket.get("number", ""))
    if sender.reply_secret and number:
        reply_to = reply_address(mailbox["address"], number, outbound.recipient, sender.reply_secret)
        message["Reply-To"] = _address(mailbox["name"], reply_to)
    message["Subject"] = _subject(outbound)
    if date is not None:
        message["Date"] = format_datetime(date)  # type: ignore[arg-type]
    if outbound.message_id:
        message["Message-ID"] = outbound.message_id
    thread = [ref for ref in outbound.thread if MESSAGE_ID.fullmatch(ref)]
    if thread:
        message["In-Reply-To"] = thread[-1]
        message["References"] = " ".join(thread)
    index = _thread_index(outbound, date) if number else None
    if index is not None:
        message["Thread-Topic"] = _plain("Thread-Topic", _topic(str(ticket.get("subject", "")), number))
        message["Thread-Index"] = _OneLine("Thread-Index", index)
    auto = AUTO_SUBMITTED.get(outbound.template, "auto-generated")
    if auto:
        message["Auto-Submitted"] = _OneLine("Auto-Submitted", auto)
        # Exchange's own words for RFC 3834: send no out-of-office or auto-reply to this
        # (not "All", which would also hold back the bounce that says an address is dead).
        message["X-Auto-Response-Suppress"] = _OneLine("X-Auto-Response-Suppress", "OOF, AutoReply")
    if number:
        message["X-Supportbot-Ticket"] = _plain("X-Supportbot-Ticket", number)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _subject(outbound: Outbound) -> str:
    ticket = outbound.context.get("ticket")
    if not ticket:  # mail about no ticket (a sign-in link) names its own subject
        return " ".join(str(outbound.context.get("subject", "")).split())
    subject = " ".join(str(ticket.get("subject", "")).split())  # no CR/LF, no runs of blanks
    return f"[{ticket.get('number', '')}] {subject}".strip()


def _thread_index(outbound: Outbound, date: object) -> str | None:
    """The ticket's conversation with one block per earlier message, timed at this one's date.

    None without a root, or with one the store no longer holds well-formed: the mail
    goes out without Outlook's headers rather than not at all. The blocks' random bits
    come from the Message-ID, so a retry sends the same header.
    """
    index = thread_index.parse(outbound.thread_index or "")
    if index is None:
        return None
    root = index[: thread_index.HEADER]
    count = min(len(outbound.thread), MAX_BLOCKS)
    at = date if isinstance(date, datetime) else thread_index.started(root)
    noise = hashlib.shake_256((outbound.message_id or outbound.dedupe_key).encode()).digest(count)
    return thread_index.encode(thread_index.extended(root, count, at, noise))


def _topic(subject: str, number: str) -> str:
    """What Outlook names the conversation by: the subject without our tag or RE:/FW: prefixes."""
    prefix = number.rpartition("-")[0]
    if prefix:
        subject = re.sub(rf"\[\s*{re.escape(prefix)}-\d+\s*\]", " ", subject, flags=re.IGNORECASE)
    topic = subject
    while (shorter := REPLY_PREFIX.sub("", topic)) != topic:
        topic = shorter
    return " ".join(topic.split()) or " ".join(subject.split())


class _OneLine(str):
    """A header value written as it is, on one line: ``message[name] = _OneLine(name, value)``.

    For base64, which the policy would otherwise fold, past 78 characters, into RFC 2047
    encoded-words that Outlook does not decode. Only for our own ASCII without CR/LF.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _OneLine:
        if not value.isascii() or not value.isprintable():
            raise ValueError(f"{name}: not a one-line ASCII value")
        line = super().__new__(cls, value)
        line.name = name
        return line

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _plain(name: str, value: str) -> str:
    """``value`` as it is when it is short printable ASCII (nothing to encode or fold, and the
    policy's parse of it is most of a header's cost), else for the policy to encode."""
    if value.isascii() and value.isprintable() and len(name) + len(value) < 76:
        return _OneLine(name, value)
    return value


def _address(name: str, address: str) -> Address:
    clean = " ".join(name.split())
    try:
        return Address(display_name=clean, addr_spec=address)
    except (ValueError, IndexError) as error:
        raise PermanentDeliveryError(f"cannot send to {address!r}: {error}") from error
