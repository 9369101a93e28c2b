"""Lists sorted by priority or due time read an index (migration 0012), on both stores.

The indexes are over exactly the expressions bot/read/sorting.py orders by; if either
side changes alone, the planner silently falls back to sorting every ticket.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from bot.read import sorting
from bot.store import tables as t
from bot.store.db import Store

INDEXES = {
    "priority": "ix_tickets_priority_rank",
    "-priority": "ix_tickets_priority_rank",
    "due": "ix_tickets_due_ascending",
    "-due": "ix_tickets_due_descending",
}


@pytest.mark.parametrize(("sort", "index"), INDEXES.items())
def test_sorted_page_is_read_from_its_index(store: Store, sort: str, index: str) -> None:
    query = select(t.Ticket.id).order_by(*sorting.order_by(sorting.parse(sort))).limit(20)
    with store.engine.connect() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if store.dialect == "postgresql":
            # An empty table is cheaper to scan: ask whether the index can be used at all.
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_sort = off"))
            plan = [row[0] for row in conn.execute(text(f"EXPLAIN {sql}"))]
        else:
            plan = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    assert any(index in line for line in plan), plan
