import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ConfigError
from bot.sla.calendar import (
    Calendar,
    Policy,
    SlaClock,
    SlaStatus,
    Targets,
    add_business_time,
    business_seconds_between,
    due,
    elapsed_share,
    evaluate,
    pause,
    record_first_response,
    record_resolution,
    resume,
    status,
    time_when_share,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
WEEKDAYS_9_TO_5 = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
OFFICE = Calendar.from_config("Europe/Berlin", WEEKDAYS_9_TO_5)
POLICY = Policy("medium", Targets(first_response_seconds=4 * HOUR, resolution_seconds=8 * HOUR), OFFICE)


def berlin(text: str) -> datetime:
    """A Berlin wall-clock time as the aware UTC instant the functions take."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    return business_seconds_between(start, end, calendar) / HOUR


# --- business time -------------------------------------------------------------------------------


def test_friday_afternoon_ticket_is_due_monday_noon():
    assert add_business_time(berlin("2026-01-16 16:00"), 4 * HOUR, OFFICE) == berlin("2026-01-19 12:00")


def test_weekend_counts_nothing():
    assert business_seconds_between(berlin("2026-01-16 17:00"), berlin("2026-01-19 09:00"), OFFICE) == 0
    assert add_business_time(berlin("2026-01-17 11:00"), 1 * HOUR, OFFICE) == berlin("2026-01-19 10:00")


def test_nights_are_skipped():
    assert add_business_time(berlin("2026-01-13 15:00"), 16 * HOUR, OFFICE) == berlin("2026-01-15 15:00")
    assert add_business_time(berlin("2026-01-13 20:00"), 1 * HOUR, OFFICE) == berlin("2026-01-14 10:00")
    assert hours_between(berlin("2026-01-13 16:00"), berlin("2026-01-14 10:00"), OFFICE) == 2


def test_result_is_aware_utc_whatever_zone_the_start_has():
    start = datetime(2026, 1, 16, 16, 0, tzinfo=BERLIN)
    result = add_business_time(start, 4 * HOUR, OFFICE)
    assert result.tzinfo is UTC
    assert result == berlin("2026-01-19 12:00")


def test_zero_seconds_returns_start_even_outside_working_hours():
    saturday = berlin("2026-01-17 11:00")
    assert add_business_time(saturday, 0, OFFICE) == saturday


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        add_business_time(datetime(2026, 1, 16, 16, 0), HOUR, OFFICE)


def test_national_holiday_and_extra_holiday_are_days_off():
    german = Calendar.from_config("Europe/Berlin", WEEKDAYS_9_TO_5, holiday_country="de")
    # Thursday 24 Dec 16:00: one hour left that day, Friday 25 Dec is Christmas Day.
    assert add_business_time(berlin("2026-12-24 16:00"), 2 * HOUR, german) == berlin("2026-12-28 10:00")
    with_extra = Calendar.from_config(
        "Europe/Berlin", WEEKDAYS_9_TO_5, holiday_country="DE", extra_holidays=["2026-12-28"]
    )
    assert add_business_time(berlin("2026-12-24 16:00"), 2 * HOUR, with_extra) == berlin("2026-12-29 10:00")


def test_holidays_of_the_next_year_apply_when_a_due_time_crosses_new_year():
    german = Calendar.from_config("Europe/Berlin", WEEKDAYS_9_TO_5, holiday_country="DE")
    # Thursday 31 Dec 16:00 + 2 h: Friday 1 Jan 2027 is New Year's Day.
    assert add_business_time(berlin("2026-12-31 16:00"), 2 * HOUR, german) == berlin("2027-01-04 10:00")


def test_subdivision_holidays_come_from_the_holidays_package():
    bavaria = Calendar.from_config(
        "Europe/Berlin", WEEKDAYS_9_TO_5, holiday_country="DE", holiday_subdivision="BY"
    )
    # Tuesday 6 Jan (Epiphany) is off in Bavaria only.
    assert hours_between(berlin("2026-01-06 00:00"), berlin("2026-01-07 00:00"), bavaria) == 0
    assert hours_between(berlin("2026-01-06 00:00"), berlin("2026-01-07 00:00"), OFFICE) == 8


def test_split_days_skip_the_lunch_break():
    split = Calendar.from_config("Europe/Berlin", {"mon": "08:00-12:00,13:00-17:00"})
    assert add_business_time(berlin("2026-01-12 11:00"), 2 * HOUR, split) == berlin("2026-01-12 14:00")
    assert business_seconds_between(berlin("2026-01-12 10:00"), berlin("2026-01-12 14:00"), split) == 3 * HOUR
    # Only Monday is open: the eighth hour spills into the next Monday.
    assert add_business_time(berlin("2026-01-12 08:00"), 9 * HOUR, split) == berlin("2026-01-19 09:00")


def test_dst_days_make_a_wall_clock_window_shorter_or_longer():
    night = Calendar.from_config("Europe/Berlin", {"sun": "01:00-04:00"})
    # Sundays 29 Mar 2026 (clocks go forward at 02:00) and 25 Oct 2026 (back at 03:00).
    assert hours_between(utc("2026-03-28 00:00"), utc("2026-03-29 12:00"), night) == 2
    assert hours_between(utc("2026-10-24 00:00"), utc("2026-10-25 12:00"), night) == 4
    # Three hours from Saturday: two on the short Sunday, the third on the next Sunday 01:00-02:00 CEST.
    assert add_business_time(utc("2026-03-28 12:00"), 3 * HOUR, night) == utc("2026-04-05 00:00")
    # On the long Sunday 01:00 CEST + 3 real hours is 03:00 CET (02:00 UTC), still inside the window.
    assert add_business_time(utc("2026-10-24 12:00"), 3 * HOUR, night) == utc("2026-10-25 02:00")


def test_a_whole_sunday_lasts_23_or_25_hours_across_dst():
    sundays = Calendar.from_config("Europe/Berlin", {"sun": "00:00-24:00"})
    assert sundays.hours[6] == ((time(0, 0), time(0, 0)),)
    assert hours_between(utc("2026-03-25 00:00"), utc("2026-04-01 00:00"), sundays) == 23
    assert hours_between(utc("2026-10-21 00:00"), utc("2026-10-28 00:00"), sundays) == 25


def test_always_open_is_plain_utc_arithmetic_across_dst():
    for calendar in (Calendar.always(), Calendar.from_config("Europe/Berlin", {}, holiday_country="DE")):
        assert calendar.always_open
        start = utc("2026-03-28 12:00")
        assert add_business_time(start, 24 * HOUR, calendar) == utc("2026-03-29 12:00")
        assert hours_between(utc("2026-10-24 12:00"), utc("2026-10-25 12:00"), calendar) == 24
        # holidays are ignored
        assert hours_between(utc("2026-12-25 00:00"), utc("2026-12-26 00:00"), calendar) == 24


def test_thirty_business_days_land_on_the_right_day():
    german = Calendar.from_config("Europe/Berlin", WEEKDAYS_9_TO_5, holiday_country="DE")
    # 30 working days from Monday 2 Nov 2026; 25 and 26 Dec are off (26 is a Saturday anyway).
    result = add_business_time(berlin("2026-11-02 09:00"), 30 * 8 * HOUR, german)
    assert result == berlin("2026-12-11 17:00")


@pytest.mark.parametrize(
    "calendar",
    [
        Calendar.from_config(
            "Europe/Berlin",
            {"mon": "08:00-12:00,13:00-17:00", "tue": "9:00-17:00", "fri": "22:00-24:00", "sun": "1:00-4:00"},
            holiday_country="DE",
            extra_holidays=["2026-06-02"],
        ),
        Calendar.from_config("America/New_York", WEEKDAYS_9_TO_5, holiday_country="US"),
        Calendar.always(),
    ],
    ids=["berlin-mixed", "new-york", "always"],
)
def test_business_seconds_between_inverts_add_business_time(calendar):
    rng = random.Random(1)
    year_start = utc("2026-01-01 00:00")
    for _ in range(400):
        start = year_start + timedelta(seconds=rng.uniform(0, 366 * 86400))
        short, day, weeks = rng.uniform(0.001, 60), rng.uniform(60, 8 * HOUR), rng.uniform(0, 320 * HOUR)
        seconds = rng.choice([short, day, weeks])
        end = add_business_time(start, seconds, calendar)
        assert end >= start
        assert business_seconds_between(start, end, calendar) == pytest.approx(seconds, abs=1e-6)


def test_business_seconds_between_is_zero_for_reversed_ranges():
    assert business_seconds_between(berlin("2026-01-13 12:00"), berlin("2026-01-13 10:00"), OFFICE) == 0


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"schedule": {"funday": "09:00-17:00"}}, "funday"),
        ({"schedule": {"mon": "9-17"}}, "9-17"),
        ({"schedule": {"mon": "09:00-25:00"}}, "09:00-25:00"),
        ({"schedule": {"mon": "17:00-09:00"}}, "17:00:00-09:00:00.*empty or overlaps"),
        ({"schedule": {"mon": "08:00-12:00,11:00-17:00"}}, "11:00:00-17:00:00.*overlaps"),
        ({"schedule": {"mon": "", "tue": ""}}, "no working time"),
        ({"holiday_country": "XX"}, "XX"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "ZZ"),
        ({"extra_holidays": ["25.12.2026"]}, "25.12.2026"),
    ],
)
def test_invalid_config_raises_config_error_naming_the_value(kwargs, message):
    arguments = {"timezone": "Europe/Berlin", "schedule": WEEKDAYS_9_TO_5, **kwargs}
    with pytest.raises(ConfigError, match=message):
        Calendar.from_config(**arguments)


def test_missing_weekdays_are_closed_and_full_names_are_accepted():
    calendar = Calendar.from_config("UTC", {"Monday": "09:00-17:00", "wed": ""})
    assert calendar.hours == {0: ((time(9), time(17)),), 2: ()}


def test_invalid_targets_and_at_risk_share_are_config_errors():
    with pytest.raises(ConfigError):
        Targets(first_response_seconds=0, resolution_seconds=HOUR)
    with pytest.raises(ConfigError, match="at_risk_share"):
        Policy("x", Targets(HOUR, HOUR), OFFICE, at_risk_share=1.5)


# --- the clock -----------------------------------------------------------------------------------

MONDAY_9 = berlin("2026-01-12 09:00")


def test_pause_and_resume_do_not_count_paused_business_time():
    clock = pause(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"))
    assert due(clock, 4 * HOUR, OFFICE) is None
    assert pause(clock, berlin("2026-01-12 11:00")) == clock
    resumed = resume(clock, berlin("2026-01-13 10:00"), OFFICE)
    assert resumed.paused_since is None
    assert resumed.paused_seconds == 8 * HOUR  # Monday 10-17 and Tuesday 9-10
    assert resume(resumed, berlin("2026-01-13 11:00"), OFFICE) == resumed
    # One hour used on Monday, three more after Tuesday 10:00.
    assert due(resumed, 4 * HOUR, OFFICE) == berlin("2026-01-13 13:00")


def test_elapsed_share_freezes_while_paused():
    clock = SlaClock(started_at=MONDAY_9)
    assert elapsed_share(clock, 4 * HOUR, berlin("2026-01-12 11:00"), OFFICE) == 0.5
    paused = pause(clock, berlin("2026-01-12 11:00"))
    assert elapsed_share(paused, 4 * HOUR, berlin("2026-01-13 16:00"), OFFICE) == 0.5
    resumed = resume(paused, berlin("2026-01-13 09:00"), OFFICE)
    assert elapsed_share(resumed, 4 * HOUR, berlin("2026-01-13 10:00"), OFFICE) == 0.75


def test_time_when_share_gives_escalation_thresholds():
    clock = SlaClock(started_at=berlin("2026-01-16 15:00"))
    assert time_when_share(clock, 4 * HOUR, 0.5, OFFICE) == berlin("2026-01-16 17:00")
    assert time_when_share(clock, 4 * HOUR, 0.75, OFFICE) == berlin("2026-01-19 10:00")
    assert time_when_share(clock, 4 * HOUR, 1.0, OFFICE) == due(clock, 4 * HOUR, OFFICE)
    assert time_when_share(pause(clock, berlin("2026-01-16 16:00")), 4 * HOUR, 0.5, OFFICE) is None


def test_status_goes_on_time_then_at_risk_at_75_percent_then_breached():
    clock = SlaClock(started_at=MONDAY_9)
    first = evaluate(clock, POLICY, MONDAY_9)
    assert first.status is SlaStatus.ON_TIME
    assert first.active_target == "first_response"
    assert first.first_response_due == berlin("2026-01-12 13:00")
    assert first.resolution_due == berlin("2026-01-12 17:00")
    assert first.next_change_at == berlin("2026-01-12 12:00")

    assert status(clock, POLICY, berlin("2026-01-12 11:59:59")) is SlaStatus.ON_TIME
    at_risk = evaluate(clock, POLICY, berlin("2026-01-12 12:00"))
    assert at_risk.status is SlaStatus.AT_RISK
    assert at_risk.next_change_at == berlin("2026-01-12 13:00") + timedelta(microseconds=1)
    assert status(clock, POLICY, berlin("2026-01-12 13:00")) is SlaStatus.AT_RISK
    breached = evaluate(clock, POLICY, at_risk.next_change_at)
    assert breached.status is SlaStatus.BREACHED
    assert breached.next_change_at is None


def test_first_response_in_time_moves_the_clock_to_resolution():
    clock = record_first_response(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"), OFFICE)
    state = evaluate(clock, POLICY, berlin("2026-01-12 13:30"))
    assert state.status is SlaStatus.ON_TIME
    assert state.active_target == "resolution"
    assert state.first_response_due is None
    assert state.next_change_at == berlin("2026-01-12 15:00")  # 75 % of 8 h
    assert status(clock, POLICY, berlin("2026-01-12 15:00")) is SlaStatus.AT_RISK


def test_targets_met_in_time_show_on_time_for_good():
    clock = record_first_response(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"), OFFICE)
    clock = record_resolution(clock, berlin("2026-01-12 16:00"), OFFICE)
    state = evaluate(clock, POLICY, berlin("2026-03-01 12:00"))
    assert state == evaluate(clock, POLICY, berlin("2026-01-12 16:00"))
    assert state.status is SlaStatus.ON_TIME
    assert (state.active_target, state.next_change_at, state.resolution_due) == (None, None, None)


def test_a_breach_stays_breached_after_the_target_is_met_late():
    clock = SlaClock(started_at=MONDAY_9)
    late = record_first_response(clock, berlin("2026-01-12 14:00"), OFFICE)
    assert status(late, POLICY, berlin("2026-01-12 14:00")) is SlaStatus.BREACHED
    # A pause after the late reply adds paused time but does not forgive the breach.
    waiting = pause(late, berlin("2026-01-12 14:00"))
    assert status(waiting, POLICY, berlin("2026-01-13 14:00")) is SlaStatus.BREACHED
    back = resume(waiting, berlin("2026-01-14 14:00"), OFFICE)
    assert back.paused_seconds == 16 * HOUR
    assert status(back, POLICY, berlin("2026-01-14 14:00")) is SlaStatus.BREACHED
    done = record_resolution(back, berlin("2026-01-14 15:00"), OFFICE)
    assert status(done, POLICY, berlin("2026-01-20 15:00")) is SlaStatus.BREACHED


def test_resolution_met_late_is_breached():
    clock = record_first_response(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"), OFFICE)
    clock = record_resolution(clock, berlin("2026-01-13 09:30"), OFFICE)
    assert status(clock, POLICY, berlin("2026-01-13 09:30")) is SlaStatus.BREACHED


def test_paused_hides_at_risk_but_not_a_breach_from_before_the_pause():
    clock = SlaClock(started_at=MONDAY_9)
    risky = pause(clock, berlin("2026-01-12 12:30"))
    state = evaluate(risky, POLICY, berlin("2026-01-20 12:00"))
    assert state.status is SlaStatus.PAUSED
    assert (state.first_response_due, state.resolution_due, state.next_change_at) == (None, None, None)
    overdue = pause(clock, berlin("2026-01-12 13:30"))
    assert status(overdue, POLICY, berlin("2026-01-12 13:30")) is SlaStatus.BREACHED


def test_resuming_an_at_risk_ticket_brings_at_risk_back_with_a_later_due():
    clock = pause(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 12:30"))
    clock = resume(clock, berlin("2026-01-13 09:00"), OFFICE)
    state = evaluate(clock, POLICY, berlin("2026-01-13 09:00"))
    assert state.status is SlaStatus.AT_RISK
    assert state.first_response_due == berlin("2026-01-13 09:30")


def test_resolving_without_a_first_response_judges_it_at_resolution():
    in_time = record_resolution(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 12:30"), OFFICE)
    assert status(in_time, POLICY, berlin("2026-01-19 12:00")) is SlaStatus.ON_TIME
    too_late = record_resolution(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 14:00"), OFFICE)
    assert status(too_late, POLICY, berlin("2026-01-19 12:00")) is SlaStatus.BREACHED


def test_resolving_a_paused_ticket_closes_the_pause():
    clock = pause(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"))
    done = record_resolution(clock, berlin("2026-01-12 12:00"), OFFICE)
    assert (done.paused_since, done.paused_seconds) == (None, 2 * HOUR)
    assert status(done, POLICY, berlin("2026-01-12 13:00")) is SlaStatus.ON_TIME


def test_a_resolved_clock_can_pause_so_a_reopen_skips_the_resolved_days():
    done = record_resolution(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"), OFFICE)
    stopped = pause(done, berlin("2026-01-12 10:00"))
    assert status(stopped, POLICY, berlin("2026-01-14 10:00")) is SlaStatus.ON_TIME  # finished, not paused
    reopened = resume(replace(stopped, resolved_at=None), berlin("2026-01-14 10:00"), OFFICE)
    assert elapsed_share(reopened, 4 * HOUR, berlin("2026-01-14 10:00"), OFFICE) == 0.25


def test_only_the_first_response_counts():
    clock = record_first_response(SlaClock(started_at=MONDAY_9), berlin("2026-01-12 10:00"), OFFICE)
    assert record_first_response(clock, berlin("2026-01-12 16:00"), OFFICE) == clock


def test_a_clock_without_the_frozen_pause_falls_back_to_paused_seconds():
    clock = replace(SlaClock(started_at=MONDAY_9), first_response_at=berlin("2026-01-12 12:00"))
    assert clock.first_response_paused_seconds is None
    assert status(clock, POLICY, berlin("2026-01-12 12:00")) is SlaStatus.ON_TIME
