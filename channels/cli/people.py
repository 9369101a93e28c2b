"""``supportbot people ...``: requesters, agents and admins."""

from __future__ import annotations

import sys

import click

from bot.errors import UserError
from bot.model import Role, parse_role
from bot.views import to_jsonable
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo

ROLES = click.Choice([role.value for role in Role])


@click.group()
def people() -> None:
    """Add and list the people the desk knows."""


@people.command("add")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", type=ROLES, default="requester", show_default=True)
@click.option("--team", help="The team an agent works in (see 'supportbot teams').")
@click.option("--slack-user-id")
@format_option
@pass_state
def add_command(
    state: CliState,
    email: str,
    name: str,
    role: str,
    team: str | None,
    slack_user_id: str | None,
    output: str,
) -> None:
    desk = state.runtime.desk
    person = desk.add_person(
        desk.actor(None), email, name=name, role=parse_role(role), team=team, slack_user_id=slack_user_id
    )
    if output == "json":
        emit_json(person)
    else:
        echo(f"added {person.email} as {person.role}")


@people.command("update")
@click.argument("email")
@click.option("--name")
@click.option("--role", type=ROLES)
@click.option("--team", help="A team name, or '' to take them out of their team.")
@format_option
@pass_state
def update_command(
    state: CliState, email: str, name: str | None, role: str | None, team: str | None, output: str
) -> None:
    desk = state.runtime.desk
    person = desk.update_person(
        desk.actor(None), email, name=name, role=parse_role(role) if role else None, team=team
    )
    if output == "json":
        emit_json(person)
    else:
        echo(f"updated {person.email}: {person.role}, team {person.team or '-'}")


@people.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (for scripts) instead of asking twice.",
)
@click.option("--remove", is_flag=True, help="Remove the password: a sign-in link or SSO only.")
@pass_state
def set_password_command(state: CliState, email: str, password_stdin: bool, remove: bool) -> None:
    """Set the password an agent or admin signs in to the web desk with (argon2id-hashed).

    Asked at the prompt, never taken as an argument: arguments show in the process list
    and the shell history. The person's open web sessions end."""
    desk = state.runtime.desk
    password: str | None
    if remove:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    desk.set_password(desk.actor(None), email, password)
    echo(f"password {'removed' if remove else 'set'} for {email.strip().lower()}")


@people.command("list")
@click.option("--role", type=ROLES)
@format_option
@pass_state
def list_command(state: CliState, role: str | None, output: str) -> None:
    rows = state.runtime.desk.list_people(role)
    if output == "json":
        emit_json(rows)
    else:
        emit_table(
            [to_jsonable(r) for r in rows], ("email", "name", "role", "team", "slack_user_id"), "no people"
        )


@people.command("prefs")
@click.argument("email")
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="EVENT=CHANNELS",
    help="e.g. sla_warning=slack or escalation=both; CHANNELS: email, slack, both, none, default.",
)
@as_option
@format_option
@pass_state
def prefs_command(
    state: CliState, email: str, changes: tuple[str, ...], as_email: str | None, output: str
) -> None:
    """Show, or change, how EMAIL hears about each kind of event."""
    desk = state.runtime.desk
    current = desk.preferences(email)
    for change in changes:
        event, sep, channels = change.partition("=")
        if not sep:
            raise UserError(f"--set {change!r}: write EVENT=CHANNELS, e.g. sla_warning=slack", field="set")
        current = desk.set_preference(desk.actor(as_email), email, event.strip(), channels.strip())
    if output == "json":
        emit_json(current)
    else:
        emit_table([{"event": k, "channels": v} for k, v in current.items()], ("event", "channels"), "")
