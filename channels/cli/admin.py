"""``supportbot serve``, ``db``, ``teams``, ``categories``, ``fields`` and ``outbox``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import click
from sqlalchemy.engine import make_url

import bot
from bot.config.settings import secret_options
from bot.notify import outbox as outbox_service
from bot.store import migrate
from bot.store.db import Store, normalize_url
from bot.views import to_jsonable
from channels.bootstrap import serve as serve_runtime
from channels.bootstrap import serve_workers
from channels.cli.context import CliState, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=None,
    help="Processes sharing the ports (default: [serve] workers; 0: a CPU each on PostgreSQL, 1 on SQLite).",
)
@pass_state
def serve(state: CliState, workers: int | None) -> None:
    """Run the bot: HTTP, SMTP, IMAP polling and the outbox dispatcher."""
    state.serving = True
    settings = state.settings
    chosen = dataclasses.replace(settings.serve, workers=workers) if workers is not None else settings.serve
    count = chosen.worker_count(normalize_url(settings.database_url).get_backend_name(), _usable_cpus())
    if count == 1:
        asyncio.run(serve_runtime(state.runtime))
        return
    raise SystemExit(serve_workers(settings, state.environ, count))


def _usable_cpus() -> int | None:
    """The CPUs this process may run on (a container's cpuset), not the host's, where known."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count()


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: CliState) -> None:
    """Bring the schema to this version's head (run once per release on PostgreSQL)."""
    settings = state.settings
    store = Store(settings.database_url)
    try:
        before = migrate.current_revision(store)
        migrate.upgrade(store)
        echo(f"database schema: {before or 'empty'} -> {migrate.current_revision(store)}")
    finally:
        store.dispose()


@db.command("current")
@pass_state
def db_current(state: CliState) -> None:
    """Show the schema revision and whether it is up to date."""
    store = Store(state.settings.database_url)
    try:
        current, head = migrate.current_revision(store), migrate.head_revision()
        echo(f"{current or 'empty'} ({'up to date' if current == head else f'head is {head}'})")
    finally:
        store.dispose()


@click.group()
def teams() -> None:
    """Teams of agents; tickets are assigned round-robin within a team."""


@teams.command("add")
@click.argument("name")
@pass_state
def teams_add(state: CliState, name: str) -> None:
    desk = state.runtime.desk
    echo(f"added team {desk.add_team(desk.actor(None), name)}")


@teams.command("lead")
@click.argument("name")
@click.argument("email", required=False)
@pass_state
def teams_lead(state: CliState, name: str, email: str | None) -> None:
    """Set (or, without EMAIL, clear) the team lead the escalation ladder's team_lead step reaches."""
    desk = state.runtime.desk
    team = desk.set_team_lead(desk.actor(None), name, email)
    echo(f"team {team}: lead {email or 'none'}")


@teams.command("list")
@format_option
@pass_state
def teams_list(state: CliState, output: str) -> None:
    rows = state.runtime.desk.list_teams()
    emit_json(rows) if output == "json" else emit_table(rows, ("name", "members"), "no teams")


@click.group()
def categories() -> None:
    """Categories and subcategories (Network, Network/VPN)."""


@categories.command("add")
@click.argument("path")
@click.option("--team", help="Tickets in this category go to this team.")
@pass_state
def categories_add(state: CliState, path: str, team: str | None) -> None:
    desk = state.runtime.desk
    echo(f"added category {desk.add_category(desk.actor(None), path, team=team)}")


@categories.command("list")
@format_option
@pass_state
def categories_list(state: CliState, output: str) -> None:
    rows = state.runtime.desk.list_categories()
    emit_json(rows) if output == "json" else emit_table(rows, ("path", "team"), "no categories")


@click.group()
def fields() -> None:
    """Custom ticket fields and their validation."""


