"""One IMAP mailbox over imapclient: connect, list what is waiting, fetch, file away.

Protocol only; nothing here knows tickets. Folder names in the settings use
``/`` for hierarchy, but servers differ (Dovecot's default Maildir++ layout
uses ``.`` and refuses ``/`` in a name; Gmail and Exchange use ``/``), so
every configured name is translated to the server's own delimiter.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError

from bot.config.channels import ImapAccount

logger = logging.getLogger(__name__)

# Long enough for a slow server to send a 25 MB message, short enough that a
# dead connection is noticed and replaced.
SOCKET_TIMEOUT_SECONDS = 60.0


class ImapMailbox:
    """A logged-in connection with the account's folder selected."""

    def __init__(self, client: IMAPClient, account: ImapAccount) -> None:
        self.client = client
        self.account = account
        self.label = f"{account.user}@{account.host}"
        self.delimiter = _delimiter(client)

    @property
    def supports_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))

    def folder(self, configured: str) -> str:
        """``Supportbot/Processed`` as this server spells it."""
        if self.delimiter and self.delimiter != "/":
            return configured.replace("/", self.delimiter)
        return configured

    def ensure_folder(self, configured: str) -> str:
        name = self.folder(configured)
        if self.client.folder_exists(name):
            return name
        try:
            self.client.create_folder(name)
            logger.info("imap %s: created folder %s", self.label, name)
        except IMAPClientError:
            # Another instance polling the same account may have just created it.
            if not self.client.folder_exists(name):
                raise
        return name

    def unseen(self) -> list[int]:
        """UIDs waiting to be taken in, oldest first, so a ticket is opened before its replies."""
        # Read or not: someone may have opened it in webmail first. What is processed has
        # been moved out, so everything left in the folder is still to be taken in.
        return sorted(self.client.search(["NOT", "DELETED"]))

    def since(self, day: date) -> list[int]:
        """Every message that arrived on or after ``day``, read or not (a backfill)."""
        return sorted(self.client.search(["SINCE", day]))

    def fetch(self, uid: int) -> bytes | None:
        """The raw message without setting ``\\Seen`` (BODY.PEEK), or None if it is gone already."""
        response = self.client.fetch([uid], ["BODY.PEEK[]"])
        data = response.get(uid, {}).get(b"BODY[]")
        return bytes(data) if data is not None else None

    def file(self, uid: int, configured_folder: str, *, seen: bool) -> None:
        """Move a message out of the inbox; only ever called after its ingest has committed."""
        target = self.folder(configured_folder)
        if seen:
            self.client.add_flags([uid], [SEEN], silent=True)
        if self.client.has_capability("MOVE"):
            self.client.move([uid], target)
            return
        self.client.copy([uid], target)
        self.client.add_flags([uid], [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge([uid])
        else:
            # Without UIDPLUS, EXPUNGE also removes what someone else marked deleted in this folder.
            self.client.expunge()


@contextmanager
def open_mailbox(account: ImapAccount, password: str, *, readonly: bool = False) -> Iterator[ImapMailbox]:
    """Connect, log in and select ``account.folder``.

    ``readonly`` selects with EXAMINE, so nothing about the mailbox changes (a
    backfill); otherwise the processed and error folders are created if missing.
    Connection and login failures raise ``IMAPClientError`` or ``OSError``.
    """
    client = IMAPClient(
        account.host,
        port=account.port,
        ssl=account.tls,
        ssl_context=ssl.create_default_context() if account.tls else None,
        timeout=SOCKET_TIMEOUT_SECONDS,
    )
    try:
        client.login(account.user, password)
        mailbox = ImapMailbox(client, account)
        if not readonly:
            mailbox.ensure_folder(account.processed_folder)
            mailbox.ensure_folder(account.error_folder)
        client.select_folder(mailbox.folder(account.folder), readonly=readonly)
        yield mailbox
    finally:
        _close(client)


def _close(client: IMAPClient) -> None:
    """Log out politely; a connection that is already broken is simply dropped."""
    try:
        client.logout()
    except (IMAPClientError, OSError):
        try:
            client.shutdown()
        except OSError:
            pass  # the socket is gone either way


def _delimiter(client: IMAPClient) -> str | None:
    """``LIST "" ""`` answers with the hierarchy delimiter (None for a flat server)."""
    listed = client.list_folders(directory="", pattern="")
    if not listed:
        return None
    delimiter = listed[0][1]
    if isinstance(delimiter, bytes):
        return delimiter.decode("ascii", "replace")
    return str(delimiter) if delimiter else None
