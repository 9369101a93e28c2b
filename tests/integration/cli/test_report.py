"""``supportbot report sla``: volume, SLA compliance, response and resolution times, escalations."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.cli.report import COLUMNS
from tests.integration.cli.support import AGENT, Cli, create

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ladder(cli: Cli) -> Counter[str]:
    """Three tickets, and how many ladder levels fired on each.

    SUP-1 (high, Network, team Ops, so assigned to the agent) is answered and resolved in time;
    SUP-2 (low) and SUP-3 (urgent, escalated by hand) are left open, then a sweep as if in 2100
    breaches both and fires the whole ladder on them.
    """
    cli.ok("teams", "add", "Ops")
    cli.ok("people", "add", "--email", AGENT, "--name", "Ann Agent", "--role", "agent", "--team", "Ops")
    cli.ok("categories", "add", "Network")
    create(cli, "VPN down", "--priority", "high", "--category", "Network", "--team", "Ops")
    create(cli, "Password reset", "--priority", "low")
    create(cli, "Shop down", "--priority", "urgent")
    cli.ok("tickets", "comment", "SUP-1", "Restarted the concentrator.", "--as", AGENT)
    cli.ok("tickets", "status", "SUP-1", "resolved", "--as", AGENT)
    cli.ok("tickets", "escalate", "SUP-3", "--reason", "Every sale is failing")
    fired = cli.json("sla", "sweep", "--at", "2100-01-01T00:00")["fired"]
    counts = Counter(str(row["ticket"]) for row in fired)
    assert set(counts) == {"SUP-2", "SUP-3"}
    return counts


def rows_by_group(cli: Cli, *options: str) -> dict[str, dict[str, Any]]:
    return {row["group"]: row for row in cli.json("report", "sla", *options)["rows"]}


def test_one_row_counts_every_ticket_created_in_the_period(cli: Cli, ladder: Counter[str]) -> None:
    report = cli.json("report", "sla", "--since", "30d")

    [row] = report["rows"]
    assert list(row) == list(COLUMNS)
    assert row["group"] == "all"
    assert (row["tickets"], row["resolved"]) == (3, 1)
    assert row["sla_compliance_pct"] == 33.3
    # Only SUP-1 was answered and resolved, seconds after it came in.
    assert 0 <= row["first_response_mean_h"] == row["first_response_median_h"] < 0.1
    assert 0 <= row["resolution_mean_h"] == row["resolution_median_h"] < 0.1
    # Every ladder level fired, plus the one escalation by hand.
    assert row["escalations"] == sum(ladder.values()) + 1
    since, until = datetime.fromisoformat(report["since"]), datetime.fromisoformat(report["until"])
    assert (until - since).days == 30 and until.tzinfo is not None


def test_rows_per_priority_put_the_most_urgent_first(cli: Cli, ladder: Counter[str]) -> None:
    rows = cli.json("report", "sla", "--by", "priority")["rows"]

    assert [row["group"] for row in rows] == ["urgent", "high", "low"]
    urgent, high, low = rows
    assert (urgent["tickets"], urgent["resolved"], urgent["sla_compliance_pct"]) == (1, 0, 0.0)
    assert urgent["escalations"] == ladder["SUP-3"] + 1
    assert urgent["first_response_mean_h"] is None and urgent["resolution_median_h"] is None
    assert (high["tickets"], high["resolved"], high["sla_compliance_pct"], high["escalations"]) == (
        1,
        1,
        100.0,
        0,
    )
    assert high["first_response_median_h"] is not None
    assert (low["sla_compliance_pct"], low["escalations"]) == (0.0, ladder["SUP-2"])


@pytest.mark.parametrize(
    ("by", "groups"),
    [
        ("category", ["Network", "(none)"]),
        ("agent", [AGENT, "(unassigned)"]),
        ("team", ["Ops", "(none)"]),
    ],
)
def test_rows_per_group_file_tickets_without_one_last(
    cli: Cli, ladder: Counter[str], by: str, groups: list[str]
) -> None:
    rows = cli.json("report", "sla", "--by", by)["rows"]

    assert [row["group"] for row in rows] == groups
    named, rest = rows
    assert (named["tickets"], named["resolved"], named["sla_compliance_pct"], named["escalations"]) == (
        1,
        1,
        100.0,
        0,
    )
    assert (rest["tickets"], rest["resolved"], rest["sla_compliance_pct"]) == (2, 0, 0.0)
    assert rest["escalations"] == sum(ladder.values()) + 1


def test_csv_has_a_header_and_leaves_missing_times_empty(cli: Cli, ladder: Counter[str]) -> None:
    out = cli.ok("report", "sla", "--by", "team", "--format", "csv")

    reader = csv.DictReader(io.StringIO(out))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    rows = {row["group"]: row for row in reader}
    assert list(rows) == ["Ops", "(none)"]
    assert rows["Ops"]["tickets"] == "1" and rows["Ops"]["sla_compliance_pct"] == "100.0"
    assert rows["(none)"]["first_response_mean_h"] == ""
    assert rows["(none)"]["escalations"] == str(sum(ladder.values()) + 1)


def test_table_names_the_period_and_shows_the_figures(cli: Cli, ladder: Counter[str]) -> None:
    lines = cli.ok("report", "sla", "--since", "4w").splitlines()

    assert lines[0].startswith("tickets created ") and lines[0].endswith(" UTC")
    assert lines[1].split() == list(COLUMNS)
    cells = lines[3].split()
    assert cells[:4] == ["all", "3", "1", "33.3"]
    assert cells[-1] == str(sum(ladder.values()) + 1)


def test_weeks_cover_the_whole_period_with_this_weeks_tickets_last(cli: Cli, ladder: Counter[str]) -> None:
    weeks = cli.json("report", "sla", "--since", "4w")["weeks"]

    assert len(weeks) == 5
    assert [week["tickets"] for week in weeks] == [0, 0, 0, 0, 3]
    assert weeks[0]["sla_compliance_pct"] is None and weeks[-1]["sla_compliance_pct"] == 33.3
    this_week = datetime.now(UTC).isocalendar()
    assert weeks[-1]["week"] == f"{this_week.year}-W{this_week.week:02d}"


def test_since_a_time_leaves_out_tickets_created_before_it(cli: Cli) -> None:
    create(cli, "Before")
    between = datetime.now(UTC).isoformat()
    create(cli, "After")

    assert rows_by_group(cli, "--since", between)["all"]["tickets"] == 1
    a_year_ago = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    assert rows_by_group(cli, "--since", a_year_ago)["all"]["tickets"] == 2


def test_an_empty_period_still_has_its_row_and_a_table_says_so_per_group(cli: Cli) -> None:
    [row] = cli.json("report", "sla")["rows"]
    assert (row["tickets"], row["sla_compliance_pct"], row["first_response_mean_h"]) == (0, None, None)
    assert cli.ok("report", "sla", "--by", "agent").splitlines()[-1] == "no tickets"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--since", "yesterday"), "neither a duration like 30d"),
        (("--since", "0d"), "empty period"),
        (("--since", "2999-01-01"), "in the future"),
        (("--since", "99999999d"), "more than 3660 days back"),
        (("--since", "9" * 5000 + "h"), "more than 3660 days back"),
        (("--since", "0001-01-01T00:00+01:00"), "more than 3660 days back"),
        (("--since", "2000-01-01"), "more than 3660 days back"),
        (("--by", "region"), "cannot group by 'region'; use one of: priority, category, agent, team"),
    ],
)
def test_a_bad_period_or_grouping_is_refused_in_one_line(
    cli: Cli, options: tuple[str, ...], message: str
) -> None:
    assert message in cli.fails("report", "sla", *options)


def test_chart_is_a_png_and_json_stays_parseable_beside_it(
    cli: Cli, ladder: Counter[str], tmp_path: Path
) -> None:
    table_chart, json_chart = tmp_path / "table.png", tmp_path / "json.png"

    out = cli.ok("report", "sla", "--chart", str(table_chart))
    report = cli.json("report", "sla", "--by", "priority", "--chart", str(json_chart))

    assert out.splitlines()[-1] == f"chart written to {table_chart}"
    assert [row["group"] for row in report["rows"]] == ["urgent", "high", "low"]
    assert table_chart.read_bytes().startswith(PNG) and json_chart.read_bytes().startswith(PNG)


def test_chart_without_tickets_is_still_drawn(cli: Cli, tmp_path: Path) -> None:
    chart = tmp_path / "empty.png"
    cli.ok("report", "sla", "--since", "12h", "--chart", str(chart))
    assert chart.read_bytes().startswith(PNG)


def test_chart_into_a_missing_folder_is_refused_in_one_line(cli: Cli, tmp_path: Path) -> None:
    chart = tmp_path / "missing" / "chart.png"
    assert cli.fails("report", "sla", "--chart", str(chart)).startswith(
        f"error: cannot write the chart to {chart}"
    )


def test_period_day_adds_every_day_to_json_and_a_table_of_days(cli: Cli, ladder: Counter[str]) -> None:
    report = cli.json("report", "sla", "--since", "6d", "--period", "day")

    assert report["period"] == "day"
    days = report["periods"]
    today = datetime.now(UTC).date().isoformat()
    assert len(days) == 7 and days[-1]["period"] == days[-1]["starts"] == today
    assert [day["tickets"] for day in days] == [0, 0, 0, 0, 0, 0, 3]
    assert {key: days[-1][key] for key in ("resolved", "sla_compliance_pct")} == {
        "resolved": 1,
        "sla_compliance_pct": 33.3,
    }
    assert days[-1]["escalations"] == sum(ladder.values()) + 1
    assert len(report["weeks"]) in (1, 2)  # the weekly volume stays beside it

    lines = cli.ok("report", "sla", "--since", "6d", "--period", "day").splitlines()
    assert "per day" in lines
    assert lines[-1].split()[:4] == [today, "3", "1", "33.3"]


def test_period_week_is_the_default_of_json_and_a_table_only_when_asked(
    cli: Cli, ladder: Counter[str]
) -> None:
    report = cli.json("report", "sla", "--since", "4w")
    assert report["period"] == "week"
    assert [row["period"] for row in report["periods"]] == [week["week"] for week in report["weeks"]]
    assert "per week" not in cli.ok("report", "sla").splitlines()
    assert "per week" in cli.ok("report", "sla", "--period", "week").splitlines()


def test_period_day_over_too_long_a_stretch_is_refused_in_one_line(cli: Cli) -> None:
    assert "rows per day cover at most" in cli.fails("report", "sla", "--since", "1000d", "--period", "day")
