"""How many SQL statements the hot paths issue: a ceiling each, so the count cannot creep up.

The ceilings are what the paths take now, measured with the desk wired as ``serve`` wires
it (SQLite also counts its ``BEGIN IMMEDIATE``). Lowering a count is welcome (the Core
write path is meant to), and its ceiling is lowered with it. Events and their subscribers
read the change's rows from the session, so publishing adds no statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.desk.facade import Desk
from bot.model import Actor, Role, Status
from bot.read.queries import TicketFilter
from bot.sharing.service import Sharing
from bot.store.db import Store
from tests.factories import make_inbound, make_ticket
from tests.fakes import FakeClock

# (SQLite, PostgreSQL) ceilings, statements per operation, transaction control included.
CEILINGS = {
    "receive: new ticket, new sender": (18, 17),
    # A known sender's new mail also counts their tickets of the last hour ([email] burst_limit:
    # a flood is held, not opened), in the statement that reads the sender.
    "receive: new ticket, known sender": (14, 13),
    "receive: reply by reference": (11, 10),
    "comment by an agent": (14, 13),
    "status change": (14, 13),
    # The page's tickets with their people, team and category; their tags; their fields.
    "list of 50 tickets": (4, 3),
    # Ten tickets far past their targets: the ladder's four levels fire for each, each with
    # its escalation row and, for two of them, an email to the admin with its thread ref;
    # the forty audit events are one statement.
    "SLA sweep firing 40 levels": (139, 137),
}


RAW = {"source": b"From: known@example.com\r\n\r\nraw", "full_text": "new part\n\n> quoted history"}


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _ceiling(store: Store, path: str) -> int:
    sqlite, postgresql = CEILINGS[path]
    return sqlite if store.dialect == "sqlite" else postgresql


def _check(store: Store, path: str, statements: list[str]) -> None:
    ceiling = _ceiling(store, path)
    assert len(statements) <= ceiling, (
        f"{path}: {len(statements)} statements, ceiling {ceiling}:\n"
        + "\n".join(statement.split("\n")[0][:120] for statement in statements)
    )


@pytest.fixture
def desk(desk: Desk) -> Desk:
    """Wired as ``supportbot serve`` wires it: sharing subscribes too (and asks, once per
    transaction, whether any ticket is shared)."""
    Sharing(desk)
    return desk


def test_receive_stays_within_its_statements(desk: Desk, store: Store) -> None:
    make_ticket(desk, email="known@example.com")  # warms the rules and the known sender
    with counted(store) as statements:
        desk.receive(make_inbound(email="someone-new@example.com"))
    _check(store, "receive: new ticket, new sender", statements)
    with counted(store) as statements:
        # As mail comes: its raw source and its whole text kept beside the new part.
        opened = desk.receive(make_inbound(email="known@example.com", key="<first@example.com>", **RAW))
    _check(store, "receive: new ticket, known sender", statements)
    assert opened.ticket_number is not None
    with counted(store) as statements:
        reply = desk.receive(
            make_inbound(
                email="known@example.com",
                key="<second@example.com>",
                references=("<first@example.com>",),
                **RAW,
            )
        )
    _check(store, "receive: reply by reference", statements)
    assert reply.ticket_number == opened.ticket_number and not reply.created


def test_agent_changes_stay_within_their_statements(desk: Desk, store: Store, agent: Actor) -> None:
    number = make_ticket(desk)
    desk.comment(agent, number, "warming up")
    with counted(store) as statements:
        desk.comment(agent, number, "On it")
    _check(store, "comment by an agent", statements)
    with counted(store) as statements:
        desk.transition(agent, number, Status.IN_PROGRESS)
    _check(store, "status change", statements)


def test_an_sla_sweep_stays_within_its_statements(desk: Desk, store: Store, clock: FakeClock) -> None:
    desk.add_person(Actor.console(), "boss@support.test", role=Role.ADMIN)  # the managers' level mails them
    for index in range(10):
        make_ticket(desk, email=f"late-{index}@example.com")
    clock.advance(days=5)
    with counted(store) as statements:
        report = desk.sla_sweep()
    assert len(report.fired) == 40
    _check(store, "SLA sweep firing 40 levels", statements)


def test_a_list_page_reads_three_queries_however_long(desk: Desk, store: Store, agent: Actor) -> None:
    desk.define_field(desk.actor(None), "os", "Operating system", "text")
    for index in range(60):
        number = make_ticket(desk, email=f"customer-{index % 7}@example.com")
        if index % 3 == 0:
            desk.set_tags(agent, number, add=["vip", f"tag-{index % 4}"])
            desk.set_field(agent, number, "os", "linux")
            desk.assign(agent, number, "agent@support.test")
    with counted(store) as statements:
        page = desk.list_tickets(TicketFilter(limit=50))
    assert len(page) == 50
    _check(store, "list of 50 tickets", statements)
