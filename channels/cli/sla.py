"""``supportbot sla sweep``: run the SLA sweep now, or as if at another time, or only to see."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from bot.errors import UserError
from channels.cli.context import CliState, emit_json, emit_table, format_option, pass_state


@click.group()
def sla() -> None:
    """SLA clocks and the escalation ladder."""


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
    click.echo(f"{report.checked} ticket(s) checked, {len(rows)} level(s) {verb}")


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--at {text!r} is not a time like 2026-03-02T14:00 or 2026-03-02T14:00+01:00"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
