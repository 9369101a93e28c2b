"""``supportbot routing ...``: the routing rules that place new tickets (admins change them)."""

from __future__ import annotations

from typing import Any

import click

from bot.automation.routing_rules import CHANNELS, RuleInput
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo


@click.group()
def routing() -> None:
    """Where new tickets go: the first enabled rule whose conditions all hold sets its actions."""


@routing.command("list")
@as_option
@format_option
@pass_state
def list_command(state: CliState, as_email: str | None, output: str) -> None:
    """Every rule in the order they are tried, disabled ones included."""
    desk = state.runtime.desk
    rules = desk.list_routing_rules(desk.actor(as_email))
    if output == "json":
        emit_json(rules)
        return
    columns = ("id", "position", "name", "enabled", "when", "then")
    emit_table([_row(rule) for rule in rules], columns, "no routing rules")


@routing.command("add")
@click.argument("name")
@click.option("--channel", type=click.Choice(CHANNELS), help="Only tickets opened on this channel.")
@click.option("--mailbox", metavar="ADDRESS", help="Only mail sent to this support address.")
@click.option("--sender", metavar="ADDRESS|@DOMAIN", help="Only from this address or domain.")
@click.option(
    "--keyword", "keywords", multiple=True, help="A word or phrase in the subject or message (repeat)."
)
@click.option("--team", help="Give matching tickets to this team.")
@click.option("--category", metavar="PATH", help="File them in this category (brings its team).")
@click.option("--priority", help="Give them this priority.")
@click.option("--tag", "tags", multiple=True, help="Tag them (repeat).")
@click.option("--position", type=click.IntRange(0, 2**31 - 1), help="Lower is tried first; default: last.")
@click.option("--disabled", is_flag=True, help="Store it without applying it yet.")
@as_option
@format_option
@pass_state
def add_command(
    state: CliState,
    name: str,
    channel: str | None,
    mailbox: str | None,
    sender: str | None,
    keywords: tuple[str, ...],
    team: str | None,
    category: str | None,
    priority: str | None,
    tags: tuple[str, ...],
    position: int | None,
    disabled: bool,
    as_email: str | None,
    output: str,
) -> None:
    """Add a rule called NAME; it applies to tickets opened from now on, in every process."""
    desk = state.runtime.desk
    rule = RuleInput(
        name=name,
        channel=channel or "",
        mailbox=mailbox or "",
        sender=sender or "",
        keywords=keywords,
        team=team,
        category=category,
        priority=priority,
        tags=tags,
        enabled=not disabled,
        position=position,
    )
    view = desk.add_routing_rule(desk.actor(as_email), rule)
    if output == "json":
        emit_json(view)
    else:
        echo(f"routing rule {view['id']} ({view['name']}) added at position {view['position']}")


@routing.command("remove")
@click.argument("rule_id", type=int)
@as_option
@pass_state
def remove_command(state: CliState, rule_id: int, as_email: str | None) -> None:
    """Delete a rule; tickets it placed keep their team, category and tags."""
    desk = state.runtime.desk
    view = desk.remove_routing_rule(desk.actor(as_email), rule_id)
    echo(f"routing rule {view['id']} ({view['name']}) removed")


def _row(rule: dict[str, Any]) -> dict[str, Any]:
    when = rule["conditions"]
    then = rule["actions"]
    conditions = [f"{key}={value}" for key, value in when.items() if value and key != "keywords"]
    if when["keywords"]:
        conditions.append("words=" + "|".join(when["keywords"]))
    actions = [f"{key}={value}" for key, value in then.items() if value and key != "tags"]
    if then["tags"]:
        actions.append("tags=" + ",".join(then["tags"]))
    return {
        "id": rule["id"],
        "position": rule["position"],
        "name": rule["name"],
        "enabled": rule["enabled"],
        "when": " ".join(conditions) or "every ticket",
        "then": " ".join(actions),
    }
