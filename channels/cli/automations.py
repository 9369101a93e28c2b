"""``supportbot automations ...``: automation rules from a terminal. Admins keep them;
staff list them, try them on stored tickets and read what they did.

A rule is written as a JSON or TOML file (``-`` reads standard input) holding the
rule's JSON shape (README, "Automation rules"). The core checks it whole and names
the part at fault (``conditions.all[1].op``); nothing is stored then.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.automation.dry_run import TestReport
from bot.automation.runs import OUTCOMES
from bot.errors import UserError
from bot.read.queries import TicketFilter
from bot.rules.durations import since_of
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo
from channels.terminal_text import visible_line

F = TypeVar("F", bound=Callable[..., Any])
# The ticket list's filters that make sense for choosing tickets to try a rule on.
FILTERS = ("status", "priority", "assignee", "requester", "tag", "category", "team", "sla_status", "text")
MAX_FILE = 1024 * 1024  # as the API's body limit
MAX_ID = 2**31 - 1


def output_options(command: F) -> F:
    """``--format table|json``, as every command has, and ``--json`` for short."""
    command = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(command)
    return format_option(command)


def _json_wanted(output: str, as_json: bool) -> bool:
    return as_json or output == "json"


@click.group()
def automations() -> None:
    """Rules that act on tickets when something happens to them, or after a while."""


@automations.command("list")
@as_option
@output_options
@pass_state
def list_command(state: CliState, as_email: str | None, output: str, as_json: bool) -> None:
    """Every rule in the order they run, disabled ones included, with their run counts."""
    desk = state.runtime.desk
    rules = desk.list_automations(desk.actor(as_email))
    if _json_wanted(output, as_json):
        emit_json(rules)
        return
    columns = ("id", "position", "name", "trigger", "mode", "enabled", "applied", "dry_run", "failed")
    emit_table([_row(rule) for rule in rules], columns, "no automation rules")


@automations.command("show")
@click.argument("rule_id", type=click.IntRange(1, 2**31 - 1))
@as_option
@pass_state
def show_command(state: CliState, rule_id: int, as_email: str | None) -> None:
    """The rule as JSON, as add and edit take it, with its run counts."""
    desk = state.runtime.desk
    emit_json(desk.get_automation(desk.actor(as_email), rule_id))


@automations.command("add")
@click.argument("file", metavar="FILE")
@as_option
@output_options
@pass_state
def add_command(state: CliState, file: str, as_email: str | None, output: str, as_json: bool) -> None:
    """Add the rule in FILE (JSON, or TOML when it ends in .toml; - for standard input).
    Without a position it runs after the others. TOML has no null: a rule that unassigns
    or clears a field is written in JSON."""
    desk = state.runtime.desk
    view = desk.add_automation(desk.actor(as_email), read_rule(file))
    _done(view, f"added at position {view['position']}", output, as_json)


@automations.command("edit")
@click.argument("rule_id", type=click.IntRange(1, 2**31 - 1))
@click.argument("file", metavar="FILE")
@as_option
@output_options
@pass_state
def edit_command(
    state: CliState, rule_id: int, file: str, as_email: str | None, output: str, as_json: bool
) -> None:
    """Replace the whole rule with the one in FILE; without a position it keeps its place."""
    desk = state.runtime.desk
    view = desk.change_automation(desk.actor(as_email), rule_id, read_rule(file))
    _done(view, "changed", output, as_json)


@automations.command("remove")
@click.argument("rule_id", type=click.IntRange(1, 2**31 - 1))
@as_option
@pass_state
def remove_command(state: CliState, rule_id: int, as_email: str | None) -> None:
    """Delete a rule; its log stays."""
    desk = state.runtime.desk
    view = desk.remove_automation(desk.actor(as_email), rule_id)
    _done(view, "removed", "table", False)


def _patch_command(name: str, help_text: str, done: str, **change: Any) -> None:
    @automations.command(name, help=help_text)
    @click.argument("rule_id", type=click.IntRange(1, 2**31 - 1))
    @as_option
    @output_options
    @pass_state
    def command(state: CliState, rule_id: int, as_email: str | None, output: str, as_json: bool) -> None:
        desk = state.runtime.desk
        view = desk.patch_automation(desk.actor(as_email), rule_id, **change)
        _done(view, done, output, as_json)


_patch_command("enable", "Run the rule from now on (in its mode: live or dry-run).", "enabled", enabled=True)
_patch_command("disable", "Stop running the rule; it is kept.", "disabled", enabled=False)
_patch_command(
    "dry-run",
    "Evaluate the rule on live events and log what it would do, changing nothing.",
    "now in dry-run: its actions are only logged",
    mode="dry_run",
)
_patch_command("live", "Let the rule's actions change tickets.", "now live", mode="live")


@automations.command("move")
@click.argument("rule_id", type=click.IntRange(1, 2**31 - 1))
@click.argument("position", type=click.IntRange(0, 2**31 - 1))
@as_option
@output_options
@pass_state
def move_command(
    state: CliState, rule_id: int, position: int, as_email: str | None, output: str, as_json: bool
) -> None:
    """Give the rule a new POSITION: lower runs first."""
    desk = state.runtime.desk
    view = desk.patch_automation(desk.actor(as_email), rule_id, position=position)
    _done(view, f"moved to position {view['position']}", output, as_json)


@automations.command("test")
@click.argument("rule", metavar="RULE_FILE_OR_ID")
@click.option(
    "--since", metavar="30d|ISO", help="Events since this long ago or this instant (default: 30 days)."
)
@click.option(
    "--filter",
    "filters",
    metavar="KEY=VALUE",
    multiple=True,
    help=f"Only tickets with this {', '.join(FILTERS)} (repeat).",
)
@click.option("--limit", type=click.IntRange(1, 2000), default=2000, show_default=True, help="Tickets tried.")
@as_option
@output_options
@pass_state
def test_command(
    state: CliState,
    rule: str,
    since: str | None,
    filters: tuple[str, ...],
    limit: int,
    as_email: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Which stored tickets a rule would match, and what each of its actions would change.
    RULE_FILE_OR_ID is a stored rule's id (enabled or not) or a rule file (- for standard
    input). Nothing is written."""
    desk = state.runtime.desk
    tried: dict[str, Any] | int = read_rule(rule) if not (rule.isascii() and rule.isdigit()) else int(rule)
    if isinstance(tried, int) and not 1 <= tried <= MAX_ID:
        raise UserError(f"no automation rule {rule}", field="rule")
    report = desk.test_automation(
        desk.actor(as_email),
        tried,
        since=since_of(since, desk.clock.now()),
        filters=filter_of(filters),
        limit=limit,
    )
    if _json_wanted(output, as_json):
        emit_json(report)
        return
    _print_report(report)


