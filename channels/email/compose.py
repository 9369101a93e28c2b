"""Turns an :class:`~bot.messages.Outbound` into a threaded multipart email.

Headers go through ``email.policy.SMTP``, which folds and encodes non-ASCII
names and subjects (RFC 2047) and refuses raw CR/LF, so a subject typed by a
customer can never inject a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from jinja2 import TemplateError

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
    auto = AUTO_SUBMITTED.get(outbound.template, "auto-generated")
    if auto:
        message["Auto-Submitted"] = auto
    if number:
        message["X-Supportbot-Ticket"] = number
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


def _address(name: str, address: str) -> Address:
    clean = " ".join(name.split())
    try:
        return Address(display_name=clean, addr_spec=address)
    except (ValueError, IndexError) as error:
        raise PermanentDeliveryError(f"cannot send to {address!r}: {error}") from error
