"""Receiving mail over SMTP (aiosmtpd) inside ``supportbot serve``.

The handler only translates: RCPT is checked against the configured
mailboxes (``550 5.1.1`` otherwise); DATA is parsed off the event loop and
handed to ``Desk.receive``; ``250`` is answered only after the store has
committed and carries the ticket number. A store outage answers
``451 4.3.0`` so the sending server keeps the message and retries; aiosmtpd
itself answers ``552`` above the size limit.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.config import Mailbox, SmtpSettings
from bot.desk import Desk
from bot.errors import ConfigError, StoreUnavailable, UserError
from bot.messages import Inbound
from bot.store.files import FileStore
from channels.email.addresses import parse_recipient, verify
from channels.email.parse import ParsedEmail, parse

logger = logging.getLogger(__name__)


class SupportHandler:
    """aiosmtpd handler: any object with ``handle_VERB`` coroutines returning a status line."""

    def __init__(
        self, desk: Desk, mailboxes: Sequence[Mailbox], reply_secret: bytes, bounces: FileStore
    ) -> None:
        self.desk = desk
        self.mailboxes = {mailbox.address.lower(): mailbox for mailbox in mailboxes}
        self.reply_secret = reply_secret
        self.bounces = bounces

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if parse_recipient(address).mailbox not in self.mailboxes:
            logger.info("refused RCPT %s from %s", address, session.peer)
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        try:
            parsed = await asyncio.to_thread(parse, raw, envelope_sender=mail_from)
            inbound = self.inbound(parsed, raw, envelope.rcpt_tos)
            if parsed.bounce and not inbound.ticket_number and not inbound.references:
                digest = await asyncio.to_thread(self.bounces.put, raw)
                logger.warning("bounce %s kept as %s; it names no ticket", parsed.message_id, digest[:12])
                return "250 2.0.0 bounce recorded"
            receipt = await asyncio.to_thread(self.desk.receive, inbound)
        except StoreUnavailable as error:
            logger.warning("451 for message from %s: store unavailable: %s", mail_from or "<>", error)
            return "451 4.3.0 Temporary failure: please try again later"
        except UserError as error:
            logger.info("550 for message from %s: %s", mail_from or "<>", error.message)
            return f"550 5.6.0 {error.message}"
        except Exception:
            logger.exception("451 for message from %s: unexpected failure", mail_from or "<>")
            return "451 4.3.0 Temporary failure: please try again later"
        logger.info(
            "250 for %s from %s: %s %s (%s)",
            inbound.key,
            mail_from or "<>",
            "new ticket" if receipt.created else "duplicate" if receipt.duplicate else "comment on",
            receipt.ticket_number,
            receipt.rule,
        )
        return f"250 2.0.0 {receipt.ticket_number}"

    def inbound(self, parsed: ParsedEmail, raw: bytes, rcpt_tos: Sequence[str]) -> Inbound:
        """The first recipient decides the mailbox; a signed reply address names the ticket."""
        recipients = [parse_recipient(address) for address in rcpt_tos]
        tagged = next((r for r in recipients if r.number), None)
        mailbox = self.mailboxes[recipients[0].mailbox] if recipients else Mailbox()
        verified = bool(
            tagged
            and tagged.number
            and tagged.token
            and parsed.sender.email
            and verify(self.reply_secret, tagged.number, parsed.sender.email, tagged.token)
        )
        return Inbound(
            channel="email",
            key=parsed.message_id,
            sender=parsed.sender,
            subject=parsed.subject,
            text=parsed.new_text,
            full_text=parsed.text,
            html=parsed.html,
            source=raw,
            attachments=parsed.attachments,
            references=parsed.references,
            ticket_number=tagged.number if tagged else None,
            verified=verified,
            auto_submitted=parsed.auto_submitted or parsed.bounce,
            priority=mailbox.priority or None,
            category=mailbox.category or None,
            team=mailbox.team or None,
        )


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"smtp.tls_cert / smtp.tls_key cannot be loaded: {error}") from None
    return context


def protocol_factory(handler: SupportHandler, settings: SmtpSettings) -> Any:
    context = tls_context(settings)

    def make() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context,
            ident="Supportbot ESMTP",
        )

    return make