@fields.command("add")
@click.argument("key")
@click.option("--label", default="")
@click.option(
    "--type",
    "kind",
    required=True,
    type=click.Choice(["text", "number", "dropdown", "date", "multiple_choice"]),
)
@click.option("--choice", "choices", multiple=True, help="A choice of a dropdown or multiple_choice field.")
@click.option("--min", "minimum", type=float, help="Smallest number allowed.")
@click.option("--max", "maximum", type=float, help="Largest number allowed.")
@click.option("--pattern", help="A regular expression text values must match.")
@click.option("--required", is_flag=True)
@pass_state
def fields_add(
    state: CliState,
    key: str,
    label: str,
    kind: str,
    choices: tuple[str, ...],
    minimum: float | None,
    maximum: float | None,
    pattern: str | None,
    required: bool,
) -> None:
    options: dict[str, object] = {}
    if choices:
        options["choices"] = list(choices)
    for name, value in (("min", minimum), ("max", maximum), ("pattern", pattern)):
        if value is not None:
            options[name] = value
    desk = state.runtime.desk
    added = desk.define_field(desk.actor(None), key, label, kind, options=options, required=required)
    echo(f"added field {added}")


@fields.command("list")
@format_option
@pass_state
def fields_list(state: CliState, output: str) -> None:
    rows = state.runtime.desk.list_fields()
    if output == "json":
        emit_json(rows)
    else:
        emit_table(
            [r | {"options": json.dumps(r["options"])} for r in rows],
            ("key", "label", "type", "required", "options"),
            "no custom fields",
        )


@click.group()
def outbox() -> None:
    """Notifications waiting to go out, sent, or dead."""


@outbox.command("list")
@click.option("--status", type=click.Choice(list(outbox_service.STATUSES)))
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@format_option
@pass_state
def outbox_list(state: CliState, status: str | None, limit: int, output: str) -> None:
    rows = outbox_service.list_notifications(
        state.runtime.store, prefix=state.settings.ticket_prefix, status=status, limit=limit
    )
    if output == "json":
        emit_json(rows)
    else:
        emit_table(
            [to_jsonable(r) for r in rows],
            ("id", "ticket", "channel", "recipient", "template", "status", "attempts", "last_error"),
            "the outbox is empty",
        )


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_state
def outbox_retry(state: CliState, ids: tuple[int, ...]) -> None:
    """Give dead notifications (all, or the IDS given) a fresh set of attempts."""
    runtime = state.runtime
    count = outbox_service.retry(runtime.store, runtime.clock, ids)
    echo(f"{count} notification(s) queued again")


@outbox.command("dispatch")
@pass_state
def outbox_dispatch(state: CliState) -> None:
    """Send what is due now, without a running server."""
    report = state.runtime.dispatcher.run_until_idle()
    echo(f"{report.sent} sent, {report.retried} to retry, {report.dead} dead")


@click.group("config")
def config_group() -> None:
    """The settings in force, and a complete example file."""


@config_group.command("example")
def config_example() -> None:
    """Print every option with its default and a comment: a starting point for --config."""
    echo(example_config_path().read_text(encoding="utf-8"), nl=False)


@config_group.command("show")
@pass_state
def config_show(state: CliState) -> None:
    """Check the configuration and print the settings in force (file + environment), as JSON."""
    settings = dataclasses.asdict(state.settings)
    if settings["database"]["url"]:
        settings["database"]["url"] = make_url(settings["database"]["url"]).render_as_string(
            hide_password=True
        )
    for name in secret_options():
        *sections, key = name.split(".")
        holder = settings
        for section in sections:
            holder = holder[section]
        if holder[key]:
            holder[key] = "********"
    settings["effective_database_url"] = make_url(state.settings.database_url).render_as_string(
        hide_password=True
    )
    emit_json(settings)


def example_config_path() -> Path:
    """Beside the package when installed from a wheel, at the repo root in a checkout."""
    packaged = Path(bot.__file__).with_name("_config") / "supportbot.toml"
    return (
        packaged
        if packaged.is_file()
        else Path(bot.__file__).resolve().parent.parent / "config" / "supportbot.toml"
    )
