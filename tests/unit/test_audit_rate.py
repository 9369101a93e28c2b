"""The audit rate of refused requests without a valid token (channels/http/denials.py)."""

from __future__ import annotations

from channels.http.denials import Admission, AuditRate


class Ticking:
    """Monotonic seconds moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_gets_its_rows_per_window_then_the_next_row_says_how_many_were_left_out() -> None:
    clock = Ticking()
    rate = AuditRate(per_source=3, total=100, window_seconds=60, clock=clock)
    assert [rate.admit("198.51.100.7").recorded for _ in range(10)] == [True] * 3 + [False] * 7
    clock.now += 59.9
    assert not rate.admit("198.51.100.7").recorded
    clock.now += 0.1
    assert rate.admit("198.51.100.7") == Admission(True, left_out=8)
    assert rate.admit("198.51.100.7") == Admission(True, left_out=0)


def test_sources_are_limited_apart_and_all_together() -> None:
    clock = Ticking()
    rate = AuditRate(per_source=2, total=5, window_seconds=60, clock=clock)
    admitted = [rate.admit(f"203.0.113.{n}").recorded for n in range(10)]
    assert admitted == [True] * 5 + [False] * 5
    clock.now += 60
    assert rate.admit("203.0.113.9").recorded


def test_tracked_sources_are_bounded_and_expired_ones_make_room() -> None:
    clock = Ticking()
    rate = AuditRate(per_source=1, total=1000, window_seconds=60, max_sources=3, clock=clock)
    assert all(rate.admit(f"2001:db8::{n}").recorded for n in range(3))
    assert not rate.admit("2001:db8::99").recorded  # no room: only counted
    clock.now += 60
    assert rate.admit("2001:db8::99").recorded
