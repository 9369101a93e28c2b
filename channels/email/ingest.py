"""One received message, from raw bytes to a stored ticket or comment; shared by SMTP and IMAP.

Synchronous (it parses and writes to the store): SMTP runs it on the mail
threads of :class:`MailWorkers` (``workers.run``), never on the event loop's
default pool; IMAP in its poller threads. Either way the parse step runs on
the workers' parse pool under a time limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.config.channels import EmailSettings, Mailbox
from bot.desk.facade import Desk
from bot.errors import StoreUnavailable, UserError
from bot.messages import Identity, Inbound, Receipt
from channels.email.addresses import parse_recipient, verify
from channels.email.parse import ParsedEmail
from channels.email.spam import SpamVerdicts
from channels.email.workers import MailWorkers

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What became of a message: its receipt (no ticket number for a bounce kept on record
    or a message suspended for an agent)."""

    message_id: str
    receipt: Receipt


class SetAside(Exception):
    """The message failed for a reason of ours on every one of ``[email] max_attempts``:
    it is kept for an agent (SMTP answers ``554 5.6.0``; IMAP moves it to the error folder)
    rather than retried for ever."""

    def __init__(self, message_id: str, attempts: int, *, kept: bool) -> None:
        super().__init__(f"{message_id} failed {attempts} times")
        self.message_id = message_id
        self.attempts = attempts
        # Whether an agent has it as suspended mail (else only the sender or the mailbox does).
        self.kept = kept


class EmailIngest:
    def __init__(
        self,
        desk: Desk,
        mailboxes: Sequence[Mailbox],
        reply_secret: bytes,
        options: EmailSettings | None = None,
        workers: MailWorkers | None = None,
    ) -> None:
        """Without ``workers`` the ingest gets threads of its own (a test, a one-off CLI import),
        which :meth:`close` shuts down; workers passed in are their owner's to shut down."""
        self.desk = desk
        self.mailboxes = {mailbox.address.lower(): mailbox for mailbox in mailboxes}
        self.reply_secret = reply_secret
        self.options = options or EmailSettings()
        self._owns_workers = workers is None
        self.workers = workers or MailWorkers(self.options)
        self.trusted_authserv = {
            name.strip().lower() for name in self.options.trusted_authserv_ids.split(",") if name.strip()
        }
        self.spam = SpamVerdicts(self.options)

    def close(self) -> None:
        """Blocking: shuts down the threads this ingest made for itself (none when it was given them)."""
        if self._owns_workers:
            self.workers.shutdown()

    def __enter__(self) -> EmailIngest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def accepts(self, address: str) -> bool:
        return parse_recipient(address).mailbox in self.mailboxes

    def ingest(
        self,
        raw: bytes,
        *,
        recipients: Sequence[str],
        envelope_sender: str | None = None,
        via: str = "smtp",
        trust_spam: bool = False,
    ) -> Ingested:
        """``trust_spam``: the delivering host is one whose spam verdicts count.

        Raises what ``Desk.receive`` raises (``StoreUnavailable``: try again later; a
        ``UserError`` such as a refused sender), ``MailBusy`` when hostile mail holds every
        parse thread (try again later too), and :class:`SetAside` when the message failed
        for a reason of ours once too often. Any other failure was counted: try again.
        """
        parsed = self.workers.parse(raw, envelope_sender=envelope_sender)
        if parsed.problems:  # the raw message is kept; the log says why it may look odd
            logger.info(
                "message %s parsed with problems: %s", parsed.message_id, "; ".join(parsed.problems[:3])
            )
        inbound: Inbound | None = None
        try:
            inbound = self.inbound(
                parsed, raw, recipients, spam=self.spam.verdict(raw) if trust_spam else None
            )
            if envelope_sender:
                inbound = replace(inbound, envelope_sender=envelope_sender)
            if parsed.bounce and parsed.bounced_message_ids:
                detail = f"bounced {parsed.bounce_status or ''} {', '.join(parsed.failed_recipients)}".strip()
                self.desk.record_bounce(
                    parsed.bounced_message_ids, parsed.failed_recipients, " ".join(detail.split())
                )
            receipt = self.desk.receive(inbound)
        except (StoreUnavailable, UserError):
            raise
        except OSError as error:  # the file store's disk (full, unmounted): ours, and passing
            raise StoreUnavailable(f"file store: {error}") from error
        except Exception as error:
            self._failed(parsed.message_id, inbound, via, error)
            raise
        return Ingested(parsed.message_id, receipt)

    def _failed(self, message_id: str, inbound: Inbound | None, via: str, error: Exception) -> None:
        """Count the failure; raises :class:`SetAside` when it was the message's last chance."""
        logger.error(
            "%s message %s could not be stored: %s: %s",
            via,
            message_id,
            type(error).__name__,
            str(error)[:300],
            exc_info=error,
        )
        reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        failure = self.desk.mail_failed(inbound, message_id, via, reason)
        if failure.set_aside:
            logger.error(
                "%s message %s failed %d times: set aside%s",
                via,
                message_id,
                failure.attempts,
                " for an agent (suspended mail)" if failure.kept else "; it could not be kept",
            )
            raise SetAside(message_id, failure.attempts, kept=failure.kept) from error

    def inbound(
        self, parsed: ParsedEmail, raw: bytes, recipients: Sequence[str], *, spam: str | None = None
    ) -> Inbound:
        """Our first mailbox among the recipients sets defaults; a signed reply address names the ticket."""
        # The envelope first; then the headers, which is all IMAP has (Delivered-To, To, Cc).
        # A ticket named there still needs a token that verifies to be trusted.
        addresses = [*recipients, *parsed.recipients, *parsed.cc]
        ours = [r for r in map(parse_recipient, addresses) if r.mailbox in self.mailboxes]
        tagged = next((r for r in ours if r.number), None)
        mailbox = self.mailboxes[ours[0].mailbox] if ours else Mailbox()
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
            # From is anyone's to write; only a reply token that verifies for it vouches.
            authenticated=verified,
            auto_submitted=parsed.auto_submitted,
            bounce=parsed.bounce,
            internal=bool(self.options.internal_marker)
            and parsed.new_text.lstrip().startswith(self.options.internal_marker),
            spoofed=any(name in self.trusted_authserv for name in parsed.dmarc_failed_by),
            conversation=parsed.conversation,
            cc=tuple(Identity(email=address) for address in parsed.cc if not self.accepts(address)),
            priority=mailbox.priority or None,
            category=mailbox.category or None,
            team=mailbox.team or None,
            mailbox=mailbox.address or None,
            spam=spam,
        )