@automations.command("log")
@click.option("--rule", "rule_id", type=click.IntRange(1, 2**31 - 1), help="One rule's runs.")
@click.option("--ticket", metavar="NUMBER", help="One ticket's runs (SUP-1).")
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only runs with this outcome.")
@click.option("--before", type=click.IntRange(1, 2**31 - 1), help="Runs older than this id (paging back).")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@as_option
@output_options
@pass_state
def log_command(
    state: CliState,
    rule_id: int | None,
    ticket: str | None,
    outcome: str | None,
    before: int | None,
    limit: int,
    as_email: str | None,
    output: str,
    as_json: bool,
) -> None:
    """What the rules did, newest first: each run's ticket, trigger, outcome, and the changes
    it made or why it made none."""
    desk = state.runtime.desk
    runs = desk.automation_log(
        desk.actor(as_email), rule_id=rule_id, ticket=ticket, outcome=outcome, before_id=before, limit=limit
    )
    if _json_wanted(output, as_json):
        emit_json(runs)
        return
    if not runs:
        echo("no automation runs")
    for run in runs:
        ticket_shown = run.ticket or "-"
        echo(
            f"#{run.id} {run.at.strftime('%Y-%m-%d %H:%M')} {ticket_shown} {run.trigger} {run.outcome}"
            f" rule {run.rule_id} ({visible_line(run.rule)})" + (f" depth {run.depth}" if run.depth else "")
        )
        for change in run.changes:
            echo(f"    {describe(change)}")
        if run.reason:
            echo(f"    reason: {visible_line(run.reason)}")
    if len(runs) == limit:
        echo(f"older runs: --before {runs[-1].id}")


