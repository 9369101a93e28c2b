"""``supportbot webhooks ...``: subscriptions of other systems to ticket changes, and their deliveries."""

from __future__ import annotations

import click

from bot.errors import UserError
from bot.notify.webhooks import EVENTS
from bot.views import to_jsonable
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo


@click.group()
def webhooks() -> None:
    """Signed HTTP POSTs to other systems when tickets change (admins only)."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    type=click.Choice(EVENTS),
    help="An event to deliver (repeat for more).",
)
@click.option("--priority", "priorities", multiple=True, help="Only tickets of this priority (repeatable).")
@click.option("--category", metavar="PATH", help="Only tickets in this category or below it.")
@click.option(
    "--secret-env",
    "secret_env",
    required=True,
    metavar="VAR",
    help="The environment variable holding the signing secret (never given on the command line).",
)
@click.option("--include-internal", is_flag=True, help="Also deliver internal notes as comment.added.")
@as_option
@format_option
@pass_state
def add_command(
    state: CliState,
    url: str,
    events: tuple[str, ...],
    priorities: tuple[str, ...],
    category: str | None,
    secret_env: str,
    include_internal: bool,
    as_email: str | None,
    output: str,
) -> None:
    """Subscribe URL to events; deliveries are signed with the secret in $VAR."""
    secret = state.environ.get(secret_env, "")
    if not secret:
        raise UserError(f"the environment variable {secret_env} is not set or empty", field="secret")
    desk = state.runtime.desk
    view = desk.add_webhook(
        desk.actor(as_email),
        url,
        events,
        secret,
        priorities=priorities,
        category=category,
        include_internal=include_internal,
    )
    if output == "json":
        emit_json(view)
    else:
        echo(f"webhook {view.id}: {view.url} ({', '.join(view.events)})")


@webhooks.command("list")
@as_option
@format_option
@pass_state
def list_command(state: CliState, as_email: str | None, output: str) -> None:
    """The subscriptions (their secrets are never shown)."""
    desk = state.runtime.desk
    rows = desk.list_webhooks(desk.actor(as_email))
    if output == "json":
        emit_json(rows)
    else:
        columns = ("id", "url", "events", "priorities", "category", "include_internal", "created_at")
        emit_table([to_jsonable(r) for r in rows], columns, "no webhook subscriptions")


@webhooks.command("remove")
@click.argument("subscription_id", type=int)
@as_option
@pass_state
def remove_command(state: CliState, subscription_id: int, as_email: str | None) -> None:
    """Delete a subscription; its deliveries still queued fail and stay in the log."""
    desk = state.runtime.desk
    view = desk.remove_webhook(desk.actor(as_email), subscription_id)
    echo(f"webhook {view.id} ({view.url}) removed")


@webhooks.command("deliveries")
@click.option("--subscription", "subscription_id", type=int, metavar="ID", help="Only this subscription's.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@as_option
@format_option
@pass_state
def deliveries_command(
    state: CliState, subscription_id: int | None, limit: int, as_email: str | None, output: str
) -> None:
    """The delivery log, newest first: status, attempts, the last error (with its HTTP status)."""
    desk = state.runtime.desk
    rows = desk.webhook_deliveries(desk.actor(as_email), subscription_id, limit)
    if output == "json":
        emit_json(rows)
    else:
        columns = (
            "id",
            "subscription",
            "event",
            "ticket",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
        )
        emit_table([to_jsonable(r) for r in rows], columns, "no webhook deliveries")
