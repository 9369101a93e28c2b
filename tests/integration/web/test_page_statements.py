"""How many SQL statements the web desk's busiest pages issue: a ceiling each.

Counted as a browser asks, over HTTP into the real app, after a first visit (the queue's
tab counts are then reused while nothing changes, as they are on a quiet desk). The
session lookup is one of them. Lowering a count is welcome, and its ceiling with it.
"""

from __future__ import annotations

import pytest

from bot.desk.facade import Desk
from bot.store.db import Store
from tests.factories import make_ticket
from tests.integration.test_statement_counts import counted
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff

# (SQLite, PostgreSQL): SQLite also counts the BEGIN of each read transaction.
CEILINGS = {
    # Four reads: the session; the queue stamp; the page of tickets (with their tags and
    # fields); the choices (staff, categories, teams, fields).
    "queue page": (13, 9),
    # Five reads: the session; the ticket with its comments, events and fields; the
    # choices; the ticket's shares; the sharing agreements.
    "ticket page": (20, 16),
    # Two reads: the session; the requester's page of tickets.
    "my tickets": (6, 4),
}


def _ceiling(store: Store, page: str) -> int:
    sqlite, postgresql = CEILINGS[page]
    return sqlite if store.dialect == "sqlite" else postgresql


@pytest.fixture
def tickets(desk: Desk) -> list[str]:
    return [make_ticket(desk, subject=f"Ticket {n}") for n in range(30)]


def test_the_queue_and_ticket_pages_stay_within_their_statements(
    browser: Browser, store: Store, desk: Desk, tickets: list[str]
) -> None:
    staff(desk, "ann@support.test")
    sign_in_with_password(browser, "ann@support.test")
    assert browser.get("/desk?queue=all").status_code == 200  # counts the tabs once
    with counted(store) as statements:
        assert browser.get("/desk?queue=all").status_code == 200
    assert len(statements) <= _ceiling(store, "queue page"), "\n".join(statements)
    browser.get(f"/desk/tickets/{tickets[0]}")
    with counted(store) as statements:
        assert browser.get(f"/desk/tickets/{tickets[0]}").status_code == 200
    assert len(statements) <= _ceiling(store, "ticket page"), "\n".join(statements)


def test_a_requesters_list_stays_within_its_statements(browser: Browser, store: Store, desk: Desk) -> None:
    sign_in_with_link(browser, store, "rita@customer.test")
    for n in range(5):
        make_ticket(desk, subject=f"Mine {n}", email="rita@customer.test")
    browser.get("/")
    with counted(store) as statements:
        assert browser.get("/").status_code == 200
    assert len(statements) <= _ceiling(store, "my tickets"), "\n".join(statements)
