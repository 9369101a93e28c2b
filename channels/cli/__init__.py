"""The ``supportbot`` command: the terminal of an agent or an admin is a channel too.

Mistakes the user can fix (an unknown ticket, a refused transition, a bad
value) print one clear line and exit 1; bad configuration exits 2; an
unreachable database exits 3 so scripts can retry.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from bot.errors import ConfigError, StoreUnavailable, UserError
from channels.cli.admin import categories, config_group, db, fields, outbox, serve, teams
from channels.cli.automations import automations
from channels.cli.context import CliState
from channels.cli.held import bans, suspended
from channels.cli.imap import imap
from channels.cli.people import people
from channels.cli.report import report
from channels.cli.routing import routing
from channels.cli.sharing import sharing
from channels.cli.sla import sla
from channels.cli.terminal import echo
from channels.cli.tickets import tickets
from channels.cli.tokens import tokens
from channels.cli.webhooks import webhooks


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            echo(f"error: {error.message}", err=True)
            sys.exit(1)
        except ConfigError as error:
            echo(f"configuration error: {error}", err=True)
            sys.exit(2)
        except StoreUnavailable as error:
            echo(f"database unavailable: {error}", err=True)
            sys.exit(3)


@click.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML settings file (default: embedded defaults; see config/supportbot.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Supportbot: a self-hosted help desk reached by email, Slack and HTTP."""
    ctx.obj = CliState(config_path)
    ctx.call_on_close(ctx.obj.close)


for command in (
    serve,
    db,
    config_group,
    tickets,
    people,
    teams,
    categories,
    fields,
    outbox,
    imap,
    sla,
    routing,
    automations,
    suspended,
    bans,
    tokens,
    webhooks,
    sharing,
    report,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="supportbot")
