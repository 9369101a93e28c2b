"""Receiving mail over SMTP (aiosmtpd) inside ``supportbot serve``.

The handler only translates: RCPT is checked against the configured
mailboxes (``550 5.1.1`` otherwise); DATA is parsed off the event loop and
handed to ``Desk.receive``; ``250`` is answered only after the store has
committed and carries the ticket number. A store outage answers
``451 4.3.0`` so the sending server keeps the message and retries; aiosmtpd
itself answers ``552`` above the size limit.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from functools import partial
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bot.config import SmtpSettings
from bot.errors import ConfigError, StoreUnavailable, UserError
from channels.email.ingest import EmailIngest

logger = logging.getLogger(__name__)


class SupportHandler:
    """aiosmtpd handler: any object with ``handle_VERB`` coroutines returning a status line."""

    def __init__(self, ingest: EmailIngest) -> None:
        self.ingest = ingest

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.ingest.accepts(address):
            logger.info("refused RCPT %s from %s", address, session.peer)
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        # The email channel's own threads: a costly message never holds up the API or /healthz.
        work = partial(self.ingest.ingest, raw, recipients=list(envelope.rcpt_tos), envelope_sender=mail_from)
        try:
            result = await self.ingest.workers.run(work)
        except StoreUnavailable as error:
            logger.warning("451 for message from %s: store unavailable: %s", mail_from or "<>", error)
            return "451 4.3.0 Temporary failure: please try again later"
        except UserError as error:
            logger.info("550 for message from %s: %s", mail_from or "<>", error.message)
            return f"550 5.6.0 {error.message}"
        except Exception:
            logger.exception("451 for message from %s: unexpected failure", mail_from or "<>")
            return "451 4.3.0 Temporary failure: please try again later"
        receipt = result.receipt
        if receipt is None:
            return "250 2.0.0 bounce recorded"
        logger.info(
            "250 for %s from %s: %s %s (%s)",
            result.message_id,
            mail_from or "<>",
            "new ticket" if receipt.created else "duplicate" if receipt.duplicate else "comment on",
            receipt.ticket_number,
            receipt.rule,
        )
        return f"250 2.0.0 {receipt.ticket_number}"


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"smtp.tls_cert / smtp.tls_key cannot be loaded: {error}") from None
    return context


class SupportSMTP(SMTP):
    """aiosmtpd's protocol, answering the size limit with the enhanced status code senders expect."""

    async def push(self, status: AnyStr) -> None:
        text = status.decode() if isinstance(status, bytes) else status
        if text.startswith("552 Error"):  # aiosmtpd's own wording, without RFC 3463 code
            status = "552 5.3.4 Message too big for this system"  # type: ignore[assignment]
        await super().push(status)


def protocol_factory(
    handler: SupportHandler, settings: SmtpSettings, auth_password: str | None = None
) -> Any:
    """``auth_password`` with ``settings.auth_user`` makes AUTH mandatory (over TLS when TLS is on)."""
    context = tls_context(settings)
    login = (
        (settings.auth_user.encode(), auth_password.encode())
        if settings.auth_user and auth_password
        else None
    )

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            login is not None
            and isinstance(data, LoginPassword)
            and hmac.compare_digest(data.login, login[0])
            and hmac.compare_digest(data.password, login[1])
        )
        if not ok:
            logger.warning("failed SMTP login from %s", session.peer)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def make() -> SMTP:
        return SupportSMTP(
            handler,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context,
            ident="Supportbot ESMTP",
            auth_required=login is not None,
            auth_require_tls=context is not None,
            authenticator=authenticate if login is not None else None,
        )

    return make
