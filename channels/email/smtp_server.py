"""Receiving mail over SMTP (aiosmtpd) inside ``supportbot serve``.

The handler only translates: RCPT is checked against the configured
mailboxes (``550 5.1.1`` otherwise) and the ban list (``550 5.7.1``); DATA is
parsed off the event loop and handed to ``Desk.receive``; ``250`` is answered
only after the store has committed and carries the ticket number (or, for mail
suspended for review, says only that it was accepted). A store outage answers
``451 4.3.0`` so the sending server keeps the message and retries; a message
that failed for a reason of ours on every one of ``[email] max_attempts`` is
answered ``554 5.6.0`` and kept for an agent; aiosmtpd itself answers ``552``
above the size limit.

AUTH exists only when a login is configured: then it is offered and
accepted only over TLS (or from loopback when explicitly allowed), and
failures are slowed and cut off (see :mod:`channels.email.smtp_auth`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from bot.config.channels import SmtpSettings
from bot.errors import ConfigError, SenderRefused, StoreUnavailable, UserError
from channels.email.ingest import EmailIngest, SetAside
from channels.email.smtp_auth import LoginGuard, Verdict
from channels.email.workers import MailBusy

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
        sender = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        # No query (see Desk.refuses_sender): the From header is checked again at DATA.
        if sender and self.ingest.desk.refuses_sender(sender):
            logger.info("refused mail from banned sender %s (peer %s)", sender, session.peer)
            return f"550 5.7.1 <{sender}>: sender refused by this help desk's policy"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        # The email channel's own threads: a costly message never holds up the API or /healthz.
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else None
        work = partial(
            self.ingest.ingest,
            raw,
            recipients=list(envelope.rcpt_tos),
            envelope_sender=mail_from,
            via="smtp",
            trust_spam=self.ingest.spam.trusted_peer(str(peer) if peer else None),
        )
        try:
            result = await self.ingest.workers.run(work)
        except SetAside as error:  # kept as suspended mail, if the store took it; else it goes back
            logger.error(
                "554 for %s from %s: failed %d times", error.message_id, mail_from or "<>", error.attempts
            )
            then = "it is kept for the help desk to review" if error.kept else "please send it again later"
            return f"554 5.6.0 Message could not be processed after {error.attempts} attempts; {then}"

        except StoreUnavailable as error:
            logger.warning("451 for message from %s: store unavailable: %s", mail_from or "<>", error)
            return "451 4.3.0 Temporary failure: please try again later"
        except MailBusy as error:  # hostile mail holds every parse thread: genuine mail comes back later
            logger.warning("451 for message from %s: %s", mail_from or "<>", error)
            return "451 4.3.2 Too busy to take mail now: please try again later"
        except SenderRefused as error:
            logger.info("550 for message from %s: %s", mail_from or "<>", error.message)
            return f"550 5.7.1 {error.message}"
        except UserError as error:
            logger.info("550 for message from %s: %s", mail_from or "<>", error.message)
            return f"550 5.6.0 {error.message}"
        except Exception:
            logger.exception("451 for message from %s: unexpected failure", mail_from or "<>")
            return "451 4.3.0 Temporary failure: please try again later"
        receipt = result.receipt
        if receipt.suspended_id is not None:
            logger.info("250 for %s from %s: %s", result.message_id, mail_from or "<>", receipt.rule)
            return "250 2.0.0 Accepted"  # a spammer learns nothing; an agent reviews it
        if receipt.ticket_number is None:
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
    """aiosmtpd's protocol with our AUTH rules, and the enhanced status code senders expect on 552."""

    def __init__(self, handler: SupportHandler, guard: LoginGuard | None, **options: Any) -> None:
        # Set before aiosmtpd's __init__, which lists this object's ``auth_*`` members as mechanisms.
        self.guard = guard
        self.failures = 0
        self.verdict: Verdict | None = None  # of the password check in the AUTH under way
        super().__init__(
            handler,
            auth_required=guard is not None,
            auth_require_tls=True,
            authenticator=self.check_login if guard is not None else None,
            **options,
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._auth_require_tls = self.tls_required_for(self.peer_host)

    def tls_required_for(self, peer: str) -> bool:
        """AUTH only after STARTTLS, unless [smtp] allow_cleartext_auth_on_loopback lets loopback in."""
        return self.guard is None or not self.guard.cleartext_allowed(peer)

    @property
    def peer_host(self) -> str:
        peer = self.session.peer if self.session is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")

    async def push(self, status: AnyStr) -> None:
        text = status.decode() if isinstance(status, bytes) else status
        if text.startswith("552 Error"):  # aiosmtpd's own wording, without RFC 3463 code
            status = "552 5.3.4 Message too big for this system"  # type: ignore[assignment]
        elif text.startswith("250-AUTH") and self.guard is None:
            return  # nobody can log in: do not invite guesses
        await super().push(status)

    def check_login(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.guard is not None
        login, password = (data.login, data.password) if isinstance(data, LoginPassword) else (b"", b"")
        self.verdict = self.guard.attempt(self.peer_host, login, password)
        if self.verdict is Verdict.ACCEPTED:
            return AuthResult(success=True, auth_data=data)
        if self.verdict is Verdict.REJECTED:
            logger.warning("failed SMTP login from %s", session.peer)
        return AuthResult(success=False, handled=True)  # smtp_AUTH answers, after its delay

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        guard = self.guard
        if guard is None:
            await self.push("502 5.5.1 AUTH not available")
            return
        peer = self.peer_host
        if guard.blocked(peer):
            logger.warning("SMTP AUTH refused to %s: too many failed logins", peer)
            await self.hang_up("421 4.7.0 Too many failed logins; try again later")
            return
        if not guard.start(peer):
            logger.warning("SMTP AUTH refused to %s: too many logins under way from its network", peer)
            await self.push("454 4.7.0 Too many logins at once; try again later")
            return
        try:
            await self.authenticate(arg, guard, peer)
        finally:
            guard.finish(peer)

    async def authenticate(self, arg: str, guard: LoginGuard, peer: str) -> None:
        """aiosmtpd's AUTH exchange; a failed password check is answered here, after its delay."""
        self.verdict = None
        await super().smtp_AUTH(arg)
        if self.verdict is None or self.verdict is Verdict.ACCEPTED:
            return  # no password was checked (aiosmtpd answered), or the login succeeded
        if self.verdict is Verdict.BLOCKED:  # the limit was reached while this login was under way
            logger.warning("SMTP AUTH refused to %s: too many failed logins", peer)
            await self.hang_up("421 4.7.0 Too many failed logins; try again later")
            return
        self.failures += 1
        await guard.sleep(guard.delay(self.failures))
        if self.failures >= guard.max_failures or guard.blocked(peer):
            await self.hang_up("421 4.7.0 Too many failed logins; closing connection")
        else:
            await self.push("535 5.7.8 Authentication credentials invalid")

    async def hang_up(self, status: str) -> None:
        await self.push(status)
        if self.transport is not None:
            self.transport.close()


def protocol_factory(
    handler: SupportHandler,
    settings: SmtpSettings,
    auth_password: str | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Callable[[], SMTP]:
    """``auth_password`` with ``settings.auth_user`` makes AUTH mandatory, and possible only over TLS.

    ``sleep`` waits out the delay after a failed login (tests pass a recorder).
    """
    context = tls_context(settings)
    guard = (
        LoginGuard(settings.auth_user, auth_password, settings, sleep=sleep)
        if settings.auth_user and auth_password
        else None
    )
    if guard is not None and context is None and not settings.allow_cleartext_auth_on_loopback:
        raise ConfigError(
            "smtp.auth_user needs smtp.tls_cert and smtp.tls_key: logins are accepted only over TLS "
            "(or set smtp.allow_cleartext_auth_on_loopback for a relay on this machine)"
        )

    def make() -> SMTP:
        return SupportSMTP(
            handler,
            guard,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context,
            ident="Supportbot ESMTP",
        )

    return make
