"""The SLA report's rows per day or per ISO week over the API (``period``)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.read.reports import MAX_DAYS, MAX_SINCE_DAYS
from tests.fakes import FakeClock
from tests.integration.api.conftest import World


def open_and_answer(world: World, clock: FakeClock, *, answer_after: float, resolve_after: float) -> str:
    """A ticket answered by the agent ``answer_after`` hours after it opens, resolved
    ``resolve_after`` hours after it opens; the clock is left at its resolution."""
    agent = world.headers("agent")
    opened = world.client.post(
        "/api/v1/tickets", json={"subject": "Disk full"}, headers=world.headers("requester")
    )
    number = str(opened.json()["number"])
    clock.advance(hours=answer_after)
    world.client.post(f"/api/v1/tickets/{number}/comments", json={"body": "On it."}, headers=agent)
    clock.advance(hours=resolve_after - answer_after)
    world.client.patch(f"/api/v1/tickets/{number}", json={"status": "resolved"}, headers=agent)
    return number


@pytest.fixture
def two_weeks(world: World, clock: FakeClock) -> None:
    """Monday 2026-03-02 (ISO week 10): the world's two open tickets and one answered after
    half an hour and resolved after 2 hours; Tuesday: one answered after 1 hour, resolved
    after 4; the next Monday (week 11): one answered after 2 hours, resolved after 3."""
    open_and_answer(world, clock, answer_after=0.5, resolve_after=2)
    clock.advance(days=1)
    open_and_answer(world, clock, answer_after=1, resolve_after=4)
    clock.advance(days=6)
    open_and_answer(world, clock, answer_after=2, resolve_after=3)


def report(world: World, **params: str) -> dict[str, Any]:
    response = world.client.get("/api/v1/reports/sla", params=params, headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_rows_per_day_carry_every_figure_and_empty_days_too(world: World, two_weeks: None) -> None:
    body = report(world, since="2026-03-01", period="day")

    assert body["period"] == "day"
    days = {row["period"]: row for row in body["periods"]}
    assert list(days) == [f"2026-03-{day:02d}" for day in range(1, 10)]
    assert all(row["starts"] == row["period"] for row in body["periods"])
    assert days["2026-03-01"] == {
        "period": "2026-03-01",
        "starts": "2026-03-01",
        "tickets": 0,
        "resolved": 0,
        "sla_compliance_pct": None,
        "first_response_mean_h": None,
        "first_response_median_h": None,
        "resolution_mean_h": None,
        "resolution_median_h": None,
        "escalations": 0,
    }
    monday = days["2026-03-02"]
    assert (monday["tickets"], monday["resolved"], monday["sla_compliance_pct"]) == (3, 1, 100.0)
    assert (monday["first_response_mean_h"], monday["resolution_median_h"]) == (0.5, 2.0)
    tuesday = days["2026-03-03"]
    assert (tuesday["tickets"], tuesday["resolved"], tuesday["resolution_mean_h"]) == (1, 1, 4.0)
    assert (days["2026-03-09"]["tickets"], days["2026-03-09"]["first_response_median_h"]) == (1, 2.0)
    assert sum(row["tickets"] for row in body["periods"]) == 5
    # The weekly volume is there as it always was, whatever the period.
    assert [(week["week"], week["tickets"]) for week in body["weeks"]] == [
        ("2026-W09", 0),
        ("2026-W10", 4),
        ("2026-W11", 1),
    ]


def test_rows_per_week_are_the_default_with_means_and_medians(world: World, two_weeks: None) -> None:
    body = report(world, since="2026-03-01")

    assert body["period"] == "week"
    weeks = {row["period"]: row for row in body["periods"]}
    assert list(weeks) == ["2026-W09", "2026-W10", "2026-W11"]
    assert weeks["2026-W10"]["starts"] == "2026-03-02"
    week10 = weeks["2026-W10"]
    assert (week10["tickets"], week10["resolved"], week10["sla_compliance_pct"]) == (4, 2, 100.0)
    assert (week10["first_response_mean_h"], week10["first_response_median_h"]) == (0.75, 0.75)
    assert (week10["resolution_mean_h"], week10["resolution_median_h"]) == (3.0, 3.0)
    assert weeks["2026-W11"]["resolution_mean_h"] == 3.0
    # ``weeks`` (volume and compliance only) says the same about each week.
    for week in body["weeks"]:
        row = weeks[week["week"]]
        assert (week["starts"], week["tickets"], week["sla_compliance_pct"]) == (
            row["starts"],
            row["tickets"],
            row["sla_compliance_pct"],
        )
    assert report(world, since="2026-03-01", period="week") == body


def test_groups_are_the_same_whatever_the_period(world: World, two_weeks: None) -> None:
    by_day = report(world, since="14d", by="priority", period="day")
    by_week = report(world, since="14d", by="priority")
    assert by_day["rows"] == by_week["rows"]
    assert len(by_day["periods"]) == 15


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=month", "period"),
        ("period=", "period"),
        (f"period=day&since={MAX_DAYS + 1}d", "period"),
        ("interval=day", "interval"),
    ],
)
def test_a_bad_period_names_the_parameter(world: World, query: str, field: str) -> None:
    response = world.client.get(f"/api/v1/reports/sla?{query}", headers=world.headers("agent"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"]


def test_the_longest_stretch_per_day_is_accepted(world: World) -> None:
    body = report(world, since=f"{MAX_DAYS - 1}d", period="day")
    assert len(body["periods"]) == MAX_DAYS
    assert sum(row["tickets"] for row in body["periods"]) == 2


def test_requesters_get_no_report_per_day_either(world: World) -> None:
    response = world.client.get("/api/v1/reports/sla?period=day", headers=world.headers("requester"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "since",
    [
        "99999999d",
        "99999999w",
        "9" * 39 + "h",
        f"{MAX_SINCE_DAYS + 1}d",
        f"{MAX_SINCE_DAYS * 24 + 1}h",
        "0001-01-01",
        "0001-01-01T00:00+01:00",  # before the year 1 in UTC
        "1900-01-01",
    ],
)
def test_a_since_too_far_back_is_refused_naming_the_field(world: World, since: str) -> None:
    response = world.client.get(
        "/api/v1/reports/sla", params={"since": since}, headers=world.headers("agent")
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "since"
    assert f"more than {MAX_SINCE_DAYS} days back" in error["message"]


def test_a_since_in_the_future_is_refused_naming_the_field(world: World) -> None:
    response = world.client.get(
        "/api/v1/reports/sla", params={"since": "9999-12-31T23:59+00:00"}, headers=world.headers("agent")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "since"


def test_the_furthest_since_is_accepted_and_its_weeks_are_bounded(world: World) -> None:
    body = report(world, since=f"{MAX_SINCE_DAYS}d")
    assert sum(row["tickets"] for row in body["periods"]) == 2
    assert len(body["weeks"]) == len(body["periods"]) <= MAX_SINCE_DAYS // 7 + 2
    assert report(world, since=f"{MAX_SINCE_DAYS // 7}w")["rows"] == body["rows"]
