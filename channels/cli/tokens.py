"""``supportbot tokens ...``: API tokens for agents' tools and integrations."""

from __future__ import annotations

import click

from bot.views import to_jsonable
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo


@click.group()
def tokens() -> None:
    """API tokens: each acts as its person, with their role."""


@tokens.command("create")
@click.option("--person", "email", required=True, metavar="EMAIL", help="Whose token it is.")
@click.option("--name", default="", help="What it is for (shown in 'tokens list').")
@as_option
@format_option
@pass_state
def create_command(state: CliState, email: str, name: str, as_email: str | None, output: str) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    desk = state.runtime.desk
    view, token = desk.create_token(desk.actor(as_email), email, name)
    if output == "json":
        emit_json({**to_jsonable(view), "token": token})
    else:
        echo(token)
        echo(f"token {view.id} for {view.person}: keep it now, it is not shown again", err=True)


@tokens.command("list")
@click.option("--person", "email", metavar="EMAIL")
@format_option
@pass_state
def list_command(state: CliState, email: str | None, output: str) -> None:
    rows = state.runtime.desk.list_tokens(email)
    if output == "json":
        emit_json(rows)
    else:
        columns = ("id", "person", "name", "prefix", "created_at", "revoked_at")
        emit_table([to_jsonable(r) for r in rows], columns, "no tokens")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@as_option
@pass_state
def revoke_command(state: CliState, token_id: int, as_email: str | None) -> None:
    desk = state.runtime.desk
    view = desk.revoke_token(desk.actor(as_email), token_id)
    echo(f"token {view.id} of {view.person} revoked")
