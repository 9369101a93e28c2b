"""``supportbot sla ...``: run the SLA sweep (now, as if at another time, or only to see), and
the SLA policies in force, which admins add on top of the settings file's."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from bot.errors import UserError
from bot.sla.settings import SlaPolicyOverride
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo


@click.group()
def sla() -> None:
    """SLA clocks, policies and the escalation ladder."""


@sla.command("sweep")
@click.option(
    "--at", "at_text", metavar="TIME", help="Sweep as if it were TIME (ISO 8601; UTC if no offset)."
)
@click.option("--dry-run", is_flag=True, help="Show what would fire and change nothing.")
@format_option
@pass_state
def sweep_command(state: CliState, at_text: str | None, dry_run: bool, output: str) -> None:
    """Look at every ticket whose SLA check is due; print each ladder level that fired (or would)."""
    at = _parse_time(at_text) if at_text else None
    report = state.runtime.desk.sla_sweep(at=at, dry_run=dry_run)
    rows = [
        {
            "ticket": fired.number,
            "level": fired.level,
            "threshold": fired.threshold,
            "notify": ", ".join(fired.notify),
            "changes": ", ".join(fired.changes),
        }
        for fired in report.fired
    ]
    if output == "json":
        emit_json({"checked": report.checked, "dry_run": dry_run, "fired": rows})
        return
    emit_table(rows, ("ticket", "level", "threshold", "notify", "changes"), "nothing fired")
    verb = "would fire" if dry_run else "fired"
    echo(f"{report.checked} ticket(s) checked, {len(rows)} level(s) {verb}")


@sla.command("policies")
@as_option
@format_option
@pass_state
def policies_command(state: CliState, as_email: str | None, output: str) -> None:
    """Every policy in force: the settings file's and the stored ones (which replace the file's
    for the same category and priority)."""
    desk = state.runtime.desk
    configuration = desk.sla_configuration(desk.actor(as_email))
    if output == "json":
        emit_json(configuration)
        return
    rows = [
        policy | {"category": policy["category"] or "(any)", "priority": policy["priority"] or "(any)"}
        for policy in configuration["overrides"]
    ]
    columns = ("id", "source", "category", "priority", "first_response", "resolution", "business_hours")
    emit_table(rows, columns, "no policies besides the defaults per priority")


@sla.command("policy-add")
@click.option(
    "--category", default="", metavar="PATH", help="Its category (and subcategories); default: any."
)
@click.option("--priority", default="", help="Only this priority; default: any (give one of the two).")
@click.option("--first-response", required=True, metavar="DURATION", help="e.g. 90s, 15m, 4h or 2d.")
@click.option("--resolution", required=True, metavar="DURATION", help="e.g. 90s, 15m, 4h or 2d.")
@click.option("--timezone", default="", help="IANA name; default: [sla] timezone.")
@click.option("--business-hours", default="", help="e.g. 'mon-fri 09:00-17:00'; default: [sla]'s.")
@click.option("--holiday-country", default="", help="ISO code, e.g. DE; default: [sla]'s.")
@click.option("--holidays", default="", help="Extra closed days, ISO dates separated by commas.")
@as_option
@format_option
@pass_state
def policy_add_command(
    state: CliState,
    category: str,
    priority: str,
    first_response: str,
    resolution: str,
    timezone: str,
    business_hours: str,
    holiday_country: str,
    holidays: str,
    as_email: str | None,
    output: str,
) -> None:
    """Store a policy; every process uses it from its next transaction, and the next sweep
    re-times unfinished tickets."""
    desk = state.runtime.desk
    entry = SlaPolicyOverride(
        category=category,
        priority=priority,
        first_response=first_response,
        resolution=resolution,
        timezone=timezone,
        business_hours=business_hours,
        holiday_country=holiday_country,
        holidays=holidays,
    )
    view = desk.add_sla_policy(desk.actor(as_email), entry)
    if output == "json":
        emit_json(view)
    else:
        echo(f"SLA policy {view['id']} added: {view['first_response']}/{view['resolution']}")


@sla.command("policy-remove")
@click.argument("policy_id", type=int)
@as_option
@pass_state
def policy_remove_command(state: CliState, policy_id: int, as_email: str | None) -> None:
    """Delete a stored policy; the settings file's for the same category and priority holds again."""
    desk = state.runtime.desk
    view = desk.remove_sla_policy(desk.actor(as_email), policy_id)
    echo(f"SLA policy {view['id']} removed")


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--at {text!r} is not a time like 2026-03-02T14:00 or 2026-03-02T14:00+01:00"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
