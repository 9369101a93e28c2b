"""Indexes for sorting ticket lists by priority and by due time

Revision ID: 0012
Revises: 0011

Expression indexes over exactly the expressions bot/read/sorting.py orders by (with
its constants written into the SQL), followed by the id, so a page of a list
sorted by priority or due time is one index range at any size instead of a
sort of every matching ticket.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PRIORITY = (
    "CREATE INDEX ix_tickets_priority_rank ON tickets ((CASE priority WHEN 'low' THEN 0 "
    "WHEN 'medium' THEN 1 WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 ELSE -1 END), id)"
)
# Tickets without a due time sort last in either direction: a different constant each way.
DUE = (
    "CREATE INDEX ix_tickets_due_{name} ON tickets "
    "((coalesce(first_response_due, resolution_due, {missing})), id)"
)
MISSING = {
    "postgresql": {
        "ascending": "'9999-12-31 00:00:00+00:00'::timestamptz",
        "descending": "'0001-01-01 00:00:00+00:00'::timestamptz",
    },
    "sqlite": {"ascending": "'9999-12-31 00:00:00.000000'", "descending": "'0001-01-01 00:00:00.000000'"},
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(PRIORITY)
    for name, missing in MISSING[dialect].items():
        op.execute(DUE.format(name=name, missing=missing))


def downgrade() -> None:
    for name in ("ix_tickets_due_descending", "ix_tickets_due_ascending", "ix_tickets_priority_rank"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
