"""``supportbot imap import``: take in mail that was already in a mailbox before the bot watched it.

The running bot (``serve``) takes in new mail; this backfills. It examines the
folder read-only, so nothing in the mailbox changes: no flags, no moves, even
for messages it cannot store. Running it twice is safe: a message already
stored is counted as a duplicate.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click
from imapclient.exceptions import IMAPClientError, LoginError

from bot.config.settings import imap_password
from bot.errors import ConfigError, StoreUnavailable
from channels.bootstrap import email_ingest
from channels.cli.context import CliState, pass_state
from channels.cli.terminal import echo
from channels.email.imap_mailbox import open_mailbox
from channels.email.imap_poller import Tally, import_messages, recipients_for
from channels.email.workers import MailBusy


@click.group()
def imap() -> None:
    """IMAP mailboxes ([[imap]] in the settings): ``serve`` polls them; ``import`` backfills."""


@imap.command("import")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="Import messages that arrived on or after this day (YYYY-MM-DD), read or not.",
)
@click.option(
    "--account",
    "index",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which [[imap]] account, counting from 0 in the order of the settings.",
)
@pass_state
def imap_import(state: CliState, since: datetime, index: int) -> None:
    """Backfill an account's folder into tickets, leaving the mailbox as it is."""
    settings = state.settings
    if not settings.imap:
        raise ConfigError("no [[imap]] account is configured (or SUPPORTBOT_IMAP)")
    if index >= len(settings.imap):
        raise click.BadParameter(
            f"there are {len(settings.imap)} [[imap]] accounts, numbered from 0", param_hint="--account"
        )
    account = settings.imap[index]
    # Like the settings, the password comes from this process's environment (see CliState).
    password = imap_password(account, state.environ)
    recipients = recipients_for(account, settings.mailboxes)
    where = f"{account.user}@{account.host}:{account.port}"
    tally = Tally()
    try:
        # The ingest's own threads are shut down on the way out, whatever happens.
        with email_ingest(state.runtime) as ingest, open_mailbox(account, password, readonly=True) as mailbox:
            uids = mailbox.since(since.date())
            with click.progressbar(
                uids,
                label=f"importing {len(uids)} messages from {account.folder}",
                file=sys.stderr,  # progress for people; the summary on stdout for scripts
            ) as progress:
                tally = import_messages(mailbox, ingest, recipients, progress)
    except LoginError as error:
        raise ConfigError(f"imap[{index}] {where}: login refused: {_reason(error)}") from None
    except StoreUnavailable as error:
        raise StoreUnavailable(
            f"{error} (messages imported before this are kept; run the import again to continue)"
        ) from None
    except MailBusy as error:
        raise click.ClickException(
            f"{error} (messages imported before this are kept; run the import again later)"
        ) from None
    except (IMAPClientError, OSError) as error:
        raise click.ClickException(f"imap[{index}] {where}: {_reason(error)}") from None
    echo(f"imported from {where} {account.folder} since {since.date()}: {tally}")


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__
