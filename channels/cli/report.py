"""``supportbot report sla``: SLA figures of a period as a table, JSON or CSV, and a chart per week or day.

The figures come from the desk; this module only lays them out. matplotlib is
imported when a chart is asked for, and only here: the core never draws.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from bot.errors import UserError
from bot.read.reports import GROUPINGS, PERIODS, SlaReport, rounded
from channels.cli.context import CliState, emit_json, emit_table, pass_state
from channels.cli.terminal import echo

COLUMNS = (
    "group",
    "tickets",
    "resolved",
    "sla_compliance_pct",
    "first_response_mean_h",
    "first_response_median_h",
    "resolution_mean_h",
    "resolution_median_h",
    "escalations",
)
PERIOD_COLUMNS = ("period", *COLUMNS[1:])


@click.group()
def report() -> None:
    """Reports over the tickets in the store."""


@report.command("sla")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Tickets created since: a duration (12h, 30d, 4w) or an ISO date (UTC if no offset).",
)
@click.option("--by", metavar="|".join(GROUPINGS), help="One row per group; default: one row for all.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people, json or csv for scripts.",
)
@click.option(
    "--period",
    type=click.Choice(PERIODS),
    help="Also the figures per day or ISO week (UTC); the chart and JSON's periods follow it "
    "(default: week).",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw volume and compliance per ISO week (or --period day) to this PNG file.",
)
@pass_state
def sla_command(
    state: CliState, since: str, by: str | None, output: str, period: str | None, chart: Path | None
) -> None:
    """Volume, SLA compliance, first response and resolution times (hours) and escalations."""
    result = state.runtime.desk.sla_report(since, by, period or "week")
    if chart is not None:
        draw_chart(result, chart)
    rows = [rounded(row) for row in result.rows]
    if output == "json":
        weeks = [rounded(week) | {"starts": week.starts.isoformat()} for week in result.weeks]
        periods = [rounded(row) | {"starts": row.starts.isoformat()} for row in result.series]
        emit_json(
            {
                "since": result.since,
                "until": result.until,
                "by": result.by,
                "rows": rows,
                "weeks": weeks,
                "period": result.period,
                "periods": periods,
            }
        )
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        echo(buffer.getvalue(), nl=False)
    else:
        echo(f"tickets created {_period(result)}")
        emit_table(rows, COLUMNS, "no tickets")
        if period is not None:  # asked for: the table of every day or week after the groups'
            echo(f"\nper {period}")
            emit_table([rounded(row) for row in result.series], PERIOD_COLUMNS, "no tickets")
    if chart is not None:
        # JSON and CSV stay parseable on stdout; the note goes beside them.
        echo(f"chart written to {chart}", err=output != "table")


def _period(result: SlaReport) -> str:
    return f"{result.since:%Y-%m-%d %H:%M} to {result.until:%Y-%m-%d %H:%M} UTC"


def draw_chart(result: SlaReport, path: Path) -> None:
    """Bars of tickets created per ISO week or day (left axis), a line of SLA compliance % (right axis)."""
    # Imported here: matplotlib is slow to load and only this option needs it. The Agg canvas
    # renders to a file without any display and without touching pyplot's global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 5), layout="constrained")
    FigureCanvasAgg(figure)
    volume = figure.add_subplot()
    volume.set_title(f"SLA per {result.period}, tickets created {_period(result)}")
    periods = result.series
    labels = [row.period for row in periods]
    positions = list(range(len(periods)))
    volume.bar(positions, [row.tickets for row in periods], color="tab:blue", alpha=0.6, label="tickets")
    volume.set_ylabel("tickets created")
    # A label for at most about 25 bars: a year of days stays readable.
    every = max(1, -(-len(periods) // 25))
    volume.set_xticks(positions[::every], labels[::every], rotation=45, ha="right")
    volume.set_ylim(bottom=0)
    volume.yaxis.set_major_locator(MaxNLocator(integer=True))
    compliance = volume.twinx()
    measured = [
        (x, row.sla_compliance_pct) for x, row in enumerate(periods) if row.sla_compliance_pct is not None
    ]
    compliance.plot(
        [x for x, _ in measured],
        [pct for _, pct in measured],
        color="tab:red",
        marker="o",
        label="SLA compliance %",
    )
    compliance.set_ylabel("SLA compliance %")
    compliance.set_ylim(0, 105)
    handles = volume.get_legend_handles_labels()[0] + compliance.get_legend_handles_labels()[0]
    compliance.legend(handles=handles, loc="upper left")
    if not any(row.tickets for row in periods):
        volume.text(0.5, 0.5, "no tickets", transform=volume.transAxes, ha="center", va="center", fontsize=16)
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as error:
        raise UserError(f"cannot write the chart to {path}: {error.strerror or error}") from None
