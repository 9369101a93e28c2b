"""Ticket list orders: which sorts exist, which positions a cursor may name, the SQL of each key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from bot.errors import UserError
from bot.model import MAX_TICKET_ID
from bot.read import sorting
from bot.store import tables as t
from bot.views import TicketView


def view(**overrides: object) -> TicketView:
    moment = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    fields: dict[str, object] = {
        "id": 7,
        "number": "SUP-7",
        "subject": "s",
        "description": "",
        "status": "open",
        "priority": "high",
        "channel": "api",
        "requester": "r@x.test",
        "assignee": None,
        "team": None,
        "category": None,
        "tags": (),
        "custom_fields": {},
        "merged_into": None,
        "created_at": moment,
        "updated_at": moment,
    }
    return TicketView(**(fields | overrides))  # type: ignore[arg-type]


def test_every_key_sorts_both_ways_and_nothing_else_does() -> None:
    assert sorting.names() == tuple(name for key in sorting.KEYS for name in (key, "-" + key))
    assert sorting.parse(None) == sorting.Sort("number", descending=True)
    assert sorting.parse(" -due ") == sorting.Sort("due", descending=True)
    for bad in ("", "-", "--due", "+due", "Due", "subject", "relevance"):
        with pytest.raises(UserError) as refused:
            sorting.parse(bad)
        assert refused.value.field == "sort"


def test_a_position_holds_its_key_as_an_exact_integer() -> None:
    moment = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    micros = int(moment.timestamp()) * 1_000_000 + 123456
    assert sorting.position_of(sorting.parse("-updated_at"), view()) == sorting.Position(
        "-updated_at", micros, 7
    )
    assert sorting.position_of(sorting.parse("priority"), view()).value == sorting.RANKS["high"]
    assert sorting.position_of(sorting.parse("number"), view()).value == 7


def test_a_ticket_without_a_due_time_sits_past_every_real_one_either_way() -> None:
    first_response = datetime(2026, 3, 2, 13, tzinfo=UTC)
    due = sorting.position_of(sorting.parse("due"), view(first_response_due=first_response))
    none_ascending = sorting.position_of(sorting.parse("due"), view())
    none_descending = sorting.position_of(sorting.parse("-due"), view())
    assert none_descending.value < due.value < none_ascending.value
    resolution = sorting.position_of(sorting.parse("due"), view(resolution_due=first_response))
    assert resolution.value == due.value


@pytest.mark.parametrize(
    ("sort", "value", "ticket_id"),
    [
        ("due", 10**19, 1),
        ("created_at", -(10**20), 1),
        ("priority", 4, 1),
        ("number", 5, 6),
        ("due", 0, 0),
        ("due", 0, MAX_TICKET_ID + 1),
    ],
)
def test_no_page_ends_where_no_ticket_could_be(sort: str, value: int, ticket_id: int) -> None:
    with pytest.raises(ValueError):
        sorting.position(sort, value, ticket_id)


def test_a_cursor_of_another_sort_is_refused_by_name() -> None:
    with pytest.raises(UserError) as refused:
        sorting.after(sorting.parse("due"), sorting.Position("-due", 0, 1))
    assert refused.value.field == "cursor"


def sql(sort: str, dialect: Dialect) -> str:
    statement = select(t.Ticket.id).order_by(*sorting.order_by(sorting.parse(sort)))
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled).split("ORDER BY ", 1)[1]


def test_the_keys_sql_is_what_an_index_over_it_would_be_built_on() -> None:
    """Pinned: an expression index must repeat these expressions exactly (constants inline,
    so SQLite matches them too); change them together."""
    rank = (
        "CASE tickets.priority WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 "
        "WHEN 'urgent' THEN 3 ELSE -1 END"
    )
    assert sql("-priority", postgresql.dialect()) == f"{rank} DESC, tickets.id DESC"
    assert sql("priority", sqlite.dialect()) == f"{rank} ASC, tickets.id ASC"
    due = "coalesce(tickets.first_response_due, tickets.resolution_due, '{}')"
    assert (
        sql("due", postgresql.dialect()) == due.format("9999-12-31 00:00:00+00:00") + " ASC, tickets.id ASC"
    )
    assert (
        sql("-due", postgresql.dialect())
        == due.format("0001-01-01 00:00:00+00:00") + " DESC, tickets.id DESC"
    )
    assert sql("due", sqlite.dialect()) == due.format("9999-12-31 00:00:00.000000") + " ASC, tickets.id ASC"
    assert sql("-number", sqlite.dialect()) == "tickets.id DESC"
    assert sql("-updated_at", postgresql.dialect()) == "tickets.updated_at DESC, tickets.id DESC"
