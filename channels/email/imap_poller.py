"""Taking mail in from IMAP mailboxes: one round (``poll_once``), the loop around it, a backfill.

The order of a round is what makes it safe to crash anywhere: a message is
fetched without being marked read, handed to ``EmailIngest`` (which commits),
and only then marked ``\\Seen`` and moved to the processed folder. A crash
between the commit and the move means the message is fetched again next
time, and ingest, idempotent on the Message-ID, reports a duplicate: never
skipped, never stored twice. While the store is down a message is left
exactly as it was and the round stops, so it is retried.

Synchronous: each account's loop runs in a thread of its own (see
:class:`PollerThreads`), because imapclient and the ingest both block.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from imapclient.exceptions import IMAPClientError

from bot.config.channels import ImapAccount, Mailbox
from bot.errors import StoreUnavailable, UserError
from channels.email.imap_mailbox import ImapMailbox, open_mailbox
from channels.email.ingest import EmailIngest, Ingested, SetAside
from channels.email.workers import MailBusy

logger = logging.getLogger(__name__)

# How often a waiting loop looks at its stop event: the bound on how long shutdown waits for it.
STOP_CHECK_SECONDS = 1.0
# RFC 2177: a client should re-issue IDLE at least every 29 minutes or be logged out.
IDLE_RENEW_SECONDS = 25 * 60


@dataclass(slots=True)
class Tally:
    """What a round or a backfill did with the messages it saw."""

    new: int = 0
    comments: int = 0
    duplicates: int = 0
    bounces: int = 0
    suspended: int = 0
    errors: int = 0
    # Messages that failed for a reason of ours and were left in place to try again.
    failed: int = 0
    # True when the round stopped early because the store was unreachable.
    deferred: bool = False

    def count(self, result: Ingested) -> str:
        """Record one ingested message; returns what became of it, for the log."""
        receipt = result.receipt
        if receipt.suspended_id is not None:
            self.suspended += 1
            return f"suspended ({receipt.rule})"
        if receipt.ticket_number is None:
            self.bounces += 1
            return "bounce kept"
        if receipt.duplicate:
            self.duplicates += 1
            return f"duplicate of {receipt.ticket_number}"
        if receipt.created:
            self.new += 1
            return f"new ticket {receipt.ticket_number}"
        self.comments += 1
        return f"comment on {receipt.ticket_number}"

    @property
    def seen(self) -> int:
        return self.new + self.comments + self.duplicates + self.bounces + self.suspended + self.errors

    def __str__(self) -> str:
        held = f", {self.suspended} suspended" if self.suspended else ""
        retry = f", {self.failed} to retry" if self.failed else ""
        return (
            f"{self.new} new tickets, {self.comments} comments, {self.duplicates} duplicates, "
            f"{self.bounces} bounces, {self.errors} errors{held}{retry}"
        )


def recipients_for(account: ImapAccount, mailboxes: Sequence[Mailbox]) -> list[str]:
    """IMAP has no envelope: mail in the account counts as sent to its mailbox (or the first one)."""
    if account.mailbox:
        return [account.mailbox]
    return [mailboxes[0].address] if mailboxes else []


def poll_once(
    mailbox: ImapMailbox,
    ingest: EmailIngest,
    recipients: Sequence[str],
    *,
    stop: threading.Event | None = None,
) -> Tally:
    """Take in every unseen message of the selected folder, filing each away after its commit."""
    tally = Tally()
    account = mailbox.account
    for uid in mailbox.unseen():
        if stop is not None and stop.is_set():
            break
        raw = mailbox.fetch(uid)
        if raw is None:  # taken by another instance since the search
            continue
        message_id = _message_id(raw)
        try:
            result = ingest.ingest(
                raw,
                recipients=recipients,
                envelope_sender=None,
                via="imap",
                trust_spam=account.trust_spam_verdicts,
            )
        except (StoreUnavailable, MailBusy) as error:  # ours to retry: the message stays put
            logger.warning(
                "imap %s uid %d %s: left in %s for the next round: %s: %s",
                mailbox.label,
                uid,
                message_id,
                account.folder,
                "store unavailable" if isinstance(error, StoreUnavailable) else "mail threads busy",
                error,
            )
            tally.deferred = True
            break
        except UserError as error:
            logger.warning(
                "imap %s uid %d %s: refused (%s); moved to %s",
                mailbox.label,
                uid,
                message_id,
                error.message,
                account.error_folder,
            )
            tally.errors += 1
            mailbox.file(uid, account.error_folder, seen=False)
            continue
        except SetAside as error:  # failed every attempt: out of the way of the mail behind it
            logger.error(
                "imap %s uid %d %s: failed %d times; moved to %s",
                mailbox.label,
                uid,
                message_id,
                error.attempts,
                account.error_folder,
            )
            tally.errors += 1
            mailbox.file(uid, account.error_folder, seen=False)
            continue
        except Exception:  # counted by the ingest; left where it is for the next round
            logger.warning(
                "imap %s uid %d %s: could not be ingested; left in %s to try again",
                mailbox.label,
                uid,
                message_id,
                account.folder,
            )
            tally.failed += 1
            continue
        outcome = tally.count(result)
        mailbox.file(uid, account.processed_folder, seen=True)
        logger.info("imap %s uid %d %s: %s", mailbox.label, uid, result.message_id, outcome)
    return tally


def import_messages(
    mailbox: ImapMailbox, ingest: EmailIngest, recipients: Sequence[str], uids: Iterable[int]
) -> Tally:
    """A backfill: ingest each message and leave the mailbox untouched, even for failures.

    Raises ``StoreUnavailable`` and ``MailBusy``; what was stored before stays
    stored, and a second run skips it as duplicates.
    """
    tally = Tally()
    for uid in uids:
        raw = mailbox.fetch(uid)
        if raw is None:
            continue
        try:
            result = ingest.ingest(raw, recipients=recipients, envelope_sender=None)
        except UserError as error:
            tally.errors += 1
            logger.warning("imap %s uid %d %s: refused: %s", mailbox.label, uid, _message_id(raw), error)
            continue
        except (StoreUnavailable, MailBusy):
            raise
        except Exception:
            tally.errors += 1
            logger.exception("imap %s uid %d %s: could not be imported", mailbox.label, uid, _message_id(raw))
            continue
        tally.count(result)
    return tally


class ImapPoller:
    """One account's loop: poll, then IDLE (or sleep) until there is more; reconnect with backoff."""

    def __init__(
        self,
        account: ImapAccount,
        ingest: EmailIngest,
        password: str,
        recipients: Sequence[str],
        *,
        backoff_first: float = 1.0,
        backoff_max: float = 300.0,
    ) -> None:
        self.account = account
        self.ingest = ingest
        self.password = password
        self.recipients = list(recipients)
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.label = f"{account.user}@{account.host}"
        # Set while the server is in IDLE for us: mail arriving now is noticed at once.
        self.idling = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set. Connection failures are retried; nothing escapes but a stop."""
        delay = self.backoff_first
        while not stop.is_set():
            try:
                with open_mailbox(self.account, self.password) as mailbox:
                    logger.info(
                        "imap %s: watching %s (%s)",
                        self.label,
                        self.account.folder,
                        "IDLE" if mailbox.supports_idle else f"every {self.account.poll_seconds}s",
                    )
                    delay = self.backoff_first
                    self._serve(mailbox, stop)
                    return
            except (IMAPClientError, OSError) as error:
                logger.warning("imap %s: %s; reconnecting in %.0fs", self.label, error or "error", delay)
            except Exception:
                logger.exception("imap %s: unexpected failure; reconnecting in %.0fs", self.label, delay)
            finally:
                self.idling.clear()
            stop.wait(delay)
            delay = min(delay * 2, self.backoff_max)

    def _serve(self, mailbox: ImapMailbox, stop: threading.Event) -> None:
        idle = mailbox.supports_idle
        while not stop.is_set():
            tally = poll_once(mailbox, self.ingest, self.recipients, stop=stop)
            if tally.seen:
                logger.info("imap %s: %s", self.label, tally)
            if tally.deferred or tally.failed or not idle:
                # After an outage or a failure, retry on the clock: IDLE would only wake for new mail.
                stop.wait(self.account.poll_seconds)
            else:
                self._idle(mailbox, stop)

    def _idle(self, mailbox: ImapMailbox, stop: threading.Event) -> None:
        """Wait in IDLE until the server reports a change, ``poll_seconds`` pass, or ``stop`` is set.

        The wait is cut into short checks so a stop is noticed quickly. After
        ``poll_seconds`` the folder is searched anyway and IDLE re-issued:
        mail that lands between a search and the start of IDLE may never be
        announced (Dovecot on Maildir does not), so that is its longest delay.
        """
        client = mailbox.client
        client.idle()
        self.idling.set()
        try:
            deadline = time.monotonic() + min(self.account.poll_seconds, IDLE_RENEW_SECONDS)
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                timeout = min(STOP_CHECK_SECONDS, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=timeout)
                if responses:
                    logger.debug("imap %s: IDLE woke with %s", self.label, responses)
                    break
                if time.monotonic() - started < timeout / 2:
                    # Readable but nothing parsed: the server may have hung up. Leaving
                    # IDLE finds out (a dead connection raises and we reconnect).
                    break
        finally:
            self.idling.clear()
            client.idle_done()


class PollerThreads:
    """Each account's loop in a daemon thread, all stopped by one event when ``serve`` shuts down."""

    def __init__(self, pollers: Sequence[ImapPoller]) -> None:
        self.pollers = list(pollers)
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for poller in self.pollers:
            thread = threading.Thread(
                target=poller.run, args=(self.stop_event,), name=f"imap {poller.label}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        """Blocking: call it off the event loop. A round finishes the message it is on first."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning(
                    "%s did not stop within %.0fs; leaving it to exit with the process", thread.name, timeout
                )


def _message_id(raw: bytes) -> str:
    """For the log only: the Message-ID header as written, or a placeholder."""
    headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
    value = headers.get("Message-ID")
    return str(value).strip() if value else "(no Message-ID)"
