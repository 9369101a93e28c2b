"""The SMTP login guard's counting: by network, before the check, and how many at once.

Pure rules on a hand-moved clock; the protocol around them is tested over real
SMTP in tests/integration/test_smtp_auth.py.
"""

from __future__ import annotations

import pytest

from bot.config.settings import SmtpSettings
from channels.email.smtp_auth import (
    MAX_IN_FLIGHT_PER_PEER,
    PEER_WINDOW_SECONDS,
    LoginGuard,
    Verdict,
    peer_key,
)

RIGHT = (b"relay", b"s3cret")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, per_peer: int = 3) -> LoginGuard:
    settings = SmtpSettings(auth_user="relay", auth_max_failures_per_peer=per_peer)
    return LoginGuard("relay", "s3cret", settings, clock=clock)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:eeee:dddd:cccc", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("/run/smtp.sock", "/run/smtp.sock"),
        ("", ""),
    ],
)
def test_failures_are_counted_by_ipv4_address_or_ipv6_64(host, key):
    assert peer_key(host) == key


def test_rotating_through_one_ipv6_64_does_not_escape_the_block():
    login = guard(Clock())
    for n in range(3):
        assert login.attempt(f"2001:db8:1:2::{n + 1:x}", b"relay", b"guess") is Verdict.REJECTED
    assert login.blocked("2001:db8:1:2:abcd::99")
    assert login.attempt("2001:db8:1:2:abcd::99", *RIGHT) is Verdict.BLOCKED
    assert login.attempt("2001:db8:1:3::1", *RIGHT) is Verdict.ACCEPTED, "the next /64 is someone else"


def test_an_ipv4_peer_is_the_same_whether_mapped_into_ipv6_or_not():
    login = guard(Clock(), per_peer=2)
    login.attempt("192.0.2.7", b"relay", b"a")
    login.attempt("::ffff:192.0.2.7", b"relay", b"b")
    assert login.blocked("192.0.2.7") and login.blocked("::ffff:192.0.2.7")


def test_each_check_is_counted_before_it_is_made_and_withdrawn_only_when_right():
    clock = Clock()
    login = guard(clock, per_peer=2)
    assert login.attempt("192.0.2.7", *RIGHT) is Verdict.ACCEPTED
    assert login.attempt("192.0.2.7", *RIGHT) is Verdict.ACCEPTED, "successes leave no count behind"
    assert login.attempt("192.0.2.7", b"relay", b"a") is Verdict.REJECTED
    assert not login.blocked("192.0.2.7")
    assert login.attempt("192.0.2.7", b"relay", b"b") is Verdict.REJECTED
    assert login.attempt("192.0.2.7", *RIGHT) is Verdict.BLOCKED, "not even the password is checked"
    clock.now += PEER_WINDOW_SECONDS + 1
    assert login.attempt("192.0.2.7", *RIGHT) is Verdict.ACCEPTED, "failures age out"


def test_only_a_few_logins_per_network_may_be_under_way():
    login = guard(Clock())
    assert [login.start("2001:db8::1"), login.start("2001:db8::2")] == [True] * MAX_IN_FLIGHT_PER_PEER
    assert not login.start("2001:db8::3"), "the same /64"
    assert login.start("192.0.2.7"), "another peer is not held up"
    login.finish("2001:db8::1")
    assert login.start("2001:db8::4")
    for host in ("2001:db8::2", "2001:db8::4", "192.0.2.7"):
        login.finish(host)
    assert login._in_flight == {}, "nothing is kept for peers with no login under way"
