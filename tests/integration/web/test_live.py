"""Live updates: server-sent events that say a ticket or the queue changed, and nothing else."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest

from bot.desk.facade import Desk
from bot.model import Actor, Priority, Status
from bot.store.db import Store
from channels.http.api import create_app
from channels.http.server import SHUTDOWN_GRACE_SECONDS
from channels.web.app import WebDesk, web_routes
from channels.web.live import MAX_STREAMS_PER_PERSON
from tests.factories import make_ticket
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff
from tests.live_http import LiveServer
from tests.waiting import wait_until

ANN = "ann@support.test"
BO = "bo@support.test"
READ = httpx.Timeout(10.0)


@pytest.fixture
def web(desk: Desk) -> WebDesk:
    """The web desk polling every 100 ms, so a test waits a moment, not a second."""
    settings = replace(desk.settings, web=replace(desk.settings.web, live_poll_ms=100))
    return web_routes(desk, settings)


class Events:
    """A stream's events as they come: each a dict of its fields (a comment line is ``:``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name or ":"] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def changed(self) -> dict[str, str]:
        """The next ``changed`` event, passing heartbeats."""
        while True:
            event = self.next()
            if event.get("event") == "changed":
                return event


@contextmanager
def stream(browser: Browser, url: str, **headers: str) -> Iterator[Events]:
    with browser.stream("GET", url, headers=headers, timeout=READ) as response:
        assert response.status_code == 200, response.read()
        yield Events(response)


def test_a_ticket_stream_says_when_another_agent_changes_it(browser: Browser, desk: Desk) -> None:
    staff(desk, ANN)
    bo = staff(desk, BO)
    sign_in_with_password(browser, ANN)
    number = make_ticket(desk)
    with stream(browser, f"/live/ticket/{number}") as events:
        headers = events.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-store"
        hello = events.next()
        assert hello["retry"].isdigit() and "event" not in hello
        desk.transition(bo, number, Status.IN_PROGRESS)
        changed = events.changed()
        assert changed["data"] == changed["id"] and changed["data"] != hello["id"]
        # Only the stamp travels: a short, opaque string.
        assert len(changed["data"]) == 16 and set(changed["data"]) <= set("0123456789abcdef")
        desk.comment(bo, number, "A note for the team", public=False, channel="web")
        assert events.changed()["data"] != changed["data"]


def test_a_requester_watches_their_own_ticket_and_internal_work_stays_silent(
    browser: Browser, store: Store, desk: Desk
) -> None:
    bo = staff(desk, BO)
    desk.add_category(Actor.console(), "Hardware")
    number = make_ticket(desk, email="rita@customer.test")
    ticket_id = desk.visible_ticket(Actor.console(), number).ticket.id
    sign_in_with_link(browser, store, "rita@customer.test")
    before = desk.change_stamp(ticket_id, public_only=True)
    desk.comment(bo, number, "Internal: refund approved?", public=False, channel="web")
    desk.set_tags(bo, number, add=["refund"])
    assert desk.change_stamp(ticket_id, public_only=True) == before  # nothing a requester sees moved
    assert desk.change_stamp(ticket_id) != desk.change_stamp(ticket_id, public_only=True)
    with stream(browser, f"/live/ticket/{number}") as events:
        hello = events.next()
        assert hello["id"] == before
        desk.comment(bo, number, "We are on it", channel="web")
        answered = events.changed()["data"]
        assert answered != before
        desk.set_category(bo, number, "Hardware")  # shown on the requester's page
        assert events.changed()["data"] != answered


def test_the_queue_stream_says_when_a_ticket_opens_or_changes(browser: Browser, desk: Desk) -> None:
    staff(desk, ANN)
    sign_in_with_password(browser, ANN)
    number = make_ticket(desk)
    with stream(browser, "/live/queue") as events:
        events.next()
        make_ticket(desk, subject="Another one")
        first = events.changed()
        desk.set_priority(Actor.console(), number, Priority.HIGH)
        assert events.changed()["data"] != first["data"]


def test_a_reopened_stream_announces_what_changed_while_it_was_away(browser: Browser, desk: Desk) -> None:
    staff(desk, ANN)
    sign_in_with_password(browser, ANN)
    number = make_ticket(desk)
    with stream(browser, f"/live/ticket/{number}") as events:
        last = events.next()["id"]
    desk.transition(Actor.console(), number, Status.IN_PROGRESS)
    with stream(browser, f"/live/ticket/{number}", **{"Last-Event-ID": last}) as events:
        again = events.next()
        assert again["event"] == "changed" and again["id"] != last
    with stream(browser, f"/live/ticket/{number}", **{"Last-Event-ID": again["id"]}) as events:
        assert "event" not in events.next()  # nothing new: no refresh


def test_who_may_not_watch_is_refused(browser: Browser, store: Store, desk: Desk) -> None:
    theirs = make_ticket(desk, email="someone@else.test")
    assert browser.get("/live/queue").status_code == 303  # signed out: to the sign-in page
    sign_in_with_link(browser, store, "rita@customer.test")
    assert browser.get("/live/queue").status_code == 404
    assert browser.get(f"/live/ticket/{theirs}").status_code == 404
    assert browser.get("/live/ticket/SUP-999999").status_code == 404
    assert browser.get("/live/ticket/nonsense").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_open_stream_does_not_hold_the_server_when_it_stops(
    store: Store, desk: Desk, web: WebDesk
) -> None:
    """A stream never ends by itself: the server cancels it once its grace period is over."""
    staff(desk, ANN)
    server = LiveServer(create_app(store, web.routes, desk, limits=web.upload_paths)).__enter__()
    browser = Browser(base_url=f"http://127.0.0.1:{server.port}", timeout=20)
    sign_in_with_password(browser, ANN)
    opened = threading.Event()

    def watch() -> None:
        try:
            with browser.stream("GET", "/live/queue", timeout=30) as response:
                opened.set()
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # the server went away: what a browser sees at a restart

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert opened.wait(10)
    started = time.monotonic()
    server.__exit__(None, None, None)
    assert not server.thread.is_alive()
    assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS + 3
    watcher.join(5)
    browser.close()


def test_one_person_may_hold_only_so_many_live_pages_open(browser: Browser, desk: Desk) -> None:
    staff(desk, ANN)
    sign_in_with_password(browser, ANN)
    with contextlib.ExitStack() as held:
        for _ in range(MAX_STREAMS_PER_PERSON):
            response = held.enter_context(browser.stream("GET", "/live/queue", timeout=READ))
            assert response.status_code == 200
        refused = browser.get("/live/queue", timeout=READ)
        assert refused.status_code == 429 and refused.headers["retry-after"]
    # Closed streams give their places back.
    wait_until(lambda: _opens(browser), seconds=10, what="a live stream opens again")


def _opens(browser: Browser) -> bool:
    with browser.stream("GET", "/live/queue", timeout=READ) as response:
        return response.status_code == 200
