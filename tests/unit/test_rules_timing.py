from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.rules.model import SINCE, Trigger
from bot.rules.parse import parse_trigger
from bot.rules.timing import due_at, episode_start
from bot.sla.calendar import Calendar, add_business_time

FRIDAY_4PM = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)
OFFICE = Calendar.from_config("UTC", {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")})


def timed(since: str = "created", after: str = "2h", business_hours: bool = False) -> Trigger:
    return parse_trigger({"on": "time", "since": since, "after": after, "business_hours": business_hours})


@pytest.mark.parametrize("since", SINCE)
def test_an_episode_starts_at_the_rules_since_instant(since: str) -> None:
    anchors = {name: FRIDAY_4PM + timedelta(hours=index) for index, name in enumerate(SINCE)}
    assert episode_start(timed(since), anchors) == anchors[since]


def test_no_episode_while_the_ticket_has_no_such_instant() -> None:
    assert episode_start(timed("agent_reply"), {"created": FRIDAY_4PM, "agent_reply": None}) is None
    assert episode_start(timed("resolved"), {"created": FRIDAY_4PM}) is None


def test_an_episode_is_one_instant_whatever_the_offset() -> None:
    paris = FRIDAY_4PM.astimezone(timezone(timedelta(hours=1)))
    start = episode_start(timed(), {"created": paris})
    assert start == FRIDAY_4PM
    assert start is not None and start.tzinfo is UTC


def test_naive_anchors_and_other_triggers_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        episode_start(timed(), {"created": datetime(2026, 1, 9, 16, 0)})
    with pytest.raises(ValueError, match="time triggers"):
        episode_start(Trigger("ticket_created"), {"created": FRIDAY_4PM})


def test_due_on_the_wall_clock_without_business_hours() -> None:
    assert due_at(timed(after="1d12h"), FRIDAY_4PM, None) == FRIDAY_4PM + timedelta(hours=36)


def test_an_adder_is_ignored_when_the_rule_counts_wall_clock_time() -> None:
    def never(start: datetime, seconds: float) -> datetime:
        raise AssertionError("not a business-hours rule")

    assert due_at(timed(after="2h"), FRIDAY_4PM, never) == FRIDAY_4PM + timedelta(hours=2)


def test_due_in_business_hours_through_the_calendar() -> None:
    trigger = timed(after="2h", business_hours=True)
    due = due_at(trigger, FRIDAY_4PM, lambda start, seconds: add_business_time(start, seconds, OFFICE))
    assert due == datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # one hour on Friday, one on Monday


def test_the_adder_is_given_the_start_and_the_wait_in_seconds() -> None:
    calls: list[tuple[datetime, float]] = []

    def record(start: datetime, seconds: float) -> datetime:
        calls.append((start, seconds))
        return start

    due_at(timed(after="30m", business_hours=True), FRIDAY_4PM, record)
    assert calls == [(FRIDAY_4PM, 1800.0)]


def test_business_hours_without_a_calendar_is_a_wiring_mistake() -> None:
    with pytest.raises(ValueError, match="add_business"):
        due_at(timed(business_hours=True), FRIDAY_4PM, None)
