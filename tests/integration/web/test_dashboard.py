"""The dashboard over real HTTP: its figures are the desk's tickets counted, it is staff's
only, and what it draws from names people typed is inert."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from bot.desk.facade import Desk
from bot.model import Actor, Priority, Role, Status
from bot.store.db import Store
from tests.factories import make_ticket
from tests.fakes import FakeClock
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff

AGENT = "ann@support.test"


def at(clock: FakeClock, moment: str) -> None:
    clock.set(datetime.fromisoformat(moment).replace(tzinfo=UTC))


@pytest.fixture
def history(desk: Desk, clock: FakeClock, admin: Actor) -> Actor:
    """Tickets spread over six weeks (the clock ends on 2026-03-02 09:12 UTC); the agent who worked them.

    - 01-20 old: never answered, open (before the 30 days; breached now)
    - 02-20 one: answered after 1 h, resolved after 3 h (both in time)
    - 02-25 two: answered after 5 h (late: medium's target is 4 h), resolved then (5 h)
    - 02-28 five: never answered, open (breached now)
    - 03-02 07:00 three: answered after 30 min, in progress with the agent
    - 03-02 09:00 four: urgent, unanswered, open (at risk by 09:12: 75 % of 15 min)
    """
    ann = staff(desk, AGENT, Role.AGENT)
    at(clock, "2026-01-20T09:00")
    make_ticket(desk, subject="old")
    at(clock, "2026-02-20T09:00")
    one = make_ticket(desk, subject="one")
    clock.advance(hours=1)
    desk.comment(ann, one, "On it.")
    clock.advance(hours=2)
    desk.transition(ann, one, Status.RESOLVED)
    at(clock, "2026-02-25T10:00")
    two = make_ticket(desk, subject="two")
    clock.advance(hours=5)
    desk.comment(ann, two, "Sorry for the wait.")
    desk.transition(ann, two, Status.RESOLVED)
    at(clock, "2026-02-28T09:00")
    make_ticket(desk, subject="five")
    at(clock, "2026-03-02T07:00")
    three = make_ticket(desk, subject="three")
    desk.assign(admin, three, AGENT)
    clock.advance(minutes=30)
    desk.comment(ann, three, "Looking.")
    desk.transition(ann, three, Status.IN_PROGRESS)
    at(clock, "2026-03-02T09:00")
    four = make_ticket(desk, subject="four")
    desk.set_priority(admin, four, Priority.URGENT)
    clock.advance(minutes=12)
    desk.sla_sweep()
    return ann


def test_the_figures_are_the_desks_tickets_counted(desk: Desk, history: Actor) -> None:
    view = desk.dashboard(history)
    assert view.since == datetime(2026, 2, 1, tzinfo=UTC) and len(view.days) == 30
    assert {c.name: c.count for c in view.by_status} == {"open": 3, "in_progress": 1, "waiting_customer": 0}
    priorities = [(c.name, c.count) for c in view.by_priority]
    assert priorities == [("urgent", 1), ("high", 0), ("medium", 3), ("low", 0)]
    assert (view.open_total, view.unassigned, view.at_risk, view.breached) == (4, 3, 1, 2)
    per_day = {d.day: (d.created, d.resolved) for d in view.days if d.created or d.resolved}
    assert per_day == {
        date(2026, 2, 20): (1, 1),
        date(2026, 2, 25): (1, 1),
        date(2026, 2, 28): (1, 0),
        date(2026, 3, 2): (2, 0),
    }
    assert (view.first_response.met, view.first_response.judged) == (2, 3)
    assert (view.resolution.met, view.resolution.judged) == (1, 2)
    assert view.first_response_median_h == 1.0 and view.resolution_median_h == 4.0
    assert [(a.email, a.open) for a in view.agents] == [(AGENT, 1)]


def test_the_dashboard_page_shows_them_and_refreshes_its_metrics(
    browser: Browser, desk: Desk, history: Actor
) -> None:
    sign_in_with_password(browser, AGENT)
    page = browser.get("/dashboard")
    assert page.status_code == 200
    text = page.text
    assert 'data-live="/live/queue"' in text
    assert 'hx-get="/dashboard/metrics"' in text and "every 30s" in text and "sb:changed from:body" in text
    assert "3 unassigned" in text
    assert "2 of 3 answered" in text and "66.6%" in text
    assert "1 of 2 resolved" in text and "50%" in text
    assert "1.0 h" in text and "4.0 h" in text
    assert "<tr><td>2026-03-02</td><td>2</td><td>0</td></tr>" in text
    assert text.count('<svg class="chart"') == 4 and "style=" not in text
    assert '<title id="open-by-status-title">Open tickets by status</title>' in text
    fragment = browser.get("/dashboard/metrics", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "2 of 3 answered" in fragment.text and fragment.text.count("<svg") == 4


def test_a_dashboard_of_an_empty_desk_shows_no_figures_yet(browser: Browser, desk: Desk) -> None:
    staff(desk, AGENT, Role.AGENT)
    sign_in_with_password(browser, AGENT)
    page = browser.get("/dashboard")
    assert page.status_code == 200
    assert "no tickets answered in the last 30 days" in page.text


def test_requesters_get_no_dashboard_and_visitors_sign_in_first(
    browser: Browser, store: Store, open_browser
) -> None:
    sign_in_with_link(browser, store, "rita@customer.test")
    assert browser.get("/dashboard").status_code == 404
    assert browser.get("/dashboard/metrics").status_code == 404
    visitor = open_browser()
    away = visitor.get("/dashboard")
    assert away.status_code == 303 and away.headers["location"] == "/signin?next=%2Fdashboard"
    again = visitor.get("/dashboard/metrics", headers={"hx-request": "true"})
    assert again.status_code == 204 and again.headers["hx-redirect"].startswith("/signin")


def test_names_people_typed_are_drawn_inert(browser: Browser, desk: Desk, admin: Actor) -> None:
    staff(desk, AGENT, Role.AGENT)
    desk.add_person(admin, "evil@support.test", name="<script>alert(1)</script>", role=Role.AGENT)
    desk.add_category(admin, "<script>")
    number = make_ticket(desk, subject="<img src=x onerror=alert(1)>", category="<script>")
    desk.assign(admin, number, "evil@support.test")
    sign_in_with_password(browser, AGENT)
    text = browser.get("/dashboard").text
    assert "<script>" not in text and "<img" not in text
    svg = re.search(r'<svg class="chart"[^>]*id="agent-load".*?</svg>', text, re.S)
    assert svg is not None and "&lt;script&gt;alert(1)&lt;/script&gt;: 1 open" in svg.group(0)