# -- reading rules -----------------------------------------------------------------------


def read_rule(name: str) -> dict[str, Any]:
    """The rule in a JSON or TOML file; ``-`` is standard input (JSON, or TOML when it does not
    start with ``{``)."""
    if name == "-":
        text = sys.stdin.read(MAX_FILE + 1)
        label = "standard input"
    else:
        path = Path(name)
        label = name
        try:
            with path.open(encoding="utf-8") as handle:
                text = handle.read(MAX_FILE + 1)
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise UserError(f"cannot read {name}: {reason}", field="file") from None
    if len(text) > MAX_FILE:
        raise UserError(f"{label}: a rule file holds at most {MAX_FILE // 1024} KiB", field="file")
    toml = name.lower().endswith(".toml") or (name == "-" and not text.lstrip().startswith("{"))
    try:
        data: Any = _plain(tomllib.loads(text)) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{label} is not valid TOML: {error}", field="file") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise UserError(f"{label} is not valid JSON: {error}", field="file") from None
    if not isinstance(data, dict):
        raise UserError(f"{label}: a rule is a JSON object, {{...}}", field="rule")
    rule: dict[str, Any] = data
    return rule


def _plain(value: Any) -> Any:
    """TOML's dates and times as the ISO text JSON would carry."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def filter_of(pairs: tuple[str, ...]) -> TicketFilter | None:
    if not pairs:
        return None
    chosen: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or key not in FILTERS:
            raise UserError(
                f"--filter {pair[:60]!r}: write KEY=VALUE with KEY one of {', '.join(FILTERS)}",
                field="filter",
            )
        chosen[key] = value.strip()
    return TicketFilter(**chosen)


# -- printing ----------------------------------------------------------------------------


def _row(rule: dict[str, Any]) -> dict[str, Any]:
    trigger = rule["trigger"]
    shown = trigger["on"]
    if trigger["on"] == "time":
        shown = f"time: {trigger['after']} after {trigger['since']}"
    elif trigger.get("field"):
        shown = f"{shown}: {trigger['field']}"
    return {
        "id": rule["id"],
        "position": rule["position"],
        "name": visible_line(rule["name"]),
        "trigger": shown,
        "mode": rule["mode"],
        "enabled": "yes" if rule["enabled"] else "no",
        "applied": rule["runs"]["applied"],
        "dry_run": rule["runs"]["dry_run"],
        "failed": rule["runs"]["failed"],
    }


def _done(view: dict[str, Any], what: str, output: str, as_json: bool) -> None:
    if _json_wanted(output, as_json):
        emit_json(view)
    else:
        echo(f"automation rule {view['id']} ({visible_line(view['name'])}) {what}")


def _print_report(report: TestReport) -> None:
    name = report.rule.get("name", "")
    since = report.since.strftime("%Y-%m-%d %H:%M UTC")
    more = " (more tickets than that: narrow with --since or --filter)" if report.truncated else ""
    echo(f"rule '{visible_line(str(name))}' tried on {report.examined} tickets since {since}{more}")
    echo(f"{report.matched} would match" + (f", {len(report.matches)} shown" if report.truncated else ""))
    for match in report.matches:
        at = f" at {match.at.strftime('%Y-%m-%d %H:%M')}" if match.at else ""
        note = f" ({match.note})" if match.note else ""
        echo(f"{match.ticket}: {match.trigger}{at}{note} · {visible_line(match.subject)[:80]}")
        for change in match.changes or [{"action": "no change", "note": "every action finds it done"}]:
            echo(f"  {describe(change)}")
    echo("nothing was written: this was a dry run")


def describe(change: dict[str, Any]) -> str:
    """One change as a line: ``set_priority: priority medium -> high``."""
    action = change.get("action", "?")
    if "error" in change:
        return f"{action}: fails: {visible_line(str(change['error']))}"
    if "field" in change:
        return f"{action}: {change['field']} {_shown(change.get('before'))} -> {_shown(change.get('after'))}"
    rest = ", ".join(f"{key} {_shown(value)}" for key, value in change.items() if key != "action")
    return f"{action}: {rest}" if rest else visible_line(str(action))


def _shown(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "(none)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(visible_line(str(item)) for item in value) + "]"
    return visible_line(str(value))
