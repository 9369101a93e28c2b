"""The email channel's parse pool: a limit counted from the start of a parse; held threads refuse mail."""

from __future__ import annotations

import threading
import time

import pytest

from channels.email.parse import parse
from channels.email.workers import MailBusy, ParsePool

MAIL = b"From: bob@example.com\r\nSubject: hi\r\nMessage-ID: <w-1@example.com>\r\n\r\nHello\r\n"


def held(until: threading.Event, started: threading.Event | None = None):
    """A parse that runs until ``until`` is set: one stuck on hostile mail, as long as a test needs."""

    def work():
        if started is not None:
            started.set()
        until.wait(timeout=30)
        return parse(MAIL)

    return work


def test_the_limit_counts_from_the_start_of_a_parse_not_from_its_place_in_the_queue():
    pool = ParsePool(1, limit=1.0)
    first_started, release = threading.Event(), threading.Event()
    results = {}
    earlier = threading.Thread(target=lambda: results.update(first=pool.run(held(release, first_started))))
    earlier.start()
    assert first_started.wait(10)
    queued = time.monotonic()

    def slow_but_within_its_limit():
        time.sleep(0.5)
        return parse(MAIL)

    threading.Timer(0.8, release.set).start()  # queued 0.8 s, then runs 0.5 s: 1.3 s in all
    second = pool.run(slow_but_within_its_limit)
    earlier.join()
    pool.shutdown(wait=True)
    assert time.monotonic() - queued > 1.0
    assert second is not None and second.message_id == "<w-1@example.com>"
    assert results["first"] is not None


def test_when_abandoned_parses_hold_every_thread_new_mail_is_refused_until_one_ends():
    pool = ParsePool(2, limit=0.1)
    release = threading.Event()
    try:
        assert pool.run(held(release)) is None  # past its limit: the caller reads it cheaply
        assert pool.run(held(release)) is None
        with pytest.raises(MailBusy, match="all 2 parse threads are held"):
            pool.run(lambda: parse(MAIL))
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while True:  # the held threads end as soon as they are released
        try:
            assert pool.run(lambda: parse(MAIL)) is not None
            break
        except MailBusy:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    pool.shutdown(wait=True)


def test_mail_queued_behind_parses_that_pass_their_limit_is_refused_rather_than_kept_waiting():
    pool = ParsePool(1, limit=0.2)
    started, release = threading.Event(), threading.Event()
    stuck = threading.Thread(target=pool.run, args=(held(release, started),))
    stuck.start()
    assert started.wait(10)
    try:
        with pytest.raises(MailBusy):
            pool.run(lambda: parse(MAIL))  # queued while the stuck one was still within its limit
    finally:
        release.set()
        stuck.join()
        pool.shutdown(wait=True)
