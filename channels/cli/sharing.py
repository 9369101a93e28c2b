"""``supportbot sharing ...``: agreements with other help desks (admins) and a ticket's shares (agents)."""

from __future__ import annotations

from dataclasses import asdict

import click

from bot.model import Actor
from bot.sharing.agreements import AgreementView
from bot.sharing.shared import ShareView
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo

AGREEMENT_COLUMNS = (
    "id",
    "side",
    "partner",
    "partner_url",
    "status",
    "shared_tickets",
    "delivery_error",
    "invited_from",
    "updated_at",
)
SHARE_COLUMNS = ("agreement", "partner", "ticket", "side", "uuid", "detached_at")
agreement_option = click.option(
    "--agreement", "agreement_id", type=click.IntRange(min=1), required=True, metavar="ID"
)


@click.group()
def sharing() -> None:
    """Ticket sharing with other help desks (Zendesk's open ticket-sharing protocol)."""


@sharing.command("invite")
@click.argument("url")
@click.option("--no-sync-tags", "no_sync_tags", is_flag=True, help="Do not send the tickets' tags.")
@click.option("--sync-custom-fields", is_flag=True, help="Also send the tickets' custom fields.")
@click.option(
    "--private-comments",
    is_flag=True,
    help="The partner's comments on our tickets are stored as internal notes.",
)
@as_option
@format_option
@pass_state
def invite_command(
    state: CliState,
    url: str,
    no_sync_tags: bool,
    sync_custom_fields: bool,
    private_comments: bool,
    as_email: str | None,
    output: str,
) -> None:
    """Invite the help desk at URL (its sharing URL) to receive our tickets; sent in the background."""
    view = state.runtime.sharing.invite(
        _actor(state, as_email),
        url,
        sync_tags=not no_sync_tags,
        sync_custom_fields=sync_custom_fields,
        allows_public_comments=not private_comments,
    )
    _emit_agreement(view, output)


@sharing.command("list")
@as_option
@format_option
@pass_state
def list_command(state: CliState, as_email: str | None, output: str) -> None:
    """Agreements we sent and received; delivery_error says when the partner could not be told."""
    rows = state.runtime.sharing.agreements(_actor(state, as_email))
    if output == "json":
        emit_json(rows)
    else:
        emit_table([asdict(row) for row in rows], AGREEMENT_COLUMNS, "no sharing agreements")


@sharing.command("show")
@click.argument("agreement_id", type=click.IntRange(min=1), metavar="ID")
@as_option
@format_option
@pass_state
def show_command(state: CliState, agreement_id: int, as_email: str | None, output: str) -> None:
    """One agreement, with its uuid and permissions (never its access key)."""
    _emit_agreement(state.runtime.sharing.agreement(_actor(state, as_email), agreement_id), output)


@sharing.command("accept")
@click.argument("agreement_id", type=click.IntRange(min=1), metavar="ID")
@as_option
@format_option
@pass_state
def accept_command(state: CliState, agreement_id: int, as_email: str | None, output: str) -> None:
    """Accept an invitation we received; the partner is told in the background."""
    _answer(state, agreement_id, "accepted", as_email, output)


@sharing.command("decline")
@click.argument("agreement_id", type=click.IntRange(min=1), metavar="ID")
@as_option
@format_option
@pass_state
def decline_command(state: CliState, agreement_id: int, as_email: str | None, output: str) -> None:
    """Decline an invitation we received."""
    _answer(state, agreement_id, "declined", as_email, output)


@sharing.command("deactivate")
@click.argument("agreement_id", type=click.IntRange(min=1), metavar="ID")
@as_option
@format_option
@pass_state
def deactivate_command(state: CliState, agreement_id: int, as_email: str | None, output: str) -> None:
    """End an accepted agreement (either side may); it cannot be reactivated: invite again."""
    _answer(state, agreement_id, "inactive", as_email, output)


@sharing.command("dismiss")
@click.argument("agreement_id", type=click.IntRange(min=1), metavar="ID")
@as_option
@format_option
@pass_state
def dismiss_command(state: CliState, agreement_id: int, as_email: str | None, output: str) -> None:
    """Drop an invitation we received and have not answered; the sender is not told."""
    view = state.runtime.sharing.dismiss(_actor(state, as_email), agreement_id)
    if output == "json":
        emit_json(view)
    else:
        echo(f"agreement {view.id}: invitation from {view.partner_url} dismissed")


@sharing.command("clear-invitations")
@as_option
@format_option
@pass_state
def clear_invitations_command(state: CliState, as_email: str | None, output: str) -> None:
    """Drop every invitation we received and have not answered (a flood of them, say);
    the senders are not told, and a genuine partner may invite again."""
    dismissed = state.runtime.sharing.clear_invitations(_actor(state, as_email))
    if output == "json":
        emit_json({"dismissed": dismissed})
    else:
        echo(f"{dismissed} unanswered invitation(s) dismissed")


@sharing.command("share")
@click.argument("number")
@agreement_option
@as_option
@format_option
@pass_state
def share_command(state: CliState, number: str, agreement_id: int, as_email: str | None, output: str) -> None:
    """Send ticket NUMBER with its public comments to the partner of an accepted agreement we sent."""
    view = state.runtime.sharing.share(_actor(state, as_email), number, agreement_id)
    _emit_share(view, output, "shared with")


@sharing.command("unshare")
@click.argument("number")
@agreement_option
@as_option
@format_option
@pass_state
def unshare_command(
    state: CliState, number: str, agreement_id: int, as_email: str | None, output: str
) -> None:
    """Stop syncing ticket NUMBER with that partner; the partner keeps its copy."""
    view = state.runtime.sharing.unshare(_actor(state, as_email), number, agreement_id)
    _emit_share(view, output, "no longer shared with")


@sharing.command("shares")
@click.argument("number")
@as_option
@format_option
@pass_state
def shares_command(state: CliState, number: str, as_email: str | None, output: str) -> None:
    """The help desks ticket NUMBER is shared with, or came from."""
    rows = state.runtime.sharing.shares(_actor(state, as_email), number)
    if output == "json":
        emit_json(rows)
    else:
        emit_table([asdict(row) for row in rows], SHARE_COLUMNS, f"{number} is not shared")


def _actor(state: CliState, as_email: str | None) -> Actor:
    return state.runtime.desk.actor(as_email)


def _answer(state: CliState, agreement_id: int, status: str, as_email: str | None, output: str) -> None:
    _emit_agreement(state.runtime.sharing.answer(_actor(state, as_email), agreement_id, status), output)


def _emit_agreement(view: AgreementView, output: str) -> None:
    if output == "json":
        emit_json(view)
        return
    direction = "to" if view.side == "sender" else "from"
    partner = f"{view.partner} ({view.partner_url})" if view.partner else view.partner_url
    echo(f"agreement {view.id}: {view.status}, {direction} {partner}")
    flags = (
        f"tags {'synced' if view.sync_tags else 'not synced'}, "
        f"custom fields {'synced' if view.sync_custom_fields else 'not synced'}, "
        f"partner comments {'public allowed' if view.allows_public_comments else 'private'}"
    )
    echo(f"  uuid {view.uuid}; {flags}")
    if view.invited_from:
        echo(f"  invitation came from {view.invited_from}")
    if view.delivery_error:
        echo(f"  delivery failed: {view.delivery_error}")


def _emit_share(view: ShareView, output: str, verb: str) -> None:
    if output == "json":
        emit_json(view)
    else:
        partner = view.partner or "the partner"
        echo(f"{view.ticket} {verb} {partner} (agreement {view.agreement}, uuid {view.uuid})")
